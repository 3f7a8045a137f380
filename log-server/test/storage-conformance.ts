// The storage conformance suite: every LogStore driver must pass it unchanged
// (storage-sqlite.test.ts, storage-postgres.test.ts).
//
// Batches are built the way the sequencer builds them — client-sdk's appendTiles over the
// right edge — by an in-memory model of the log, and what the store returns is checked against
// an independent RFC 6962 recomputation written here with node:crypto (tile hash i of tile L/N
// is MTH of leaves [(N·256 + i)·256^L, (N·256 + i + 1)·256^L)). Every failure case also checks
// that nothing at all changed.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { appendTiles, encodeEntryBundle, partialTiles, tilesForSize, TILE_WIDTH } from '@concord/client-sdk/tiles';
import type { Tile, TileWithData } from '@concord/client-sdk/tiles';
import { openStore, StorageError, utcDay } from '@concord/log-server/storage/index';
import type { Batch, LogStore, StorageErrorCode } from '@concord/log-server/storage/index';

/** A freshly created, empty log, and the URL that opens it again (as a second server would). */
export interface StoreFixture {
  readonly store: LogStore;
  readonly url: string;
}

// ---------------------------------------------------------------------------------------------
// Independent RFC 6962 reference (node:crypto)

const sha256 = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};
const refLeaf = (d: Uint8Array): Uint8Array => sha256(Uint8Array.of(0), d);

/** MTH over leaf hashes (RFC 6962 §2.1: split at the largest power of two below n). */
function refRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha256();
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return sha256(Uint8Array.of(1), refRoot(leaves.slice(0, k)), refRoot(leaves.slice(k)));
}

/** The expected bytes of hash tile (level, n, width) of a tree with these leaves. */
function refTile(leaves: readonly Uint8Array[], t: Tile): Uint8Array {
  const span = TILE_WIDTH ** t.level;
  const out = new Uint8Array(t.width * 32);
  for (let i = 0; i < t.width; i++) {
    const lo = (t.n * TILE_WIDTH + i) * span;
    out.set(refRoot(leaves.slice(lo, lo + span)), i * 32);
  }
  return out;
}

/** u16-length-prefixed entries, written independently of client-sdk's encoder. */
function refBundle(entries: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(entries.reduce((n, e) => n + 2 + e.length, 0));
  let at = 0;
  for (const e of entries) {
    new DataView(out.buffer).setUint16(at, e.length);
    out.set(e, at + 2);
    at += 2 + e.length;
  }
  return out;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const text = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

// ---------------------------------------------------------------------------------------------
// A model of the log that builds batches as the sequencer does

class LogModel {
  readonly entries: Uint8Array[] = [];
  readonly leaves: Uint8Array[] = [];
  /** Widest data per tile "level/n", as the store keeps it. */
  private readonly tiles = new Map<string, Uint8Array>();
  private readonly salt = hex(randomBytes(6));
  private counter = 0;

  get size(): number {
    return this.entries.length;
  }

  /** Distinct entry bytes of varied lengths (0 and up to a few hundred bytes). */
  data(n: number, tag = 'e'): Uint8Array[] {
    return Array.from({ length: n }, () => {
      const i = this.counter++;
      return text(`${tag} ${this.salt} ${i} ${'x'.repeat(i % 97)}`);
    });
  }

  edge(size = this.size): Uint8Array[] {
    return partialTiles(size).map((t) => this.tiles.get(`${t.level}/${t.n}`)!.slice(0, t.width * 32));
  }

  batch(datas: readonly Uint8Array[], note?: Uint8Array): Batch {
    const start = this.size;
    const leafHashes = datas.map(refLeaf);
    const size = start + datas.length;
    return {
      expectedSize: start,
      entries: datas.map((data, i) => ({ index: start + i, data, leafHash: leafHashes[i]! })),
      tiles: appendTiles(start, this.edge(), leafHashes),
      checkpoint: { size, note: note ?? text(`example.org/log\n${size}\n${hex(randomBytes(8))}\n\n— example.org/log sig\n`) },
    };
  }

  commit(b: Batch): void {
    for (const e of b.entries) {
      this.entries.push(e.data);
      this.leaves.push(e.leafHash);
    }
    for (const t of b.tiles) this.tiles.set(`${t.tile.level}/${t.tile.n}`, t.data);
  }

  /** Builds, appends and commits a batch of n fresh entries. */
  async grow(store: LogStore, n: number): Promise<Batch> {
    const b = this.batch(this.data(n));
    await store.appendBatch(b);
    this.commit(b);
    return b;
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

async function expectCode(p: Promise<unknown>, code: StorageErrorCode): Promise<StorageError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected StorageError '${code}'`).toBeInstanceOf(StorageError);
  expect((caught as StorageError).code).toBe(code);
  return caught as StorageError;
}

/** Everything observable about the log's contents, to prove a failure changed nothing. */
async function snapshot(store: LogStore): Promise<unknown> {
  const size = await store.size();
  const tiles = [...tilesForSize(size), ...tilesForSize(size + 300)];
  const nextBundle = Math.floor(size / TILE_WIDTH);
  return {
    size,
    entries: (await store.readEntries(0, size)).map(hex),
    // Nothing past the end: not the next entry, not a wider tile, not a later checkpoint.
    next: await store.readEntryBundle(nextBundle, size - nextBundle * TILE_WIDTH + 1),
    tiles: (await store.readTiles(tiles)).map((t) => (t === null ? null : hex(t))),
    checkpoint: await store.latestCheckpoint().then((c) => c && { size: c.size, note: hex(c.note) }),
    later: await Promise.all(Array.from({ length: 20 }, (_, i) => store.readCheckpoint(size + 1 + i))),
  };
}

/** The stored state must equal the model exactly, checked against the independent reference. */
async function expectMatchesModel(store: LogStore, model: LogModel): Promise<void> {
  const size = model.size;
  expect(await store.size()).toBe(size);
  expect((await store.readEntries(0, size)).map(hex)).toEqual(model.entries.map(hex));
  const all = tilesForSize(size);
  const got = await store.readTiles(all);
  all.forEach((t, i) => expect(hex(got[i]!), `tile ${t.level}/${t.n}.p/${t.width}`).toBe(hex(refTile(model.leaves, t))));
  for (let n = 0; n * TILE_WIDTH < size; n++) {
    const width = Math.min(TILE_WIDTH, size - n * TILE_WIDTH);
    const b = await store.readEntryBundle(n, width);
    expect(b && hex(b), `bundle ${n}.p/${width}`).toBe(hex(refBundle(model.entries.slice(n * TILE_WIDTH, n * TILE_WIDTH + width))));
  }
  expect(await store.findLeafHashes(model.leaves)).toEqual(model.leaves.map((_, i) => i));
}

const HOOKS = new URL('./storage-ts-hooks.mjs', import.meta.url).href;
const LOCK_CHILD = fileURLToPath(new URL('./storage-lock-child.ts', import.meta.url));

/** Starts a child process that opens `url` and takes the sequencer lock; resolves with its report. */
function spawnLockHolder(url: string): Promise<{ child: ChildProcess; report: string }> {
  const register = `data:text/javascript,import{register}from'node:module';register(${JSON.stringify(HOOKS)});`;
  const child = spawn(process.execPath, ['--conditions=source', '--import', register, LOCK_CHILD, url], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`lock child did not report in time; stderr: ${err}`));
    }, 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve({ child, report: out.slice(0, nl) });
      }
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`lock child exited with ${code}; stderr: ${err}`));
    });
  });
}

async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** Acquires the lock, retrying for a while: a killed holder's lock is freed by the OS / server, not instantly by us. */
async function acquireEventually(store: LogStore, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await store.acquireSequencerLock();
    } catch (err) {
      if (!(err instanceof StorageError && err.code === 'locked') || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The suite

export function runStorageConformance(makeStore: () => Promise<StoreFixture>): void {
  const opened: LogStore[] = [];
  const children: ChildProcess[] = [];
  const fresh = async (): Promise<StoreFixture> => {
    const f = await makeStore();
    opened.push(f.store);
    return f;
  };
  const reopen = async (url: string): Promise<LogStore> => {
    const s = await openStore(url);
    opened.push(s);
    return s;
  };
  afterEach(async () => {
    for (const c of children.splice(0)) await killHard(c);
    for (const s of opened.splice(0)) await s.close();
  });

  describe('entries, tiles and checkpoints', () => {
    it('a new log is empty', async () => {
      const { store } = await fresh();
      expect(await store.size()).toBe(0);
      expect(await store.latestCheckpoint()).toBeNull();
      expect(await store.readCheckpoint(0)).toBeNull();
      expect(await store.readEntries(0, 0)).toEqual([]);
      expect(await store.readTiles([{ level: 0, n: 0, width: 1 }])).toEqual([null]);
      expect(await store.readEntryBundle(0, 1)).toBeNull();
      expect(await store.findLeafHashes([refLeaf(text('x'))])).toEqual([null]);
    });

    it('appends batches across tile boundaries and reads everything back exactly', async () => {
      const { store, url } = await fresh();
      const model = new LogModel();
      // 1, then to 255 (one short of a full tile), 256 (full), 257, a multi-tile batch, 3·256+5.
      for (const n of [1, 254, 1, 1, 600, 166]) {
        const b = await model.grow(store, n);
        const cp = await store.latestCheckpoint();
        expect(cp?.size).toBe(model.size);
        expect(hex(cp!.note)).toBe(hex(b.checkpoint.note));
        expect(cp!.cosignatures).toEqual([]);
      }
      expect(model.size).toBe(1023);
      await expectMatchesModel(store, model);
      // The same through a second handle, as another server process would see it.
      await expectMatchesModel(await reopen(url), model);
      // Entries with zero bytes and with the maximum 65,535 bytes are stored exactly.
      const big = new Uint8Array(65_535).map((_, i) => (i * 7) & 0xff);
      const b = model.batch([new Uint8Array(0), big]);
      await store.appendBatch(b);
      model.commit(b);
      expect((await store.readEntries(1023, 1025)).map(hex)).toEqual([hex(new Uint8Array(0)), hex(big)]);
      await expectMatchesModel(store, model);
    });

    it('serves every past partial tile and bundle as a prefix of the stored data', async () => {
      const { store } = await fresh();
      const model = new LogModel();
      const snapshots: { size: number; tiles: { t: Tile; data: string }[]; bundle: string }[] = [];
      for (const n of [5, 100, 151, 3, 300]) {
        const b = await model.grow(store, n);
        snapshots.push({
          size: model.size,
          tiles: b.tiles.map((t: TileWithData) => ({ t: t.tile, data: hex(t.data) })),
          bundle: hex(refBundle(model.entries.slice(Math.floor((model.size - 1) / 256) * 256))),
        });
      }
      // Each size's published tiles and last bundle are still served byte for byte.
      for (const s of snapshots) {
        const got = await store.readTiles(s.tiles.map((x) => x.t));
        expect(got.map((g) => g && hex(g))).toEqual(s.tiles.map((x) => x.data));
        const lastN = Math.floor((s.size - 1) / 256);
        const b = await store.readEntryBundle(lastN, s.size - lastN * 256);
        expect(b && hex(b)).toBe(s.bundle);
      }
      // Tile 0/0 went 5 → 105 → 256 (full, immutable); beyond the tree there is nothing.
      expect(model.size).toBe(559);
      const [p5, full, beyond, next, lvl1, lvl1Wide] = await store.readTiles([
        { level: 0, n: 0, width: 5 },
        { level: 0, n: 0, width: 256 },
        { level: 0, n: 2, width: 48 }, // tree has 559 = 2·256 + 47 leaves
        { level: 0, n: 2, width: 47 },
        { level: 1, n: 0, width: 2 },
        { level: 1, n: 0, width: 3 },
      ]);
      expect(hex(p5!)).toBe(hex(refTile(model.leaves.slice(0, 5), { level: 0, n: 0, width: 5 })));
      expect(hex(full!)).toBe(hex(refTile(model.leaves, { level: 0, n: 0, width: 256 })));
      expect(beyond).toBeNull();
      expect(hex(next!)).toBe(hex(refTile(model.leaves, { level: 0, n: 2, width: 47 })));
      expect(hex(lvl1!)).toBe(hex(refTile(model.leaves, { level: 1, n: 0, width: 2 })));
      expect(lvl1Wide).toBeNull();
      expect(await store.readEntryBundle(2, 48)).toBeNull();
      expect(await store.readEntryBundle(3, 1)).toBeNull();
      expect(hex((await store.readEntryBundle(0, 256))!)).toBe(hex(encodeEntryBundle(model.entries.slice(0, 256))));
    });

    it('lets a restarted sequencer resume from the stored right edge', async () => {
      const { store, url } = await fresh();
      const model = new LogModel();
      await model.grow(store, 300);
      await model.grow(store, 17);
      await store.close();
      const again = await reopen(url);
      const size = await again.size();
      expect(size).toBe(317);
      const edge = await again.readTiles(partialTiles(size));
      expect(edge.map((e) => e && hex(e))).toEqual(model.edge().map(hex));
      // Continue from what the store says, not from the model.
      const datas = model.data(500);
      const leafHashes = datas.map(refLeaf);
      const b: Batch = {
        expectedSize: size,
        entries: datas.map((data, i) => ({ index: size + i, data, leafHash: leafHashes[i]! })),
        tiles: appendTiles(size, edge as Uint8Array[], leafHashes),
        checkpoint: { size: size + 500, note: text('resumed') },
      };
      await again.appendBatch(b);
      model.commit(b);
      await expectMatchesModel(again, model);
    });

    it('stores the first checkpoint of the empty tree, once', async () => {
      const { store } = await fresh();
      const model = new LogModel();
      const b = model.batch([], text('empty tree'));
      expect(b.tiles).toEqual([]);
      await store.appendBatch(b);
      expect(await store.size()).toBe(0);
      expect(hex((await store.readCheckpoint(0))!.note)).toBe(hex(text('empty tree')));
      await expectCode(store.appendBatch(model.batch([], text('another root'))), 'checkpoint-exists');
      expect(hex((await store.latestCheckpoint())!.note)).toBe(hex(text('empty tree')));
      await model.grow(store, 3);
      await expectMatchesModel(store, model);
    });
  });

  describe('the batch contract', () => {
    it('refuses a batch whose expected size is not the stored size, changing nothing', async () => {
      const { store } = await fresh();
      const model = new LogModel();
      await model.grow(store, 10);
      const before = await snapshot(store);
      const stale = { ...model.batch(model.data(3)), expectedSize: 9 };
      // A batch built for size 9 (its entries numbered from 9) and one from the future (11).
      const behind: Batch = {
        expectedSize: 9,
        entries: stale.entries.map((e, i) => ({ ...e, index: 9 + i })),
        tiles: appendTiles(9, model.edge(9), stale.entries.map((e) => e.leafHash)),
        checkpoint: { size: 12, note: text('behind') },
      };
      await expectCode(store.appendBatch(behind), 'size-mismatch');
      const ahead = new LogModel();
      for (let i = 0; i < 11; i++) ahead.commit(ahead.batch(ahead.data(1)));
      await expectCode(store.appendBatch(ahead.batch(ahead.data(2))), 'size-mismatch');
      expect(await snapshot(store)).toEqual(before);
      await model.grow(store, 1);
      await expectMatchesModel(store, model);
    });

    it('keeps exactly one checkpoint per size: a second one fails and changes nothing', async () => {
      const { store } = await fresh();
      const model = new LogModel();
      const first = await model.grow(store, 4);
      const before = await snapshot(store);
      await expectCode(store.appendBatch(model.batch([], text('a second root for size 4'))), 'checkpoint-exists');
      expect(await snapshot(store)).toEqual(before);
      expect(hex((await store.readCheckpoint(4))!.note)).toBe(hex(first.checkpoint.note));
    });

    it('lets exactly one of two racing writers commit at the same size', async () => {
      const { store, url } = await fresh();
      const other = await reopen(url);
      const model = new LogModel();
      await model.grow(store, 7);
      const a = model.batch(model.data(5, 'a'), text('root A'));
      const b = model.batch(model.data(6, 'b'), text('root B'));
      const results = await Promise.allSettled([store.appendBatch(a), other.appendBatch(b)]);
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won).toHaveLength(1);
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(lost.reason).toBeInstanceOf(StorageError);
      expect(['size-mismatch', 'checkpoint-exists']).toContain((lost.reason as StorageError).code);
      const winner = results[0]!.status === 'fulfilled' ? a : b;
      model.commit(winner);
      await expectMatchesModel(store, model);
      expect(hex((await store.latestCheckpoint())!.note)).toBe(hex(winner.checkpoint.note));
      expect(await store.readCheckpoint(winner === a ? 13 : 12)).toBeNull();
    });

    it('deduplicates by leaf hash: lookups find the existing index, and a batch repeating an entry fails whole', async () => {
      const { store } = await fresh();
      const model = new LogModel();
      await model.grow(store, 20);
      const lookups = await store.findLeafHashes([model.leaves[13]!, refLeaf(text('never added')), model.leaves[0]!, model.leaves[13]!]);
      expect(lookups).toEqual([13, null, 0, 13]);
      const before = await snapshot(store);
      // Two new entries, then a repeat of entry 13: the new ones must not survive either.
      const fresh2 = model.data(2);
      await expectCode(store.appendBatch(model.batch([...fresh2, model.entries[13]!])), 'duplicate-entry');
      expect(await store.findLeafHashes(fresh2.map(refLeaf))).toEqual([null, null]);
      // A repeat inside one batch.
      const dup = model.data(1);
      await expectCode(store.appendBatch(model.batch([dup[0]!, dup[0]!])), 'duplicate-entry');
      expect(await snapshot(store)).toEqual(before);
    });

    it('is atomic: a batch whose tiles conflict with stored hashes leaves nothing behind', async () => {
      const { store } = await fresh();
      const model = new LogModel();
      await model.grow(store, 40);
      const before = await snapshot(store);
      const b = model.batch(model.data(10));
      // The grown partial tile 0/0.p/50 with one of the 40 already-published hashes flipped:
      // it passes the shape checks and fails only against the stored prefix, after the
      // entries were inserted in the same transaction.
      const tiles = b.tiles.map((t) => {
        if (t.tile.level !== 0) return t;
        const data = t.data.slice();
        data[5 * 32 + 3]! ^= 0x01;
        return { tile: t.tile, data };
      });
      await expectCode(store.appendBatch({ ...b, tiles }), 'tile-conflict');
      expect(await snapshot(store)).toEqual(before);
      expect(await store.findLeafHashes(b.entries.map((e) => e.leafHash))).toEqual(b.entries.map(() => null));
      // The unmodified batch then goes through.
      await store.appendBatch(b);
      model.commit(b);
      await expectMatchesModel(store, model);
    });

    it('refuses malformed batches before touching the database', async () => {
      const { store } = await fresh();
      const model = new LogModel();
      await model.grow(store, 3);
      const before = await snapshot(store);
      const good = model.batch(model.data(4));
      const cases: [string, Batch][] = [
        ['wrong leaf hash', { ...good, entries: good.entries.map((e, i) => (i === 2 ? { ...e, leafHash: refLeaf(text('other')) } : e)) }],
        ['leaf hash of 31 bytes', { ...good, entries: good.entries.map((e, i) => (i === 0 ? { ...e, leafHash: e.leafHash.slice(1) } : e)) }],
        ['non-contiguous index', { ...good, entries: good.entries.map((e, i) => (i === 1 ? { ...e, index: 9 } : e)) }],
        ['checkpoint size ≠ expected + entries', { ...good, checkpoint: { size: 8, note: text('x') } }],
        ['empty note', { ...good, checkpoint: { size: 7, note: new Uint8Array(0) } }],
        ['a missing tile', { ...good, tiles: good.tiles.slice(1) }],
        ['an extra tile', { ...good, tiles: [...good.tiles, { tile: { level: 0, n: 1, width: 1 }, data: new Uint8Array(32) }] }],
        ['a short tile', { ...good, tiles: good.tiles.map((t) => ({ tile: t.tile, data: t.data.slice(32) })) }],
        ['an entry over 65,535 bytes', model.batch([new Uint8Array(65_536)])],
      ];
      for (const [what, b] of cases) {
        const err = await expectCode(store.appendBatch(b), 'bad-input');
        expect(err.message, what).not.toBe('');
      }
      expect(await snapshot(store)).toEqual(before);
      await store.appendBatch(good);
      model.commit(good);
      await expectMatchesModel(store, model);
    });

    it('rejects out-of-range reads', async () => {
      const { store } = await fresh();
      const model = new LogModel();
      await model.grow(store, 5);
      await expectCode(store.readEntries(3, 6), 'bad-input');
      await expectCode(store.readEntries(4, 3), 'bad-input');
      await expectCode(store.readEntries(-1, 2), 'bad-input');
      await expectCode(store.readEntries(0, 65_537), 'bad-input');
      await expectCode(store.readEntryBundle(0, 0), 'bad-input');
      await expectCode(store.readEntryBundle(0, 257), 'bad-input');
      await expectCode(store.readTiles([{ level: 0, n: 0, width: 0 }]), 'bad-input');
      await expectCode(store.readTiles([{ level: 64, n: 0, width: 1 }]), 'bad-input');
      await expectCode(store.findLeafHashes([new Uint8Array(31)]), 'bad-input');
    });
  });

  describe('cosignatures and published checkpoints', () => {
    const W = ['w1', 'w2', 'w3', 'w4'];
    const line = (w: string, t: number) => `— ${w} ${Buffer.from(`${w}@${t}`).toString('base64')}`;

    it('keeps the earliest and the latest cosignature per witness', async () => {
      const { store } = await fresh();
      const model = new LogModel();
      await model.grow(store, 2);
      for (const [w, t] of [['w1', 100], ['w1', 90], ['w1', 120], ['w1', 110], ['w2', 95], ['w1', 90], ['w1', 105]] as const) {
        await store.addCosignature({ size: 2, witness: w, time: t, line: line(w, t) });
      }
      const cp = await store.readCheckpoint(2);
      expect(cp!.cosignatures).toEqual([
        { witness: 'w1', firstTime: 90, firstLine: line('w1', 90), lastTime: 120, lastLine: line('w1', 120) },
        { witness: 'w2', firstTime: 95, firstLine: line('w2', 95), lastTime: 95, lastLine: line('w2', 95) },
      ]);
      expect((await store.latestCheckpoint())!.cosignatures).toEqual(cp!.cosignatures);
      await expectCode(store.addCosignature({ size: 3, witness: 'w1', time: 1, line: line('w1', 1) }), 'no-checkpoint');
      await expectCode(store.addCosignature({ size: 2, witness: 'w1', time: 1, line: 'two\nlines' }), 'bad-input');
      expect((await store.readCheckpoint(2))!.cosignatures).toEqual(cp!.cosignatures);
    });

    it('finds the earliest quorum-cosigned checkpoint containing an entry, and the latest', async () => {
      const { store } = await fresh();
      const model = new LogModel();
      const notes = new Map<number, string>();
      for (let i = 0; i < 8; i++) {
        const b = await model.grow(store, 3); // sizes 3, 6, …, 24
        notes.set(model.size, hex(b.checkpoint.note));
      }
      const cosign = (size: number, ws: string[], t: number) =>
        Promise.all(ws.map((w) => store.addCosignature({ size, witness: w, time: t, line: line(w, t) })));
      await cosign(3, W, 1000); //                 quorum
      await cosign(6, ['w1', 'w2'], 1010); //      2 of 4
      await cosign(9, ['w1', 'w2', 'x9'], 1020); // an unknown witness does not count
      await cosign(12, ['w2', 'w3', 'w4'], 1030); // quorum
      await cosign(15, ['w1', 'w3', 'w4'], 5000); // quorum, but dated late
      await cosign(21, ['w1', 'w2', 'w3'], 1040); // quorum
      const q = { witnesses: W, quorum: 3 };
      const earliest = async (entry: number, extra: Partial<typeof q> & { maxTime?: number } = {}) =>
        (await store.earliestQuorumCheckpoint(entry + 1, { ...q, ...extra }))?.size ?? null;
      expect(await earliest(0)).toBe(3);
      expect(await earliest(2)).toBe(3);
      expect(await earliest(3)).toBe(12); // 6 and 9 lack a quorum
      expect(await earliest(11)).toBe(12);
      expect(await earliest(12)).toBe(15);
      expect(await earliest(12, { maxTime: 4000 })).toBe(21);
      expect(await earliest(21)).toBeNull();
      expect(await earliest(3, { quorum: 2 })).toBe(6);
      expect(await earliest(3, { witnesses: ['w1', 'w2', 'x9'] })).toBe(9);
      expect(await earliest(0, { witnesses: ['w1', 'w2'], quorum: 3 })).toBeNull();
      const p = await store.earliestQuorumCheckpoint(4, q);
      expect(hex(p!.note)).toBe(notes.get(12));
      expect(p!.cosignatures.map((c) => c.witness)).toEqual(['w2', 'w3', 'w4']);
      expect((await store.latestQuorumCheckpoint(q))?.size).toBe(21);
      expect((await store.latestQuorumCheckpoint({ ...q, maxTime: 1040 }))?.size).toBe(21);
      expect((await store.latestQuorumCheckpoint({ ...q, maxTime: 1039 }))?.size).toBe(12);
      expect((await store.latestQuorumCheckpoint({ ...q, maxTime: 1029 }))?.size).toBe(3);
      expect((await store.latestQuorumCheckpoint({ witnesses: ['w4'], quorum: 1 }))?.size).toBe(15);
      expect(await store.latestQuorumCheckpoint({ witnesses: ['nobody'], quorum: 1 })).toBeNull();
      // A later cosignature on an old checkpoint keeps it (every cosigned checkpoint is kept).
      await cosign(6, ['w3'], 2000);
      expect(await earliest(3)).toBe(6);
      expect((await store.readCheckpoint(6))!.cosignatures.map((c) => [c.witness, c.firstTime])).toEqual([
        ['w1', 1010],
        ['w2', 1010],
        ['w3', 2000],
      ]);
    });
  });

  describe('witnesses, nonces, quotas and blobs', () => {
    it('records each witness’s acknowledged size', async () => {
      const { store } = await fresh();
      expect(await store.readWitnessState('w1')).toBeNull();
      await store.setWitnessState({ witness: 'w1', size: 10, updatedAt: 100 });
      await store.setWitnessState({ witness: 'w0', size: 4, updatedAt: 101 });
      await store.setWitnessState({ witness: 'w1', size: 12, updatedAt: 102 });
      expect(await store.readWitnessState('w1')).toEqual({ witness: 'w1', size: 12, updatedAt: 102 });
      // As the witness reports it: a witness that lost its state reports a smaller size.
      await store.setWitnessState({ witness: 'w1', size: 3, updatedAt: 103 });
      expect(await store.readWitnessStates()).toEqual([
        { witness: 'w0', size: 4, updatedAt: 101 },
        { witness: 'w1', size: 3, updatedAt: 103 },
      ]);
    });

    it('remembers nonces until they expire, atomically', async () => {
      const { store, url } = await fresh();
      const n1 = randomBytes(16);
      const n2 = randomBytes(16);
      expect(await store.rememberNonce('org-a', n1, 1600, 1000)).toBe(true);
      expect(await store.rememberNonce('org-a', n1, 1700, 1100)).toBe(false); // replay
      expect(await store.rememberNonce('org-b', n1, 1600, 1000)).toBe(true); // per key
      expect(await store.rememberNonce('org-a', n2, 1600, 1000)).toBe(true);
      // Remembered across a restart.
      const again = await reopen(url);
      expect(await again.rememberNonce('org-a', n1, 1700, 1599)).toBe(false);
      // Expired at 1600 (the first record was not extended by the refused replay).
      expect(await again.rememberNonce('org-a', n1, 2200, 1600)).toBe(true);
      expect(await again.rememberNonce('org-a', n1, 2300, 2199)).toBe(false);
      // Concurrent replays: exactly one wins.
      const n3 = randomBytes(16);
      const wins = await Promise.all([store, again, store, again].map((s) => s.rememberNonce('org-c', n3, 3000, 2000)));
      expect(wins.filter(Boolean)).toHaveLength(1);
      expect(await store.pruneNonces(1600)).toBe(2); // org-b/n1 and org-a/n2
      expect(await store.pruneNonces(1600)).toBe(0);
      expect(await store.rememberNonce('org-b', n1, 2000, 1601)).toBe(true);
      await expectCode(store.rememberNonce('org-a', new Uint8Array(0), 1, 0), 'bad-input');
    });

    it('charges quotas atomically against a limit, per period', async () => {
      const { store } = await fresh();
      const day = utcDay(1_700_000_000);
      expect(utcDay(86_400 * 5 - 1)).toBe(4);
      expect(utcDay(86_400 * 5)).toBe(5);
      const charge = (key: string, amount: number, period = day, limit = 1000) => store.chargeQuota({ scope: 'oprf', key, period, amount, limit });
      expect(await charge('org-a', 600)).toEqual({ allowed: true, used: 600 });
      expect(await charge('org-a', 401)).toEqual({ allowed: false, used: 600 });
      expect(await charge('org-a', 400)).toEqual({ allowed: true, used: 1000 });
      expect(await charge('org-a', 1)).toEqual({ allowed: false, used: 1000 });
      expect(await charge('org-a', 0)).toEqual({ allowed: true, used: 1000 });
      expect(await charge('org-b', 1001)).toEqual({ allowed: false, used: 0 });
      expect(await charge('org-a', 5, day + 1)).toEqual({ allowed: true, used: 5 }); // the next UTC day
      expect(await store.chargeQuota({ scope: 'add', key: 'org-a', period: day, amount: 1, limit: 1 })).toEqual({ allowed: true, used: 1 });
      expect(await store.readQuotas('oprf', day)).toEqual([{ key: 'org-a', used: 1000 }]);
      // Concurrent charges never overrun the limit.
      const results = await Promise.all(Array.from({ length: 40 }, () => charge('org-c', 1, day, 25)));
      expect(results.filter((r) => r.allowed)).toHaveLength(25);
      expect((await store.readQuotas('oprf', day)).find((q) => q.key === 'org-c')).toEqual({ key: 'org-c', used: 25 });
      expect(await store.pruneQuotas('oprf', day + 1)).toBe(2);
      expect(await store.readQuotas('oprf', day)).toEqual([]);
      expect(await store.readQuotas('oprf', day + 1)).toEqual([{ key: 'org-a', used: 5 }]);
      expect(await store.readQuotas('add', day)).toEqual([{ key: 'org-a', used: 1 }]);
    });

    it('records blob metadata once', async () => {
      const { store } = await fresh();
      const digest = sha256(text('blob'));
      expect(await store.getBlobMeta(digest)).toBeNull();
      expect(await store.putBlobMeta({ digest, size: 4, createdAt: 1000 })).toBe(true);
      expect(await store.putBlobMeta({ digest, size: 4, createdAt: 2000 })).toBe(false);
      await expectCode(store.putBlobMeta({ digest, size: 5, createdAt: 3000 }), 'conflict');
      const got = await store.getBlobMeta(digest);
      expect(got && { ...got, digest: hex(got.digest) }).toEqual({ digest: hex(digest), size: 4, createdAt: 1000 });
      await expectCode(store.putBlobMeta({ digest: digest.slice(1), size: 4, createdAt: 1 }), 'bad-input');
    });
  });

  describe('the sequencer lock', () => {
    it('is held by one store at a time and passes on when released or closed', async () => {
      const { store, url } = await fresh();
      const second = await reopen(url);
      const lock = await store.acquireSequencerLock();
      await expectCode(second.acquireSequencerLock(), 'locked');
      await expectCode(store.acquireSequencerLock(), 'locked');
      await lock.release();
      await lock.release(); // idempotent
      const lock2 = await second.acquireSequencerLock();
      await expectCode(store.acquireSequencerLock(), 'locked');
      void lock2;
      await second.close(); // closing releases it
      const lock3 = await store.acquireSequencerLock();
      let lostFired = false;
      void lock3.lost.then(() => (lostFired = true));
      await lock3.release();
      await new Promise((r) => setTimeout(r, 50));
      expect(lostFired).toBe(false); // releasing is not losing
    });

    it('is refused while another process holds it, and freed when that process is killed', async () => {
      const { store, url } = await fresh();
      const holder = await spawnLockHolder(url);
      children.push(holder.child);
      expect(holder.report).toBe('locked');
      await expectCode(store.acquireSequencerLock(), 'locked');
      // A second process is refused too.
      const refused = await spawnLockHolder(url);
      children.push(refused.child);
      expect(refused.report).toBe('refused locked');
      await killHard(holder.child); // SIGKILL: no cleanup runs in the holder
      const lock = await acquireEventually(store);
      await lock.release();
    });

    it('is refused to a child process while this one holds it', async () => {
      const { store, url } = await fresh();
      const lock = await store.acquireSequencerLock();
      const child = await spawnLockHolder(url);
      children.push(child.child);
      expect(child.report).toBe('refused locked');
      await lock.release();
    });
  });

  it('refuses every call once closed', async () => {
    const { store } = await fresh();
    await store.close();
    await store.close(); // idempotent
    await expectCode(store.size(), 'closed');
    await expectCode(store.acquireSequencerLock(), 'closed');
    await expectCode(store.readEntries(0, 0), 'closed');
  });
}
