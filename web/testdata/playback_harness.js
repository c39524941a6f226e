// Test harness for web's Go tests: loads static/playback.js into a fresh V8
// context the way a page would (a classic script defining one global), then
// runs the calls read as JSON from stdin ([{"fn": name, "args": [...]}]) and
// prints their results as one JSON array.
'use strict';
const fs = require('fs');
const vm = require('vm');

const ctx = vm.createContext({ URLSearchParams });
vm.runInContext(fs.readFileSync(process.argv[2], 'utf8'), ctx, { filename: 'playback.js' });
const P = ctx.CastnetPlayback;

// Adapters build the browser objects that JSON cannot carry.
const adapters = {
  // webrtcDelay turns two getStats() answers (arrays of stats, prev may be
  // null) into the delay, the way the page samples once a second.
  webrtcDelay: (prevStats, curStats) => {
    const prev = prevStats ? P.webrtcSample(new Map(prevStats.map((s, i) => [String(i), s])).values()) : null;
    const cur = P.webrtcSample(new Map(curStats.map((s, i) => [String(i), s])).values());
    const ms = P.webrtcDelayMs(prev, cur);
    return ms === null ? null : Math.round(ms * 1000) / 1000;
  },
};

(async () => {
  const calls = JSON.parse(fs.readFileSync(0, 'utf8'));
  const out = [];
  for (const c of calls) {
    const fn = adapters[c.fn] || P[c.fn];
    if (typeof fn !== 'function') throw new Error('no function ' + c.fn);
    const v = await fn(...(c.args || []));
    out.push(v === undefined ? null : v);
  }
  process.stdout.write(JSON.stringify(out));
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
