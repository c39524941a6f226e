// xcheck.mjs — an independent implementation of castnet's signed records
// with ethers v6, to cross-check the Go code (internal/sign, internal/pm).
//
//   node scripts/ethers/xcheck.mjs gen [typed|tickets]
//       print test vectors as JSON (both kinds when none is named):
//       EIP-712 records (digest and signature by fixed keys) and Livepeer
//       tickets (hash, EIP-191 signature, win rule). Output is
//       deterministic: signatures are RFC 6979. scripts/ethers/regen.sh
//       writes them to the testdata files the Go tests read.
//   node scripts/ethers/xcheck.mjs verify < items.json
//       read a JSON array of items and verify each with ethers; print one
//       JSON line per item; exit 1 when any item does not verify.
//         {"kind": "Publish"|"Segment"|"TranscodeResult"|"TranscodeReceipt",
//          "domain": {...}, "message": {...}, "signature": "0x…",
//          "expectedSigner": "0x…"}
//         {"kind": "ticket", "ticket": {...}, "signature": "0x…",
//          "expectedSigner": "0x…", "recipientRand"?: "…", "wins"?: bool}
//
// Run from anywhere; ethers resolves from the repository's node_modules
// (npm ci at the root).

import {
  Wallet,
  TypedDataEncoder,
  verifyTypedData,
  verifyMessage,
  solidityPackedKeccak256,
  keccak256,
  concat,
  zeroPadValue,
  toBeHex,
  getBytes,
  getAddress,
  toUtf8Bytes,
  ZeroHash,
  MaxUint256,
} from "ethers";

// The EIP-712 types, written here from the protocol description, not read
// from the Go code. ethers wants them without EIP712Domain.
const TYPES = {
  Publish: [
    { name: "stream", type: "string" },
    { name: "broadcaster", type: "address" },
    { name: "expires", type: "uint256" },
    { name: "maxPricePerPixel", type: "uint256" },
    { name: "nonce", type: "uint256" },
  ],
  Segment: [
    { name: "stream", type: "string" },
    { name: "seq", type: "uint256" },
    { name: "durationMs", type: "uint256" },
    { name: "hash", type: "bytes32" },
    { name: "profiles", type: "bytes32" },
    { name: "permit", type: "bytes32" },
  ],
  TranscodeResult: [
    { name: "segment", type: "bytes32" },
    { name: "renditions", type: "bytes32[]" },
    { name: "pixels", type: "uint256" },
    { name: "transcoder", type: "address" },
  ],
  TranscodeReceipt: [
    { name: "segment", type: "bytes32" },
    { name: "renditions", type: "bytes32[]" },
    { name: "pixels", type: "uint256" },
    { name: "orchestrator", type: "address" },
    { name: "transcoder", type: "address" },
  ],
};

const U64_MAX = (1n << 64n) - 1n;
const U32_MAX = (1n << 32n) - 1n;

const h = (s) => keccak256(toUtf8Bytes(s));
const pad32 = (n) => zeroPadValue(toBeHex(BigInt(n)), 32);

// Fixed keys: 1, 2 and one that looks random.
const KEYS = [pad32(1), pad32(2), h("castnet ethers cross-check key")];
const wallets = KEYS.map((k) => new Wallet(k));

const NO_CHAIN = { name: "castnet", version: "1" };
const ARBITRUM = { name: "castnet", version: "1", chainId: 42161 };
const HUGE_CHAIN = { name: "castnet", version: "1", chainId: ((1n << 64n) + 1n).toString() };

async function typedVector(name, wallet, domain, primaryType, message) {
  const types = { [primaryType]: TYPES[primaryType] };
  return {
    name,
    primaryType,
    key: wallet.privateKey,
    signer: wallet.address,
    domain,
    message,
    digest: TypedDataEncoder.hash(domain, types, message),
    signature: await wallet.signTypedData(domain, types, message),
  };
}

async function genTyped() {
  const [k1, k2, k3] = wallets;
  const out = [];
  const permit1 = {
    stream: "cam",
    broadcaster: k3.address,
    expires: "1795600800", // 2026-11-25T10:00:00Z
    maxPricePerPixel: "1200",
    nonce: "1",
  };
  out.push(await typedVector("permit basic, no chainId", k1, NO_CHAIN, "Publish", permit1));
  out.push(await typedVector("permit zeros, empty stream, chainId 42161", k2, ARBITRUM, "Publish", {
    stream: "",
    broadcaster: k1.address,
    expires: "0",
    maxPricePerPixel: "0",
    nonce: "0",
  }));
  out.push(await typedVector("permit uint256 max, unicode stream, chainId 2^64+1", k3, HUGE_CHAIN, "Publish", {
    stream: "カメラ-📷 ünïcødé <&> \u2028",
    broadcaster: k2.address,
    expires: MaxUint256.toString(),
    maxPricePerPixel: MaxUint256.toString(),
    nonce: MaxUint256.toString(),
  }));
  const permitDigest = TypedDataEncoder.hash(NO_CHAIN, { Publish: TYPES.Publish }, permit1);
  const profiles = h('[{"name":"240p30","width":426,"height":240,"bitrate":250000,"fps":30,"gop":"2s"}]');
  out.push(await typedVector("segment with permit", k3, NO_CHAIN, "Segment", {
    stream: "cam",
    seq: "12",
    durationMs: "2000",
    hash: h("segment 12 bytes"),
    profiles,
    permit: permitDigest,
  }));
  out.push(await typedVector("segment anonymous, zeros", k3, NO_CHAIN, "Segment", {
    stream: "",
    seq: "0",
    durationMs: "0",
    hash: ZeroHash,
    profiles: ZeroHash,
    permit: ZeroHash,
  }));
  out.push(await typedVector("segment uint64 max, unicode, chainId 42161", k1, ARBITRUM, "Segment", {
    stream: "直播 🎥",
    seq: U64_MAX.toString(),
    durationMs: U64_MAX.toString(),
    hash: h("segment max"),
    profiles,
    permit: h("some permit"),
  }));
  const seg = h("segment 12 bytes");
  const r240 = h("rendition 240p30"), r360 = h("rendition 360p30");
  out.push(await typedVector("result two renditions", k2, NO_CHAIN, "TranscodeResult", {
    segment: seg,
    renditions: [r240, r360],
    pixels: "1234567",
    transcoder: k2.address,
  }));
  out.push(await typedVector("result no renditions", k2, NO_CHAIN, "TranscodeResult", {
    segment: ZeroHash,
    renditions: [],
    pixels: "0",
    transcoder: k2.address,
  }));
  out.push(await typedVector("result five renditions, uint64 max, chainId 2^64+1", k3, HUGE_CHAIN, "TranscodeResult", {
    segment: h("segment x"),
    renditions: [1, 2, 3, 4, 5].map((i) => h(`rendition ${i}`)),
    pixels: U64_MAX.toString(),
    transcoder: k1.address,
  }));
  out.push(await typedVector("receipt two renditions", k1, NO_CHAIN, "TranscodeReceipt", {
    segment: seg,
    renditions: [r240, r360],
    pixels: "1234567",
    orchestrator: k1.address,
    transcoder: k2.address,
  }));
  out.push(await typedVector("receipt no renditions, chainId 42161", k1, ARBITRUM, "TranscodeReceipt", {
    segment: seg,
    renditions: [],
    pixels: "0",
    orchestrator: k1.address,
    transcoder: k1.address,
  }));
  return out;
}

// ticketHash is Livepeer's TicketBroker hash: recipient ‖ sender ‖
// faceValue ‖ winProb ‖ senderNonce ‖ recipientRandHash ‖ auxData, where
// auxData is pad32(creationRound) ‖ creationRoundBlockHash, or empty when
// both are zero.
function auxData(t) {
  if (BigInt(t.creationRound) === 0n && BigInt(t.creationRoundBlockHash) === 0n) {
    return "0x";
  }
  return concat([pad32(t.creationRound), t.creationRoundBlockHash]);
}

function ticketHash(t) {
  return solidityPackedKeccak256(
    ["address", "address", "uint256", "uint256", "uint256", "bytes32", "bytes"],
    [t.recipient, t.sender, t.faceValue, t.winProb, t.senderNonce, t.recipientRandHash, auxData(t)],
  );
}

function wins(sig, recipientRand, winProb) {
  return BigInt(keccak256(concat([sig, pad32(recipientRand)]))) < BigInt(winProb);
}

async function ticketVector(name, wallet, recipient, fields, recipientRand) {
  const ticket = {
    recipient,
    sender: wallet.address,
    ...fields,
    recipientRandHash: keccak256(pad32(recipientRand)),
  };
  const hash = ticketHash(ticket);
  const signature = await wallet.signMessage(getBytes(hash));
  return {
    name,
    key: wallet.privateKey,
    signer: wallet.address,
    ticket,
    recipientRand: BigInt(recipientRand).toString(),
    auxData: auxData(ticket),
    hash,
    signature,
    wins: wins(signature, recipientRand, ticket.winProb),
  };
}

async function genTickets() {
  const [k1, k2, k3] = wallets;
  const half = (MaxUint256 / 2n).toString();
  const oneEth = (10n ** 18n).toString();
  const out = [];
  const base = {
    faceValue: oneEth,
    winProb: half,
    senderNonce: "0",
    creationRound: "0",
    creationRoundBlockHash: ZeroHash,
  };
  out.push(await ticketVector("no auxData", k1, k2.address, base, 7n));
  out.push(await ticketVector("round and block hash", k1, k2.address,
    { ...base, senderNonce: "1", creationRound: "4321", creationRoundBlockHash: h("block 4321") }, 7n));
  out.push(await ticketVector("round 0 with block hash", k3, k2.address,
    { ...base, creationRoundBlockHash: h("block 0") }, BigInt(h("rand a"))));
  out.push(await ticketVector("round without block hash", k3, k2.address,
    { ...base, creationRound: "5" }, BigInt(h("rand b"))));
  out.push(await ticketVector("always wins, uint max face value, uint32 max nonce", k2, k1.address,
    { ...base, faceValue: MaxUint256.toString(), winProb: MaxUint256.toString(), senderNonce: U32_MAX.toString() },
    MaxUint256));
  out.push(await ticketVector("never wins (winProb 0), rand 0", k2, k1.address,
    { ...base, winProb: "0", faceValue: "0" }, 0n));
  out.push(await ticketVector("winProb 1", k2, k3.address, { ...base, winProb: "1" }, 1n));
  // A run of even odds, so both outcomes appear.
  for (let i = 0; i < 8; i++) {
    out.push(await ticketVector(`even odds #${i}`, k3, k1.address,
      { ...base, senderNonce: String(100 + i), creationRound: "9000", creationRoundBlockHash: h("block 9000") },
      BigInt(h(`rand ${i}`))));
  }
  return out;
}

function verifyItem(item) {
  const res = { kind: item.kind };
  try {
    const expected = getAddress(item.expectedSigner);
    let recovered;
    if (item.kind === "ticket") {
      res.hash = ticketHash(item.ticket);
      recovered = verifyMessage(getBytes(res.hash), item.signature);
      if (item.recipientRand !== undefined) {
        res.wins = wins(item.signature, item.recipientRand, item.ticket.winProb);
        if (item.wins !== undefined && res.wins !== item.wins) {
          res.error = `win rule: ethers says ${res.wins}, expected ${item.wins}`;
        }
      }
    } else {
      const fields = TYPES[item.kind];
      if (!fields) throw new Error(`unknown kind ${JSON.stringify(item.kind)}`);
      const types = { [item.kind]: fields };
      res.digest = TypedDataEncoder.hash(item.domain, types, item.message);
      recovered = verifyTypedData(item.domain, types, item.message, item.signature);
    }
    res.recovered = recovered;
    if (recovered !== expected && !res.error) {
      res.error = `recovered ${recovered}, expected ${expected}`;
    }
  } catch (e) {
    res.error = `ethers: ${e.shortMessage || e.message}`;
  }
  res.ok = !res.error;
  return res;
}

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return Buffer.concat(chunks).toString("utf8");
}

async function main() {
  const [cmd, what] = process.argv.slice(2);
  if (cmd === "gen") {
    const out = { generator: "scripts/ethers/xcheck.mjs gen" };
    if (!what || what === "typed") out.typed = await genTyped();
    if (!what || what === "tickets") out.tickets = await genTickets();
    if (what && what !== "typed" && what !== "tickets") {
      throw new Error(`gen: unknown set ${JSON.stringify(what)} (want typed or tickets)`);
    }
    process.stdout.write(JSON.stringify(out, null, 2) + "\n");
    return 0;
  }
  if (cmd === "verify") {
    const items = JSON.parse(await readStdin());
    if (!Array.isArray(items)) throw new Error("verify: want a JSON array on stdin");
    let bad = 0;
    for (const item of items) {
      const res = verifyItem(item);
      if (!res.ok) bad++;
      process.stdout.write(JSON.stringify(res) + "\n");
    }
    return bad ? 1 : 0;
  }
  process.stderr.write("usage: xcheck.mjs gen [typed|tickets] | verify < items.json\n");
  return 2;
}

main().then(
  (code) => { process.exitCode = code; },
  (e) => { process.stderr.write(`xcheck: ${e.stack || e}\n`); process.exitCode = 2; },
);
