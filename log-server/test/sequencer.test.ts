// The sequencer with faults injected into a real SQLite store: an error of unknown outcome after
// the batch committed (answered as success), before it committed (answered 503, nothing signed
// twice), storage unreadable for a while; another writer (stop for good); a lost lock. Also
// batching (one commit for many submissions, maxBatch respected, group commit), close() sequencing what is
// pending, and the right-edge root against client-sdk's incremental tree.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toBase64 } from '@concord/client-sdk/bytes';
import { parseSignedEntry } from '@concord/client-sdk/entries';
import { leafHash, TreeBuilder } from '@concord/client-sdk/merkle';
import { nobleEd25519Verify } from '@concord/client-sdk/note';
import { appendTiles, partialTiles } from '@concord/client-sdk/tiles';
import { asyncVerify, nativeSigner } from '@concord/log-server/ed25519-native';
import { ServerError } from '@concord/log-server/http-errors';
import { LogState } from '@concord/log-server/log-state';
import type { Precheck } from '@concord/log-server/log-state';
import { appendToRange, compactRangeFromEdge, edgeAfter, rootFromEdge, rootFromRange, Sequencer } from '@concord/log-server/sequencer';
import type { Committed } from '@concord/log-server/sequencer';
import { openStore, StorageError } from '@concord/log-server/storage/index';
import type { Batch, LogStore, SequencerLock } from '@concord/log-server/storage/index';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseSignerKey } from '@concord/client-sdk/note';
import { createTestLog, endorsement, ORIGIN } from './helpers.js';
import type { TestLog } from './helpers.js';

interface Faults {
  /** Next appendBatch: commit, then throw a plain Error (unknown outcome, landed). */
  afterCommit?: boolean;
  /** Next appendBatch: throw a plain Error without committing (unknown outcome, not landed). */
  beforeCommit?: boolean;
  /** Next appendBatch: throw this StorageError without committing. */
  storageError?: StorageError;
  /** size() fails this many times. */
  sizeFailures?: number;
  lost?: (err: Error) => void;
}

function faulty(store: LogStore, f: Faults): LogStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'appendBatch') {
        return async (b: Batch) => {
          if (f.storageError) {
            const e = f.storageError;
            f.storageError = undefined;
            throw e;
          }
          if (f.beforeCommit) {
            f.beforeCommit = false;
            throw new Error('connection reset before COMMIT');
          }
          await target.appendBatch(b);
          if (f.afterCommit) {
            f.afterCommit = false;
            throw new Error('connection reset after COMMIT');
          }
        };
      }
      if (prop === 'size') {
        return async () => {
          if ((f.sizeFailures ?? 0) > 0) {
            f.sizeFailures!--;
            throw new Error('storage unreachable');
          }
          return target.size();
        };
      }
      if (prop === 'acquireSequencerLock') {
        return async (): Promise<SequencerLock> => {
          const lock = await target.acquireSequencerLock();
          const lost = new Promise<Error>((resolve) => (f.lost = resolve));
          return { lost, release: () => lock.release() };
        };
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

let t: TestLog;
let store: LogStore;
let state: LogState;
let seq: Sequencer;
let faults: Faults;
let commits: Committed[];
let fatal: unknown[];

async function start(o: { maxBatch?: number; maxDelayMs?: number } = {}): Promise<void> {
  state = new LogState({ origin: ORIGIN, verify: nobleEd25519Verify, verifyAsync: asyncVerify(nobleEd25519Verify) });
  const skey = readFileSync(path.join(t.dir, 'log.key'), 'utf8').trim();
  seq = await Sequencer.start({
    store: faulty(store, faults),
    signer: nativeSigner(skey),
    publicKey: parseSignerKey(skey).publicKey,
    state,
    maxBatch: o.maxBatch,
    maxDelayMs: o.maxDelayMs ?? 2,
    retryDelayMs: 1,
    onCommit: (c) => commits.push(c),
    onFatal: (e) => fatal.push(e),
  });
}

beforeEach(async () => {
  t = await createTestLog();
  store = await openStore(t.init.storeUrl);
  faults = {};
  commits = [];
  fatal = [];
  await start();
});
afterEach(async () => {
  await seq.close().catch(() => {});
  await store.close();
  t.cleanup();
});

async function pre(i: number): Promise<Precheck> {
  return state.precheck(parseSignedEntry(endorsement(t.fixture.orgs[i % 3]!)));
}

async function settle<T>(p: Promise<T>): Promise<T | string> {
  try {
    return await p;
  } catch (e) {
    return `${(e as Error).name} ${(e as { code?: string }).code}`;
  }
}

describe('sequencer', () => {
  it('batches concurrent submissions into few commits, at most maxBatch each', async () => {
    await seq.close();
    await start({ maxBatch: 16, maxDelayMs: 20 });
    const ps = await Promise.all(Array.from({ length: 100 }, (_, i) => pre(i)));
    const rs = await Promise.all(ps.map((p) => seq.submit(p)));
    expect(rs.map((r) => r.index)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(commits.length).toBeGreaterThanOrEqual(7);
    expect(commits.length).toBeLessThanOrEqual(10);
    for (const c of commits) expect(c.size - c.start).toBeLessThanOrEqual(16);
    expect(await store.size()).toBe(101);
  });

  it('group commit: what pooled while a batch committed is sequenced right after it, without waiting maxDelayMs', async () => {
    await seq.close();
    await start({ maxBatch: 2, maxDelayMs: 60_000 });
    const ps = await Promise.all([pre(0), pre(1), pre(2)]);
    const t0 = performance.now();
    // Two fill a batch at once; the third pools while that batch commits.
    const rs = await Promise.all(ps.map((p) => seq.submit(p)));
    expect(performance.now() - t0).toBeLessThan(30_000); // not the minute a lone entry may wait
    expect(rs.map((r) => r.index)).toEqual([1, 2, 3]);
    expect(commits.map((c) => [c.start, c.size])).toEqual([
      [1, 3],
      [3, 4],
    ]);
  });

  it('answers success when the batch committed although appendBatch failed', async () => {
    faults.afterCommit = true;
    faults.sizeFailures = 2; // and storage is unreachable for a moment
    const ps = await Promise.all([pre(0), pre(1), pre(2)]);
    const rs = await Promise.all(ps.map((p) => seq.submit(p)));
    expect(rs.map((r) => r.index).sort()).toEqual([1, 2, 3]);
    expect(await store.size()).toBe(4);
    expect(commits.length).toBe(1);
    // It goes on from the committed state.
    expect((await seq.submit(await pre(3))).index).toBe(4);
    expect(fatal).toEqual([]);
  });

  it('answers 503 when the batch did not commit, and signs that size again only for a batch that commits', async () => {
    faults.beforeCommit = true;
    const p = await pre(0);
    expect(await settle(seq.submit(p))).toBe('ServerError unavailable');
    expect(await store.size()).toBe(1);
    expect(commits).toEqual([]);
    const again = await seq.submit(p); // a retry
    expect(again.index).toBe(1);
    expect(toBase64(again.leafHash)).toBe(toBase64(p.signed.leafHash));
    const cp = await store.readCheckpoint(2);
    expect(Buffer.from(cp!.note).equals(Buffer.from(commits[0]!.note))).toBe(true);
    expect(fatal).toEqual([]);
  });

  it('stops, answering 503, when storage stays unreadable after an error of unknown outcome', async () => {
    faults.afterCommit = true;
    faults.sizeFailures = 1000;
    const ps = await Promise.all([pre(0), pre(1)]);
    const rs = await Promise.all(ps.map((p) => settle(seq.submit(p))));
    expect(rs).toEqual(['ServerError unavailable', 'ServerError unavailable']);
    expect(fatal.length).toBe(1);
    expect(seq.running).toBe(false);
    // The batch did land: after a restart its entries are there, and retries find them.
    faults.sizeFailures = 0;
    await seq.close();
    await start();
    expect((await seq.submit(ps[1]!)).index).toBe(2);
    expect(await store.size()).toBe(3);
  });

  it('stops for good when another writer appended, refusing everything after', async () => {
    faults.storageError = new StorageError('size-mismatch', 'another writer');
    expect(await settle(seq.submit(await pre(0)))).toBe('ServerError unavailable');
    await new Promise((r) => setTimeout(r, 10));
    expect(fatal.length).toBe(1);
    expect(seq.running).toBe(false);
    expect(await settle(seq.submit(await pre(1)))).toBe('ServerError unavailable');
    expect(await store.size()).toBe(1);
  });

  it('stops when the lock is lost', async () => {
    faults.lost!(new Error('connection to PostgreSQL lost'));
    await new Promise((r) => setTimeout(r, 10));
    expect(fatal.length).toBe(1);
    const e = await seq.submit(await pre(0)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ServerError);
  });

  it('sequences pending submissions on close', async () => {
    await seq.close();
    await start({ maxDelayMs: 10_000 });
    const ps = await Promise.all([pre(0), pre(1)]);
    const answers = ps.map((p) => seq.submit(p));
    await seq.close();
    expect((await Promise.all(answers)).map((r) => r.index)).toEqual([1, 2]);
    expect(await settle(seq.submit(await pre(2)))).toBe('ServerError unavailable');
  });
});

describe('the right edge', () => {
  it('gives the RFC 6962 root of every size, as client-sdk TreeBuilder does', () => {
    const tree = new TreeBuilder();
    let size = 0;
    let edge: Uint8Array[] = [];
    let range: Uint8Array[] = [];
    let step = 1;
    while (size < 70_000) {
      const leaves = Array.from({ length: step }, (_, i) => leafHash(new Uint8Array([size + i, (size + i) >> 8, (size + i) >> 16])));
      const tiles = appendTiles(size, edge, leaves);
      edge = edgeAfter(size, edge, size + step, tiles);
      range = appendToRange(size, range, leaves);
      for (const l of leaves) tree.append(l);
      size += step;
      expect(edge.length).toBe(partialTiles(size).length);
      expect(toBase64(rootFromEdge(size, edge)), `size ${size}`).toBe(toBase64(tree.root()));
      // The incrementally kept compact range is the one read off the edge, and gives the same root.
      expect(range.map(toBase64)).toEqual(compactRangeFromEdge(size, edge).map(toBase64));
      expect(range.length).toBe(size.toString(2).replaceAll('0', '').length);
      expect(toBase64(rootFromRange(range))).toBe(toBase64(tree.root()));
      step = step > 5000 ? 1 : step * 3 + 1;
    }
    expect(toBase64(rootFromEdge(0, []))).toBe(toBase64(new TreeBuilder().root()));
  });
});
