// FIPS 180-4 SHA-256 (client-sdk/src/sha256.ts) against node:crypto (OpenSSL)
// and @noble/hashes: every length 0..300 (covers 0, 1 and 2 padding blocks
// and every offset of the 0x80 byte and of the length field), random
// lengths, the prefixed and word-level fast paths, and the FIPS examples.
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import {
  bytesToWords,
  digest33Words,
  digest65Words,
  readDigestBytes,
  readDigestWords,
  sha256,
  sha256Prefixed,
  wordsToBytes,
} from '@concord/client-sdk/sha256';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const nodeSha = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

describe('sha256 (FIPS 180-4)', () => {
  it('FIPS 180-4 / NIST examples', () => {
    expect(hex(sha256(new Uint8Array(0)))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hex(sha256(new TextEncoder().encode('abc')))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    expect(hex(sha256(new TextEncoder().encode('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')))).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
    expect(hex(sha256(new Uint8Array(1_000_000).fill(0x61)))).toBe(
      'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0',
    );
  });

  it('every length 0..300 matches node:crypto and noble', () => {
    const data = new Uint8Array(randomBytes(300));
    for (let n = 0; n <= 300; n++) {
      const m = data.subarray(0, n);
      const want = nodeSha(m);
      expect(hex(sha256(m)), `length ${n}`).toBe(want);
      expect(hex(nobleSha256(m)), `noble length ${n}`).toBe(want);
    }
  });

  it('views with a byteOffset are read from their own window', () => {
    const buf = new Uint8Array(randomBytes(400));
    for (let off = 0; off < 9; off++) {
      for (const n of [0, 31, 32, 55, 56, 63, 64, 65, 119, 120, 200]) {
        const m = buf.subarray(off, off + n);
        expect(hex(sha256(m))).toBe(nodeSha(m));
        expect(hex(sha256Prefixed(0x00, m))).toBe(nodeSha(new Uint8Array([0]), m));
      }
    }
  });

  it('random lengths up to 20,000 bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20_000 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (n, seed) => {
        const m = new Uint8Array(n);
        let x = seed | 1;
        for (let i = 0; i < n; i++) m[i] = (x = (Math.imul(x, 1103515245) + 12345) | 0) >>> 24;
        expect(hex(sha256(m))).toBe(nodeSha(m));
      }),
      { numRuns: 200 },
    );
  });

  it('sha256Prefixed(p, d) = SHA-256(p ‖ d) for every prefix byte and lengths 0..200', () => {
    const data = new Uint8Array(randomBytes(200));
    for (let n = 0; n <= 200; n++) {
      const p = (n * 37) & 0xff;
      expect(hex(sha256Prefixed(p, data.subarray(0, n))), `length ${n}`).toBe(nodeSha(new Uint8Array([p]), data.subarray(0, n)));
    }
    for (let p = 0; p < 256; p++) {
      const d = data.subarray(p % 100, (p % 100) + 32); // the 33-byte fast path
      expect(hex(sha256Prefixed(p, d))).toBe(nodeSha(new Uint8Array([p]), d));
    }
    for (const bad of [-1, 256, 1.5, Number.NaN]) expect(() => sha256Prefixed(bad, data)).toThrow(RangeError);
  });

  it('digest33Words and digest65Words match node:crypto', () => {
    const words = new Int32Array(24);
    for (let i = 0; i < 500; i++) {
      const a = new Uint8Array(randomBytes(32));
      const b = new Uint8Array(randomBytes(32));
      const host = new Uint8Array(100);
      host.set(a, 7);
      digest33Words(i & 0xff, host, 7);
      expect(hex(readDigestBytes())).toBe(nodeSha(new Uint8Array([i & 0xff]), a));
      bytesToWords(a, 0, words, 3);
      bytesToWords(b, 0, words, 13);
      expect(wordsToBytes(words, 3)).toEqual(a);
      digest65Words(0x01, words, 3, words, 13);
      const out = new Int32Array(8);
      readDigestWords(out, 0);
      expect(hex(wordsToBytes(out, 0))).toBe(nodeSha(new Uint8Array([1]), a, b));
      // Left and right from different arrays.
      const right = new Int32Array(8);
      bytesToWords(b, 0, right, 0);
      digest65Words(0x01, words, 3, right, 0);
      expect(hex(readDigestBytes())).toBe(nodeSha(new Uint8Array([1]), a, b));
    }
  });

  it('does not keep state between calls', () => {
    const m = new Uint8Array(randomBytes(77));
    const first = hex(sha256(m));
    sha256(new Uint8Array(randomBytes(1000)));
    digest33Words(0, new Uint8Array(32), 0);
    expect(hex(sha256(m))).toBe(first);
  });
});
