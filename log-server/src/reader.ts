// The read side of a log server: the tree size, the latest checkpoint with its cosignatures,
// tiles and entry bundles (through a byte-bounded LRU cache: tile paths name immutable bytes),
// stored hashes for proofs, single entries, and the earliest quorum-cosigned checkpoint holding
// an entry.
//
// Where the size comes from: in the server that sequences, from the sequencer (memory, exact:
// nothing is visible before it committed). In a read-only server (another process holds the
// sequencer lock), from storage, re-read at most every `refreshMs`; a tile request beyond the
// size known forces a re-read (at most one at a time) so a read-only replica lags by at most that.

import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import { concatBytes, utf8 } from '@concord/client-sdk/bytes';
import { REQUEST_MAX_SKEW } from '@concord/client-sdk/entries';
import type { Hash, HashReader } from '@concord/client-sdk/merkle';
import { hashFromTile, tileForStoredHash, tilePath, TILE_WIDTH } from '@concord/client-sdk/tiles';
import type { TileCoord, Tile } from '@concord/client-sdk/tiles';
import { ByteLru } from './lru.js';
import type { LogState } from './log-state.js';
import type { Committed, Sequencer } from './sequencer.js';
import type { LogStore, StoredCheckpoint } from './storage/types.js';

const gzip = promisify(gzipCb);

export interface LogReaderOptions {
  readonly store: LogStore;
  readonly state: LogState;
  /** The sequencer, when this server sequences; absent in a read-only server. */
  readonly sequencer?: Sequencer;
  /** Bytes of tiles and bundles kept in memory (default 64 MiB). */
  readonly cacheBytes?: number;
  /** Read-only servers: how stale the size may get (default 500 ms). Also the cosignature refresh. */
  readonly refreshMs?: number;
  /** Unix seconds. */
  readonly now: () => number;
}

/** Bytes to serve, with their gzip encoding when one was asked for and worth it. */
export interface TileBody {
  readonly data: Uint8Array;
  readonly gzip: boolean;
}

/** A checkpoint note followed by every stored cosignature line on it (earliest, then latest if different). */
export function withCosignatures(cp: StoredCheckpoint): Uint8Array {
  const lines: string[] = [];
  for (const c of cp.cosignatures) {
    lines.push(c.firstLine);
    if (c.lastLine !== c.firstLine) lines.push(c.lastLine);
  }
  return lines.length === 0 ? cp.note : concatBytes(cp.note, utf8(lines.map((l) => l + '\n').join('')));
}

/** Does the tree of `size` leaves hold the tile (all `width` hashes or entries of it)? */
export function treeHasTile(size: number, t: TileCoord): boolean {
  const level = t.level === 'entries' ? 0 : t.level;
  const hashes = Math.floor(size / 2 ** (8 * level)); // exact: a power-of-two divisor
  if (hashes < t.width) return false;
  return t.n <= Math.floor((hashes - t.width) / TILE_WIDTH); // n·256 + width ≤ hashes, without overflow
}

export class LogReader {
  private readonly store: LogStore;
  private readonly state: LogState;
  private readonly sequencer: Sequencer | undefined;
  private readonly cache: ByteLru<Uint8Array>;
  private readonly refreshMs: number;
  private readonly now: () => number;

  private knownSize = 0;
  private sizeAt = -Infinity;
  private sizeRead: Promise<number> | null = null;
  private checkpointCache: { size: number; body: Uint8Array; at: number } | null = null;
  private catchingUp: Promise<void> | null = null;

  constructor(o: LogReaderOptions) {
    this.store = o.store;
    this.state = o.state;
    this.sequencer = o.sequencer;
    this.cache = new ByteLru(o.cacheBytes ?? 64 << 20);
    this.refreshMs = o.refreshMs ?? 500;
    this.now = o.now;
  }

  /** Called by the sequencer after each commit: the new checkpoint has no cosignatures yet. */
  onCommit(c: Committed): void {
    this.checkpointCache = { size: c.size, body: c.note, at: performance.now() };
  }

  /** Forget the cached checkpoint (a cosignature arrived). */
  invalidateCheckpoint(): void {
    this.checkpointCache = null;
  }

  /** The size of the latest checkpoint. `fresh` forces a storage read in a read-only server. */
  async size(fresh = false): Promise<number> {
    if (this.sequencer !== undefined) return this.sequencer.size;
    if (!fresh && performance.now() - this.sizeAt < this.refreshMs) return this.knownSize;
    if (this.sizeRead === null) {
      this.sizeRead = this.store.size().then(
        (s) => {
          this.knownSize = Math.max(this.knownSize, s);
          this.sizeAt = performance.now();
          this.sizeRead = null;
          return this.knownSize;
        },
        (err: unknown) => {
          this.sizeRead = null;
          throw err;
        },
      );
    }
    return this.sizeRead;
  }

  /** The latest checkpoint note with the cosignatures stored for it. */
  async checkpoint(): Promise<Uint8Array> {
    const size = await this.size();
    const c = this.checkpointCache;
    if (c !== null && c.size >= size && performance.now() - c.at < this.refreshMs) return c.body;
    const latest = await this.store.latestCheckpoint();
    if (latest === null) throw new Error('the log has no checkpoint');
    // A read-only server may see a newer checkpoint than its size; the sequencer never does.
    const body = withCosignatures(latest);
    this.checkpointCache = { size: latest.size, body, at: performance.now() };
    if (this.sequencer === undefined && latest.size > this.knownSize) this.knownSize = latest.size;
    return body;
  }

  /** The cached bytes of a tile or bundle, without touching storage (the fast path), or undefined. */
  cachedTile(t: TileCoord, path: string, acceptGzip: boolean): TileBody | undefined {
    if (acceptGzip && t.level === 'entries') {
      const z = this.cache.get(path + '\0gz');
      return z === undefined ? undefined : { data: z, gzip: true };
    }
    const d = this.cache.get(path);
    return d === undefined ? undefined : { data: d, gzip: false };
  }

  /**
   * The bytes of a hash tile or entry bundle, or null when the tree does not hold it. Entry
   * bundles are gzipped when the client accepts gzip (hash tiles are random bytes: never).
   */
  async tile(t: TileCoord, acceptGzip: boolean): Promise<TileBody | null> {
    const path = tilePath(t);
    const hit = this.cachedTile(t, path, acceptGzip);
    if (hit !== undefined) return hit;
    let data = this.cache.get(path);
    if (data === undefined) {
      let size = await this.size();
      if (!treeHasTile(size, t) && this.sequencer === undefined) size = await this.size(true);
      if (!treeHasTile(size, t)) return null;
      const read = t.level === 'entries' ? await this.store.readEntryBundle(t.n, t.width) : (await this.store.readTiles([t]))[0];
      if (read === null || read === undefined) return null;
      data = read;
      this.cache.set(path, data);
    }
    if (acceptGzip && t.level === 'entries') {
      const z = new Uint8Array(await gzip(data));
      this.cache.set(path + '\0gz', z);
      return { data: z, gzip: true };
    }
    return { data, gzip: false };
  }

  /** A HashReader over the stored tiles of the tree of `size` leaves (size ≤ the current size). */
  hashReader(size: number): HashReader {
    return {
      readHashes: async (indexes: readonly number[]): Promise<Hash[]> => {
        const places = indexes.map((i) => ({ index: i, tile: tileForStoredHash(i, size) }));
        const byPath = new Map<string, Tile>();
        for (const p of places) byPath.set(tilePath(p.tile), p.tile);
        const data = new Map<string, Uint8Array>();
        const missing: Tile[] = [];
        for (const [path, t] of byPath) {
          const hit = this.cache.get(path);
          if (hit !== undefined) data.set(path, hit);
          else missing.push(t);
        }
        if (missing.length > 0) {
          const read = await this.store.readTiles(missing);
          missing.forEach((t, i) => {
            const d = read[i];
            if (d === null || d === undefined) throw new Error(`bad math: tile ${tilePath(t)} missing below size ${size}`);
            const path = tilePath(t);
            data.set(path, d);
            this.cache.set(path, d);
          });
        }
        return places.map((p) => hashFromTile(p.tile, data.get(tilePath(p.tile))!, p.index));
      },
    };
  }

  /** Entry `index`, or null beyond the tree. */
  async entry(index: number): Promise<Uint8Array | null> {
    let size = await this.size();
    if (index >= size && this.sequencer === undefined) size = await this.size(true);
    if (index >= size) return null;
    return (await this.store.readEntries(index, index + 1))[0] ?? null;
  }

  /** Brings the policy state up to the stored size (read-only servers; the sequencer keeps it current). */
  private async catchUp(size: number): Promise<void> {
    if (this.sequencer !== undefined || this.state.size >= size) return;
    while (this.catchingUp !== null) await this.catchingUp;
    if (this.state.size >= size) return;
    this.catchingUp = this.state.catchUp(this.store, size).finally(() => (this.catchingUp = null));
    await this.catchingUp;
  }

  /**
   * The notice checkpoint N of the policy entry at `policyIndex` (client-sdk policy.ts,
   * NoticedFrom: the checkpoint whose size is the index the policy governs from), with its
   * cosignatures; null when that entry is not a policy that took force after a notice, or the
   * checkpoint is not (yet) cosigned by a witness quorum of its predecessor. Cosignatures dated
   * more than REQUEST_MAX_SKEW after this server's clock are not counted. Whether N proves the
   * notice is for the reader to check (with P, /checkpoint/published?entry=<quorum index>).
   */
  async noticed(policyIndex: number): Promise<Uint8Array | null> {
    const size = await this.size(this.sequencer === undefined);
    if (policyIndex >= size) return null;
    await this.catchUp(size);
    const chain = this.state.policies();
    const i = chain.findIndex((p) => p.index === policyIndex);
    const policy = chain[i];
    const predecessor = chain[i - 1];
    if (policy === undefined || predecessor === undefined || policy.removalOnly || policy.quorumIndex === undefined) return null;
    const cp = await this.store.readCheckpoint(policy.activeFrom);
    if (cp === null) return null;
    const maxTime = this.now() + REQUEST_MAX_SKEW;
    const listed = new Set(predecessor.entry.witnesses.map((w) => w.vkey));
    const cosigned = new Set(cp.cosignatures.filter((c) => listed.has(c.witness) && c.firstTime <= maxTime).map((c) => c.witness));
    return cosigned.size >= predecessor.entry.witnessQuorum ? withCosignatures(cp) : null;
  }

  /**
   * The earliest stored checkpoint containing entry `index` that is cosigned by a witness quorum
   * of the policy in force at that index (DESIGN.md "published"), with its cosignatures; null
   * when there is none (yet), or the entry is beyond the tree. Cosignatures dated more than
   * REQUEST_MAX_SKEW (300 s) after this server's clock are not counted.
   */
  async published(index: number): Promise<Uint8Array | null> {
    const size = await this.size(this.sequencer === undefined);
    if (index >= size) return null;
    await this.catchUp(index + 1);
    const policy = this.state.policyAt(index);
    if (policy === undefined) return null;
    const cp = await this.store.earliestQuorumCheckpoint(index + 1, {
      witnesses: policy.entry.witnesses.map((w) => w.vkey),
      quorum: policy.entry.witnessQuorum,
      maxTime: this.now() + REQUEST_MAX_SKEW,
    });
    return cp === null ? null : withCosignatures(cp);
  }
}
