// client-sdk/src/oprf.ts: RFC 9497 OPRF/VOPRF, ristretto255-SHA512.
// - RFC 9497 Appendix A.1.1 (OPRF mode) and A.1.2 (VOPRF mode) test vectors,
//   typed in below: key derivation, blinding, evaluation, the proofs with the
//   RFC's fixed proof randomness, and the Outputs (via finalizeOutput of the
//   unblinded element, which pins the element too);
// - interoperability both ways with noble's own ristretto255_oprf;
// - the unblinded element equals k·H(x) computed directly with the group
//   primitives and a hand-built DST;
// - forged, bit-flipped, swapped, substituted and wrong-key proofs rejected;
// - blindingInput per hash algorithm; keys; strict wire parsing, with
//   fast-check mutations that must only ever raise OprfError.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ristretto255, ristretto255_hasher, ristretto255_oprf } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { ConcordError } from '@concord/client-sdk/errors';
import { toBase64 } from '@concord/client-sdk/bytes';
import {
  MAX_BATCH,
  MODE_OPRF,
  MODE_VOPRF,
  OprfError,
  blind,
  blindEvaluate,
  blindEvaluateBatch,
  blindingInput,
  checkPublicKey,
  deriveKeyPair,
  encodePublicKey,
  evaluate,
  finalizeOutput,
  formatEvaluateRequest,
  formatEvaluateResponse,
  generateKeyPair,
  parseEvaluateRequest,
  parseEvaluateResponse,
  parsePublicKey,
  publicKeyFromSecretKey,
  unblind,
  verifyAndUnblind,
  verifyProof,
} from '@concord/client-sdk/oprf';
import {
  SEED,
  KEY_INFO,
  BLIND_1,
  INPUT_1,
  INPUT_2,
  OPRF_SKSM,
  OPRF_VECTORS,
  VOPRF_SKSM,
  VOPRF_PKSM,
  VOPRF_OUTPUT_1,
  VOPRF_OUTPUT_2,
  VOPRF_VECTORS,
} from './oprf-vectors.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof OprfError) return e.code;
    throw e;
  }
  return 'no error';
}

// ---------------------------------------------------------------------------
// RFC 9497 Appendix A.1 vectors: ./oprf-vectors.ts.
describe('RFC 9497 A.1.1 ristretto255-SHA512 OPRF mode', () => {
  const keys = deriveKeyPair(SEED, KEY_INFO, MODE_OPRF);

  it('DeriveKeyPair gives skSm', () => {
    expect(toHex(keys.secretKey)).toBe(OPRF_SKSM);
  });

  OPRF_VECTORS.forEach((v, n) => {
    it(`Test Vector ${n + 1}: Blind, BlindEvaluate, Finalize`, () => {
      const input = hex(v.input[0]!);
      const b = blind(input, { mode: MODE_OPRF, blind: hex(v.blind[0]!) });
      expect(toHex(b.blind)).toBe(v.blind[0]);
      expect(toHex(b.blinded)).toBe(v.blinded[0]);
      const z = blindEvaluate(keys.secretKey, b.blinded);
      expect(toHex(z)).toBe(v.evaluated[0]);
      const element = unblind(b.blind, z);
      expect(toHex(finalizeOutput(input, element))).toBe(v.output[0]);
      // The element is k·H(x), which the key holder computes directly.
      expect(toHex(evaluate(keys.secretKey, input, MODE_OPRF))).toBe(toHex(element));
    });
  });
});

describe('RFC 9497 A.1.2 ristretto255-SHA512 VOPRF mode', () => {
  const keys = deriveKeyPair(SEED, KEY_INFO, MODE_VOPRF);

  it('DeriveKeyPair gives skSm and pkSm', () => {
    expect(toHex(keys.secretKey)).toBe(VOPRF_SKSM);
    expect(toHex(keys.publicKey)).toBe(VOPRF_PKSM);
    expect(toHex(publicKeyFromSecretKey(hex(VOPRF_SKSM)))).toBe(VOPRF_PKSM);
  });

  VOPRF_VECTORS.forEach((v, n) => {
    it(`Test Vector ${n + 1}, batch size ${v.input.length}: blind, evaluate with the RFC's proof randomness, verify, unblind`, () => {
      const inputs = v.input.map(hex);
      const bs = inputs.map((x, i) => blind(x, { blind: hex(v.blind[i]!) }));
      expect(bs.map((b) => toHex(b.blinded))).toEqual(v.blinded);
      const res = blindEvaluateBatch(
        keys.secretKey,
        keys.publicKey,
        bs.map((b) => b.blinded),
        { proofScalar: hex(v.proofRandomScalar!) },
      );
      expect(res.evaluated.map(toHex)).toEqual(v.evaluated);
      expect(toHex(res.proof)).toBe(v.proof);
      const elements = verifyAndUnblind(
        keys.publicKey,
        bs.map((b) => b.blind),
        bs.map((b) => b.blinded),
        res,
      );
      expect(elements.map((e, i) => toHex(finalizeOutput(inputs[i]!, e)))).toEqual(v.output);
      inputs.forEach((x, i) => expect(toHex(evaluate(keys.secretKey, x))).toBe(toHex(elements[i]!)));
    });

    it(`Test Vector ${n + 1}: the RFC's own bytes verify (no help from our prover)`, () => {
      const elements = verifyAndUnblind(
        hex(VOPRF_PKSM),
        v.blind.map(hex),
        v.blinded.map(hex),
        { evaluated: v.evaluated.map(hex), proof: hex(v.proof!) },
      );
      expect(elements.map((e, i) => toHex(finalizeOutput(hex(v.input[i]!), e)))).toEqual(v.output);
    });
  });
});

// ---------------------------------------------------------------------------
// Independent cross-checks

const VOPRF_CTX = 'OPRFV1-\x01-ristretto255-SHA512';

/** k·H(x) from the group primitives alone, with the DST spelled out by hand (RFC 9497 §4.1). */
function directElement(secretKey: Uint8Array, input: Uint8Array): string {
  const k = ristretto255.Point.Fn.fromBytes(secretKey);
  return toHex(ristretto255_hasher.hashToCurve(input, { DST: 'HashToGroup-' + VOPRF_CTX }).multiply(k).toBytes());
}

describe('cross-checks', () => {
  const keys = generateKeyPair();
  const inputs = Array.from({ length: 5 }, (_, i) => blindingInput('neuralhash-96', new Uint8Array(12).fill(i * 37 + 1)));

  it('generateKeyPair: the public key is skS·G', () => {
    expect(toHex(keys.publicKey)).toBe(toHex(ristretto255.Point.BASE.multiply(ristretto255.Point.Fn.fromBytes(keys.secretKey)).toBytes()));
    expect(toHex(publicKeyFromSecretKey(keys.secretKey))).toBe(toHex(keys.publicKey));
  });

  it('unblinded elements equal k·H(x) computed directly from the secret key', () => {
    const bs = inputs.map((x) => blind(x));
    const res = blindEvaluateBatch(keys.secretKey, keys.publicKey, bs.map((b) => b.blinded));
    const got = verifyAndUnblind(keys.publicKey, bs.map((b) => b.blind), bs.map((b) => b.blinded), res);
    expect(got.map(toHex)).toEqual(inputs.map((x) => directElement(keys.secretKey, x)));
    // Fresh blinds: blinding the same input twice gives unrelated blinded elements, same result.
    const again = inputs.map((x) => blind(x));
    expect(again.map((b) => toHex(b.blinded))).not.toEqual(bs.map((b) => toHex(b.blinded)));
  });

  it('our proofs verify in noble ristretto255_oprf, and its outputs match finalizeOutput', () => {
    const bs = inputs.map((x) => blind(x));
    const res = blindEvaluateBatch(keys.secretKey, keys.publicKey, bs.map((b) => b.blinded));
    const items = bs.map((b, i) => ({ input: inputs[i]!, blind: b.blind, blinded: b.blinded, evaluated: res.evaluated[i]! }));
    const outputs = ristretto255_oprf.voprf.finalizeBatch(items, keys.publicKey, res.proof);
    const elements = verifyAndUnblind(keys.publicKey, bs.map((b) => b.blind), bs.map((b) => b.blinded), res);
    expect(outputs.map(toHex)).toEqual(elements.map((e, i) => toHex(finalizeOutput(inputs[i]!, e))));
  });

  it("noble's blinds and batch proofs verify here", () => {
    const bs = inputs.map((x) => ristretto255_oprf.voprf.blind(x));
    const res = ristretto255_oprf.voprf.blindEvaluateBatch(keys.secretKey, keys.publicKey, bs.map((b) => b.blinded));
    const elements = verifyAndUnblind(keys.publicKey, bs.map((b) => b.blind), bs.map((b) => b.blinded), res);
    expect(elements.map(toHex)).toEqual(inputs.map((x) => directElement(keys.secretKey, x)));
    const items = bs.map((b, i) => ({ input: inputs[i]!, blind: b.blind, blinded: b.blinded, evaluated: res.evaluated[i]! }));
    const outputs = ristretto255_oprf.voprf.finalizeBatch(items, keys.publicKey, res.proof);
    expect(elements.map((e, i) => toHex(finalizeOutput(inputs[i]!, e)))).toEqual(outputs.map(toHex));
  });

  it('finalizeOutput is SHA-512 of the RFC 9497 framing', () => {
    const x = inputs[0]!;
    const e = evaluate(keys.secretKey, x);
    const framed = Buffer.concat([Buffer.from([0, x.length]), x, Buffer.from([0, 32]), e, Buffer.from('Finalize')]);
    expect(toHex(finalizeOutput(x, e))).toBe(toHex(sha512(framed)));
  });
});

// ---------------------------------------------------------------------------
// Attacks on the proof

describe('DLEQ proof rejection', () => {
  const keys = generateKeyPair();
  const other = generateKeyPair();
  const inputs = [0, 1, 2].map((i) => blindingInput('pdq-256', new Uint8Array(32).fill(i)));
  const bs = inputs.map((x) => blind(x));
  const blinds = bs.map((b) => b.blind);
  const blinded = bs.map((b) => b.blinded);
  const res = blindEvaluateBatch(keys.secretKey, keys.publicKey, blinded);

  it('accepts the honest batch', () => {
    expect(verifyAndUnblind(keys.publicKey, blinds, blinded, res)).toHaveLength(3);
  });

  it('rejects every single-bit flip of the proof', () => {
    for (let bit = 0; bit < 512; bit++) {
      const p = res.proof.slice();
      p[bit >> 3]! ^= 1 << (bit & 7);
      // A flip may make a scalar ≥ the order (caught as such) or just not verify: bad-proof either way.
      expect(code(() => verifyProof(keys.publicKey, blinded, res.evaluated, p)), `bit ${bit}`).toBe('bad-proof');
    }
  });

  it('rejects a forged proof: random scalars, zeros, and a proof made with another key', () => {
    const forged = new Uint8Array(64);
    crypto.getRandomValues(forged);
    forged[31] = forged[31]! & 0x0f;
    forged[63] = forged[63]! & 0x0f;
    expect(code(() => verifyAndUnblind(keys.publicKey, blinds, blinded, { evaluated: res.evaluated, proof: forged }))).toBe('bad-proof');
    expect(code(() => verifyAndUnblind(keys.publicKey, blinds, blinded, { evaluated: res.evaluated, proof: new Uint8Array(64) }))).toBe('bad-proof');
    // The operator evaluates with a different key and proves honestly for that key.
    const wrong = blindEvaluateBatch(other.secretKey, other.publicKey, blinded);
    expect(code(() => verifyAndUnblind(keys.publicKey, blinds, blinded, wrong))).toBe('bad-proof');
  });

  it('rejects evaluations swapped between elements', () => {
    const swapped = [res.evaluated[1]!, res.evaluated[0]!, res.evaluated[2]!];
    expect(code(() => verifyAndUnblind(keys.publicKey, blinds, blinded, { evaluated: swapped, proof: res.proof }))).toBe('bad-proof');
    // Swapping both the blinded and evaluated lists changes the transcript order: also rejected.
    const b2 = [blinded[1]!, blinded[0]!, blinded[2]!];
    expect(code(() => verifyProof(keys.publicKey, b2, swapped, res.proof))).toBe('bad-proof');
  });

  it('rejects a substituted or missing evaluation, and a proof from another batch', () => {
    const sub = [...res.evaluated];
    sub[2] = evaluate(keys.secretKey, inputs[0]!); // a real k·H(x), for the wrong slot
    expect(code(() => verifyAndUnblind(keys.publicKey, blinds, blinded, { evaluated: sub, proof: res.proof }))).toBe('bad-proof');
    expect(code(() => verifyAndUnblind(keys.publicKey, blinds, blinded, { evaluated: res.evaluated.slice(0, 2), proof: res.proof }))).toBe('bad-batch');
    const res2 = blindEvaluateBatch(keys.secretKey, keys.publicKey, blinded);
    expect(toHex(res2.proof)).not.toBe(toHex(res.proof)); // fresh proof randomness
    expect(verifyAndUnblind(keys.publicKey, blinds, blinded, res2).map(toHex)).toEqual(
      verifyAndUnblind(keys.publicKey, blinds, blinded, res).map(toHex),
    );
    const one = blindEvaluateBatch(keys.secretKey, keys.publicKey, blinded.slice(0, 1));
    expect(code(() => verifyProof(keys.publicKey, blinded.slice(0, 1), res.evaluated.slice(0, 1), res.proof))).toBe('bad-proof');
    expect(code(() => verifyProof(keys.publicKey, blinded, res.evaluated, one.proof))).toBe('bad-proof');
  });

  it('rejects the wrong public key', () => {
    expect(code(() => verifyAndUnblind(other.publicKey, blinds, blinded, res))).toBe('bad-proof');
    expect(code(() => verifyAndUnblind(new Uint8Array(32), blinds, blinded, res))).toBe('bad-key');
  });

  it('a wrong blind unblinds to a different element (the proof does not cover blinds)', () => {
    const wrongBlinds = [blinds[1]!, blinds[0]!, blinds[2]!];
    const got = verifyAndUnblind(keys.publicKey, wrongBlinds, blinded, res);
    expect(toHex(got[0]!)).not.toBe(directElement(keys.secretKey, inputs[0]!));
    expect(toHex(got[2]!)).toBe(directElement(keys.secretKey, inputs[2]!));
  });

  it('the server refuses a public key that is not its own, bad scalars and bad batches', () => {
    expect(code(() => blindEvaluateBatch(keys.secretKey, other.publicKey, blinded))).toBe('bad-key');
    expect(code(() => blindEvaluateBatch(new Uint8Array(32), keys.publicKey, blinded))).toBe('bad-key');
    expect(code(() => blindEvaluateBatch(new Uint8Array(32).fill(0xff), keys.publicKey, blinded))).toBe('bad-key');
    expect(code(() => blindEvaluateBatch(keys.secretKey, keys.publicKey, []))).toBe('bad-batch');
    expect(code(() => blindEvaluateBatch(keys.secretKey, keys.publicKey, Array(MAX_BATCH + 1).fill(blinded[0])))).toBe('bad-batch');
    expect(code(() => blindEvaluateBatch(keys.secretKey, keys.publicKey, [new Uint8Array(32)]))).toBe('bad-element');
    expect(code(() => blindEvaluateBatch(keys.secretKey, keys.publicKey, blinded, { proofScalar: new Uint8Array(32) }))).toBe('bad-scalar');
    expect(code(() => blind(inputs[0]!, { blind: new Uint8Array(31) }))).toBe('bad-scalar');
    expect(code(() => verifyAndUnblind(keys.publicKey, [new Uint8Array(32), blinds[1]!, blinds[2]!], blinded, res))).toBe('bad-scalar');
  });
});

// ---------------------------------------------------------------------------
// Inputs and keys

describe('blindingInput', () => {
  it('is id ‖ 0x00 ‖ raw for each hash algorithm, with the raw length checked', () => {
    for (const [alg, len] of [['neuralhash-96', 12], ['pdq-256', 32], ['photodna-1152', 144]] as const) {
      const raw = new Uint8Array(len).map((_, i) => i);
      expect(toHex(blindingInput(alg, raw))).toBe(Buffer.from(alg).toString('hex') + '00' + toHex(raw));
      expect(code(() => blindingInput(alg, new Uint8Array(len - 1)))).toBe('bad-input');
      expect(code(() => blindingInput(alg, new Uint8Array(len + 1)))).toBe('bad-input');
    }
    expect(code(() => blindingInput('md5-128', new Uint8Array(16)))).toBe('bad-input');
    expect(code(() => blindingInput('__proto__', new Uint8Array(0)))).toBe('bad-input');
  });

  it('different algorithms with the same raw bytes give different elements', () => {
    const k = generateKeyPair().secretKey;
    const raw = new Uint8Array(32).fill(9);
    expect(toHex(evaluate(k, blindingInput('pdq-256', raw)))).not.toBe(toHex(evaluate(k, raw)));
  });

  it('rejects inputs over 65,535 bytes', () => {
    expect(code(() => blind(new Uint8Array(65_536)))).toBe('bad-input');
  });
});

// Non-canonical or invalid ristretto255 encodings (RFC 9496 §A.2 style):
// s ≥ p, negative (odd) s, and an encoding that is not a square.
const BAD_ELEMENTS = [
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p + 1
  '0100000000000000000000000000000000000000000000000000000000000000', // s = 1 is negative (odd)
  '26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371', // RFC 9496 A.2: non-square
];

describe('keys', () => {
  it('encodes and parses the policy blinding-key', () => {
    const k = generateKeyPair();
    const s = encodePublicKey(k.publicKey);
    expect(s).toBe(toBase64(k.publicKey));
    expect(toHex(parsePublicKey(s))).toBe(toHex(k.publicKey));
    expect(code(() => parsePublicKey(toBase64(new Uint8Array(32))))).toBe('bad-key'); // identity
    expect(code(() => parsePublicKey(toBase64(k.publicKey).replace('=', '')))).toBe('bad-base64');
    expect(code(() => parsePublicKey(toBase64(k.publicKey.subarray(0, 31))))).toBe('bad-key');
    for (const b of BAD_ELEMENTS) expect(code(() => checkPublicKey(hex(b)))).toBe('bad-key');
  });

  it('deriveKeyPair checks its seed, and depends on seed, info and mode', () => {
    expect(code(() => deriveKeyPair(new Uint8Array(31), KEY_INFO))).toBe('bad-key');
    const a = toHex(deriveKeyPair(SEED, KEY_INFO).secretKey);
    expect(toHex(deriveKeyPair(SEED, new Uint8Array(0)).secretKey)).not.toBe(a);
    expect(toHex(deriveKeyPair(SEED, KEY_INFO, MODE_OPRF).secretKey)).not.toBe(a);
  });
});

// ---------------------------------------------------------------------------
// Wire format

describe('POST /oprf/evaluate bodies', () => {
  const keys = generateKeyPair();
  const bs = [1, 2].map((i) => blind(blindingInput('neuralhash-96', new Uint8Array(12).fill(i))));
  const blinded = bs.map((b) => b.blinded);
  const res = blindEvaluateBatch(keys.secretKey, keys.publicKey, blinded);

  it('round-trips a request and a response, byte for byte', () => {
    const req = formatEvaluateRequest(blinded);
    expect(req).toBe(JSON.stringify({ blinded: blinded.map(toBase64) }));
    expect(parseEvaluateRequest(req).map(toHex)).toEqual(blinded.map(toHex));
    expect(parseEvaluateRequest(new TextEncoder().encode(req)).map(toHex)).toEqual(blinded.map(toHex));
    const body = formatEvaluateResponse(res);
    expect(body).toBe(JSON.stringify({ evaluated: res.evaluated.map(toBase64), proof: toBase64(res.proof) }));
    const back = parseEvaluateResponse(body, 2);
    expect(back.evaluated.map(toHex)).toEqual(res.evaluated.map(toHex));
    expect(toHex(back.proof)).toBe(toHex(res.proof));
    // A full server/client round trip through the wire.
    const server = blindEvaluateBatch(keys.secretKey, keys.publicKey, parseEvaluateRequest(req));
    const got = verifyAndUnblind(keys.publicKey, bs.map((b) => b.blind), blinded, parseEvaluateResponse(formatEvaluateResponse(server), 2));
    expect(got.map(toHex)).toEqual(bs.map((_, i) => toHex(evaluate(keys.secretKey, blindingInput('neuralhash-96', new Uint8Array(12).fill(i + 1))))));
  });

  it('accepts whitespace from other JSON encoders and exactly MAX_BATCH elements', () => {
    expect(parseEvaluateRequest(JSON.stringify({ blinded: blinded.map(toBase64) }, null, 2))).toHaveLength(2);
    const many = JSON.stringify({ blinded: Array(MAX_BATCH).fill(toBase64(blinded[0]!)) });
    expect(parseEvaluateRequest(many)).toHaveLength(MAX_BATCH);
  });

  const good = toBase64(blinded[0]!);
  // 32 bytes are 43 base64 digits and '='; the last digit's low 2 bits are padding and must be 0.
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const trailingBits = (s: string) => s.slice(0, 42) + B64[B64.indexOf(s[42]!) | 1]! + '=';
  const requestCases: [string, string | Uint8Array, string][] = [
    ['not JSON', '{', 'bad-json'],
    ['an array', '[]', 'bad-json'],
    ['null', 'null', 'bad-json'],
    ['missing key', '{}', 'bad-json'],
    ['extra key', JSON.stringify({ blinded: [good], extra: 1 }), 'bad-json'],
    ['wrong key', JSON.stringify({ Blinded: [good] }), 'bad-json'],
    ['not an array', JSON.stringify({ blinded: good }), 'bad-json'],
    ['a number in the list', JSON.stringify({ blinded: [1] }), 'bad-json'],
    ['empty batch', JSON.stringify({ blinded: [] }), 'bad-batch'],
    ['1,001 elements', JSON.stringify({ blinded: Array(MAX_BATCH + 1).fill(good) }), 'bad-batch'],
    ['unpadded base64', JSON.stringify({ blinded: [good.replace('=', '')] }), 'bad-base64'],
    ['base64url', JSON.stringify({ blinded: [toBase64(new Uint8Array(32).fill(0xfb)).replace(/\+/g, '-')] }), 'bad-base64'],
    ['non-zero trailing bits', JSON.stringify({ blinded: [trailingBits(good)] }), 'bad-base64'],
    ['31 bytes', JSON.stringify({ blinded: [toBase64(blinded[0]!.subarray(0, 31))] }), 'bad-element'],
    ['33 bytes', JSON.stringify({ blinded: [toBase64(new Uint8Array([...blinded[0]!, 0]))] }), 'bad-element'],
    ['the identity', JSON.stringify({ blinded: [toBase64(new Uint8Array(32))] }), 'bad-element'],
    ...BAD_ELEMENTS.map((b): [string, string, string] => [`bad encoding ${b.slice(0, 8)}`, JSON.stringify({ blinded: [toBase64(hex(b))] }), 'bad-element']),
    ['too large', JSON.stringify({ blinded: [good] }) + ' '.repeat(70_000), 'bad-json'],
    ['invalid UTF-8', new Uint8Array([0x7b, 0xff, 0x7d]), 'bad-json'],
  ];
  for (const [name, body, want] of requestCases) {
    it(`request: rejects ${name} (${want})`, () => {
      expect(code(() => parseEvaluateRequest(body))).toBe(want);
    });
  }

  it('response: strict keys, counts, elements and proof', () => {
    const ev = res.evaluated.map(toBase64);
    const p = toBase64(res.proof);
    const bad = (o: unknown, n = 2) => code(() => parseEvaluateResponse(JSON.stringify(o), n));
    expect(bad({ evaluated: ev, proof: p }, 3)).toBe('bad-batch');
    expect(bad({ evaluated: ev, proof: p }, 1)).toBe('bad-batch');
    expect(code(() => parseEvaluateResponse(JSON.stringify({ evaluated: ev, proof: p }), 0))).toBe('bad-batch');
    expect(bad({ evaluated: ev })).toBe('bad-json');
    expect(bad({ evaluated: ev, proof: p, x: 1 })).toBe('bad-json');
    expect(bad({ evaluated: ev, proof: 5 })).toBe('bad-json');
    expect(bad({ evaluated: ev, proof: toBase64(res.proof.subarray(0, 63)) })).toBe('bad-proof');
    expect(bad({ evaluated: ev, proof: toBase64(new Uint8Array(64).fill(0xff)) })).toBe('bad-proof');
    expect(bad({ evaluated: [ev[0], toBase64(new Uint8Array(32))], proof: p })).toBe('bad-element');
    expect(bad({ evaluated: [ev[0], ev[1]!.slice(0, -1)], proof: p })).toBe('bad-base64');
  });

  it('fast-check: mutated bodies parse to a whole value or raise OprfError, nothing else', () => {
    const req = new TextEncoder().encode(formatEvaluateRequest(blinded));
    const resp = new TextEncoder().encode(formatEvaluateResponse(res));
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        (isReq, muts) => {
          const body = (isReq ? req : resp).slice();
          for (const [at, v] of muts) body[at % body.length] = v;
          try {
            if (isReq) parseEvaluateRequest(body);
            else parseEvaluateResponse(body, 2);
          } catch (e) {
            expect(e).toBeInstanceOf(OprfError);
            expect(e).toBeInstanceOf(ConcordError);
          }
        },
      ),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        try {
          parseEvaluateRequest(JSON.stringify(v));
        } catch (e) {
          expect(e).toBeInstanceOf(OprfError);
        }
      }),
      { numRuns: 300 },
    );
  });
});
