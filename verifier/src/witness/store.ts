// Durable witness state in SQLite (better-sqlite3 12, synchronous).
//
// Tables:
//   witness_state(origin PK, size, root, note)       the latest checkpoint cosigned per log;
//                                                    only ever moves forward (compare-and-set)
//   cosigned(origin, size, root, note, time)         every checkpoint this witness cosigned;
//                                                    PRIMARY KEY (origin, size): SQLite itself
//                                                    refuses a second root for one size
//   evidence(id, origin, kind, …)                    validly signed checkpoints inconsistent
//                                                    with what the witness cosigned; one row per
//                                                    (kind, cosigned size, checkpoint note) — the
//                                                    first proof is kept — so resending a public
//                                                    checkpoint with junk proofs cannot grow it
//
// The old-size check and the persist happen inside ONE db.transaction (BEGIN IMMEDIATE):
// better-sqlite3 runs it synchronously, so no other request — in this process or another
// one sharing the file — can interleave between the check and the write.

import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';

export interface WitnessStateRow {
  size: number;
  root: Uint8Array;
}

export type EvidenceKind = 'fork' | 'bad-proof';

export interface Evidence {
  id: number;
  origin: string;
  /**
   * fork: same size as a cosigned checkpoint, different root (proof the log signed two
   * trees); bad-proof: a newer validly signed checkpoint whose consistency proof from the
   * witness's state fails (the log, or whoever relayed it, may be hiding a fork).
   */
  kind: EvidenceKind;
  /** The size and root this witness had cosigned. */
  cosignedSize: number;
  cosignedRoot: Uint8Array;
  /** The offending checkpoint note (validly signed by the log key) and the proof sent with it. */
  note: Uint8Array;
  oldSize: number;
  proof: Uint8Array[];
  /** Unix seconds when it was received. */
  time: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS witness_state (
  origin TEXT PRIMARY KEY NOT NULL,
  size INTEGER NOT NULL,
  root BLOB NOT NULL,
  note BLOB NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS cosigned (
  origin TEXT NOT NULL,
  size INTEGER NOT NULL,
  root BLOB NOT NULL,
  note BLOB NOT NULL,
  time INTEGER NOT NULL,
  PRIMARY KEY (origin, size)
) STRICT;
CREATE TABLE IF NOT EXISTS evidence (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  origin TEXT NOT NULL,
  kind TEXT NOT NULL,
  cosigned_size INTEGER NOT NULL,
  cosigned_root BLOB NOT NULL,
  note BLOB NOT NULL,
  old_size INTEGER NOT NULL,
  proof BLOB NOT NULL,
  time INTEGER NOT NULL,
  note_sha256 BLOB NOT NULL,
  UNIQUE (origin, kind, cosigned_size, note_sha256)
) STRICT;
`;

const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
const u8 = (b: Buffer | Uint8Array): Uint8Array => new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

/** Witness state over one better-sqlite3 connection (owned by the caller). */
export class WitnessStore {
  constructor(readonly db: Database.Database) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 5000');
    db.exec(SCHEMA);
  }

  /** The latest cosigned state for a log, or undefined before its first checkpoint. */
  state(origin: string): WitnessStateRow | undefined {
    const r = this.db.prepare('SELECT size, root FROM witness_state WHERE origin = ?').get(origin) as
      | { size: number; root: Buffer }
      | undefined;
    return r === undefined ? undefined : { size: r.size, root: u8(r.root) };
  }

  /** The root this witness cosigned at a size, if any. */
  cosignedRoot(origin: string, size: number): Uint8Array | undefined {
    const r = this.db.prepare('SELECT root FROM cosigned WHERE origin = ? AND size = ?').get(origin, size) as { root: Buffer } | undefined;
    return r === undefined ? undefined : u8(r.root);
  }

  /**
   * Compare-and-set: moves the state from `prev` (undefined: none) to (size, root).
   * Must run inside a transaction; returns false if the state was not `prev`.
   * Records the checkpoint in `cosigned` (a conflicting root for a size throws).
   */
  advance(origin: string, prev: WitnessStateRow | undefined, size: number, root: Uint8Array, note: Uint8Array, time: number): boolean {
    let changes: number;
    if (prev === undefined) {
      changes = this.db.prepare('INSERT OR IGNORE INTO witness_state (origin, size, root, note) VALUES (?, ?, ?, ?)').run(origin, size, buf(root), buf(note)).changes;
    } else {
      changes = this.db
        .prepare('UPDATE witness_state SET size = ?, root = ?, note = ? WHERE origin = ? AND size = ? AND root = ?')
        .run(size, buf(root), buf(note), origin, prev.size, buf(prev.root)).changes;
    }
    if (changes !== 1) return false;
    const existing = this.cosignedRoot(origin, size);
    if (existing === undefined) {
      this.db.prepare('INSERT INTO cosigned (origin, size, root, note, time) VALUES (?, ?, ?, ?, ?)').run(origin, size, buf(root), buf(note), time);
    } else if (Buffer.compare(buf(existing), buf(root)) !== 0) {
      throw new Error('bad math: witness state would cosign two roots for one size');
    }
    return true;
  }

  /** Records evidence once per (origin, kind, cosigned size, note); later copies are ignored. */
  addEvidence(e: Omit<Evidence, 'id'>): void {
    this.db
      .prepare(
        'INSERT OR IGNORE INTO evidence (origin, kind, cosigned_size, cosigned_root, note, old_size, proof, time, note_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        e.origin,
        e.kind,
        e.cosignedSize,
        buf(e.cosignedRoot),
        buf(e.note),
        e.oldSize,
        Buffer.concat(e.proof.map(buf)),
        e.time,
        createHash('sha256').update(e.note).digest(),
      );
  }

  evidence(): Evidence[] {
    const rows = this.db.prepare('SELECT * FROM evidence ORDER BY id').all() as {
      id: number;
      origin: string;
      kind: EvidenceKind;
      cosigned_size: number;
      cosigned_root: Buffer;
      note: Buffer;
      old_size: number;
      proof: Buffer;
      time: number;
    }[];
    return rows.map((r) => {
      const proof: Uint8Array[] = [];
      for (let i = 0; i < r.proof.length; i += 32) proof.push(u8(r.proof.subarray(i, i + 32)));
      return {
        id: r.id,
        origin: r.origin,
        kind: r.kind,
        cosignedSize: r.cosigned_size,
        cosignedRoot: u8(r.cosigned_root),
        note: u8(r.note),
        oldSize: r.old_size,
        proof,
        time: r.time,
      };
    });
  }

  /** Every checkpoint cosigned for a log, by size (for audits and tests). */
  cosignedHistory(origin: string): { size: number; root: Uint8Array }[] {
    const rows = this.db.prepare('SELECT size, root FROM cosigned WHERE origin = ? ORDER BY size').all(origin) as { size: number; root: Buffer }[];
    return rows.map((r) => ({ size: r.size, root: u8(r.root) }));
  }
}
