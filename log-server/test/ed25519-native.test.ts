// node:crypto's Ed25519 (the server's hot path) against client-sdk's noble reference: the same
// verdict on valid signatures, on every single-bit flip of signatures, messages and keys, on
// non-canonical S, and on malformed lengths; byte-identical signatures (RFC 8032 signing is
// deterministic); the thread-pool variant agrees with the synchronous one.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
import { generateKey, isStrictEd25519PublicKey, newSigner, nobleEd25519Verify, parseSignerKey, parseVerifierKey } from '@concord/client-sdk/note';
import { asyncVerify, nativeEd25519Verify, nativeEd25519VerifyAsync, nativeSigner } from '@concord/log-server/ed25519-native';

const native = nativeEd25519Verify();
const nativeAsync = nativeEd25519VerifyAsync();

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

describe('native Ed25519 verification agrees with noble (RFC 8032 strict)', () => {
  it('accepts valid signatures of random messages under random keys', () => {
    for (let i = 0; i < 40; i++) {
      const { seed, pk } = keyPair();
      const msg = new Uint8Array(randomBytes(i * 7));
      const sig = ed25519.sign(msg, seed);
      expect(nobleEd25519Verify(pk, msg, sig)).toBe(true);
      expect(native(pk, msg, sig)).toBe(true);
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
      for (const [k, m, s] of cases) {
        const want = nobleEd25519Verify(k, m, s);
        expect(native(k, m, s)).toBe(want);
        expect(await nativeAsync(k, m, s)).toBe(want);
        expect(want).toBe(false); // every flip breaks the signature
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(512 + 100 + 2 * 100);
  });

  it('refuses a non-canonical S (S + L), as noble does', () => {
    const { seed, pk } = keyPair();
    const msg = new TextEncoder().encode('malleability');
    const sig = ed25519.sign(msg, seed);
    let s = 0n;
    for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sig[32 + i]!);
    const s2 = s + L;
    expect(s2 < 2n ** 256n).toBe(true);
    const forged = sig.slice();
    for (let i = 0; i < 32; i++) forged[32 + i] = Number((s2 >> BigInt(8 * i)) & 0xffn);
    expect(nobleEd25519Verify(pk, msg, forged)).toBe(false);
    expect(native(pk, msg, forged)).toBe(false);
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
      expect(native(k, msg, s)).toBe(nobleEd25519Verify(k, msg, s));
      expect(await nativeAsync(k, msg, s)).toBe(false);
    }
    expect(native(null as unknown as Uint8Array, msg, sig)).toBe(false);
    expect(await asyncVerify(() => {
      throw new Error('boom');
    })(pk, msg, sig)).toBe(false);
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
