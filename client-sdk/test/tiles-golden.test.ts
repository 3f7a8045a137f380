// The golden tlog-tiles log in shared/vectors/tiles/golden: 70,000 entries
// written by Go's golang.org/x/mod/sumdb/tlog with the C2SP layout, and
// checkpoints at 14 sizes signed by golden.example/log (see its README).
//
// For every checkpoint: the signature verifies (node:crypto, independent of
// the SDK); the tree read through tileHashReader over the golden files has the
// checkpoint root; inclusion and consistency proofs between all sizes,
// computed from tiles, verify; the root rebuilt from the entry bundles equals
// the checkpoint root; tilesForSize names only tiles the log serves. Every
// golden path parses and re-formats to itself; appendTiles reproduces every
// golden tile and bundle byte for byte. One flipped byte in any tile or bundle
// (of an in-memory copy) makes verification fail.
//
// The golden directory keeps only the partial tiles of sizes 65,536 and up
// (it holds tile/0/273.p/1..112, tile/1/001.p/1..17 and tile/2/000.p/1): like a
// log that deleted a partial tile once the full tile existed, which
// tlog-tiles allows. Clients then "fetch the full tile as a fallback", so the
// reader here serves a missing partial tile (or bundle) as the prefix of the
// full one, and counts how often it had to.
import { createHash, createPublicKey, verify } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Hash,
  leafHash,
  proveConsistency,
  proveInclusion,
  rootFromLeafHashes,
  storedHashIndex,
  treeHash,
  verifyConsistency,
  verifyInclusion,
} from '@concord/client-sdk/merkle';
import {
  type EntriesTile,
  type Tile,
  type TileReader,
  TilesError,
  appendTiles,
  checkBundleAgainstTile,
  decodeEntryBundle,
  encodeEntryBundle,
  entryBundlesForSize,
  newEntryBundles,
  parseTilePath,
  partialTiles,
  tileHashReader,
  tilePath,
  tilesForSize,
  verifyEntryBundle,
} from '@concord/client-sdk/tiles';

const GOLDEN = path.resolve(process.cwd(), '../shared/vectors/tiles/golden');
const SIZES = [1, 2, 3, 255, 256, 257, 300, 511, 512, 513, 65535, 65536, 65537, 70000];
const VKEY = 'golden.example/log+b3b27a67+AbMzgza+F4bEaRWYq5gUp0gO60ZNlxgGG0xvsh7Qb8Py';

const files = new Map<string, Uint8Array>(); // "tile/..." → bytes
const checkpoints = new Map<number, { root: Hash; text: string }>();

function walk(dir: string, rel: string): void {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const r = rel ? `${rel}/${name}` : name;
    if (statSync(p).isDirectory()) walk(p, r);
    else files.set(r, new Uint8Array(readFileSync(p)));
  }
}

function same(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

/** Minimal checkpoint reading (origin, size, root) plus an Ed25519 check with node:crypto. */
function readCheckpoint(text: string): { origin: string; size: number; root: Hash } {
  const m = /^([^\n]+)\n(0|[1-9][0-9]*)\n([A-Za-z0-9+/]{43}=)\n\n((?:\u2014 [^\n]+\n)+)$/.exec(text);
  if (m === null) throw new Error(`malformed checkpoint ${JSON.stringify(text)}`);
  const [, origin, size, root, sigs] = m as unknown as [string, string, string, string, string];
  const [, name, keyId, key] = /^([^+]+)\+([0-9a-f]{8})\+(.+)$/.exec(VKEY) as unknown as [string, string, string, string];
  const keyBytes = Buffer.from(key, 'base64');
  expect(keyBytes[0]).toBe(0x01); // Ed25519
  const id = createHash('sha256').update(`${name}\n`).update(keyBytes).digest().subarray(0, 4);
  expect(id.toString('hex')).toBe(keyId);
  const pub = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), keyBytes.subarray(1)]), format: 'der', type: 'spki' });
  const body = Buffer.from(text.slice(0, text.indexOf('\n\n') + 1));
  let good = 0;
  for (const line of sigs.trimEnd().split('\n')) {
    const [, signer, b64] = /^\u2014 (\S+) (\S+)$/.exec(line) ?? [];
    const sig = Buffer.from(b64 ?? '', 'base64');
    if (signer === name && sig.subarray(0, 4).equals(id) && verify(null, body, pub, sig.subarray(4))) good++;
  }
  expect(good, 'checkpoint signed by golden.example/log').toBe(1);
  const r = new Uint8Array(Buffer.from(root, 'base64'));
  expect(r.length).toBe(32);
  return { origin, size: Number(size), root: r };
}

interface GoldenReader extends TileReader {
  calls: Tile[][];
  fallbacks: number;
}

/** Serves golden files (copies); a missing partial tile is served as the prefix of the full tile. */
function goldenReader(source: Map<string, Uint8Array> = files): GoldenReader {
  const r: GoldenReader = {
    calls: [],
    fallbacks: 0,
    async readTiles(tiles) {
      r.calls.push([...tiles]);
      return tiles.map((t) => {
        const exact = source.get(tilePath(t));
        if (exact) return exact.slice();
        const full = t.width < 256 ? source.get(tilePath({ ...t, width: 256 })) : undefined;
        if (!full) throw new Error(`golden log has no ${tilePath(t)}`);
        r.fallbacks++;
        return full.slice(0, t.width * 32);
      });
    },
  };
  return r;
}

/** Decoded entries of an entry bundle, from the exact file or the prefix of the full bundle. */
function bundleEntries(b: EntriesTile, source: Map<string, Uint8Array> = files): Uint8Array[] {
  const exact = source.get(tilePath(b));
  if (exact) return decodeEntryBundle(exact, b.width);
  const full = source.get(tilePath({ ...b, width: 256 }));
  if (!full) throw new Error(`golden log has no ${tilePath(b)}`);
  return decodeEntryBundle(full, 256).slice(0, b.width);
}

const head = (size: number): { size: number; root: Hash } => ({ size, root: checkpoints.get(size)!.root });
const leafHashes: Hash[] = []; // from the size-70,000 bundles

beforeAll(() => {
  walk(path.join(GOLDEN, 'tile'), 'tile');
  for (const s of SIZES) {
    const text = readFileSync(path.join(GOLDEN, 'checkpoints', String(s)), 'utf8');
    const c = readCheckpoint(text);
    expect(c.origin).toBe('golden.example/log');
    expect(c.size).toBe(s);
    checkpoints.set(s, { root: c.root, text });
  }
  for (const b of entryBundlesForSize(70000)) for (const e of bundleEntries(b)) leafHashes.push(leafHash(e));
});

describe('golden log: files and checkpoints', () => {
  it('has the checkpoints the README lists, signed by the README key', () => {
    expect([...checkpoints.keys()]).toEqual(SIZES);
    expect(readFileSync(path.join(GOLDEN, 'checkpoint'), 'utf8')).toBe(checkpoints.get(70000)!.text);
    expect(readdirSync(path.join(GOLDEN, 'checkpoints')).map(Number).sort((a, b) => a - b)).toEqual(SIZES);
  });

  it('every golden path parses and re-formats to itself, with data of the right shape', () => {
    expect(files.size).toBe(789);
    let hashTiles = 0;
    let bundles = 0;
    for (const [p, data] of files) {
      const t = parseTilePath(p);
      expect(tilePath(t)).toBe(p);
      if (t.level === 'entries') {
        bundles++;
        expect(decodeEntryBundle(data, t.width)).toHaveLength(t.width);
      } else {
        hashTiles++;
        expect(data.length, p).toBe(t.width * 32);
      }
    }
    expect([hashTiles, bundles]).toEqual([404, 385]);
  });

  it('names exactly the tiles of the 70,000-leaf tree, plus narrower copies of its partial tiles', () => {
    const full70k = new Set([...tilesForSize(70000), ...entryBundlesForSize(70000)].map(tilePath));
    for (const p of full70k) expect(files.has(p), p).toBe(true);
    for (const [p, data] of files) {
      if (full70k.has(p)) continue;
      const t = parseTilePath(p);
      // A narrower version of one of the size-70,000 partial tiles: its prefix.
      const wide = [...partialTiles(70000), { level: 'entries' as const, n: 273, width: 112 }].find((x) => x.level === t.level && x.n === t.n);
      expect(wide, p).toBeDefined();
      expect(t.width).toBeLessThan(wide!.width);
      const wideData = files.get(tilePath(wide!))!;
      if (t.level === 'entries') expect(same(encodeEntryBundle(decodeEntryBundle(wideData).slice(0, t.width)), data), p).toBe(true);
      else expect(same(wideData.subarray(0, data.length), data), p).toBe(true);
    }
  });

  it('serves every tile and bundle each checkpoint size needs (partial ones maybe via the full tile)', () => {
    for (const s of SIZES) {
      for (const t of [...tilesForSize(s), ...entryBundlesForSize(s)]) {
        const exact = files.has(tilePath(t));
        expect(exact || (t.width < 256 && files.has(tilePath({ ...t, width: 256 }))), `size ${s}: ${tilePath(t)}`).toBe(true);
        // The latest size: the log still has the exact partial tiles.
        if (s === 70000) expect(exact, `size ${s}: ${tilePath(t)}`).toBe(true);
      }
    }
  });

  it('entries are the README text "golden entry <i> <h>\\n"', () => {
    let i = 0;
    for (const b of entryBundlesForSize(70000)) {
      for (const e of bundleEntries(b)) {
        const h = createHash('sha256').update(String(i)).digest('hex').slice(0, i % 64);
        if (Buffer.from(e).toString('utf8') !== `golden entry ${i} ${h}\n`) expect.fail(`entry ${i}`);
        i++;
      }
    }
    expect(i).toBe(70000);
  });
});

describe('golden log: reading the tree through tiles', () => {
  it('the tree hash read through tiles equals every checkpoint root', async () => {
    let fallbacks = 0;
    for (const s of SIZES) {
      const r = goldenReader();
      expect(await treeHash(s, tileHashReader(head(s), r))).toEqual(head(s).root);
      expect(r.calls).toHaveLength(1);
      expect(r.calls[0]!.map(tilePath).sort()).toEqual(partialTiles(s).map(tilePath).sort());
      fallbacks += r.fallbacks;
    }
    expect(fallbacks).toBeGreaterThan(0); // sizes below 65,536 needed the full-tile fallback
  });

  it('the root rebuilt from entry bundles equals every checkpoint root', () => {
    for (const s of SIZES) {
      const hashes = entryBundlesForSize(s).flatMap((b) => bundleEntries(b).map(leafHash));
      expect(hashes).toHaveLength(s);
      expect(rootFromLeafHashes(hashes)).toEqual(head(s).root);
    }
  });

  it('consistency proofs between every pair of checkpoint sizes, computed from tiles, verify', async () => {
    for (const n of SIZES) {
      const r = tileHashReader(head(n), goldenReader());
      for (const m of SIZES) {
        if (m > n) continue;
        const proof = await proveConsistency(m, n, r);
        verifyConsistency(m, n, proof, head(m).root, head(n).root);
        if (m < n && proof.length > 0) {
          const bad = proof.map((h) => h.slice());
          bad[0]![0]! ^= 1;
          expect(() => verifyConsistency(m, n, bad, head(m).root, head(n).root)).toThrow();
        }
      }
    }
  });

  it('inclusion proofs from tiles verify for leaves across each checkpoint', async () => {
    for (const s of SIZES) {
      const r = tileHashReader(head(s), goldenReader());
      const picks = new Set([0, s - 1, Math.floor(s / 2), 255, 256, 65535, 65536, (s * 7919) % s].filter((i) => i < s));
      for (const i of picks) {
        const proof = await proveInclusion(s, i, r);
        verifyInclusion(leafHashes[i]!, i, s, proof, head(s).root);
        const [stored] = await r.readHashes([storedHashIndex(0, i)]);
        expect(stored).toEqual(leafHashes[i]);
      }
    }
  });

  it('every entry bundle of the 70,000-leaf log matches its authenticated level-0 tile', async () => {
    const gr = goldenReader();
    const r = tileHashReader(head(70000), gr);
    for (const b of entryBundlesForSize(70000)) {
      const entries = bundleEntries(b);
      await verifyEntryBundle(b, entries, r);
      checkBundleAgainstTile(entries, files.get(tilePath({ level: 0, n: b.n, width: b.width }))!);
    }
    // One readTiles call per full bundle (the right edge, fetched by the first
    // call and kept, covers the partial bundle 273.p/112 without a call).
    expect(gr.calls).toHaveLength(273);
    expect(gr.calls.slice(1).every((c) => c.every((t) => t.width === 256))).toBe(true);
  });

  it('appendTiles reproduces every golden tile and bundle byte for byte', () => {
    const store = new Map<string, Uint8Array>();
    const entries = entryBundlesForSize(70000).flatMap((b) => bundleEntries(b));
    let size = 0;
    for (const s of SIZES) {
      const edge = partialTiles(size).map((t) => store.get(tilePath(t))!);
      for (const { tile, data } of appendTiles(size, edge, leafHashes.slice(size, s))) {
        const p = tilePath(tile);
        const golden = files.get(p) ?? files.get(tilePath({ ...tile, width: 256 }))?.subarray(0, data.length);
        expect(same(data, golden), p).toBe(true);
        store.set(p, data);
      }
      for (const b of newEntryBundles(size, s)) {
        const enc = encodeEntryBundle(entries.slice(b.n * 256, b.n * 256 + b.width));
        const golden = files.get(tilePath(b));
        if (golden) expect(same(enc, golden), tilePath(b)).toBe(true);
        else expect(same(enc, encodeEntryBundle(decodeEntryBundle(files.get(tilePath({ ...b, width: 256 }))!).slice(0, b.width))), tilePath(b)).toBe(true);
      }
      size = s;
    }
    // Every golden hash tile is (a prefix of) the tile built for size 70,000.
    for (const [p, data] of files) {
      const t = parseTilePath(p);
      if (t.level === 'entries') continue;
      const built = store.get(p) ?? store.get(tilePath({ ...t, width: 256 })) ?? store.get(tilePath(partialTiles(70000).find((x) => x.level === t.level && x.n === t.n)!));
      expect(same(built?.subarray(0, data.length), data), p).toBe(true);
    }
  });
});

describe('golden log: one flipped byte is caught', () => {
  async function caught(p: Promise<unknown>): Promise<unknown> {
    return p.then(
      () => undefined,
      (e: unknown) => e,
    );
  }

  it('in any tile a checkpoint size reads', async () => {
    let scenarios = 0;
    for (const s of SIZES) {
      const tiles = tilesForSize(s);
      for (let k = 0; k < tiles.length; k++) {
        const t = tiles[k]!;
        // Flip a byte of the file the reader would serve for t (the exact file, or the full tile it falls back to).
        const p = files.has(tilePath(t)) ? tilePath(t) : tilePath({ ...t, width: 256 });
        const copy = new Map(files);
        const data = files.get(p)!.slice();
        const hash = (k * 37 + s) % t.width;
        data[hash * 32 + ((k * 11) % 32)]! ^= 1 << k % 8;
        copy.set(p, data);
        // Read every hash of t, as tileData would.
        const indexes = Array.from({ length: t.width }, (_, i) => storedHashIndex(8 * t.level, t.n * 256 + i));
        const err = await caught(tileHashReader(head(s), goldenReader(copy)).readHashes(indexes));
        if (!(err instanceof TilesError) || err.code !== 'inconsistent-tile') expect.fail(`size ${s}: byte flip in ${p} (read as ${tilePath(t)}) not caught: ${String(err)}`);
        // Partial tiles also break the tree hash on their own.
        if (t.width < 256) {
          const err2 = await caught(treeHash(s, tileHashReader(head(s), goldenReader(copy))));
          expect(err2).toBeInstanceOf(TilesError);
        }
        scenarios++;
      }
    }
    expect(scenarios).toBe(SIZES.reduce((n, s) => n + tilesForSize(s).length, 0));
  });

  it('in any entry bundle', async () => {
    const r = tileHashReader(head(70000), goldenReader());
    let k = 0;
    for (const b of entryBundlesForSize(70000)) {
      const data = files.get(tilePath(b))!.slice();
      const at = (k * 7919) % data.length;
      data[at]! ^= 1 << k % 8;
      k++;
      let entries: Uint8Array[];
      try {
        entries = decodeEntryBundle(data, b.width);
      } catch (e) {
        // A flipped length prefix breaks the framing.
        expect(e).toBeInstanceOf(TilesError);
        expect((e as TilesError).code).toBe('bad-bundle');
        continue;
      }
      const err = await caught(verifyEntryBundle(b, entries, r));
      expect(err, tilePath(b)).toBeInstanceOf(TilesError);
      expect((err as TilesError).code).toBe('bundle-mismatch');
      if (k % 40 === 1) {
        // And the root rebuilt from the bundles changes (checked on a sample: 70,000 leaves each).
        const hashes = [...leafHashes];
        entries.forEach((e, i) => (hashes[b.n * 256 + i] = leafHash(e)));
        expect(rootFromLeafHashes(hashes)).not.toEqual(head(70000).root);
      }
    }
    expect(k).toBe(274);
  });
});
