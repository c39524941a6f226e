// Test harness for web's Go tests: loads static/wallet.js into a fresh V8
// context the way a page would (a classic script defining one global, with
// the page's crypto.getRandomValues), then runs the calls read as JSON from
// stdin ([{"fn": name, "args": [...]}]) and prints their results as one
// JSON array.
'use strict';
const fs = require('fs');
const vm = require('vm');
const { webcrypto } = require('crypto');

const ctx = vm.createContext({ crypto: webcrypto });
vm.runInContext(fs.readFileSync(process.argv[2], 'utf8'), ctx, { filename: 'wallet.js' });
const W = ctx.CastnetWallet;

// fakeProvider answers EIP-1193 requests from a table (method -> result, or
// {error: {code, message}}) and records every request it got.
function fakeProvider(answers) {
  const requests = [];
  return {
    requests,
    async request({ method, params }) {
      requests.push({ method, params: params === undefined ? null : params });
      const a = answers[method];
      if (a === undefined) throw Object.assign(new Error('unsupported method ' + method), { code: 4200 });
      if (a && a.error) throw Object.assign(new Error(a.error.message), { code: a.error.code });
      return a;
    },
  };
}

// Adapters run the functions that need a provider or return non-JSON values.
const adapters = {
  // base64urlBytes encodes a byte array instead of a string.
  base64urlBytes: (bytes) => W.base64url(bytes),
  // signPermit signs with a fake wallet and returns what it was asked and
  // what the page would send.
  signPermit: async (answers, address, info, stream, nowMs) => {
    const p = fakeProvider(answers);
    const result = await W.signPermit(p, address, info, stream, nowMs);
    return { requests: p.requests, result };
  },
  // walletError runs fn with a fake wallet and returns the message the page
  // shows for its failure.
  walletError: async (fn, answers, ...args) => {
    const p = fakeProvider(answers);
    try {
      await W[fn](p, ...args);
    } catch (err) {
      return W.describeWalletError(err);
    }
    return 'no error';
  },
  requestAccounts: async (answers) => W.requestAccounts(fakeProvider(answers)),
  // permitMessageError returns the error message of a bad permitMessage call.
  permitMessageError: (...args) => {
    try {
      W.permitMessage(...args);
    } catch (err) {
      return W.describeWalletError(err);
    }
    return 'no error';
  },
};

(async () => {
  const calls = JSON.parse(fs.readFileSync(0, 'utf8'));
  const out = [];
  for (const c of calls) {
    const fn = adapters[c.fn] || W[c.fn];
    if (typeof fn !== 'function') throw new Error('no function ' + c.fn);
    const v = await fn(...(c.args || []));
    out.push(v === undefined ? null : v);
  }
  process.stdout.write(JSON.stringify(out));
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
