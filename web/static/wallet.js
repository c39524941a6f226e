// castnet — a browser wallet (EIP-1193 provider, window.ethereum) signs the
// publisher's permit: an EIP-712 "Publish" record (stream, broadcaster,
// expires, maxPricePerPixel, nonce) that the node checks before it takes a
// WHIP session. Plain browser script, no modules: it defines one global,
// CastnetWallet, and everything but the provider calls is pure so that the
// Go tests run it under Node (web/testdata/wallet_harness.js).
(function (root) {
  'use strict';

  // PERMIT_TTL_S is how long a permit stays valid after it is signed. The
  // node checks it when the session starts (its nonce is spent then), so an
  // hour only has to cover a slow click in the wallet and clock skew.
  const PERMIT_TTL_S = 3600;

  // TOKEN_PREFIX marks a bearer token that carries a permit.
  const TOKEN_PREFIX = 'eip712.';

  // NEED_WALLET is what a node that requires permits tells a visitor who has
  // no wallet.
  const NEED_WALLET = 'This node only accepts wallet-signed streams. Install a browser wallet ' +
    '(e.g. MetaMask) and reload, or publish with `castnet publish -eth-key FILE`.';

  // WalletError is a wallet failure already explained for the person at
  // the screen (errors from the provider itself carry an EIP-1193 code).
  class WalletError extends Error {
    constructor(message) {
      super(message);
      this.name = 'WalletError';
    }
  }

  // utf8 encodes a string as UTF-8 bytes (TextEncoder is a Web API, and the
  // Node harness runs this file in a bare V8 context).
  function utf8(str) {
    const out = [];
    for (const ch of String(str)) {
      let c = ch.codePointAt(0);
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // a lone surrogate
      if (c < 0x80) out.push(c);
      else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
      else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
    return out;
  }

  const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

  // base64url encodes a string (as UTF-8) or an array of bytes in the URL
  // and filename safe alphabet without padding (RFC 4648 section 5), the
  // form Go's base64.RawURLEncoding reads.
  function base64url(data) {
    const bytes = typeof data === 'string' ? utf8(data) : Array.from(data);
    let out = '';
    for (let i = 0; i < bytes.length; i += 3) {
      const n = (bytes[i] << 16) | ((bytes[i + 1] || 0) << 8) | (bytes[i + 2] || 0);
      const left = bytes.length - i;
      out += B64URL[(n >> 18) & 63] + B64URL[(n >> 12) & 63];
      if (left > 1) out += B64URL[(n >> 6) & 63];
      if (left > 2) out += B64URL[n & 63];
    }
    return out;
  }

  // randomNonce returns a random 64-bit unsigned integer as a decimal
  // string. The node spends each nonce once, so every permit needs a fresh
  // one; without a secure random source there is no permit at all.
  function randomNonce() {
    const c = root.crypto;
    if (!c || typeof c.getRandomValues !== 'function') {
      throw new WalletError('This browser has no secure random numbers (crypto.getRandomValues); cannot sign a permit.');
    }
    const bytes = c.getRandomValues(new Uint8Array(8));
    let n = 0n;
    for (const b of bytes) n = (n << 8n) | BigInt(b);
    return n.toString(10);
  }

  // decimal writes a uint256 as the decimal string EIP-712 messages carry
  // here (a JSON number would lose precision above 2^53).
  function decimal(v, what) {
    const s = typeof v === 'bigint' ? v.toString(10) : String(v == null ? '' : v).trim();
    if (!/^(0|[1-9][0-9]*)$/.test(s)) throw new WalletError('The node sent a bad ' + what + ': ' + JSON.stringify(v));
    return s;
  }

  // checkInfo validates GET /api/eip712 and returns it: the typed-data
  // skeleton the wallet signs, the node's broadcaster address, and whether
  // the node refuses streams without a permit.
  function checkInfo(info) {
    if (!info || typeof info !== 'object' || !info.domain || !info.types || !info.primaryType) {
      throw new WalletError('The node sent no EIP-712 permit description.');
    }
    if (!Array.isArray(info.types[info.primaryType]) || !Array.isArray(info.types.EIP712Domain)) {
      throw new WalletError('The node sent an EIP-712 description without the ' + info.primaryType + ' or EIP712Domain type.');
    }
    if (!/^0x[0-9a-fA-F]{40}$/.test(String(info.broadcaster))) {
      throw new WalletError('The node sent a bad broadcaster address: ' + JSON.stringify(info.broadcaster));
    }
    return info;
  }

  // permitMessage builds the Publish message for stream: every uint256 as a
  // decimal string, expiring PERMIT_TTL_S after nowMs (Date.now()), with the
  // node's suggested price cap and a fresh nonce unless one is given.
  function permitMessage(stream, info, nowMs, nonce) {
    return {
      stream: String(stream),
      broadcaster: info.broadcaster,
      expires: String(Math.floor(nowMs / 1000) + PERMIT_TTL_S),
      maxPricePerPixel: decimal(info.maxPricePerPixel == null ? '0' : info.maxPricePerPixel, 'price per pixel'),
      nonce: nonce == null ? randomNonce() : decimal(nonce, 'nonce'),
    };
  }

  // typedDataJSON is the second parameter of eth_signTypedData_v4: the
  // node's domain and types as received (EIP712Domain included), and the
  // message.
  function typedDataJSON(info, message) {
    return JSON.stringify({
      domain: info.domain,
      types: info.types,
      primaryType: info.primaryType,
      message,
    });
  }

  // permitToken is the bearer token the node reads:
  // "eip712." + base64url(JSON {"message", "signature"}).
  function permitToken(message, signature) {
    return TOKEN_PREFIX + base64url(JSON.stringify({ message, signature }));
  }

  // shortAddress writes 0x1234…abcd.
  function shortAddress(address) {
    const a = String(address || '');
    return a.length > 12 ? a.slice(0, 6) + '…' + a.slice(-4) : a;
  }

  // formatExpires writes a permit's expiry (unix seconds) as local time.
  function formatExpires(expires) {
    const d = new Date(Number(expires) * 1000);
    return isNaN(d.getTime()) ? String(expires) : d.toLocaleString();
  }

  // describeWalletError explains a failed provider request (EIP-1193
  // section "Provider Errors", and JSON-RPC codes wallets use).
  function describeWalletError(err) {
    if (err instanceof WalletError) return err.message;
    const code = err && err.code;
    switch (code) {
      case 4001:
        return 'You rejected the request in your wallet; nothing was signed.';
      case 4100:
        return 'The wallet has not authorized this site: connect the wallet, then try again.';
      case 4200:
        return 'Your wallet cannot sign EIP-712 typed data (eth_signTypedData_v4).';
      case 4900:
      case 4901:
        return 'Your wallet is disconnected from its network; reconnect it, then try again.';
      case -32002:
        return 'Your wallet already has a request open: finish it in the wallet, then try again.';
      default: {
        const msg = (err && (err.message || err.name)) || String(err);
        return 'The wallet failed: ' + msg;
      }
    }
  }

  // requestAccounts asks the wallet for an account (it shows its own
  // prompt) and returns the first address.
  async function requestAccounts(provider) {
    const accounts = await provider.request({ method: 'eth_requestAccounts' });
    if (!Array.isArray(accounts) || !accounts.length || !/^0x[0-9a-fA-F]{40}$/.test(String(accounts[0]))) {
      throw new WalletError('The wallet returned no account.');
    }
    return String(accounts[0]);
  }

  // ensureChain switches the wallet to the domain's chain when the node
  // binds permits to one: wallets refuse to sign typed data whose chainId
  // is not their active chain.
  async function ensureChain(provider, domain) {
    if (!domain || domain.chainId == null) return;
    const want = BigInt(domain.chainId);
    let have;
    try {
      have = BigInt(await provider.request({ method: 'eth_chainId' }));
    } catch (_) {
      return; // let the signing request say what is wrong
    }
    if (have === want) return;
    try {
      await provider.request({ method: 'wallet_switchEthereumChain', params: [{ chainId: '0x' + want.toString(16) }] });
    } catch (err) {
      if (err && err.code === 4001) throw err;
      throw new WalletError('This node signs permits for chain ' + want + '; switch your wallet to that network, then try again.');
    }
  }

  // signPermit has the wallet sign a permit for stream and returns the
  // message, the signature and the bearer token.
  async function signPermit(provider, address, info, stream, nowMs) {
    checkInfo(info);
    const message = permitMessage(stream, info, nowMs);
    await ensureChain(provider, info.domain);
    const signature = await provider.request({
      method: 'eth_signTypedData_v4',
      params: [address, typedDataJSON(info, message)],
    });
    if (!/^0x[0-9a-fA-F]{130}$/.test(String(signature))) {
      throw new WalletError('The wallet returned a malformed signature.');
    }
    return { message, signature: String(signature), token: permitToken(message, String(signature)) };
  }

  root.CastnetWallet = Object.freeze({
    PERMIT_TTL_S,
    NEED_WALLET,
    WalletError,
    base64url,
    randomNonce,
    checkInfo,
    permitMessage,
    typedDataJSON,
    permitToken,
    shortAddress,
    formatExpires,
    describeWalletError,
    requestAccounts,
    signPermit,
  });
})(globalThis);
