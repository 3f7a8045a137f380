// tlog-tiles conformance of the HTTP read API, checked against an independent recomputation:
// a log of 65,536 + 300 entries (a full level-1 tile, partial tiles on three levels), grown in
// batches of irregular sizes, is read back over HTTP — every entry bundle, every hash tile of the
// latest tree and every partial tile of every earlier checkpoint — and compared byte for byte
// with tiles computed from the entries by client-sdk's RFC 6962 functions (rootFromLeafHashes
// over the leaves each hash covers, not the server's tile builder). Then client-sdk's
// tileHashReader authenticates the served tiles over HTTP against the signed checkpoint, every
// bundle verifies against them, and the JSON inclusion and consistency proofs verify.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64, utf8 } from '@concord/client-sdk/bytes';
import { openCheckpoint, parseCheckpoint } from '@concord/client-sdk/checkpoint';
import { parseSignedEntry } from '@concord/client-sdk/entries';
import { leafHash, proveInclusion, rootFromLeafHashes, TreeBuilder, verifyConsistency, verifyInclusion } from '@concord/client-sdk/merkle';
import { formatSignatureLine, newVerifier, parseVerifierKey } from '@concord/client-sdk/note';
import {
  decodeEntryBundle,
  encodeEntryBundle,
  entryBundlesForSize,
  partialTiles,
  tileHashReader,
  tilePath,
  tilesForSize,
  verifyEntryBundle,
} from '@concord/client-sdk/tiles';
import type { Tile } from '@concord/client-sdk/tiles';
import type { OpenLog } from '@concord/log-server/log';
import type { Committed } from '@concord/log-server/sequencer';
import { createTestLog } from './helpers.js';
import type { TestLog } from './helpers.js';

const TOTAL = 65_536 + 300; // entries after the anchor's
let t: TestLog;
let log: OpenLog;
const commits: Committed[] = [];
let submitted: Uint8Array[] = [];

/** A well-formed endorsement with a made-up signature: admission does not re-verify prechecked entries. */
function fakeEntry(i: number, org: { name: string; keyHash: number }): Uint8Array {
  const text = `concord/endorsement/v1\norg ${org.name}\nsubject release ${i + 1} ${toBase64(randomBytes(32))}\n`;
  return utf8(`${text}\n${formatSignatureLine(org.name, org.keyHash, new Uint8Array(randomBytes(64)))}\n`);
}

async function get(path: string, headers: Record<string, string> = {}): Promise<Response> {
  return log.app.request(path, { headers });
}

async function bytes(path: string): Promise<Uint8Array> {
  const r = await get(path);
  expect(r.status, path).toBe(200);
  return new Uint8Array(await r.arrayBuffer());
}

beforeAll(async () => {
  t = await createTestLog();
  log = await t.open({ maxBatch: 4096, onCommit: (c) => commits.push(c) });
  const org = t.fixture.orgs[0]!;
  const orgKeyHash = parseVerifierKey(org.vkey).keyHash;
  const seq = log.sequencer!;
  // Irregular batch sizes: partial tiles of many widths, batches crossing tile boundaries.
  const sizes = [1, 2, 3, 250, 1, 255, 256, 257, 511, 4096, 4000, 1, 77];
  let i = 0;
  for (let k = 0; i < TOTAL; k++) {
    const n = Math.min(sizes[k % sizes.length]!, TOTAL - i);
    const chunk = Array.from({ length: n }, (_, j) => fakeEntry(i + j, { name: org.name, keyHash: orgKeyHash }));
    submitted.push(...chunk);
    const answers = await Promise.all(chunk.map((b) => seq.submit({ signed: parseSignedEntry(b), authorKey: org.vkey })));
    answers.forEach((a, j) => expect(a.index).toBe(1 + i + j));
    i += n;
  }
  submitted = [t.init.anchor, ...submitted];
}, 120_000);

afterAll(async () => {
  await log?.close();
  t?.cleanup();
});

const expectedCache = new Map<string, Uint8Array>();

/** RFC 6962 hashes of tile L/N (width w), from the leaves (memoised: a tile path names fixed bytes). */
function expectedTile(leaves: Uint8Array, tile: Tile): Uint8Array {
  const key = tilePath(tile);
  let out = expectedCache.get(key);
  if (out === undefined) expectedCache.set(key, (out = computeTile(leaves, tile)));
  return out;
}

function computeTile(leaves: Uint8Array, tile: Tile): Uint8Array {
  const span = 256 ** tile.level;
  const out = new Uint8Array(tile.width * 32);
  for (let i = 0; i < tile.width; i++) {
    const lo = (tile.n * 256 + i) * span;
    const h = span === 1 ? leaves.slice(lo * 32, lo * 32 + 32) : rootFromLeafHashes(leaves.subarray(lo * 32, (lo + span) * 32));
    out.set(h, i * 32);
  }
  return out;
}

describe('tlog-tiles over HTTP, against an independent recomputation', () => {
  let size: number;
  let root: Uint8Array;
  let entries: Uint8Array[];
  let leaves: Uint8Array;

  it('serves a checkpoint signed by the log key over every entry', async () => {
    const r = await get('/checkpoint');
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(r.headers.get('access-control-allow-origin')).toBe('*');
    const note = new Uint8Array(await r.arrayBuffer());
    const cp = openCheckpoint(note, newVerifier(t.init.logVkey), t.init.origin).checkpoint;
    size = cp.size;
    root = cp.root;
    expect(size).toBe(TOTAL + 1);
    expect(commits.at(-1)!.size).toBe(size);
  });

  it('serves every entry bundle, holding exactly the submitted entries', async () => {
    entries = [];
    for (const b of entryBundlesForSize(size)) {
      const data = await bytes('/' + tilePath(b));
      const got = decodeEntryBundle(data, b.width);
      expect(Buffer.from(data).equals(Buffer.from(encodeEntryBundle(got)))).toBe(true);
      entries.push(...got);
    }
    expect(entries.length).toBe(size);
    entries.forEach((e, i) => expect(Buffer.from(e).equals(Buffer.from(submitted[i]!)), `entry ${i}`).toBe(true));
    leaves = new Uint8Array(size * 32);
    entries.forEach((e, i) => leaves.set(leafHash(e), i * 32));
    expect(Buffer.from(rootFromLeafHashes(leaves)).equals(Buffer.from(root))).toBe(true);
  });

  it('serves every hash tile of the tree, byte for byte as recomputed', async () => {
    const all = tilesForSize(size);
    expect(all.some((x) => x.level === 1 && x.width === 256)).toBe(true); // a full level-1 tile
    expect(all.some((x) => x.level === 2)).toBe(true);
    for (const tile of all) {
      const got = await bytes('/' + tilePath(tile));
      expect(Buffer.from(got).equals(Buffer.from(expectedTile(leaves, tile))), tilePath(tile)).toBe(true);
    }
  });

  it('serves the partial tiles of every earlier checkpoint, unchanged', async () => {
    let checked = 0;
    const tree = new TreeBuilder(); // each checkpoint's root, recomputed incrementally
    for (const c of commits) {
      while (tree.size < c.size) tree.append(leaves.slice(tree.size * 32, tree.size * 32 + 32));
      for (const tile of partialTiles(c.size)) {
        const got = await bytes('/' + tilePath(tile));
        expect(Buffer.from(got).equals(Buffer.from(expectedTile(leaves, tile))), `${tilePath(tile)} of size ${c.size}`).toBe(true);
        checked++;
      }
      // Each checkpoint note is what was signed for that size, with the recomputed root.
      const cp = openCheckpoint(c.note, newVerifier(t.init.logVkey), t.init.origin).checkpoint;
      expect(cp.size).toBe(c.size);
      expect(Buffer.from(cp.root).equals(Buffer.from(tree.root()))).toBe(true);
    }
    expect(checked).toBeGreaterThan(commits.length);
  });

  it('serves tiles that client-sdk tileHashReader authenticates against the checkpoint', async () => {
    let fetched = 0;
    const reader = tileHashReader(
      { size, root },
      {
        readTiles: async (tiles) => {
          fetched += tiles.length;
          return Promise.all(tiles.map((x) => bytes('/' + tilePath(x))));
        },
      },
    );
    for (const b of entryBundlesForSize(size)) {
      await verifyEntryBundle(b, entries.slice(b.n * 256, b.n * 256 + b.width), reader);
    }
    expect(fetched).toBeGreaterThan(256);
    // Inclusion proofs computed by the client from authenticated tiles equal the server's JSON ones.
    for (const index of [0, 1, 255, 256, 65_535, 65_536, size - 1]) {
      const mine = await proveInclusion(size, index, reader);
      const r = (await (await get(`/proof/inclusion?index=${index}&size=${size}`)).json()) as { index: number; size: number; proof: string[] };
      expect(r.proof.map((h) => toBase64(fromBase64(h)))).toEqual(mine.map(toBase64));
    }
  });

  it('answers inclusion and consistency proofs that verify against signed checkpoints', async () => {
    const sample = commits.filter((_, i) => i % 5 === 0 || i === commits.length - 1);
    for (const c of sample) {
      const cp = parseCheckpoint(new TextDecoder().decode(c.note).split('\n\n')[0]! + '\n');
      for (const index of [0, Math.floor(c.size / 2), c.size - 1]) {
        const r = await get(`/proof/inclusion?index=${index}&size=${c.size}`);
        expect(r.headers.get('cache-control')).toContain('immutable');
        const body = (await r.json()) as { index: number; size: number; proof: string[] };
        expect(body.index).toBe(index);
        expect(body.size).toBe(c.size);
        verifyInclusion(leafHash(entries[index]!), index, c.size, body.proof.map((h) => fromBase64(h)), cp.root);
        const bad = body.proof.map((h) => fromBase64(h));
        if (bad.length > 0) {
          bad[0]![0]! ^= 1;
          expect(() => verifyInclusion(leafHash(entries[index]!), index, c.size, bad, cp.root)).toThrow();
        }
      }
      const r = await get(`/proof/consistency?old=${c.size}&new=${size}`);
      const body = (await r.json()) as { old: number; new: number; proof: string[] };
      expect([body.old, body.new]).toEqual([c.size, size]);
      verifyConsistency(c.size, size, body.proof.map((h) => fromBase64(h)), cp.root, root);
    }
  });
});
