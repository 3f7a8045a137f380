// The libsodium OPRF backend (client-sdk/src/oprf-libsodium.ts, loaded by
// verifier/src/oprf-sodium.ts and log-server/src/oprf-sodium.ts):
// - RFC 9497 Appendix A.1.1 (OPRF) and A.1.2 (VOPRF) vectors, single and
//   batch, including the proof bytes, through each loader's backend;
// - differential against the default noble backend on random keys and
//   inputs: identical blinded and evaluated elements and identical proofs for
//   fixed randomness; proofs made by one verify in the other, both ways;
//   identical unblinded elements, equal to k·H(x);
// - element decoding agrees with noble on canonical, non-canonical, identity
//   and random encodings; the one-way map agrees on random 64-byte strings;
//   multi-scalar multiplication agrees, with zero scalars and the identity;
// - the protocol's checks hold under the backend: bit-flipped, swapped and
//   wrong-key proofs and identity elements are rejected with OprfError.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js';
import {
  MODE_OPRF,
  MODE_VOPRF,
  OprfError,
  type OprfBackend,
  blind,
  blindEvaluate,
  blindEvaluateBatch,
  blindingInput,
  checkPublicKey,
  deriveKeyPair,
  evaluate,
  finalizeOutput,
  formatEvaluateRequest,
  formatEvaluateResponse,
  generateKeyPair,
  nobleBackend,
  parseEvaluateRequest,
  parseEvaluateResponse,
  publicKeyFromSecretKey,
  unblind,
  verifyAndUnblind,
  verifyProof,
} from '@concord/client-sdk/oprf';
import { libsodiumBackend } from '@concord/client-sdk/oprf-libsodium';
import { sodiumOprfBackend as verifierBackend } from '@concord/verifier/oprf-sodium';
import { sodiumOprfBackend as logServerBackend } from '@concord/log-server/oprf-sodium';
import { KEY_INFO, OPRF_SKSM, OPRF_VECTORS, SEED, VOPRF_PKSM, VOPRF_SKSM, VOPRF_VECTORS } from '../client-sdk/test/oprf-vectors.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const rand = (n: number) => new Uint8Array(randomBytes(n));

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof OprfError) return e.code;
    throw e;
  }
  return 'no error';
}

const loaders = { 'verifier/src/oprf-sodium.ts': verifierBackend, 'log-server/src/oprf-sodium.ts': logServerBackend };

for (const [where, load] of Object.entries(loaders)) {
  describe(`RFC 9497 A.1 vectors through libsodium (${where})`, () => {
    it('loads a libsodium backend, once', async () => {
      const backend = await load();
      expect(backend.name).toBe('libsodium');
      expect(await load()).toBe(backend);
    });

    it('A.1.1 OPRF mode: DeriveKeyPair, Blind, BlindEvaluate, Finalize', async () => {
      const backend = await load();
      const keys = deriveKeyPair(SEED, KEY_INFO, MODE_OPRF, { backend });
      expect(toHex(keys.secretKey)).toBe(OPRF_SKSM);
      for (const v of OPRF_VECTORS) {
        const input = hex(v.input[0]!);
        const b = blind(input, { mode: MODE_OPRF, blind: hex(v.blind[0]!), backend });
        expect(toHex(b.blinded)).toBe(v.blinded[0]);
        const z = blindEvaluate(keys.secretKey, b.blinded, { backend });
        expect(toHex(z)).toBe(v.evaluated[0]);
        const element = unblind(b.blind, z, { backend });
        expect(toHex(finalizeOutput(input, element, { backend }))).toBe(v.output[0]);
        expect(toHex(evaluate(keys.secretKey, input, MODE_OPRF, { backend }))).toBe(toHex(element));
      }
    });

    it('A.1.2 VOPRF mode: keys, blinded, evaluated, proof bytes and outputs, batch 1 and 2', async () => {
      const backend = await load();
      const keys = deriveKeyPair(SEED, KEY_INFO, MODE_VOPRF, { backend });
      expect(toHex(keys.secretKey)).toBe(VOPRF_SKSM);
      expect(toHex(keys.publicKey)).toBe(VOPRF_PKSM);
      expect(toHex(publicKeyFromSecretKey(hex(VOPRF_SKSM), { backend }))).toBe(VOPRF_PKSM);
      expect(VOPRF_VECTORS.map((v) => v.input.length)).toEqual([1, 1, 2]);
      for (const v of VOPRF_VECTORS) {
        const inputs = v.input.map(hex);
        const bs = inputs.map((x, i) => blind(x, { blind: hex(v.blind[i]!), backend }));
        expect(bs.map((b) => toHex(b.blinded))).toEqual(v.blinded);
        const res = blindEvaluateBatch(keys.secretKey, keys.publicKey, bs.map((b) => b.blinded), {
          proofScalar: hex(v.proofRandomScalar!),
          backend,
        });
        expect(res.evaluated.map(toHex)).toEqual(v.evaluated);
        expect(toHex(res.proof)).toBe(v.proof);
        const elements = verifyAndUnblind(keys.publicKey, bs.map((b) => b.blind), bs.map((b) => b.blinded), res, { backend });
        expect(elements.map((e, i) => toHex(finalizeOutput(inputs[i]!, e)))).toEqual(v.output);
      }
    });

    it("A.1.2: the RFC's own bytes verify, and each of their proof bits matters", async () => {
      const backend = await load();
      for (const v of VOPRF_VECTORS) {
        const response = { evaluated: v.evaluated.map(hex), proof: hex(v.proof!) };
        const elements = verifyAndUnblind(hex(VOPRF_PKSM), v.blind.map(hex), v.blinded.map(hex), response, { backend });
        expect(elements.map((e, i) => toHex(finalizeOutput(hex(v.input[i]!), e)))).toEqual(v.output);
        for (let bit = 0; bit < 512; bit += 7) {
          const proof = response.proof.slice();
          proof[bit >> 3]! ^= 1 << (bit & 7);
          expect(code(() => verifyProof(hex(VOPRF_PKSM), v.blinded.map(hex), response.evaluated, proof, { backend }))).toBe('bad-proof');
        }
      }
    });
  });
}

describe('libsodium against noble (differential)', async () => {
  const sodium = await verifierBackend();
  const noble = nobleBackend;

  it('same blinded and evaluated elements and the same proof for fixed randomness; the round trip gives k·H(x)', () => {
    for (let round = 0; round < 3; round++) {
      const keys = generateKeyPair({ backend: sodium });
      expect(toHex(publicKeyFromSecretKey(keys.secretKey))).toBe(toHex(keys.publicKey));
      const inputs = Array.from({ length: 12 }, () => blindingInput('pdq-256', rand(32)));
      const s = inputs.map((x) => blind(x, { backend: sodium }));
      const n = inputs.map((x, i) => blind(x, { blind: s[i]!.blind }));
      expect(n.map((b) => toHex(b.blinded))).toEqual(s.map((b) => toHex(b.blinded)));
      const blinded = s.map((b) => b.blinded);
      const proofScalar = generateKeyPair().secretKey; // any non-zero scalar
      const rs = blindEvaluateBatch(keys.secretKey, keys.publicKey, blinded, { proofScalar, backend: sodium });
      const rn = blindEvaluateBatch(keys.secretKey, keys.publicKey, blinded, { proofScalar, backend: noble });
      expect(rs.evaluated.map(toHex)).toEqual(rn.evaluated.map(toHex));
      expect(toHex(rs.proof)).toBe(toHex(rn.proof));
      const es = verifyAndUnblind(keys.publicKey, s.map((b) => b.blind), blinded, rs, { backend: sodium });
      const en = verifyAndUnblind(keys.publicKey, s.map((b) => b.blind), blinded, rs);
      expect(es.map(toHex)).toEqual(en.map(toHex));
      expect(es.map(toHex)).toEqual(inputs.map((x) => toHex(evaluate(keys.secretKey, x))));
      expect(es.map(toHex)).toEqual(inputs.map((x) => toHex(evaluate(keys.secretKey, x, MODE_VOPRF, { backend: sodium }))));
    }
  });

  it('proofs with fresh randomness verify across backends, both ways, through the wire bodies', () => {
    const keys = generateKeyPair();
    const inputs = Array.from({ length: 10 }, () => rand(1 + (randomBytes(1)[0]! % 40)));
    for (const [prover, verifier] of [
      [sodium, noble],
      [noble, sodium],
    ] as [OprfBackend<unknown>, OprfBackend<unknown>][]) {
      const bs = inputs.map((x) => blind(x, { backend: verifier }));
      const request = formatEvaluateRequest(bs.map((b) => b.blinded));
      const served = blindEvaluateBatch(keys.secretKey, keys.publicKey, parseEvaluateRequest(request, { backend: prover }), { backend: prover });
      const response = parseEvaluateResponse(formatEvaluateResponse(served), inputs.length, { backend: verifier });
      const elements = verifyAndUnblind(keys.publicKey, bs.map((b) => b.blind), bs.map((b) => b.blinded), response, { backend: verifier });
      expect(elements.map(toHex)).toEqual(inputs.map((x) => toHex(evaluate(keys.secretKey, x))));
      // A proof from another key, or evaluations swapped, fail in the verifier's backend.
      const other = generateKeyPair();
      const forged = blindEvaluateBatch(other.secretKey, other.publicKey, bs.map((b) => b.blinded), { backend: prover });
      expect(code(() => verifyProof(keys.publicKey, bs.map((b) => b.blinded), forged.evaluated, forged.proof, { backend: verifier }))).toBe('bad-proof');
      const swapped = [served.evaluated[1]!, served.evaluated[0]!, ...served.evaluated.slice(2)];
      expect(code(() => verifyProof(keys.publicKey, bs.map((b) => b.blinded), swapped, served.proof, { backend: verifier }))).toBe('bad-proof');
      expect(code(() => verifyProof(other.publicKey, bs.map((b) => b.blinded), served.evaluated, served.proof, { backend: verifier }))).toBe('bad-proof');
    }
  });

  it('decoding agrees: canonical, identity, non-canonical and random encodings', () => {
    const enc = (p: InstanceType<typeof ristretto255.Point>) => p.toBytes();
    const P = ristretto255.Point;
    const cases: Uint8Array[] = [new Uint8Array(32), enc(P.BASE), new Uint8Array(32).fill(0xff)];
    for (let i = 0; i < 40; i++) {
      const good = enc(P.BASE.multiply(BigInt(1 + i) * 0x9e3779b97f4a7c15n));
      cases.push(good);
      const hi = good.slice();
      hi[31]! |= 0x80; // s ≥ 2^255: not canonical
      cases.push(hi);
      // p − s is the odd ("negative") twin of s: not canonical.
      const p = 2n ** 255n - 19n;
      let s = 0n;
      for (let j = 31; j >= 0; j--) s = (s << 8n) | BigInt(good[j]!);
      const neg = new Uint8Array(32);
      let t = p - s;
      for (let j = 0; j < 32; j++, t >>= 8n) neg[j] = Number(t & 0xffn);
      cases.push(neg);
      // s + p when it fits below 2^256 is the same field element, non-canonically.
      const plus = new Uint8Array(32);
      let u = s + p;
      for (let j = 0; j < 32; j++, u >>= 8n) plus[j] = Number(u & 0xffn);
      cases.push(plus);
    }
    for (let i = 0; i < 300; i++) cases.push(rand(32));
    let accepted = 0;
    for (const b of cases) {
      const n = noble.decode(b);
      const s = sodium.decode(b);
      expect(s === null, toHex(b)).toBe(n === null);
      if (n !== null && s !== null) {
        accepted++;
        expect(toHex(sodium.encode(s))).toBe(toHex(noble.encode(n)));
        expect(sodium.isIdentity(s)).toBe(noble.isIdentity(n));
        expect(code(() => checkPublicKey(b, { backend: sodium }))).toBe(code(() => checkPublicKey(b)));
      } else {
        expect(code(() => checkPublicKey(b, { backend: sodium }))).toBe('bad-key');
      }
    }
    expect(accepted).toBeGreaterThan(40); // the test saw both outcomes
    expect(accepted).toBeLessThan(cases.length - 100);
    expect(code(() => checkPublicKey(new Uint8Array(32), { backend: sodium }))).toBe('bad-key'); // identity
  });

  it('the decoded element does not alias the caller’s bytes', () => {
    const b = ristretto255.Point.BASE.toBytes().slice();
    const e = sodium.decode(b)!;
    b[0]! ^= 1;
    expect(toHex(sodium.encode(e))).toBe(toHex(ristretto255.Point.BASE.toBytes()));
  });

  it('the one-way map agrees with noble on random 64-byte strings (top bits set or not)', () => {
    for (let i = 0; i < 60; i++) {
      const u = rand(64);
      if (i % 2) {
        u[31]! |= 0x80;
        u[63]! |= 0x80;
      }
      expect(toHex(sodium.encode(sodium.fromUniform(u)))).toBe(toHex(ristretto255_hasher.deriveToCurve!(u).toBytes()));
    }
  });

  it('multi-scalar multiplication agrees, with zero scalars, the identity and an empty sum', () => {
    const P = ristretto255.Point;
    const scalar = () => ristretto255_hasher.hashToScalar(rand(32));
    const pts = Array.from({ length: 8 }, () => ristretto255_hasher.hashToCurve(rand(16)));
    const ss = pts.map(scalar);
    ss[2] = 0n;
    const es = pts.map((p) => sodium.decode(p.toBytes())!);
    es[5] = new Uint8Array(32); // the identity
    pts[5] = P.ZERO;
    expect(toHex(sodium.encode(sodium.multiScalarMultiply(es, ss)))).toBe(toHex(noble.encode(noble.multiScalarMultiply(pts, ss))));
    expect(sodium.isIdentity(sodium.multiScalarMultiply([], []))).toBe(true);
    // P + (−P) = identity: the sum of two products cancelling.
    const k = scalar();
    expect(sodium.isIdentity(sodium.multiScalarMultiply([es[0]!, es[0]!], [k, P.Fn.neg(k)]))).toBe(true);
    expect(toHex(sodium.encode(sodium.multiplyBase(k)))).toBe(toHex(P.BASE.multiply(k).toBytes()));
  });

  it('rejects a library without the ristretto255 functions, and a malformed backend option', () => {
    expect(() => libsodiumBackend({} as never)).toThrow(TypeError);
    expect(code(() => blind(rand(4), { backend: {} as never }))).toBe('bad-input');
  });
});
