// Checks and conversions shared by both storage drivers: the Batch contract of types.ts is
// validated here, once, before either driver opens a transaction.

import { createHash } from 'node:crypto';
import { newTiles, TILE_WIDTH, MAX_ENTRY_SIZE } from '@concord/client-sdk/tiles';
import type { Tile } from '@concord/client-sdk/tiles';
import { StorageError } from './types.js';
import type { Batch } from './types.js';

/** A checkpoint note is a few hundred bytes; this only stops absurd input from being stored. */
export const MAX_NOTE_SIZE = 65_536;
/** A signature line is "— <name> <base64>": bounded by a key name and a 72-byte signature. */
export const MAX_LINE_SIZE = 4_096;
/** Witness names, nonce keys, quota scopes and keys: short identifiers (a vkey string at most). */
export const MAX_NAME_SIZE = 1_024;
export const MAX_NONCE_SIZE = 64;
/** Entries per readEntries call (a full entry bundle is 256): bounds the memory one call takes. */
export const MAX_READ_ENTRIES = 65_536;
/** Rows per multi-row statement: well under SQLite's 32,766 and PostgreSQL's 65,535 parameters. */
export const CHUNK = 500;

export function bad(message: string): never {
  throw new StorageError('bad-input', message);
}

export function isSafeUint(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

export function checkUint(n: unknown, what: string): number {
  if (!isSafeUint(n)) bad(`${what} must be an integer in [0, 2^53 − 1], got ${String(n)}`);
  return n;
}

export function checkBytes(b: unknown, what: string, min: number, max: number): Uint8Array {
  if (!(b instanceof Uint8Array)) bad(`${what} must be a Uint8Array`);
  if (b.length < min || b.length > max) bad(`${what} must have ${min === max ? min : `${min}..${max}`} bytes, got ${b.length}`);
  return b;
}

/** Checks a readEntries range [start, end). */
export function checkRange(start: unknown, end: unknown): void {
  checkUint(start, 'start');
  checkUint(end, 'end');
  if ((start as number) > (end as number)) bad(`start ${String(start)} > end ${String(end)}`);
  if ((end as number) - (start as number) > MAX_READ_ENTRIES) bad(`at most ${MAX_READ_ENTRIES} entries per read`);
}

export function checkName(s: unknown, what: string): string {
  if (typeof s !== 'string' || s.length === 0 || s.length > MAX_NAME_SIZE) bad(`${what} must be a non-empty string of at most ${MAX_NAME_SIZE} characters`);
  return s;
}

export function checkLine(s: unknown, what: string): string {
  if (typeof s !== 'string' || s.length === 0 || s.length > MAX_LINE_SIZE || s.includes('\n')) {
    bad(`${what} must be one non-empty line of at most ${MAX_LINE_SIZE} characters`);
  }
  return s;
}

export function checkTile(t: unknown, what = 'tile'): Tile {
  const o = t as Partial<Tile> | null;
  if (typeof o !== 'object' || o === null) bad(`${what} must be a tile`);
  if (!Number.isInteger(o.level) || (o.level as number) < 0 || (o.level as number) > 63) bad(`${what}: level must be 0..63`);
  checkUint(o.n, `${what}: n`);
  if (!Number.isInteger(o.width) || (o.width as number) < 1 || (o.width as number) > TILE_WIDTH) bad(`${what}: width must be 1..${TILE_WIDTH}`);
  return o as Tile;
}

/** RFC 6962 §2.1 leaf hash, with node:crypto (this is the sequencer's hot path). */
export function leafHashOf(data: Uint8Array): Uint8Array {
  return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
}
const LEAF_PREFIX = new Uint8Array([0]);

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Validates a Batch against the contract in types.ts; throws 'bad-input' (or 'duplicate-entry'). */
export function checkBatch(batch: Batch): void {
  if (typeof batch !== 'object' || batch === null) bad('batch must be an object');
  const start = checkUint(batch.expectedSize, 'expectedSize');
  if (!Array.isArray(batch.entries)) bad('entries must be an array');
  if (!Array.isArray(batch.tiles)) bad('tiles must be an array');
  const cp = batch.checkpoint as Batch['checkpoint'] | undefined;
  if (typeof cp !== 'object' || cp === null) bad('checkpoint must be an object');
  const size = checkUint(cp.size, 'checkpoint.size');
  checkBytes(cp.note, 'checkpoint.note', 1, MAX_NOTE_SIZE);
  if (size !== start + batch.entries.length) {
    bad(`checkpoint.size ${size} ≠ expectedSize ${start} + ${batch.entries.length} entries`);
  }

  const seen = new Set<string>();
  batch.entries.forEach((e: unknown, i) => {
    const r = e as Batch['entries'][number] | null;
    if (typeof r !== 'object' || r === null) bad(`entry ${i} must be an object`);
    if (r.index !== start + i) bad(`entry ${i} has index ${String(r.index)}, expected ${start + i}`);
    checkBytes(r.data, `entry ${r.index} data`, 0, MAX_ENTRY_SIZE);
    checkBytes(r.leafHash, `entry ${r.index} leafHash`, 32, 32);
    if (!sameBytes(r.leafHash, leafHashOf(r.data))) bad(`entry ${r.index}: leafHash is not SHA-256(0x00 ‖ data)`);
    const key = Buffer.from(r.leafHash).toString('hex');
    if (seen.has(key)) throw new StorageError('duplicate-entry', `entry ${r.index} repeats an earlier entry of the batch`);
    seen.add(key);
  });

  // The tiles must be exactly those the grown tree adds, so that every committed size has all
  // of its tiles: a sequencer that forgot one would otherwise leave a hole no reader can fill.
  let want: Tile[];
  try {
    want = newTiles(start, size);
  } catch (err) {
    bad(`tree size ${size}: ${(err as Error).message}`);
  }
  const key = (t: Tile): string => `${t.level}/${t.n}/${t.width}`;
  const wanted = new Set(want.map(key));
  const got = new Set<string>();
  batch.tiles.forEach((tw: unknown, i) => {
    const o = tw as Batch['tiles'][number] | null;
    if (typeof o !== 'object' || o === null) bad(`tiles[${i}] must be { tile, data }`);
    const t = checkTile(o.tile, `tiles[${i}]`);
    checkBytes(o.data, `tile ${key(t)} data`, t.width * 32, t.width * 32);
    if (!wanted.has(key(t))) bad(`tile ${key(t)} is not one the tree grows by from ${start} to ${size}`);
    if (got.has(key(t))) bad(`tile ${key(t)} appears twice`);
    got.add(key(t));
  });
  if (got.size !== wanted.size) {
    const missing = want.map(key).filter((k) => !got.has(k));
    bad(`missing tiles for size ${size}: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', …' : ''}`);
  }
}

export function checkQuorum(q: unknown): { witnesses: string[]; quorum: number; maxTime: number | undefined } {
  const o = q as { witnesses?: unknown; quorum?: unknown; maxTime?: unknown } | null;
  if (typeof o !== 'object' || o === null) bad('quorum query must be an object');
  if (!Array.isArray(o.witnesses)) bad('witnesses must be an array');
  const witnesses = [...new Set(o.witnesses.map((w, i) => checkName(w, `witnesses[${i}]`)))];
  if (!Number.isSafeInteger(o.quorum) || (o.quorum as number) < 1) bad('quorum must be a positive integer');
  const maxTime = o.maxTime === undefined ? undefined : checkUint(o.maxTime, 'maxTime');
  return { witnesses, quorum: o.quorum as number, maxTime };
}

/** Walks an error's cause chain (drizzle wraps driver errors in DrizzleQueryError). */
export function* causes(err: unknown): Generator<unknown> {
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 8; e = (e as { cause?: unknown }).cause, depth++) yield e;
}

