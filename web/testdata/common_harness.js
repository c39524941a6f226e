// Test harness for web's Go tests: loads static/common.js into a fresh V8
// context the way a page would (a classic script defining one global), then
// runs the calls read as JSON from stdin ([{"fn": name, "args": [...]}]) and
// prints their results as one JSON array.
'use strict';
const fs = require('fs');
const vm = require('vm');

const ctx = vm.createContext({});
vm.runInContext(fs.readFileSync(process.argv[2], 'utf8'), ctx, { filename: 'common.js' });
const C = ctx.CastnetCommon;
const realm = (name) => vm.runInContext(name, ctx); // the page's own constructors

// Adapters build the browser objects that JSON cannot carry.
const adapters = {
  responseReason: (status, body, retryAfter) => C.responseReason({
    status,
    statusText: '',
    text: async () => body,
    headers: { get: (k) => (k.toLowerCase() === 'retry-after' ? retryAfter || null : null) },
  }),
  orderCodecs: (codecs) => C.orderCodecs(codecs).map((c) => (c.mimeType + ' ' + (c.sdpFmtpLine || '')).trim()),
  describePublishError: (kind, message) => {
    const ctor = { user: C.UserError, type: realm('TypeError'), other: realm('Error') }[kind];
    return C.describePublishError(new ctor(message));
  },
};

(async () => {
  const calls = JSON.parse(fs.readFileSync(0, 'utf8'));
  const out = [];
  for (const c of calls) {
    const fn = adapters[c.fn] || C[c.fn];
    if (typeof fn !== 'function') throw new Error('no function ' + c.fn);
    const v = await fn(...(c.args || []));
    out.push(v === undefined ? null : v);
  }
  process.stdout.write(JSON.stringify(out));
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
