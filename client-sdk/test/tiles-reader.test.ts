// The authenticating tile HashReader, tile data and the server-side tile
// builder of client-sdk/src/tiles.ts, against an independent reference log
// written here with node:crypto: every perfect subtree hash level by level,
// roots by the RFC 6962 recursion, and Go's stored-hash numbering enumerated
// in append order (leaf m, then the subtrees leaf m completes).
//
// Forgery: a level-0 (or level-1) tile is forged by one flipped bit or by
// substituting the same tile of another log (internally consistent, wrong for
// this tree). For sizes 300 and 511 every stored hash is requested on its
// own; for 70,000 every hash of the forged tile on its own and all others in
// per-tile batches. The expectation is exact: a call throws 'inconsistent-tile'
// iff the forged tile is among the tiles it must read (the right edge, the
// tile holding the hash and that tile's full ancestors), otherwise it returns
// the true hashes; saveTiles sees only calls that succeeded. Go's
// TileHashReader fails this for, e.g., leaf hashes in tile 0/000 of a 300-leaf
// tree (a full tile whose parent 1/000.p/1 is partial). fast-check repeats the
// forgery at random sizes, tiles, positions and bits.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Hash,
  type HashReader,
  proveConsistency,
  proveInclusion,
  treeHash,
  verifyConsistency,
  verifyInclusion,
} from '@concord/client-sdk/merkle';
import {
  type Tile,
  type TileReader,
  TilesError,
  appendTiles,
  appendTilesFromReader,
  hashFromTile,
  newTiles,
  partialTiles,
  tileData,
  tileForStoredHash,
  tileHashReader,
  tilePath,
  tilesForSize,
} from '@concord/client-sdk/tiles';

// ---------------------------------------------------------------------------
// Reference (node:crypto only)

function sha(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}
const leafRef = (d: Uint8Array): Uint8Array => sha(new Uint8Array([0]), d);
const nodeRef = (l: Uint8Array, r: Uint8Array): Uint8Array => sha(new Uint8Array([1]), l, r);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

class RefLog {
  /** levels[k][j]: hash of the perfect subtree of 2^k leaves, number j. */
  readonly levels: Uint8Array[][];
  constructor(readonly leaves: Uint8Array[]) {
    this.levels = [leaves];
    for (let k = 0; this.levels[k]!.length >= 2; k++) {
      const below = this.levels[k]!;
      const up: Uint8Array[] = [];
      for (let j = 0; 2 * j + 1 < below.length; j++) up.push(nodeRef(below[2 * j]!, below[2 * j + 1]!));
      this.levels.push(up);
    }
  }
  subtree(level: number, n: number): Uint8Array {
    const h = this.levels[level]?.[n];
    if (h === undefined) throw new Error(`reference has no subtree (${level}, ${n})`);
    return h;
  }
  /** RFC 6962 MTH(D[lo:hi]). */
  mth(lo: number, hi: number): Uint8Array {
    const n = hi - lo;
    if (n === 0) return sha();
    if ((n & (n - 1)) === 0 && lo % n === 0) return this.subtree(Math.log2(n), lo / n);
    let k = 1;
    while (k * 2 < n) k *= 2;
    return nodeRef(this.mth(lo, lo + k), this.mth(lo + k, hi));
  }
  readonly #tiles = new Map<string, Uint8Array>();
  /** Tile bytes straight from the spec: hash i = MTH(D[(n·256+i)·256^l : (n·256+i+1)·256^l]). A fresh copy. */
  tile(t: Tile): Uint8Array {
    const k = `${t.level}/${t.n}/${t.width}`;
    let out = this.#tiles.get(k);
    if (out === undefined) {
      out = new Uint8Array(t.width * 32);
      for (let i = 0; i < t.width; i++) out.set(this.subtree(8 * t.level, t.n * 256 + i), i * 32);
      this.#tiles.set(k, out);
    }
    return out.slice();
  }
}

/** Byte equality without vitest's element-wise deep equality (slow on 8 KB tiles). */
function same(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}
function expectBytes(got: Uint8Array | undefined, want: Uint8Array, what = 'bytes'): void {
  if (!same(got, want)) expect(got ? Buffer.from(got).toString('hex') : got, what).toBe(Buffer.from(want).toString('hex'));
}
function sameSet(a: Set<string>, b: Set<string>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}

const N = 70000;
const goodLog = new RefLog(Array.from({ length: N }, (_, i) => leafRef(text(`entry ${i}`))));
const otherLog = new RefLog(Array.from({ length: N }, (_, i) => leafRef(text(`other ${i}`))));

/** Go tlog stored-hash numbering, enumerated: index → [level, n]; countAt[s] = stored hashes of a tree of s leaves. */
const table: [number, number][] = [];
const countAt: number[] = [0];
const indexOf = new Map<string, number>();
for (let m = 0; m < N; m++) {
  table.push([0, m]);
  for (let j = 1, k = m; k % 2 === 1; j++, k = (k - 1) / 2) table.push([j, m >> j]);
  countAt.push(table.length);
}
table.forEach(([l, n], i) => indexOf.set(`${l}/${n}`, i));

const truth = (index: number): Uint8Array => goodLog.subtree(...table[index]!);
const key = (t: { level: number; n: number }): string => `${t.level}/${t.n}`;

/** The tiles a read of `indexes` must fetch: the right edge, each hash's tile and its full ancestors. */
function mustRead(size: number, indexes: readonly number[]): Set<string> {
  const out = new Set<string>();
  for (let l = 0; 256 ** l <= size; l++) {
    const hashes = Math.floor(size / 256 ** l);
    if (hashes % 256 !== 0) out.add(`${l}/${Math.floor(hashes / 256)}`);
  }
  for (const x of indexes) {
    const [level, n] = table[x]!;
    let tl = Math.floor(level / 8);
    let tn = Math.floor((n * 2 ** level) / 256 ** (tl + 1));
    for (;;) {
      out.add(`${tl}/${tn}`);
      const width = Math.min(256, Math.floor(size / 256 ** tl) - tn * 256);
      if (width < 256) break;
      tl++;
      tn = Math.floor(tn / 256);
    }
  }
  return out;
}

interface Spy {
  reader: TileReader;
  calls: Tile[][];
  saved: Tile[][];
}

/** A tile server over `log`, with an optional forgery applied to the data it serves. */
function serve(log: RefLog, forge?: (t: Tile, d: Uint8Array) => Uint8Array): Spy {
  const spy: Spy = { calls: [], saved: [], reader: undefined as unknown as TileReader };
  spy.reader = {
    async readTiles(tiles) {
      spy.calls.push([...tiles]);
      return tiles.map((t) => (forge ? forge(t, log.tile(t)) : log.tile(t)));
    },
    saveTiles(tiles, data) {
      spy.saved.push([...tiles]);
      // Surfaces as a failed read in the tests, which expect none on honest data.
      tiles.forEach((t, i) => {
        if (!same(data[i], log.tile(t))) throw new Error(`saveTiles got unauthenticated data for ${tilePath(t)}`);
      });
    },
  };
  return spy;
}

async function caught(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

async function expectTilesError(p: Promise<unknown>, code: string): Promise<void> {
  const err = await caught(p);
  expect(err, 'expected a TilesError').toBeInstanceOf(TilesError);
  expect((err as TilesError).code).toBe(code);
}

const tree = (size: number): { size: number; root: Hash } => ({ size, root: goodLog.mth(0, size) });

// ---------------------------------------------------------------------------

describe('tileHashReader: honest tiles', () => {
  it('returns every stored hash of a 70,000-leaf tree in one batch of one readTiles call', async () => {
    const spy = serve(goodLog);
    const r = tileHashReader(tree(N), spy.reader);
    const all = Array.from({ length: countAt[N]! }, (_, i) => i);
    const got = await r.readHashes(all);
    expect(got).toHaveLength(all.length);
    for (let i = 0; i < all.length; i++) if (!same(got[i], truth(i))) expect.fail(`hash ${i} differs`);
    expect(spy.calls).toHaveLength(1);
    expect(new Set(spy.calls[0]!.map(key))).toEqual(new Set(tilesForSize(N).map(key)));
    expect(spy.calls[0]).toHaveLength(tilesForSize(N).length); // no tile twice
    expect(spy.saved).toEqual(spy.calls);
  });

  it('treeHash, inclusion and consistency proofs through tiles match the reference (sizes 1..300, edges and random)', async () => {
    const sizes = [...Array.from({ length: 300 }, (_, i) => i + 1), 511, 512, 513, 65535, 65536, 65537, 69999, N];
    for (let i = 0; i < 30; i++) sizes.push(1 + ((i * 2654435761) % N));
    for (const size of sizes) {
      const t = tree(size);
      const r = tileHashReader(t, serve(goodLog).reader);
      expectBytes(await treeHash(size, r), t.root, `root of ${size}`);
      const index = (size * 7919) % size;
      const proof = await proveInclusion(size, index, r);
      verifyInclusion(goodLog.leaves[index]!, index, size, proof, t.root);
      const old = 1 + ((size * 104729) % size);
      const cproof = await proveConsistency(old, size, r);
      verifyConsistency(old, size, cproof, goodLog.mth(0, old), t.root);
    }
  });

  it('keeps the authenticated right edge: later calls fetch only full tiles, and never the edge again', async () => {
    const size = 70000;
    let phase = 0;
    const calls: Tile[][] = [];
    const reader: TileReader = {
      async readTiles(tiles) {
        calls.push([...tiles]);
        // After the first call, edge tiles come back forged: they must not be asked for.
        return tiles.map((t) => {
          const d = goodLog.tile(t);
          if (phase > 0 && t.width < 256) d[0]! ^= 1;
          return d;
        });
      },
    };
    const r = tileHashReader(tree(size), reader);
    const inEdge = indexOf.get(`0/${69999}`)!;
    expect(await r.readHashes([inEdge])).toEqual([truth(inEdge)]);
    expect(calls[0]!.map(tilePath)).toEqual(['tile/2/000.p/1', 'tile/1/001.p/17', 'tile/0/273.p/112']);
    phase = 1;
    expect(await r.readHashes([inEdge])).toEqual([truth(inEdge)]);
    expect(calls).toHaveLength(1); // nothing to fetch
    const inFull = indexOf.get('3/5')!;
    expect(await r.readHashes([inFull, inEdge])).toEqual([truth(inFull), truth(inEdge)]);
    expect(calls[1]!.map(tilePath)).toEqual(['tile/1/000', 'tile/0/000']); // parents first
  });

  it('does not keep an edge that failed to authenticate', async () => {
    let forge = true;
    const reader: TileReader = {
      async readTiles(tiles) {
        return tiles.map((t) => {
          const d = goodLog.tile(t);
          if (forge && t.level === 0) d[5]! ^= 0x10;
          return d;
        });
      },
    };
    const r = tileHashReader(tree(300), reader);
    await expectTilesError(r.readHashes([0]), 'inconsistent-tile');
    forge = false;
    expect(await r.readHashes([0])).toEqual([truth(0)]);
  });

  it('answers an empty request without reading, and a tree of size 0 has no hashes', async () => {
    const spy = serve(goodLog);
    expect(await tileHashReader(tree(300), spy.reader).readHashes([])).toEqual([]);
    const empty = tileHashReader({ size: 0, root: sha() }, spy.reader);
    expect(await empty.readHashes([])).toEqual([]);
    await expectTilesError(empty.readHashes([0]), 'bad-index');
    expect(spy.calls).toEqual([]);
  });

  it('returns copies: callers and readers cannot change what it hands out or keeps', async () => {
    const held: Uint8Array[] = [];
    const reader: TileReader = {
      async readTiles(tiles) {
        const data = tiles.map((t) => goodLog.tile(t));
        held.push(...data);
        return data;
      },
      async saveTiles() {
        for (const d of held) d.fill(0); // scribble after authentication
      },
    };
    const r = tileHashReader(tree(300), reader);
    const [h] = await r.readHashes([0]);
    expect(h).toEqual(truth(0));
    h!.fill(1);
    expect(await r.readHashes([indexOf.get('0/299')!])).toEqual([truth(indexOf.get('0/299')!)]);
  });
});

describe('tileHashReader: misbehaving readers and bad input', () => {
  const size = 300;
  const base = (): TileReader => serve(goodLog).reader;

  it('rejects indexes that are not in the tree, before reading', async () => {
    const spy = serve(goodLog);
    const r = tileHashReader(tree(size), spy.reader);
    for (const bad of [countAt[size]!, countAt[size]! + 1, -1, 1.5, NaN, Infinity, 2 ** 53, '3', null]) {
      await expectTilesError(r.readHashes([0, bad as number]), 'bad-index');
    }
    await expectTilesError(r.readHashes('0' as unknown as number[]), 'bad-index');
    expect(spy.calls).toEqual([]);
    // The last stored hash of the tree is fine.
    expect(await r.readHashes([countAt[size]! - 1])).toEqual([truth(countAt[size]! - 1)]);
  });

  it('rejects bad tree heads', () => {
    for (const t of [
      { size: -1, root: tree(1).root },
      { size: 1.5, root: tree(1).root },
      { size: 2 ** 52 + 1, root: tree(1).root },
      { size: 1, root: new Uint8Array(31) },
      { size: 1, root: 'root' },
      null,
    ]) {
      expect(() => tileHashReader(t as never, base()), JSON.stringify(t)).toThrow(TilesError);
    }
  });

  it('rejects answers of the wrong shape with bad-reader', async () => {
    const answers: ((tiles: readonly Tile[]) => unknown)[] = [
      (tiles) => tiles.slice(1).map((t) => goodLog.tile(t)),
      (tiles) => [...tiles.map((t) => goodLog.tile(t)), new Uint8Array(32)],
      (tiles) => tiles.map((t) => goodLog.tile(t).subarray(32)),
      (tiles) => tiles.map((t) => new Uint8Array([...goodLog.tile(t), 0])),
      // A full tile where a partial one was asked for is the reader's job to cut.
      (tiles) => tiles.map((t) => goodLog.tile({ ...t, width: Math.min(256, Math.floor(N / 256 ** t.level) - t.n * 256) })),
      (tiles) => tiles.map((t) => [...goodLog.tile(t)]),
      (tiles) => tiles.map((t) => goodLog.tile(t).buffer),
      () => 'tiles',
      () => undefined,
    ];
    for (const answer of answers) {
      let saved = false;
      const r = tileHashReader(tree(size), {
        readTiles: async (tiles) => answer(tiles) as Uint8Array[],
        saveTiles: () => {
          saved = true;
        },
      });
      await expectTilesError(r.readHashes([0, countAt[size]! - 1]), 'bad-reader');
      expect(saved).toBe(false);
    }
  });

  it('propagates reader and saveTiles failures unchanged', async () => {
    const boom = new Error('network down');
    const r1 = tileHashReader(tree(size), {
      readTiles: async () => {
        throw boom;
      },
    });
    expect(await caught(r1.readHashes([0]))).toBe(boom);
    const disk = new Error('disk full');
    const r2 = tileHashReader(tree(size), {
      readTiles: async (tiles) => tiles.map((t) => goodLog.tile(t)),
      saveTiles: async () => {
        throw disk;
      },
    });
    expect(await caught(r2.readHashes([0]))).toBe(disk);
  });

  it('works without saveTiles', async () => {
    const r = tileHashReader(tree(size), { readTiles: async (tiles) => tiles.map((t) => goodLog.tile(t)) });
    expect(await r.readHashes([5])).toEqual([truth(5)]);
  });
});

// ---------------------------------------------------------------------------
// Forgery

interface Forgery {
  what: string;
  tile: string; // "level/n"
  forge: (t: Tile, d: Uint8Array) => Uint8Array;
}

function forgeries(tiles: string[], positions: (w: number) => number[]): Forgery[] {
  const out: Forgery[] = [];
  for (const k of tiles) {
    for (const pos of positions(256)) {
      out.push({
        what: `${k}: bit flip in hash ${pos}`,
        tile: k,
        forge: (t, d) => {
          if (key(t) !== k) return d;
          const j = Math.min(pos, t.width - 1);
          const bit = (j * 13) % 256;
          d[j * 32 + (bit >> 3)]! ^= 1 << (bit & 7);
          return d;
        },
      });
    }
    out.push({
      what: `${k}: substituted by another log's tile`,
      tile: k,
      forge: (t, d) => (key(t) === k ? otherLog.tile(t) : d),
    });
  }
  return out;
}

/** Runs readHashes(indexes) on a fresh reader and checks the exact expectation. */
async function check(size: number, f: Forgery, indexes: number[]): Promise<boolean> {
  const spy = serve(goodLog, f.forge);
  const r = tileHashReader(tree(size), spy.reader);
  const must = mustRead(size, indexes);
  const err = await caught(
    r.readHashes(indexes).then((got) => {
      for (let i = 0; i < indexes.length; i++) {
        if (!same(got[i], truth(indexes[i]!))) expect.fail(`${f.what}: size ${size} hash ${indexes[i]} is wrong`);
      }
    }),
  );
  const where = `${f.what}: size ${size} indexes ${indexes.slice(0, 3).join(',')}${indexes.length > 3 ? '…' : ''}`;
  if (spy.calls.length !== 1 || !sameSet(new Set(spy.calls[0]!.map(key)), must)) {
    expect.fail(`${where}: read ${JSON.stringify(spy.calls.map((c) => c.map(key)))}, want one call for ${[...must].join(' ')}`);
  }
  if (must.has(f.tile)) {
    if (!(err instanceof TilesError) || err.code !== 'inconsistent-tile') expect.fail(`${where}: not caught (${String(err)})`);
    if (spy.saved.length !== 0) expect.fail(`${where}: saveTiles called after a failed check`);
    return true;
  }
  if (err !== undefined) expect.fail(`${where}: unexpected ${String(err)}`);
  if (spy.saved.length !== 1 || spy.saved[0]!.length !== spy.calls[0]!.length) expect.fail(`${where}: saveTiles not called with every fetched tile`);
  return false;
}

describe('tileHashReader: forged tiles are always caught', () => {
  it('size 300: every stored hash, forged partial 0/001.p/44 and forged full 0/000 under partial 1/000.p/1', async () => {
    const fs = [...forgeries(['0/1'], () => [43]), ...forgeries(['0/0'], () => [0, 255])];
    expect(fs).toHaveLength(5);
    let caughtCount = 0;
    for (const f of fs) {
      for (let i = 0; i < countAt[300]!; i++) if (await check(300, f, [i])) caughtCount++;
    }
    // Edge forgeries fail every read; those of 0/000 fail the 510 hashes of
    // levels 0..7 inside it (its own root, level 8, is hash 0 of 1/000.p/1).
    expect(caughtCount).toBe(2 * countAt[300]! + 3 * 510);
  });

  it("size 300: the batch that Go's TileHashReader leaves unchecked", async () => {
    // Go plans 4 right-edge subtrees (levels 8, 5, 3, 2) in 2 tiles, then starts
    // checking child tiles at position 4, past tile 0/000 at position 2.
    const [f] = forgeries(['0/0'], () => []);
    const inFull = indexOf.get('0/17')!;
    const inEdge = indexOf.get('0/290')!;
    expect(await check(300, f!, [inFull])).toBe(true);
    expect(await check(300, f!, [inEdge, inFull])).toBe(true);
    expect(await check(300, f!, [indexOf.get('5/3')!, indexOf.get('7/1')!])).toBe(true);
  });

  it('size 511: every stored hash, forged partial 0/001.p/255 and forged full 0/000', async () => {
    const fs = forgeries(['0/1', '0/0'], () => [254]).filter((_, i) => i === 0 || i === 3); // bit flip in the edge, substitution of 0/000
    let caughtCount = 0;
    for (const f of fs) {
      for (let i = 0; i < countAt[511]!; i++) if (await check(511, f, [i])) caughtCount++;
    }
    expect(caughtCount).toBe(countAt[511]! + 510);
  });

  it('size 70,000: forged level-0 tiles (partial, under a partial parent, under a full parent) and level-1 tiles', async () => {
    const size = 70000;
    // Group every stored hash by the tile that holds it.
    const byTile = new Map<string, number[]>();
    for (let i = 0; i < countAt[size]!; i++) {
      const [level, n] = table[i]!;
      const tl = Math.floor(level / 8);
      const k = `${tl}/${Math.floor((n * 2 ** level) / 256 ** (tl + 1))}`;
      byTile.set(k, [...(byTile.get(k) ?? []), i]);
    }
    expect(byTile.size).toBe(tilesForSize(size).length);
    // One forgery per tile, alternating bit flips and substitutions.
    const fs = forgeries(['0/273', '0/272', '0/5', '1/0', '1/1'], () => [77]).filter((_, i) => [1, 2, 5, 6, 9].includes(i));
    expect(fs.map((f) => f.tile)).toEqual(['0/273', '0/272', '0/5', '1/0', '1/1']);
    for (const f of fs) {
      // Every hash of the forged tile on its own (each must fail) …
      for (const i of byTile.get(f.tile)!) expect(await check(size, f, [i])).toBe(true);
      // … and all hashes, one batch per tile.
      let failed = 0;
      for (const indexes of byTile.values()) if (await check(size, f, indexes)) failed++;
      const want = { '0/273': 277, '0/272': 1, '0/5': 1, '1/0': 257, '1/1': 277 }[f.tile];
      expect(failed, f.what).toBe(want);
    }
  });

  it('random sizes, tiles, positions and bits (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: N }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.nat(),
        fc.nat(),
        async (size, tileSeed, posSeed, bit, rSeed, otherSeed) => {
          const tiles = tilesForSize(size);
          const target = tiles[tileSeed % tiles.length]!;
          const pos = posSeed % target.width;
          const f: Forgery = {
            what: `size ${size} ${tilePath(target)} hash ${pos} bit ${bit}`,
            tile: key(target),
            forge: (t, d) => {
              if (key(t) === key(target)) d[pos * 32 + (bit >> 3)]! ^= 1 << (bit & 7);
              return d;
            },
          };
          // A stored hash inside the forged tile that covers the forged position.
          let r = rSeed % 8;
          let a = pos - (pos % 2 ** r);
          while (a + 2 ** r > target.width) {
            r--;
            a = pos - (pos % 2 ** r);
          }
          const inside = indexOf.get(`${8 * target.level + r}/${(target.n * 256 + a) / 2 ** r}`)!;
          expect(inside).toBeLessThan(countAt[size]!);
          expect(await check(size, f, [inside])).toBe(true);
          // Any other hash: caught exactly when the forged tile must be read.
          await check(size, f, [otherSeed % countAt[size]!]);
        },
      ),
      { numRuns: 100 },
    );
  });
});

// ---------------------------------------------------------------------------
// Tile data and the server-side builder

/** A HashReader over the reference's stored hashes (what a log server stores). */
function storedReader(size: number): HashReader & { calls: number } {
  const r = {
    calls: 0,
    async readHashes(indexes: readonly number[]) {
      r.calls++;
      return indexes.map((x) => {
        if (x >= countAt[size]!) throw new Error(`index ${x} not stored`);
        return truth(x);
      });
    },
  };
  return r;
}

describe('tile data and stored hashes', () => {
  it('tileData reads a tile from stored hashes in one call', async () => {
    for (const size of [1, 255, 256, 300, 65536, N]) {
      for (const t of [...partialTiles(size), ...tilesForSize(size).filter((x) => x.width === 256).slice(0, 3)]) {
        const r = storedReader(size);
        expectBytes(await tileData(t, r), goodLog.tile(t), tilePath(t));
        expect(r.calls).toBe(1);
      }
    }
    await expect(tileData({ level: 0, n: 0, width: 3 }, { readHashes: async () => [new Uint8Array(32)] })).rejects.toMatchObject({ code: 'bad-reader' });
    await expect(tileData({ level: 7, n: 0, width: 256 }, storedReader(1))).rejects.toMatchObject({ code: 'bad-tile' });
    await expect(tileData({ level: 0, n: 0, width: 0 }, storedReader(1))).rejects.toMatchObject({ code: 'bad-tile' });
  });

  it('tileForStoredHash and hashFromTile agree with the reference for every hash of several trees', () => {
    for (const size of [1, 2, 3, 255, 256, 257, 300, 511, 512, 513, 4097]) {
      for (let i = 0; i < countAt[size]!; i++) {
        const t = tileForStoredHash(i, size);
        const ok =
          mustRead(size, [i]).has(key(t)) &&
          t.width === Math.min(256, Math.floor(size / 256 ** t.level) - t.n * 256) &&
          same(hashFromTile(t, goodLog.tile(t), i), truth(i));
        if (!ok) expect.fail(`size ${size} index ${i}: ${tilePath(t)}`);
      }
      expect(() => tileForStoredHash(countAt[size]!, size)).toThrow(TilesError);
    }
    // Outside the tile, or wrong data length.
    const t = tileForStoredHash(0, 300);
    expect(() => hashFromTile(t, goodLog.tile(t), indexOf.get('0/256')!)).toThrow(expect.objectContaining({ code: 'bad-index' }));
    expect(() => hashFromTile({ level: 0, n: 1, width: 4 }, goodLog.tile({ level: 0, n: 1, width: 4 }), indexOf.get('0/260')!)).toThrow(
      expect.objectContaining({ code: 'bad-index' }),
    );
    expect(() => hashFromTile(t, goodLog.tile(t).subarray(1), 0)).toThrow(expect.objectContaining({ code: 'bad-tile-data' }));
    expect(() => hashFromTile(t, goodLog.tile(t), -1)).toThrow(expect.objectContaining({ code: 'bad-index' }));
    expect(() => hashFromTile(t, goodLog.tile(t), 2 ** 53)).toThrow(expect.objectContaining({ code: 'bad-index' }));
  });

  /** Appends leaves in the given chunk sizes, checking every emitted tile against the reference. */
  function grow(chunks: number[]): Map<string, Uint8Array> {
    const store = new Map<string, Uint8Array>();
    let size = 0;
    for (const c of chunks) {
      const edge = partialTiles(size).map((t) => store.get(tilePath(t))!);
      const out = appendTiles(size, edge, goodLog.leaves.slice(size, size + c));
      expect(out.map((x) => x.tile)).toEqual(newTiles(size, size + c));
      for (const { tile, data } of out) {
        expectBytes(data, goodLog.tile(tile), tilePath(tile));
        store.set(tilePath(tile), data);
      }
      size += c;
    }
    for (const t of tilesForSize(size)) expect(store.has(tilePath(t))).toBe(true);
    return store;
  }

  it('appendTiles builds every tile of a 70,000-leaf log, in one go or in uneven chunks', () => {
    grow([N]);
    grow([1, 1, 1, 252, 1, 1, 43, 211, 1, 1, 65022, 1, 1, 3, 4460, 0]);
  });

  it('appendTiles equals the reference for random chunkings (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 700 })), { maxLength: 12 }), (chunks) => {
        grow(chunks);
      }),
      { numRuns: 60 },
    );
  });

  it('appendTilesFromReader reads the old edge in one call and agrees with appendTiles', async () => {
    for (const [old, add] of [
      [0, 5],
      [300, 1000],
      [65535, 2],
      [69000, 1000],
    ] as [number, number][]) {
      const r = storedReader(old);
      const out = await appendTilesFromReader(old, goodLog.leaves.slice(old, old + add), r);
      expect(r.calls).toBe(old === 0 ? 0 : 1);
      const edge = partialTiles(old).map((t) => goodLog.tile(t));
      const want = appendTiles(old, edge, goodLog.leaves.slice(old, old + add));
      expect(out.map((x) => x.tile)).toEqual(want.map((x) => x.tile));
      out.forEach((x, i) => expectBytes(x.data, want[i]!.data, tilePath(x.tile)));
    }
  });

  it('appendTiles rejects a wrong edge or bad leaf hashes', () => {
    const edge300 = partialTiles(300).map((t) => goodLog.tile(t));
    expect(() => appendTiles(300, edge300.slice(1), [])).toThrow(expect.objectContaining({ code: 'bad-tile-data' }));
    expect(() => appendTiles(300, [edge300[0]!, edge300[1]!.subarray(32)], [])).toThrow(expect.objectContaining({ code: 'bad-tile-data' }));
    expect(() => appendTiles(300, edge300, [new Uint8Array(31)])).toThrow(expect.objectContaining({ code: 'bad-tile-data' }));
    expect(() => appendTiles(-1, [], [])).toThrow(expect.objectContaining({ code: 'bad-size' }));
    expect(() => appendTiles(Number.MAX_SAFE_INTEGER, partialTiles(Number.MAX_SAFE_INTEGER).map((t) => new Uint8Array(t.width * 32)), [new Uint8Array(32)])).toThrow(
      expect.objectContaining({ code: 'bad-size' }),
    );
    expect(appendTiles(300, edge300, [])).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
// transparency-dev/merkle vectors (shared/vectors/merkle), mapped onto tiles:
// the RFC 6962 test tree is built with appendTiles, served as tiles, and the
// proofs computed through tileHashReader for the vector's (size, root) must be
// the vector's proof bytes. A vector whose claimed root or sizes do not match
// the tiled tree must fail somewhere: the reader refuses the tiles
// ('inconsistent-tile'), or the tile-derived proof differs or does not verify.

describe('merkle vectors through tiles', () => {
  const VEC = path.resolve(process.cwd(), '../shared/vectors/merkle');
  const rfcLeaves = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map((h) =>
    leafRef(Buffer.from(h, 'hex')),
  );
  let tile8: Uint8Array;
  const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
  const reader: TileReader = {
    async readTiles(tiles) {
      return tiles.map((t) => {
        if (t.level !== 0 || t.n !== 0 || t.width > 8) throw new Error(`no tile ${tilePath(t)}`);
        return tile8.slice(0, t.width * 32); // a partial tile is a prefix of the widest one
      });
    },
  };

  beforeAll(() => {
    const out = appendTiles(0, [], rfcLeaves);
    expect(out.map((x) => tilePath(x.tile))).toEqual(['tile/0/000.p/8']);
    tile8 = out[0]!.data;
  });

  function files(kind: string): { name: string; v: Record<string, unknown> }[] {
    const out: { name: string; v: Record<string, unknown> }[] = [];
    for (const dir of ['0', '1', '2', '3', '4']) {
      for (const f of readdirSync(path.join(VEC, kind, dir))) {
        out.push({ name: `${kind}/${dir}/${f}`, v: JSON.parse(readFileSync(path.join(VEC, kind, dir, f), 'utf8')) });
      }
    }
    return out;
  }

  const same = (a: Uint8Array[], b: Uint8Array[]): boolean => a.length === b.length && a.every((x, i) => Buffer.from(x).equals(b[i]!));

  it('consistency vectors', async () => {
    const cases = files('consistency');
    expect(cases.length).toBeGreaterThan(60);
    let happy = 0;
    for (const { name, v } of cases) {
      const size1 = v.size1 as number;
      const size2 = v.size2 as number;
      const want = ((v.proof as string[] | null) ?? []).map(b64);
      const root1 = b64(v.root1 as string);
      const root2 = b64(v.root2 as string);
      const ok = await (async () => {
        try {
          const got = await proveConsistency(size1, size2, tileHashReader({ size: size2, root: root2 }, reader));
          if (!same(got, want)) return false;
          verifyConsistency(size1, size2, want, root1, root2);
          return true;
        } catch {
          return false;
        }
      })();
      expect(ok, name).toBe(!v.wantErr);
      if (!v.wantErr) happy++;
      if (!v.wantErr) {
        // The vector's tree, with one bit of its 32-byte root flipped: the tiles no longer match.
        const wrong = root2.slice();
        wrong[size1 % 32]! ^= 4;
        await expectTilesError(treeHash(size2, tileHashReader({ size: size2, root: wrong }, reader)), 'inconsistent-tile');
      }
    }
    expect(happy).toBeGreaterThanOrEqual(4);
  });

  it('inclusion vectors', async () => {
    const cases = files('inclusion');
    expect(cases.length).toBeGreaterThan(40);
    let happy = 0;
    for (const { name, v } of cases) {
      const size = v.treeSize as number;
      const index = v.leafIdx as number;
      const want = ((v.proof as string[] | null) ?? []).map(b64);
      const root = b64(v.root as string);
      const leaf = b64(v.leafHash as string);
      const ok = await (async () => {
        try {
          const r = tileHashReader({ size, root }, reader);
          const got = await proveInclusion(size, index, r);
          if (!same(got, want)) return false;
          const [stored] = await r.readHashes([2 * index - index.toString(2).replace(/0/g, '').length]);
          if (!Buffer.from(stored!).equals(leaf)) return false;
          verifyInclusion(leaf, index, size, want, root);
          return true;
        } catch {
          return false;
        }
      })();
      expect(ok, name).toBe(!v.wantErr);
      if (!v.wantErr) happy++;
    }
    expect(happy).toBeGreaterThanOrEqual(4);
  });
});
