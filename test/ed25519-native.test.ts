// Every native Ed25519 verifier — the log server's libsodium (sodium-native) and node:crypto
// (OpenSSL), synchronous, on libuv's thread pool and on the worker pool of ed25519-pool.ts, and
// the ones `concord audit` uses (verifier/src/ed25519-native.ts) — against
// client-sdk's noble reference: the same verdict on valid signatures, on every single-bit flip of
// signatures, messages and keys, on non-canonical S, and on malformed lengths; never accepting
// what noble refuses, including signatures built with small-order or mixed-torsion R (which
// natives may refuse while noble's cofactored check accepts: the server is never the more
// lenient); byte-identical signatures (RFC 8032 signing is deterministic).
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
import { generateKey, isStrictEd25519PublicKey, newSigner, nobleEd25519Verify, parseSignerKey, parseVerifierKey } from '@concord/client-sdk/note';
import type { Ed25519Verify } from '@concord/client-sdk/note';
import {
  asyncVerify,
  nativeEd25519Backend,
  nativeEd25519Verify,
  nativeSigner,
  opensslEd25519Verify,
  opensslEd25519VerifyAsync,
} from '@concord/log-server/ed25519-native';
import type { Ed25519VerifyAsync } from '@concord/log-server/ed25519-native';
import { Ed25519Pool, MAX_MESSAGE_BYTES } from '@concord/log-server/ed25519-pool';
import * as auditor from '@concord/verifier/ed25519-native';
import { toHttpError } from '@concord/log-server/http-errors';

// sodium-native is a dependency of the server and the CLI with prebuilt binaries for this
// platform: its absence here is a packaging bug, not a reason to test less.
expect(nativeEd25519Backend()).toBe('libsodium');
expect(auditor.nativeEd25519Backend()).toBe('libsodium');

const sodiumPool = new Ed25519Pool({ threads: 2 });
const opensslPool = new Ed25519Pool({ threads: 2, backend: 'openssl' });
afterAll(async () => {
  await sodiumPool.close();
  await opensslPool.close();
});

const syncVerifiers: [string, Ed25519Verify][] = [
  ['libsodium', nativeEd25519Verify('libsodium')],
  ['openssl', opensslEd25519Verify()],
  ['audit: libsodium', auditor.nativeEd25519Verify()],
  ['audit: openssl', auditor.opensslEd25519Verify()],
];
const asyncVerifiers: [string, Ed25519VerifyAsync][] = [
  ['openssl on libuv', opensslEd25519VerifyAsync()],
  ['pool (libsodium)', sodiumPool.verify],
  ['pool (openssl)', opensslPool.verify],
  ['audit: async', auditor.nativeEd25519VerifyAsync()],
  ['audit: openssl on libuv', auditor.opensslEd25519VerifyAsync()],
];

/** Every native verifier's verdict on one input, keyed by name. */
async function verdicts(pk: Uint8Array, msg: Uint8Array, sig: Uint8Array): Promise<Record<string, boolean>> {
  const out: Record<string, boolean> = {};
  for (const [name, v] of syncVerifiers) out[name] = v(pk, msg, sig);
  const a = await Promise.all(asyncVerifiers.map(([, v]) => v(pk, msg, sig)));
  asyncVerifiers.forEach(([name], i) => (out[name] = a[i]!));
  return out;
}

const all = (v: boolean): Record<string, boolean> => Object.fromEntries([...syncVerifiers, ...asyncVerifiers].map(([n]) => [n, v]));

function flip(b: Uint8Array, bit: number): Uint8Array {
  const c = b.slice();
  c[bit >> 3]! ^= 1 << (bit & 7);
  return c;
}

function keyPair(): { seed: Uint8Array; pk: Uint8Array } {
  const seed = new Uint8Array(randomBytes(32));
  return { seed, pk: ed25519.getPublicKey(seed) };
}

const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const le = (b: Uint8Array): bigint => b.reduceRight((acc, x) => (acc << 8n) | BigInt(x), 0n);
const toLe32 = (n: bigint): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));

/**
 * A signature (R, S) of `msg` under the key of `seed` for a chosen point R: S = r + k·a with
 * k = SHA-512(R ‖ A ‖ M) mod L (RFC 8032 §5.1.6), where R = [r]B + T and T has small order.
 */
function signWithR(seed: Uint8Array, msg: Uint8Array, r: bigint, torsion: InstanceType<typeof ed25519.Point>): Uint8Array {
  const { scalar: a, pointBytes: A } = ed25519.utils.getExtendedPublicKey(seed);
  const R = (r === 0n ? ed25519.Point.ZERO : ed25519.Point.BASE.multiply(r)).add(torsion);
  const Rb = R.toBytes();
  const k = le(createHash('sha512').update(Rb).update(A).update(msg).digest()) % L;
  const S = (r + k * a) % L;
  return Uint8Array.from([...Rb, ...toLe32(S)]);
}

/** A point of order 8 (the torsion subgroup's generator). */
function order8(): InstanceType<typeof ed25519.Point> {
  // Try small y until the point has order exactly 8 (it is then small-order and not of order 1, 2, 4).
  for (let i = 2; ; i++) {
    const enc = toLe32(BigInt(i));
    let P: InstanceType<typeof ed25519.Point>;
    try {
      P = ed25519.Point.fromBytes(enc);
    } catch {
      continue;
    }
    const T = P.multiply(L - 1n).add(P); // [L]P clears the prime-order part
    if (!T.multiply(4n).equals(ed25519.Point.ZERO)) return T;
  }
}

describe('native Ed25519 verification agrees with noble (RFC 8032 strict)', () => {
  it('accepts valid signatures of random messages under random keys', async () => {
    for (let i = 0; i < 40; i++) {
      const { seed, pk } = keyPair();
      const msg = new Uint8Array(randomBytes(i * 7));
      const sig = ed25519.sign(msg, seed);
      expect(nobleEd25519Verify(pk, msg, sig)).toBe(true);
      expect(await verdicts(pk, msg, sig)).toEqual(all(true));
    }
  });

  it('gives the same verdict on every single-bit flip of a signature, and on flips of messages and keys', async () => {
    let compared = 0;
    for (let round = 0; round < 2; round++) {
      const { seed, pk } = keyPair();
      const msg = new Uint8Array(randomBytes(100));
      const sig = ed25519.sign(msg, seed);
      const cases: [Uint8Array, Uint8Array, Uint8Array][] = [];
      // Round 0: all 512 bits of the signature; round 1: a sample, under another key.
      for (let bit = 0; bit < 512; bit += round === 0 ? 1 : 5) cases.push([pk, msg, flip(sig, bit)]);
      for (let bit = round; bit < 800; bit += 7) cases.push([pk, flip(msg, bit), sig]);
      // Key flips: only keys a policy could hold (canonical, large order) reach the verifier.
      for (let bit = round; bit < 256; bit += 4) {
        const k = flip(pk, bit);
        if (isStrictEd25519PublicKey(k)) cases.push([k, msg, sig]);
      }
      // All at once, so the pools verify them in batches.
      const got = await Promise.all(cases.map(([k, m, s]) => verdicts(k, m, s)));
      cases.forEach(([k, m, s], i) => {
        expect(nobleEd25519Verify(k, m, s)).toBe(false); // every flip breaks the signature
        expect(got[i]).toEqual(all(false));
        compared++;
      });
    }
    expect(compared).toBeGreaterThan(512 + 100 + 2 * 100);
  });

  it('refuses a non-canonical S (S + L), as noble does', async () => {
    const { seed, pk } = keyPair();
    const msg = new TextEncoder().encode('malleability');
    const sig = ed25519.sign(msg, seed);
    const s2 = le(sig.subarray(32)) + L;
    expect(s2 < 2n ** 256n).toBe(true);
    const forged = Uint8Array.from([...sig.subarray(0, 32), ...toLe32(s2)]);
    expect(nobleEd25519Verify(pk, msg, forged)).toBe(false);
    expect(await verdicts(pk, msg, forged)).toEqual(all(false));
  });

  it('never accepts what noble refuses on signatures with small-order or mixed-torsion R', async () => {
    const { seed, pk } = keyPair();
    const msg = new TextEncoder().encode('torsion');
    const T = order8();
    // A signature built the honest way through signWithR verifies everywhere (the construction is right).
    const r = le(randomBytes(32)) % L;
    const honest = signWithR(seed, msg, r, ed25519.Point.ZERO);
    expect(nobleEd25519Verify(pk, msg, honest)).toBe(true);
    expect(await verdicts(pk, msg, honest)).toEqual(all(true));
    // R = T, a point of order 8: [S]B = R + [k]A fails by T, so only a cofactored check passes.
    const smallR = signWithR(seed, msg, 0n, T);
    // R = [r]B + T: the same.
    const mixedR = signWithR(seed, msg, r, T);
    // R = identity (small order, but the cofactorless equation holds): libsodium refuses small-order R.
    const identityR = signWithR(seed, msg, 0n, ed25519.Point.ZERO);
    for (const sig of [smallR, mixedR, identityR]) {
      const noble = nobleEd25519Verify(pk, msg, sig);
      const got = await verdicts(pk, msg, sig);
      for (const [name, ok] of Object.entries(got)) if (ok) expect([name, noble]).toEqual([name, true]);
    }
    // Exactly: noble's cofactored check accepts the torsion cases, both natives refuse them;
    // the identity R passes OpenSSL's equation and fails libsodium's small-order rule.
    expect(nobleEd25519Verify(pk, msg, smallR)).toBe(true);
    expect(nobleEd25519Verify(pk, msg, mixedR)).toBe(true);
    expect(await verdicts(pk, msg, smallR)).toEqual(all(false));
    expect(await verdicts(pk, msg, mixedR)).toEqual(all(false));
    expect(await verdicts(pk, msg, identityR)).toEqual({
      libsodium: false,
      openssl: true,
      'audit: libsodium': false,
      'audit: openssl': true,
      'openssl on libuv': true,
      'pool (libsodium)': false,
      'pool (openssl)': true,
      'audit: async': false,
      'audit: openssl on libuv': true,
    });
  });

  it('answers false, never throws, on malformed lengths', async () => {
    const { seed, pk } = keyPair();
    const msg = new Uint8Array([1, 2, 3]);
    const sig = ed25519.sign(msg, seed);
    for (const [k, s] of [
      [pk.subarray(0, 31), sig],
      [new Uint8Array(33), sig],
      [pk, sig.subarray(0, 63)],
      [pk, new Uint8Array(65)],
      [new Uint8Array(32), sig],
    ] as [Uint8Array, Uint8Array][]) {
      expect(nobleEd25519Verify(k, msg, s)).toBe(false);
      expect(await verdicts(k, msg, s)).toEqual(all(false));
    }
    for (const [, v] of syncVerifiers) expect(v(null as unknown as Uint8Array, msg, sig)).toBe(false);
    for (const [, v] of asyncVerifiers) expect(await v(pk, null as unknown as Uint8Array, sig)).toBe(false);
    expect(await asyncVerify(() => {
      throw new Error('boom');
    })(pk, msg, sig)).toBe(false);
  });
});

describe('Ed25519Pool', () => {
  it('reports the backend its workers use', async () => {
    await sodiumPool.verify(new Uint8Array(32), new Uint8Array(0), new Uint8Array(64));
    expect(await sodiumPool.backend).toBe('libsodium');
    await opensslPool.verify(new Uint8Array(32), new Uint8Array(0), new Uint8Array(64));
    expect(await opensslPool.backend).toBe('openssl');
  });

  it('answers each of many concurrent verifications with its own verdict, across batches and workers', async () => {
    const pool = new Ed25519Pool({ threads: 3, maxBatch: 7 });
    try {
      const keys = Array.from({ length: 5 }, keyPair);
      const jobs = Array.from({ length: 500 }, (_, i) => {
        const { seed, pk } = keys[i % keys.length]!;
        const msg = new Uint8Array(randomBytes(i % 300));
        const sig = ed25519.sign(msg, seed);
        const good = i % 3 !== 0;
        return { pk, msg, sig: good ? sig : flip(sig, i % 512), good };
      });
      const got = await Promise.all(jobs.map((j) => pool.verify(j.pk, j.msg, j.sig)));
      expect(got).toEqual(jobs.map((j) => j.good));
    } finally {
      await pool.close();
    }
  });

  it('rejects with 503 "unavailable" (not a verdict) what a dying worker held, and recovers with a new one', async () => {
    const pool = new Ed25519Pool({ threads: 1 });
    try {
      const { seed, pk } = keyPair();
      const msg = new Uint8Array([7]);
      const sig = ed25519.sign(msg, seed);
      expect(await pool.verify(pk, msg, sig)).toBe(true);
      // Kill the worker while a batch is in flight: 64 signatures over 1 MiB messages (one
      // message to the worker, hundreds of milliseconds of hashing), so it cannot finish first.
      const worker = (pool as unknown as { workers: { worker: { terminate(): Promise<number> } }[] }).workers[0]!;
      const big = new Uint8Array(randomBytes(MAX_MESSAGE_BYTES));
      const bigSig = ed25519.sign(big, seed);
      const inFlight = Array.from({ length: 64 }, () => pool.verify(pk, big, bigSig));
      await new Promise((r) => setImmediate(r)); // dispatched
      void worker.worker.terminate();
      const settled = await Promise.allSettled(inFlight);
      const rejected = settled.filter((s) => s.status === 'rejected');
      // Every record of the batch the worker held is refused as "retry", none answered.
      expect(rejected.length).toBe(64);
      for (const r of rejected) expect(toHttpError(r.reason)).toMatchObject({ code: 'unavailable', status: 503 });
      expect(await pool.verify(pk, msg, sig)).toBe(true);
      expect(await pool.verify(pk, msg, flip(sig, 3))).toBe(false);
    } finally {
      await pool.close();
    }
  });

  it('refuses new work once closed, after finishing what was in flight', async () => {
    const pool = new Ed25519Pool({ threads: 1 });
    const { seed, pk } = keyPair();
    const msg = new Uint8Array([1]);
    const sig = ed25519.sign(msg, seed);
    const inFlight = Array.from({ length: 20 }, () => pool.verify(pk, msg, sig));
    await pool.close();
    expect(await Promise.all(inFlight)).toEqual(Array(20).fill(true));
    await expect(pool.verify(pk, msg, sig)).rejects.toMatchObject({ code: 'unavailable' });
  });
});

describe('nativeSigner', () => {
  it('signs exactly as client-sdk newSigner does (deterministic Ed25519)', () => {
    for (let i = 0; i < 10; i++) {
      const { skey } = generateKey(`key-${i}.example`);
      const a = newSigner(skey);
      const b = nativeSigner(skey);
      expect(b.name).toBe(a.name);
      expect(b.keyHash).toBe(a.keyHash);
      const msg = new Uint8Array(randomBytes(i * 31));
      expect(Buffer.from(b.sign(msg)).toString('hex')).toBe(Buffer.from(a.sign(msg)).toString('hex'));
      const pk = parseSignerKey(skey).publicKey;
      expect(nobleEd25519Verify(pk, msg, b.sign(msg))).toBe(true);
    }
  });

  it('refuses what newSigner refuses', () => {
    const { vkey } = generateKey('x.example');
    expect(() => nativeSigner(vkey)).toThrow(/skey/);
    expect(() => nativeSigner('PRIVATE+KEY+x+00000000+AAAA')).toThrow();
    expect(parseVerifierKey(vkey).name).toBe('x.example');
  });
});
