// Tile paths and tree geometry of c2sp.org/tlog-tiles (client-sdk/src/tiles.ts).
//
// Paths: exact examples from the spec, a list of non-canonical paths that must
// be rejected, and fast-check properties: format∘parse is the identity on
// every valid path, parse∘format is the identity on every valid coordinate,
// and random strings or mutations of valid paths produce only TilesError.
//
// Geometry: the spec's worked examples (sizes 70,000 and 256), and newTiles /
// tilesForSize / partialTiles against a brute-force reference that lists, per
// level, every tile hash a tree of a given size has, straight from the spec's
// definition MTH(D[(n·256 + i)·256^l : (n·256 + i + 1)·256^l]).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type EntriesTile,
  type Tile,
  type TileCoord,
  TilesError,
  entryBundlesForSize,
  newEntryBundles,
  newTiles,
  parseTilePath,
  partialTiles,
  tilePath,
  tilesForSize,
} from '@concord/client-sdk/tiles';

const MAX = Number.MAX_SAFE_INTEGER;

function expectTilesError(f: () => unknown, code?: string): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a TilesError').toBeInstanceOf(TilesError);
  if (code !== undefined) expect((err as TilesError).code).toBe(code);
}

describe('tile paths', () => {
  it('formats the spec examples and Go-style groupings', () => {
    const cases: [TileCoord, string][] = [
      [{ level: 0, n: 0, width: 256 }, 'tile/0/000'],
      [{ level: 0, n: 5, width: 256 }, 'tile/0/005'],
      [{ level: 0, n: 273, width: 112 }, 'tile/0/273.p/112'],
      [{ level: 1, n: 1, width: 17 }, 'tile/1/001.p/17'],
      [{ level: 2, n: 0, width: 1 }, 'tile/2/000.p/1'],
      [{ level: 4, n: 1234067, width: 256 }, 'tile/4/x001/x234/067'],
      [{ level: 4, n: 1234067, width: 1 }, 'tile/4/x001/x234/067.p/1'],
      [{ level: 0, n: 999, width: 256 }, 'tile/0/999'],
      [{ level: 0, n: 1000, width: 256 }, 'tile/0/x001/000'],
      [{ level: 0, n: 1000000, width: 255 }, 'tile/0/x001/x000/000.p/255'],
      [{ level: 63, n: 0, width: 256 }, 'tile/63/000'],
      [{ level: 10, n: 12, width: 256 }, 'tile/10/012'],
      [{ level: 0, n: MAX, width: 256 }, 'tile/0/x009/x007/x199/x254/x740/991'],
      [{ level: 'entries', n: 0, width: 256 }, 'tile/entries/000'],
      [{ level: 'entries', n: 273, width: 112 }, 'tile/entries/273.p/112'],
      [{ level: 'entries', n: 1234067, width: 3 }, 'tile/entries/x001/x234/067.p/3'],
      [{ level: 'entries', n: MAX, width: 255 }, 'tile/entries/x009/x007/x199/x254/x740/991.p/255'],
    ];
    for (const [t, p] of cases) {
      expect(tilePath(t)).toBe(p);
      expect(parseTilePath(p)).toEqual(t);
    }
  });

  it('rejects every non-canonical or malformed path', () => {
    const bad = [
      '',
      'tile',
      'tile/',
      'tile/0',
      'tile/0/',
      'tile/0/000.p/256', // full width is written without a suffix
      'tile/0/000.p/0',
      'tile/0/000.p/007', // W is a plain decimal
      'tile/0/000.p/07',
      'tile/0/000.p/',
      'tile/0/000.p',
      'tile/0/000.p/1000',
      'tile/0/000.p/+1',
      'tile/0/000.p/-1',
      'tile/0/000.p/1/',
      'tile/0/000.p/1.p/1',
      'tile/0/000.P/1',
      'tile/00/000', // leading zero in L
      'tile/01/000',
      'tile/64/000', // L ≤ 63
      'tile/99/000',
      'tile/100/000',
      'tile/-1/000',
      'tile/+1/000',
      'tile/1e1/000',
      'tile/ 0/000',
      'tile/data/000', // Go's sumdb record tiles, not tlog-tiles
      'tile/8/0/000', // Go's height-prefixed paths
      'tile/Entries/000',
      'tile/entry/000',
      'TILE/0/000',
      'tile/0/0', // N needs exactly 3 digits per group
      'tile/0/00',
      'tile/0/0000',
      'tile/0/1000',
      'tile/0/x000/001', // leading zero group
      'tile/0/x000/x001/000',
      'tile/0/x001', // the last group has no x
      'tile/0/x001/x000',
      'tile/0/001/002', // inner groups need x
      'tile/0/x001/002/003',
      'tile/0/xx001/000',
      'tile/0/x01/000',
      'tile/0/x0001/000',
      'tile/0/X001/000',
      'tile/0/x009/x007/x199/x254/x740/992', // 2^53
      'tile/0/x009/x007/x199/x254/x741/000',
      'tile/0/x999/x999/x999/x999/x999/999',
      'tile/0/x001/x000/x000/x000/x000/x000/000',
      'tile/0/x001/x000/x000/x000/x000/x000/x000/000',
      'tile/entries/x009/x007/x199/x254/x740/992.p/1',
      '/tile/0/000', // no leading slash
      'tile/0/000/', // no trailing slash
      'tile//0/000',
      'tile/0//000',
      'tile/0/x001//000',
      './tile/0/000',
      'tile/./0/000',
      'tile/0/./000',
      'tile/0/../000',
      'tile/0/000/..',
      'tile/../tile/0/000',
      'tile/0/000 ',
      ' tile/0/000',
      'tile/0/000\n',
      'tile/0/000\0',
      'tile/0/000?x=1',
      'tile/0/000#',
      'tile\\0\\000',
      'tile/0/\u0660\u0660\u0660', // Arabic-Indic digits
      'tile/0/\uff10\uff10\uff10', // fullwidth digits
      'tile/\u0661/000',
      'tile/0/000.p/\uff11',
      'tile/entries/000.p/256',
      'tile/entries/000.p/0',
      'tile/entries/x000/001',
      'tile/0/' + 'x001/'.repeat(20) + '000',
    ];
    for (const p of bad) expectTilesError(() => parseTilePath(p), 'bad-path');
    for (const p of [undefined, null, 0, {}, ['tile/0/000'], new String('tile/0/000')]) {
      expectTilesError(() => parseTilePath(p as unknown as string), 'bad-path');
    }
  });

  it('tilePath rejects invalid coordinates', () => {
    const bad: unknown[] = [
      null,
      'tile/0/000',
      { level: 0, n: 0, width: 0 },
      { level: 0, n: 0, width: 257 },
      { level: 0, n: 0, width: 1.5 },
      { level: 0, n: 0, width: NaN },
      { level: 0, n: 0 },
      { level: 64, n: 0, width: 1 },
      { level: -1, n: 0, width: 1 },
      { level: 0.5, n: 0, width: 1 },
      { level: '0', n: 0, width: 1 },
      { level: 'data', n: 0, width: 1 },
      { level: 0, n: -1, width: 1 },
      { level: 0, n: 2 ** 53, width: 1 },
      { level: 0, n: 1.5, width: 1 },
      { level: 0, n: Infinity, width: 1 },
      { level: 'entries', n: 2 ** 53, width: 256 },
      { level: 'entries', n: 0, width: 0 },
    ];
    for (const t of bad) expectTilesError(() => tilePath(t as TileCoord), 'bad-tile');
  });

  const levelArb = fc.oneof(fc.integer({ min: 0, max: 63 }), fc.constant('entries' as const));
  const nArb = fc.oneof(
    fc.integer({ min: 0, max: 2000 }),
    fc.integer({ min: 0, max: 10 ** 9 }),
    fc.maxSafeNat(),
    fc.constantFrom(0, 999, 1000, 999999, 1000000, MAX, MAX - 1),
  );
  const widthArb = fc.oneof(fc.integer({ min: 1, max: 256 }), fc.constantFrom(1, 255, 256));
  const coordArb = fc.record({ level: levelArb, n: nArb, width: widthArb }) as fc.Arbitrary<TileCoord>;

  it('parse(format(t)) = t and format(parse(p)) = p for every valid tile', () => {
    fc.assert(
      fc.property(coordArb, (t) => {
        const p = tilePath(t);
        expect(p.length).toBeLessThanOrEqual(47);
        const back = parseTilePath(p);
        expect(back).toEqual(t);
        expect(tilePath(back)).toBe(p);
        // Independent spelling of the format.
        const digits = String(t.n).padStart(Math.ceil(String(t.n).length / 3) * 3, '0');
        const groups = digits.match(/.../g)!;
        const want = `tile/${t.level}/${groups.map((g, i) => (i < groups.length - 1 ? 'x' : '') + g).join('/')}${t.width === 256 ? '' : '.p/' + t.width}`;
        expect(p).toBe(want);
      }),
      { numRuns: 2000 },
    );
  });

  /** Parses or throws TilesError, and whatever parses is canonical. */
  function parsesCanonicallyOrTilesError(s: string): void {
    let t: TileCoord;
    try {
      t = parseTilePath(s);
    } catch (e) {
      expect(e).toBeInstanceOf(TilesError);
      expect((e as TilesError).code).toBe('bad-path');
      return;
    }
    expect(tilePath(t)).toBe(s);
  }

  it('random strings yield a canonical tile or TilesError only', () => {
    const alphabet = fc.constantFrom(...'tile/entrisx0123456789.p/-+ \n\0x'.split(''), '/', '/', 'x', '0', '9', '.p/');
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 80 }),
          fc.string({ unit: 'binary', maxLength: 40 }),
          fc.array(alphabet, { maxLength: 40 }).map((a) => a.join('')),
          fc.array(alphabet, { maxLength: 40 }).map((a) => 'tile/' + a.join('')),
          fc.array(alphabet, { maxLength: 40 }).map((a) => 'tile/0/' + a.join('')),
        ),
        parsesCanonicallyOrTilesError,
      ),
      { numRuns: 3000 },
    );
  });

  it('mutations of valid paths yield a canonical tile or TilesError only', () => {
    const mutation = fc.record({
      kind: fc.constantFrom('replace', 'insert', 'delete', 'duplicate', 'truncate', 'swap'),
      at: fc.nat(),
      ch: fc.constantFrom(...'0123456789x/.p -+eE'.split(''), '\u0660', '\uff10', '//', '/..', '.p/'),
    });
    let accepted = 0;
    let total = 0;
    fc.assert(
      fc.property(coordArb, fc.array(mutation, { minLength: 1, maxLength: 3 }), (t, muts) => {
        let s = tilePath(t);
        for (const m of muts) {
          const i = s.length === 0 ? 0 : m.at % (s.length + 1);
          if (m.kind === 'replace') s = s.slice(0, i) + m.ch + s.slice(i + 1);
          else if (m.kind === 'insert') s = s.slice(0, i) + m.ch + s.slice(i);
          else if (m.kind === 'delete') s = s.slice(0, i) + s.slice(i + 1);
          else if (m.kind === 'duplicate') s = s.slice(0, i) + s.slice(i);
          else if (m.kind === 'truncate') s = s.slice(0, i);
          else if (i + 1 < s.length) s = s.slice(0, i) + s[i + 1] + s[i] + s.slice(i + 2);
        }
        total++;
        try {
          const back = parseTilePath(s);
          accepted++;
          expect(tilePath(back)).toBe(s);
        } catch (e) {
          expect(e).toBeInstanceOf(TilesError);
        }
      }),
      { numRuns: 3000 },
    );
    // Some mutations (a digit for a digit) give other valid paths; most must not parse.
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(total);
  });
});

// ---------------------------------------------------------------------------
// Geometry

/**
 * Brute force from the spec's definition: tile (l, n) of a tree of size s
 * has hash i iff D[(n·256 + i + 1)·256^l] lies within s leaves, i.e. the
 * subtree it hashes is complete. Returns path → width for every non-empty tile.
 */
function bruteTiles(s: number): Map<string, number> {
  const out = new Map<string, number>();
  for (let l = 0; 256 ** l <= s; l++) {
    const hashes = Math.floor(s / 256 ** l); // complete subtrees of 256^l leaves
    for (let n = 0; n * 256 < hashes; n++) {
      const w = Math.min(256, hashes - n * 256);
      out.set(tilePath({ level: l, n, width: w }), w);
    }
  }
  return out;
}

describe('tree geometry', () => {
  it('matches the spec example: size 70,000', () => {
    const tiles = tilesForSize(70000);
    const full0 = Array.from({ length: 273 }, (_, n) => `tile/0/${String(n).padStart(3, '0')}`);
    expect(tiles.map(tilePath)).toEqual([...full0, 'tile/0/273.p/112', 'tile/1/000', 'tile/1/001.p/17', 'tile/2/000.p/1']);
    expect(partialTiles(70000)).toEqual([
      { level: 0, n: 273, width: 112 },
      { level: 1, n: 1, width: 17 },
      { level: 2, n: 0, width: 1 },
    ]);
    expect(entryBundlesForSize(70000).map(tilePath)).toEqual([
      ...full0.map((p) => p.replace('tile/0/', 'tile/entries/')),
      'tile/entries/273.p/112',
    ]);
  });

  it('matches the spec example: size 256 has a full level-0 tile and a partial level-1 tile of width 1', () => {
    expect(tilesForSize(256).map(tilePath)).toEqual(['tile/0/000', 'tile/1/000.p/1']);
    expect(partialTiles(256)).toEqual([{ level: 1, n: 0, width: 1 }]);
    expect(tilesForSize(0)).toEqual([]);
    expect(partialTiles(0)).toEqual([]);
    expect(tilesForSize(1).map(tilePath)).toEqual(['tile/0/000.p/1']);
    expect(tilesForSize(65536).map(tilePath).slice(-2)).toEqual(['tile/1/000', 'tile/2/000.p/1']);
  });

  it('tilesForSize and partialTiles equal the brute-force tile set for sizes 0..1100', () => {
    for (let s = 0; s <= 1100; s++) {
      const want = bruteTiles(s);
      const got = tilesForSize(s);
      expect(new Map(got.map((t) => [tilePath(t), t.width]))).toEqual(want);
      expect(got.length).toBe(want.size);
      // Order: level, then n.
      const sorted = [...got].sort((a, b) => a.level - b.level || a.n - b.n);
      expect(got).toEqual(sorted);
      expect(partialTiles(s)).toEqual(got.filter((t) => t.width < 256));
    }
  });

  /** Brute-force newTiles: tiles of the new tree that the old tree does not have with the same width. */
  function bruteNew(oldSize: number, newSize: number): string[] {
    const before = bruteTiles(oldSize);
    return [...bruteTiles(newSize)].filter(([p]) => !before.has(p)).map(([p]) => p);
  }

  it('newTiles lists exactly the tiles the grown tree adds (exhaustive to 600, random to 300,000)', () => {
    for (let a = 0; a <= 600; a += 7) {
      for (let b = a; b <= 600; b++) expect(newTiles(a, b).map(tilePath).sort()).toEqual(bruteNew(a, b).sort());
    }
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300000 }), fc.integer({ min: 0, max: 300000 }), (x, y) => {
        const [a, b] = x <= y ? [x, y] : [y, x];
        const got = newTiles(a, b);
        expect(got.map(tilePath).sort()).toEqual(bruteNew(a, b).sort());
        expect(got).toEqual([...got].sort((p, q) => p.level - q.level || p.n - q.n));
        expect(newEntryBundles(a, b)).toEqual(got.filter((t) => t.level === 0).map((t) => ({ ...t, level: 'entries' })));
      }),
      { numRuns: 60 },
    );
  });

  it('handles the largest sizes exactly', () => {
    // 2^53 − 1: every level 0..6 has a partial tile (all bits set).
    expect(partialTiles(MAX)).toEqual([
      { level: 0, n: Math.floor(MAX / 256), width: 255 },
      { level: 1, n: Math.floor(MAX / 2 ** 16), width: 255 },
      { level: 2, n: Math.floor(MAX / 2 ** 24), width: 255 },
      { level: 3, n: Math.floor(MAX / 2 ** 32), width: 255 },
      { level: 4, n: Math.floor(MAX / 2 ** 40), width: 255 },
      { level: 5, n: Math.floor(MAX / 2 ** 48), width: 255 },
      { level: 6, n: 0, width: 31 },
    ]);
    expect(newTiles(MAX - 1, MAX)).toEqual([{ level: 0, n: Math.floor(MAX / 256), width: 255 }]);
    expect(newTiles(2 ** 52 - 1, 2 ** 52)).toEqual([
      { level: 0, n: 2 ** 44 - 1, width: 256 },
      { level: 1, n: 2 ** 36 - 1, width: 256 },
      { level: 2, n: 2 ** 28 - 1, width: 256 },
      { level: 3, n: 2 ** 20 - 1, width: 256 },
      { level: 4, n: 2 ** 12 - 1, width: 256 },
      { level: 5, n: 2 ** 4 - 1, width: 256 },
      { level: 6, n: 0, width: 16 },
    ]);
    expect(newTiles(5, 5)).toEqual([]);
    expect(newTiles(MAX, MAX)).toEqual([]);
  });

  it('rejects bad sizes', () => {
    for (const [a, b] of [
      [2, 1],
      [-1, 5],
      [0, 2 ** 53],
      [0, 1.5],
      [NaN, 1],
      [0, Infinity],
    ] as [number, number][]) {
      expectTilesError(() => newTiles(a, b), 'bad-size');
    }
    for (const s of [-1, 2 ** 53, 0.5, NaN, '5']) {
      expectTilesError(() => tilesForSize(s as number), 'bad-size');
      expectTilesError(() => partialTiles(s as number), 'bad-size');
    }
  });

  it('typing: a path parses to a hash tile or an entry bundle, told apart by level', () => {
    const t = parseTilePath('tile/entries/x001/000.p/9');
    if (t.level === 'entries') {
      const b: EntriesTile = t;
      expect(b.n).toBe(1000);
    } else {
      const h: Tile = t;
      expect.unreachable(`parsed as hash tile ${tilePath(h)}`);
    }
  });
});
