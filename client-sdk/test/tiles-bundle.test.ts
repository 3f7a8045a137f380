// Entry bundles of c2sp.org/tlog-tiles (client-sdk/src/tiles.ts):
//   bundle = ( u16 big-endian length ‖ entry ) × W,  1 ≤ W ≤ 256,  entries ≤ 65,535 bytes
// Exact bytes, round trips, hostile bundles (truncated, trailing bytes, wrong
// count, too many entries), random and mutated input that must yield either a
// bundle that re-encodes to the same bytes or a TilesError — nothing else —
// and bundle-vs-level-0-tile checks cross-checked with node:crypto.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Hash, HashReader } from '@concord/client-sdk/merkle';
import {
  TilesError,
  checkBundleAgainstTile,
  decodeEntryBundle,
  encodeEntryBundle,
  verifyEntryBundle,
} from '@concord/client-sdk/tiles';

function expectTilesError(f: () => unknown, code: string): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a TilesError').toBeInstanceOf(TilesError);
  expect((err as TilesError).code).toBe(code);
}

async function expectTilesErrorAsync(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a TilesError').toBeInstanceOf(TilesError);
  expect((err as TilesError).code).toBe(code);
}

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** RFC 6962 leaf hash with node:crypto (independent of the SDK). */
function leafHashRef(d: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes(0)).update(d).digest());
}

/** Reference encoder written from the spec text. */
function encodeRef(entries: Uint8Array[]): Uint8Array {
  const parts: number[] = [];
  for (const e of entries) parts.push(Math.floor(e.length / 256), e.length % 256, ...e);
  return new Uint8Array(parts);
}

describe('entry bundle encoding', () => {
  it('writes exact bytes', () => {
    const big = new Uint8Array(300).fill(7);
    const got = encodeEntryBundle([bytes(), bytes(0x61), big, text('hi\n')]);
    expect(Buffer.from(got).toString('hex')).toBe('0000' + '000161' + '012c' + '07'.repeat(300) + '0003' + '68690a');
    const max = new Uint8Array(65535).fill(1);
    const enc = encodeEntryBundle([max]);
    expect(enc.length).toBe(65537);
    expect([enc[0], enc[1]]).toEqual([0xff, 0xff]);
    expect(decodeEntryBundle(enc, 1)).toEqual([max]);
  });

  it('round-trips 1..256 entries and matches the reference encoder', () => {
    const entry = fc.oneof(
      { weight: 8, arbitrary: fc.uint8Array({ maxLength: 40 }) },
      { weight: 1, arbitrary: fc.uint8Array({ minLength: 250, maxLength: 600 }) },
    );
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 256 }), (entries) => {
        const enc = encodeEntryBundle(entries);
        expect(enc).toEqual(encodeRef(entries));
        expect(decodeEntryBundle(enc)).toEqual(entries);
        expect(decodeEntryBundle(enc, entries.length)).toEqual(entries);
        if (entries.length < 256) expectTilesError(() => decodeEntryBundle(enc, entries.length + 1), 'bad-bundle');
        if (entries.length > 1) expectTilesError(() => decodeEntryBundle(enc, entries.length - 1), 'bad-bundle');
      }),
      { numRuns: 150 },
    );
  });

  it('decoded entries are copies, not views of the input', () => {
    const enc = encodeEntryBundle([text('abc')]);
    const [e] = decodeEntryBundle(enc);
    enc[2] = 0x7a;
    expect(e).toEqual(text('abc'));
  });

  it('refuses what cannot be bundled', () => {
    expectTilesError(() => encodeEntryBundle([]), 'bad-bundle');
    expectTilesError(() => encodeEntryBundle(Array.from({ length: 257 }, () => bytes())), 'bad-bundle');
    expectTilesError(() => encodeEntryBundle([new Uint8Array(65536)]), 'entry-too-large');
    expectTilesError(() => encodeEntryBundle([bytes(1), new Uint8Array(70000)]), 'entry-too-large');
    expectTilesError(() => encodeEntryBundle(['abc' as unknown as Uint8Array]), 'bad-bundle');
    expectTilesError(() => encodeEntryBundle([[1, 2] as unknown as Uint8Array]), 'bad-bundle');
    expectTilesError(() => encodeEntryBundle('abc' as unknown as Uint8Array[]), 'bad-bundle');
    expect(encodeEntryBundle(Array.from({ length: 256 }, () => bytes())).length).toBe(512);
  });
});

describe('hostile entry bundles', () => {
  it('rejects malformed bundles', () => {
    const cases: [string, Uint8Array, number?][] = [
      ['empty', bytes()],
      ['one byte of a length prefix', bytes(0)],
      ['length prefix without body', bytes(0, 1)],
      ['short body', bytes(0, 3, 0x61, 0x62)],
      ['huge announced length', bytes(0xff, 0xff, 1, 2, 3)],
      ['trailing byte after a whole entry', bytes(0, 1, 0x61, 0)],
      ['trailing length prefix', bytes(0, 1, 0x61, 0, 5)],
      ['257 empty entries', new Uint8Array(514)],
      ['count below expected', bytes(0, 1, 0x61), 2],
      ['count above expected', bytes(0, 0, 0, 0), 1],
      ['expected count 0', bytes(0, 0), 0],
      ['expected count 257', bytes(0, 0), 257],
      ['expected count 1.5', bytes(0, 0), 1.5],
      ['expected count NaN', bytes(0, 0), NaN],
    ];
    for (const [what, data, count] of cases) {
      let err: unknown;
      try {
        decodeEntryBundle(data, count);
      } catch (e) {
        err = e;
      }
      expect(err, what).toBeInstanceOf(TilesError);
      expect((err as TilesError).code, what).toBe('bad-bundle');
    }
    for (const x of [undefined, null, 'AAA=', [0, 0], new ArrayBuffer(2), new Uint16Array([0])]) {
      expectTilesError(() => decodeEntryBundle(x as unknown as Uint8Array), 'bad-bundle');
    }
    // 256 empty entries are fine, so is a bundle in a subarray view.
    expect(decodeEntryBundle(new Uint8Array(512))).toHaveLength(256);
    const view = new Uint8Array([9, 9, 0, 1, 0x61, 9]).subarray(2, 5);
    expect(decodeEntryBundle(view, 1)).toEqual([text('a')]);
  });

  /** Decodes or throws TilesError; whatever decodes re-encodes to the same bytes. */
  function decodesExactlyOrTilesError(data: Uint8Array, count?: number): void {
    let entries: Uint8Array[];
    try {
      entries = decodeEntryBundle(data, count);
    } catch (e) {
      expect(e).toBeInstanceOf(TilesError);
      expect((e as TilesError).code).toBe('bad-bundle');
      return;
    }
    expect(encodeEntryBundle(entries)).toEqual(data);
    if (count !== undefined) expect(entries.length).toBe(count);
  }

  it('random bytes yield an exact bundle or TilesError only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.option(fc.integer({ min: -2, max: 300 }), { nil: undefined }), decodesExactlyOrTilesError),
      { numRuns: 3000 },
    );
    // Bytes that look like bundles: small length prefixes.
    const chunk = fc.uint8Array({ maxLength: 6 }).map((b) => [0, b.length, ...b]);
    fc.assert(
      fc.property(fc.array(chunk, { maxLength: 300 }), fc.uint8Array({ maxLength: 3 }), (chunks, tail) => {
        decodesExactlyOrTilesError(new Uint8Array([...chunks.flat(), ...tail]));
      }),
      { numRuns: 500 },
    );
  });

  it('mutated bundles yield an exact bundle or TilesError only, and truncation is always caught', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 20 }), { minLength: 1, maxLength: 20 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fc.uint8Array({ minLength: 1, maxLength: 4 }),
        (entries, at, xor, extra) => {
          const enc = encodeEntryBundle(entries);
          const i = at % enc.length;
          const flipped = enc.slice();
          flipped[i]! ^= xor;
          decodesExactlyOrTilesError(flipped, entries.length);
          // Dropping bytes from the end or appending bytes never keeps the entry count.
          const cut = enc.subarray(0, i);
          if (i > 0) expectTilesError(() => decodeEntryBundle(cut, entries.length), 'bad-bundle');
          const longer = new Uint8Array([...enc, ...extra]);
          expectTilesError(() => decodeEntryBundle(longer, entries.length), 'bad-bundle');
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('bundles against level-0 tiles', () => {
  const entries = Array.from({ length: 40 }, (_, i) => text(`entry ${i}\n`));
  const tile = new Uint8Array(entries.flatMap((e) => [...leafHashRef(e)]));

  it('accepts the matching tile and rejects any difference', () => {
    checkBundleAgainstTile(entries, tile);
    for (let i = 0; i < tile.length; i += 7) {
      const bad = tile.slice();
      bad[i]! ^= 1 << i % 8;
      expectTilesError(() => checkBundleAgainstTile(entries, bad), 'bundle-mismatch');
    }
    const swapped = [...entries];
    [swapped[3], swapped[4]] = [swapped[4]!, swapped[3]!];
    expectTilesError(() => checkBundleAgainstTile(swapped, tile), 'bundle-mismatch');
    expectTilesError(() => checkBundleAgainstTile(entries.slice(1), tile), 'bundle-mismatch');
    expectTilesError(() => checkBundleAgainstTile(entries, tile.subarray(32)), 'bundle-mismatch');
    expectTilesError(() => checkBundleAgainstTile([...entries.slice(0, 39), text('entry 39')], tile), 'bundle-mismatch');
  });

  it('verifyEntryBundle reads the leaf hashes in one call and compares', async () => {
    const calls: number[][] = [];
    const reader: HashReader = {
      async readHashes(indexes) {
        calls.push([...indexes]);
        // Stored-hash index of leaf i is 2i − popcount(i) (Go tlog numbering).
        return indexes.map((x) => {
          for (let i = 0; i < entries.length; i++) {
            const pop = i.toString(2).replace(/0/g, '').length;
            if (2 * i - pop === x) return tile.slice(i * 32, i * 32 + 32) as Hash;
          }
          throw new Error(`unexpected index ${x}`);
        });
      },
    };
    await verifyEntryBundle({ level: 'entries', n: 0, width: 40 }, entries, reader);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toEqual(entries.map((_, i) => 2 * i - i.toString(2).replace(/0/g, '').length));
    const forged = [...entries];
    forged[17] = text('entry 17?\n');
    await expectTilesErrorAsync(verifyEntryBundle({ level: 'entries', n: 0, width: 40 }, forged, reader), 'bundle-mismatch');
    await expectTilesErrorAsync(verifyEntryBundle({ level: 'entries', n: 0, width: 39 }, entries, reader), 'bundle-mismatch');
    await expectTilesErrorAsync(verifyEntryBundle({ level: 0, n: 0, width: 40 } as never, entries, reader), 'bad-tile');
    const short: HashReader = { readHashes: async (ix) => ix.slice(1).map(() => new Uint8Array(32)) };
    await expectTilesErrorAsync(verifyEntryBundle({ level: 'entries', n: 0, width: 40 }, entries, short), 'bad-reader');
  });
});
