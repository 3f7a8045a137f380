// The log server's storage contract: one TypeScript interface, two drivers
// written natively for their backend (sqlite.ts: better-sqlite3, embedded
// default; postgres.ts: node-postgres), both held to one conformance suite
// (log-server/test/storage-conformance.ts).
//
// What is stored, and why each piece exists:
//
//   entries        index 0.., the entry bytes (≤ 65,535), its RFC 6962 leaf hash (unique: the
//                  sequencer deduplicates by looking hashes up before it sequences)
//   tiles          tlog-tiles hash tiles, one row per (level, n) holding the widest data so far
//   checkpoints    for each tree size, the log-signed checkpoint note — exactly one per size
//   cosignatures   per (checkpoint size, witness): the earliest and the latest cosignature seen
//   nonces         Concord-Note request nonces until they expire (replay protection)
//   quotas         per (scope, key, period) counters (OPRF elements per day, submissions…)
//   witness_state  per witness: the checkpoint size it last acknowledged
//   blobs          blob metadata; the bytes live in a BlobStore (blobs.ts)
//
// Decisions (DESIGN.md is silent on them):
//
// - Entry bundles are not stored separately: readEntryBundle assembles them from the entries
//   table, the single copy of every entry. Storing bundles would keep a second copy of every
//   entry and rewrite the growing partial bundle (up to 255 entries) on every batch; a full
//   bundle is immutable, so the HTTP layer caches it instead (Go's sumdb serves its data tiles
//   the same way, from stored records).
//
// - Partial tiles are superseded, never kept: a tile row grows in place from width w to w' > w
//   and freezes at 256. That loses nothing: hashes never change once written, so the partial
//   tile L/N.p/W of any older tree is exactly the first W·32 bytes of the stored row, and
//   readTiles serves it from that prefix (byte-identical to what was published at the time).
//   c2sp.org/tlog-tiles lets logs delete partial tiles once the full tile exists and tells
//   clients to fall back to the full tile; serving the prefix makes that fallback unnecessary.
//   Every write checks, inside the batch transaction, that it only widens a row and keeps the
//   stored bytes as a prefix, so a buggy sequencer cannot rewrite published hashes.
//
// - The sequencer's resume state is recomputed, not stored: after a restart it reads size()
//   (the latest checkpoint's size, which always equals the number of entries), and the right
//   edge of the tree as readTiles(partialTiles(size)) — exactly the `oldEdge` that client-sdk's
//   appendTiles(oldSize, oldEdge, leafHashes) needs. Nothing can go stale, because tiles and
//   checkpoint commit in the batch's one transaction.
//
// - One checkpoint per size is a primary key, so the log can never store two signed roots for
//   one size, across crashes and concurrent writers. A sequencer must publish (serve, push to
//   witnesses, answer submitters) only what appendBatch committed.
//
// - Only the earliest and the latest cosignature per (size, witness) are kept: those are what
//   DESIGN.md's seenBy (k-th smallest earliest time) and aliveAt (k-th largest latest time)
//   use; intermediate ones add nothing and repeated witness pushes would grow the table without
//   bound. Every cosigned checkpoint is kept (nothing is ever deleted from checkpoints).
//
// - Safety never depends on the sequencer lock. appendBatch's expected-size check and the
//   primary keys make any second writer's batch fail whole; the lock keeps a second server from
//   sequencing at all, so that it does not fail every batch of the first.
//
// Times are unix seconds; sizes, indexes and counts are integers ≤ 2^53 − 1 (JavaScript numbers).

import { ConcordError } from '@concord/client-sdk/errors';
import type { Tile, TileWithData } from '@concord/client-sdk/tiles';

export type StorageErrorCode =
  /** createStore without `create` on a log that does not exist. */
  | 'not-found'
  /** createStore with `create` where a log (or any file at that path) already exists. */
  | 'exists'
  /** The URL names no supported backend or is malformed. */
  | 'bad-url'
  /** The database holds a schema version this code does not know. */
  | 'schema-version'
  /** appendBatch: the stored size is not the batch's expectedSize (another writer got there first). */
  | 'size-mismatch'
  /** appendBatch: a checkpoint for the batch's size is already stored. */
  | 'checkpoint-exists'
  /** appendBatch: an entry's leaf hash is already stored (or repeats within the batch). */
  | 'duplicate-entry'
  /** appendBatch: a tile would shrink or change hashes already stored. */
  | 'tile-conflict'
  /** addCosignature: no checkpoint of that size. */
  | 'no-checkpoint'
  /** putBlobMeta: the digest is stored with a different size. */
  | 'conflict'
  /** Arguments that break the contract (a caller bug): wrong lengths, non-contiguous indexes, wrong tiles… */
  | 'bad-input'
  /** acquireSequencerLock: another store (this process or another) holds the lock. */
  | 'locked'
  /** The store was closed. */
  | 'closed';

export class StorageError extends ConcordError<StorageErrorCode> {
  override readonly name = 'StorageError';
}

/** One log entry. `leafHash` = SHA-256(0x00 ‖ data) (RFC 6962 §2.1), checked by appendBatch. */
export interface EntryRecord {
  readonly index: number;
  readonly data: Uint8Array;
  readonly leafHash: Uint8Array;
}

/**
 * One sequencing batch, committed by appendBatch in one transaction:
 * - `entries` have indexes expectedSize, expectedSize+1, … in order (may be empty only for the
 *   very first checkpoint, of the empty tree);
 * - `tiles` are exactly the hash tiles newTiles(expectedSize, checkpoint.size) with their data
 *   (what client-sdk's appendTiles returns), in any order;
 * - `checkpoint.size` = expectedSize + entries.length, `checkpoint.note` the log-signed
 *   checkpoint note for that tree (stored as given, never parsed here).
 */
export interface Batch {
  readonly expectedSize: number;
  readonly entries: readonly EntryRecord[];
  readonly tiles: readonly TileWithData[];
  readonly checkpoint: { readonly size: number; readonly note: Uint8Array };
}

/** A witness's cosignatures on one checkpoint: the earliest and the latest seen. */
export interface CosignatureRecord {
  /** The witness, as the caller names it (its verifier key string is unique). */
  readonly witness: string;
  readonly firstTime: number;
  /** The signature line of the earliest cosignature, as it appears in a note, without its newline. */
  readonly firstLine: string;
  readonly lastTime: number;
  readonly lastLine: string;
}

/** A stored checkpoint with every witness's cosignatures on it (sorted by witness). */
export interface StoredCheckpoint {
  readonly size: number;
  readonly note: Uint8Array;
  readonly cosignatures: readonly CosignatureRecord[];
}

/** One cosignature to record: a witness's signature line on checkpoint `size`, dated `time`. */
export interface CosignatureInput {
  readonly size: number;
  readonly witness: string;
  readonly time: number;
  /** The signature line, without its trailing newline (no "\n" inside). */
  readonly line: string;
}

/** Which witnesses count and how many must have cosigned (a policy's witness lines and witness-quorum). */
export interface QuorumQuery {
  readonly witnesses: readonly string[];
  readonly quorum: number;
  /**
   * Count a witness only if its earliest cosignature is dated at or before this time (DESIGN.md:
   * cosignatures dated more than 300 s after the verifier's clock do not count). Default: no limit.
   */
  readonly maxTime?: number;
}

/** What the log last knows of a witness: the size it acknowledged (tlog-witness `old`). */
export interface WitnessState {
  readonly witness: string;
  readonly size: number;
  readonly updatedAt: number;
}

/**
 * A counter charge: add `amount` to the counter (scope, key, period) if the result stays
 * ≤ `limit`. `period` is the caller's window number (for OPRF: utcDay(now)).
 */
export interface QuotaCharge {
  readonly scope: string;
  readonly key: string;
  readonly period: number;
  readonly amount: number;
  readonly limit: number;
}

/** The outcome of a charge: `used` is the counter after it (or, when refused, as it stands). */
export interface QuotaResult {
  readonly allowed: boolean;
  readonly used: number;
}

export interface BlobMeta {
  /** SHA-256 of the blob's bytes (32 bytes). */
  readonly digest: Uint8Array;
  readonly size: number;
  readonly createdAt: number;
}

/**
 * The single-sequencer lock, held until release() or until the store closes or the process
 * dies (the operating system or the database server then releases it).
 */
export interface SequencerLock {
  /**
   * Settles (with the reason) if the lock is lost while held: the PostgreSQL connection holding
   * it broke. The sequencer must then stop sequencing. Never settles after release().
   */
  readonly lost: Promise<Error>;
  release(): Promise<void>;
}

/** The storage of one log. Methods may be called concurrently; appendBatch calls are serialised by the sequencer. */
export interface LogStore {
  readonly backend: 'sqlite' | 'postgres';

  // --- sequencing -------------------------------------------------------------------------

  /**
   * Takes the log's single-sequencer lock, or throws StorageError 'locked' at once if another
   * store — in this process or another — holds it (also if this store already holds it).
   */
  acquireSequencerLock(): Promise<SequencerLock>;

  /**
   * Commits a batch — entries, tiles and checkpoint — in one transaction, or nothing:
   * 'size-mismatch' if the stored size is not batch.expectedSize, 'checkpoint-exists',
   * 'duplicate-entry', 'tile-conflict', 'bad-input' (see Batch). Resolves once durable
   * (flushed to disk: SQLite synchronous=FULL, PostgreSQL synchronous_commit=on).
   *
   * A StorageError means nothing was committed. Any other error (I/O, a connection lost around
   * COMMIT) leaves the outcome unknown: the sequencer must read size() / readCheckpoint() to
   * learn whether the batch landed before it answers anyone or signs another checkpoint.
   */
  appendBatch(batch: Batch): Promise<void>;

  /** The tree size: the latest checkpoint's size, which equals the number of entries (0 when none). */
  size(): Promise<number>;

  // --- entries ----------------------------------------------------------------------------

  /** The entries [start, end), each a copy; 'bad-input' if end > size(), start > end or more than 65,536. */
  readEntries(start: number, end: number): Promise<Uint8Array[]>;

  /** For each leaf hash, the index of the stored entry with that hash, or null. */
  findLeafHashes(leafHashes: readonly Uint8Array[]): Promise<(number | null)[]>;

  /**
   * The tlog-tiles entry bundle `tile/entries/<n>[.p/<width>]`: the entries
   * [n·256, n·256 + width) encoded as u16-length-prefixed bytes; null if not all are stored.
   */
  readEntryBundle(n: number, width: number): Promise<Uint8Array | null>;

  // --- tiles ------------------------------------------------------------------------------

  /**
   * For each hash tile, its width·32 bytes, or null if the stored tree does not reach it. A
   * partial tile is served as the prefix of the stored row (see the header comment).
   */
  readTiles(tiles: readonly Tile[]): Promise<(Uint8Array | null)[]>;

  // --- checkpoints and cosignatures -------------------------------------------------------

  latestCheckpoint(): Promise<StoredCheckpoint | null>;
  readCheckpoint(size: number): Promise<StoredCheckpoint | null>;

  /** Records a cosignature (the caller has verified it), keeping the earliest and latest per witness. */
  addCosignature(c: CosignatureInput): Promise<void>;

  /**
   * The smallest checkpoint of size ≥ minSize cosigned by ≥ quorum of the witnesses, or null.
   * With minSize = i + 1: the earliest quorum-cosigned checkpoint containing entry i (DESIGN.md
   * "published"). Cost: it scans the cosignatures of sizes ≥ minSize in order and stops at the
   * first quorum, so it is cheap whenever a quorum follows soon after minSize.
   */
  earliestQuorumCheckpoint(minSize: number, q: QuorumQuery): Promise<StoredCheckpoint | null>;

  /** The largest checkpoint cosigned by ≥ quorum of the witnesses, or null. */
  latestQuorumCheckpoint(q: QuorumQuery): Promise<StoredCheckpoint | null>;

  // --- witnesses --------------------------------------------------------------------------

  /** Records the size a witness last acknowledged (as it reported it: may also go down). */
  setWitnessState(s: WitnessState): Promise<void>;
  readWitnessState(witness: string): Promise<WitnessState | null>;
  readWitnessStates(): Promise<WitnessState[]>;

  // --- request nonces ---------------------------------------------------------------------

  /**
   * Remembers (key, nonce) until expiresAt. Atomically returns false if it is already
   * remembered and not expired at `now` (a replay), true otherwise (an expired record is
   * replaced). nonce: 1..64 bytes.
   */
  rememberNonce(key: string, nonce: Uint8Array, expiresAt: number, now: number): Promise<boolean>;

  /** Forgets nonces expired at `now`; returns how many. */
  pruneNonces(now: number): Promise<number>;

  // --- quotas (OPRF elements per key per day; submission rates) ---------------------------

  /** Atomically adds amount to the counter if it stays ≤ limit (see QuotaCharge). */
  chargeQuota(c: QuotaCharge): Promise<QuotaResult>;

  /** Every counter of (scope, period), sorted by key. */
  readQuotas(scope: string, period: number): Promise<{ key: string; used: number }[]>;

  /** Forgets the counters of scope with period < beforePeriod; returns how many. */
  pruneQuotas(scope: string, beforePeriod: number): Promise<number>;

  // --- blob metadata ----------------------------------------------------------------------

  /** Records a blob's metadata; true if new, false if already recorded ('conflict' if the size differs). */
  putBlobMeta(m: BlobMeta): Promise<boolean>;
  getBlobMeta(digest: Uint8Array): Promise<BlobMeta | null>;

  /** Releases the sequencer lock if held and closes every connection. Idempotent. */
  close(): Promise<void>;
}

/** The UTC day number of a unix time: the `period` of OPRF daily quotas. */
export function utcDay(unixSeconds: number): number {
  return Math.floor(unixSeconds / 86_400);
}
