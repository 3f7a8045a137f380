// RFC 6962 / RFC 9162 §2.1 Merkle tree math: hashes, tree heads, inclusion and
// consistency proofs. No I/O: stored hashes are reached through a HashReader.
//
//   https://www.rfc-editor.org/rfc/rfc9162.html#section-2.1
//   https://c2sp.org/merkle-tree (the same tree; its verification steps are RFC 9162's)
//
//   leaf hash   SHA-256(0x00 ‖ data)
//   node hash   SHA-256(0x01 ‖ left ‖ right)
//   MTH({})     SHA-256("")
//   MTH(D[n])   = node hash(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n
//   proof       an ordered list of 32-byte hashes, from the leaf level upwards
//
// Stored hashes follow Go's golang.org/x/mod/sumdb/tlog: a log stores, for
// every complete subtree (level L, number N) covering leaves [N·2^L, (N+1)·2^L),
// its hash, numbered in the order the hashes become computable while leaves
// are appended: leaf 0, leaf 1, node(0,1), leaf 2, leaf 3, node(2,3),
// node(0..3), leaf 4, … So after n leaves exactly storedHashCount(n) = 2n −
// popcount(n) hashes exist, and the hash (L, N) is number storedHashIndex(L, N).
// Proofs are planned as a list of stored-hash numbers, fetched in ONE
// HashReader call, and assembled; verification recomputes the root and
// compares.
//
// Size limits. Numbers are JavaScript numbers, exact up to 2^53 − 1:
// - verifyInclusion, verifyConsistency, rootFromLeafHashes and TreeBuilder
//   accept any tree size up to 2^53 − 1 (MAX_TREE_SIZE);
// - everything numbered by stored-hash index (storedHashIndex, storedHashCount,
//   storedHashesForRecordHash, treeHash, proveInclusion, proveConsistency)
//   stops at MAX_STORED_TREE_SIZE = 2^52 leaves: a tree of n leaves has
//   2n − popcount(n) stored hashes, which for n = 2^52 is 2^53 − 1, the last
//   count (and the last index, 2^53 − 2) that is a safe integer. One more
//   leaf would need index 2^53 − 1 and count 2^53. Beyond it: 'bad-size'.

import { ConcordError, badMath } from './errors.js';
import { equalBytes } from './bytes.js';
import {
  bytesToWords,
  digest33Words,
  digest65Words,
  readDigestBytes,
  readDigestWords,
  sha256,
  sha256Prefixed,
  wordsToBytes,
} from './sha256.js';

export const HASH_SIZE = 32;

/** A SHA-256 value: always exactly 32 bytes. */
export type Hash = Uint8Array;

/** Largest tree size the verifiers and builders accept: 2^53 − 1. */
export const MAX_TREE_SIZE = Number.MAX_SAFE_INTEGER;

/** Largest tree size whose stored hashes all have safe-integer indexes (see the header). */
export const MAX_STORED_TREE_SIZE = 2 ** 52;

/** Largest valid stored-hash index: storedHashCount(MAX_STORED_TREE_SIZE) − 1 = 2^53 − 2. */
export const MAX_STORED_HASH_INDEX = 2 ** 53 - 2;

// Private copy: callers may scribble on the exported array without affecting checks.
const EMPTY: Hash = sha256(new Uint8Array(0));

/** MTH({}) = SHA-256(""), the root of the empty tree. */
export const EMPTY_ROOT: Hash = EMPTY.slice();

export type MerkleErrorCode = 'bad-size' | 'bad-index' | 'bad-proof' | 'bad-hash-length' | 'bad-reader';

/**
 * A size, index, proof, hash or hash reader is invalid.
 * - bad-size: tree size not an integer in range, or old size > new size;
 * - bad-index: leaf or stored-hash index out of range;
 * - bad-proof: wrong number of proof hashes or roots that do not match;
 * - bad-hash-length: a leaf hash, root or proof hash is not a 32-byte Uint8Array;
 * - bad-reader: a HashReader answered with the wrong number of hashes or a non-32-byte hash.
 */
export class MerkleError extends ConcordError<MerkleErrorCode> {
  override readonly name = 'MerkleError';
}

/**
 * Reads stored hashes by index. Must return exactly one 32-byte hash per
 * index, in the same order. The functions here always ask for distinct
 * indexes in increasing order. An exception thrown by the reader (an I/O
 * failure) propagates unchanged.
 */
export interface HashReader {
  readHashes(indexes: readonly number[]): Promise<Hash[]>;
}

// ---------------------------------------------------------------------------
// Hashes

/** RFC 6962 leaf hash SHA-256(0x00 ‖ data). */
export function leafHash(data: Uint8Array): Hash {
  return sha256Prefixed(0x00, data);
}

// Scratch words for nodeHash and the verifiers. Only used within one
// synchronous call, never across an await.
const S = new Int32Array(16);

/** RFC 6962 node hash SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(left: Hash, right: Hash): Hash {
  checkHash(left, 'left hash');
  checkHash(right, 'right hash');
  bytesToWords(left, 0, S, 0);
  bytesToWords(right, 0, S, 8);
  digest65Words(0x01, S, 0, S, 8);
  return readDigestBytes();
}

// ---------------------------------------------------------------------------
// Integer helpers, exact for all safe integers (no 32-bit bitwise operators
// on values that may exceed 2^31).

const TWO32 = 2 ** 32;

function popcount32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

function popcount(x: number): number {
  return popcount32(Math.floor(x / TWO32)) + popcount32(x >>> 0);
}

/** Number of trailing zero bits of x ≥ 1. */
function trailingZeros(x: number): number {
  const lo = x >>> 0;
  if (lo !== 0) return 31 - Math.clz32(lo & -lo);
  const hi = Math.floor(x / TWO32);
  return 32 + 31 - Math.clz32(hi & -hi);
}

/** floor(log2(x)) for x ≥ 1. */
function log2Floor(x: number): number {
  return x < TWO32 ? 31 - Math.clz32(x) : 63 - Math.clz32(Math.floor(x / TWO32));
}

function isSafeUint(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function isPowerOfTwo(x: number): boolean {
  return x > 0 && 2 ** log2Floor(x) === x;
}

// ---------------------------------------------------------------------------
// Input checks

function checkHash(h: unknown, what: string): asserts h is Hash {
  if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
    const got = h instanceof Uint8Array ? `${h.length} bytes` : typeof h;
    throw new MerkleError('bad-hash-length', `${what} must be ${HASH_SIZE} bytes, got ${got}`);
  }
}

// Longest possible proof: inclusion ≤ 53 hashes, consistency ≤ 54 for sizes
// below 2^53. Longer arrays are rejected before their elements are examined.
const MAX_PROOF_HASHES = 64;

function checkProof(proof: unknown): asserts proof is readonly Hash[] {
  if (!Array.isArray(proof)) throw new MerkleError('bad-proof', 'proof must be an array of hashes');
  if (proof.length > MAX_PROOF_HASHES) throw new MerkleError('bad-proof', `proof has ${proof.length} hashes`);
  for (let i = 0; i < proof.length; i++) checkHash(proof[i], `proof hash ${i}`);
}

function checkSize(size: unknown, max: number, what = 'tree size'): asserts size is number {
  if (!isSafeUint(size) || size > max) {
    throw new MerkleError('bad-size', `${what} must be an integer in [0, ${max}], got ${String(size)}`);
  }
}

// ---------------------------------------------------------------------------
// Stored-hash numbering (Go tlog)

/**
 * Index of the stored hash of the complete subtree at `level` number `n`,
 * i.e. covering leaves [n·2^level, (n+1)·2^level). That subtree must lie within
 * the first MAX_STORED_TREE_SIZE leaves ('bad-index' otherwise).
 */
export function storedHashIndex(level: number, n: number): number {
  if (!Number.isInteger(level) || level < 0 || level > 52 || !isSafeUint(n)) {
    throw new MerkleError('bad-index', `no stored hash at level ${String(level)} number ${String(n)}`);
  }
  const end = (n + 1) * 2 ** level; // exact: a power-of-two multiple
  if (end > MAX_STORED_TREE_SIZE) {
    throw new MerkleError('bad-index', `stored hash (${level}, ${n}) lies beyond ${MAX_STORED_TREE_SIZE} leaves`);
  }
  // The hash (level, n) is written right after leaf m = end − 1 and the
  // levels 1 … level−1 that leaf completes. Leaf m's own hash comes after all
  // stored hashes of the first m leaves, so its index is storedHashCount(m) =
  // m + ⌊m/2⌋ + ⌊m/4⌋ + … (the complete subtrees per level) = 2m − popcount(m).
  const m = end - 1;
  return 2 * m - popcount(m) + level;
}

/** Inverse of storedHashIndex. */
export function splitStoredHashIndex(index: number): [level: number, n: number] {
  if (!isSafeUint(index) || index > MAX_STORED_HASH_INDEX) {
    throw new MerkleError('bad-index', `stored-hash index out of range: ${String(index)}`);
  }
  // Find leaf m whose record hash is the last one at or before index. Leaf
  // m's hash sits at 2m − popcount(m) ≤ index, so m ≥ ⌊index/2⌋; each leaf m
  // adds 1 + trailingZeros(m+1) hashes, so a few steps reach it.
  let m = Math.floor(index / 2);
  let at = 2 * m - popcount(m);
  if (at > index) badMath('splitStoredHashIndex start');
  for (;;) {
    const next = at + 1 + trailingZeros(m + 1);
    if (next > index) break;
    m++;
    at = next;
  }
  const level = index - at; // hashes after leaf m's are levels 1, 2, … ending at leaf m
  return [level, Math.floor(m / 2 ** level)];
}

/** Number of stored hashes for a tree of n leaves: 2n − popcount(n). */
export function storedHashCount(n: number): number {
  checkSize(n, MAX_STORED_TREE_SIZE);
  return 2 * n - popcount(n);
}

async function readChecked(reader: HashReader, indexes: number[]): Promise<Hash[]> {
  const got: unknown = await reader.readHashes(indexes);
  if (!Array.isArray(got) || got.length !== indexes.length) {
    const n = Array.isArray(got) ? got.length : typeof got;
    throw new MerkleError('bad-reader', `asked for ${indexes.length} hashes, reader returned ${n}`);
  }
  const out: Hash[] = [];
  for (let i = 0; i < got.length; i++) {
    const h: unknown = got[i];
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
      throw new MerkleError('bad-reader', `reader returned a hash that is not ${HASH_SIZE} bytes for index ${indexes[i]}`);
    }
    // Copied, so results never alias the reader's storage (a caller mutating
    // a returned proof or root cannot corrupt a cache, and vice versa).
    out.push(h.slice());
  }
  return out;
}

/**
 * New stored hashes to append when adding leaf number n (0-based) with leaf
 * hash h to the tree of n leaves: h itself, then the hash of every subtree
 * leaf n completes (levels 1, 2, …). Reads the left siblings in one call.
 */
export async function storedHashesForRecordHash(n: number, h: Hash, reader: HashReader): Promise<Hash[]> {
  checkSize(n, MAX_STORED_TREE_SIZE - 1, 'leaf number');
  checkHash(h, 'leaf hash');
  // Leaf n completes trailingZeros(n+1) subtrees; the one at level i+1 joins
  // the level-i subtree ending at leaf n with its left sibling (i, ⌊n/2^i⌋ − 1).
  const m = trailingZeros(n + 1);
  const indexes: number[] = [];
  for (let i = m - 1; i >= 0; i--) indexes.push(storedHashIndex(i, Math.floor(n / 2 ** i) - 1));
  const old = m > 0 ? await readChecked(reader, indexes) : [];
  const out: Hash[] = [h.slice()];
  let cur = out[0]!;
  for (let i = 0; i < m; i++) {
    cur = nodeHash(old[m - 1 - i]!, cur);
    out.push(cur);
  }
  return out;
}

/** Stored hashes to append for leaf number n with the given leaf data. */
export function storedHashes(n: number, data: Uint8Array, reader: HashReader): Promise<Hash[]> {
  return storedHashesForRecordHash(n, leafHash(data), reader);
}

// ---------------------------------------------------------------------------
// Proof plans over stored hashes. Each *Indexes function appends the stored
// hashes a computation needs, in the order its twin consumes them; the twins
// then read them back through a cursor. Both walk the same recursion, so a
// mismatch is a bug (badMath), not bad input.

interface Cursor {
  hashes: Hash[];
  pos: number;
}

function next(c: Cursor): Hash {
  const h = c.hashes[c.pos++];
  if (h === undefined) badMath('proof plan ran out of hashes');
  return h;
}

/** Largest power of two ≤ x (x ≥ 1). */
function pow2AtMost(x: number): number {
  return 2 ** log2Floor(x);
}

/** [lo, hi) as maximal complete subtrees, left to right (largest first). */
function subtreeIndexes(lo: number, hi: number, need: number[]): void {
  while (lo < hi) {
    const k = pow2AtMost(hi - lo);
    if (lo % k !== 0) badMath('subtree not aligned');
    need.push(storedHashIndex(log2Floor(k), lo / k));
    lo += k;
  }
}

/** MTH of leaves [lo, hi) from the hashes subtreeIndexes(lo, hi) asked for. */
function subtreeHash(lo: number, hi: number, c: Cursor): Hash {
  // The subtrees from subtreeIndexes shrink left to right, so MTH([lo, hi))
  // folds them right to left: node(t0, node(t1, … node(tn−2, tn−1))).
  let count = 0;
  for (let x = lo; x < hi; count++) x += pow2AtMost(hi - x);
  if (count === 0) badMath('empty subtree');
  const parts: Hash[] = [];
  for (let i = 0; i < count; i++) parts.push(next(c));
  let h = parts[count - 1]!;
  for (let i = count - 2; i >= 0; i--) h = nodeHash(parts[i]!, h);
  return h;
}

/** RFC 9162 §2.1.3.1 PATH(index, D[lo:hi]) as stored-hash indexes. */
function inclusionIndexes(lo: number, hi: number, index: number, need: number[]): void {
  if (!(lo <= index && index < hi)) badMath('inclusion plan range');
  if (hi - lo === 1) return;
  const k = pow2AtMost(hi - lo - 1); // largest power of two < hi − lo
  if (index < lo + k) {
    inclusionIndexes(lo, lo + k, index, need);
    subtreeIndexes(lo + k, hi, need);
  } else {
    subtreeIndexes(lo, lo + k, need);
    inclusionIndexes(lo + k, hi, index, need);
  }
}

function inclusionPath(lo: number, hi: number, index: number, c: Cursor, out: Hash[]): void {
  if (hi - lo === 1) return;
  const k = pow2AtMost(hi - lo - 1);
  if (index < lo + k) {
    inclusionPath(lo, lo + k, index, c, out);
    out.push(subtreeHash(lo + k, hi, c));
  } else {
    const left = subtreeHash(lo, lo + k, c);
    inclusionPath(lo + k, hi, index, c, out);
    out.push(left);
  }
}

/**
 * RFC 9162 §2.1.4.1 SUBPROOF(m, D[lo:hi], b) as stored-hash indexes, where
 * b = (lo === 0): only the outermost call may omit the old tree's own root.
 */
function consistencyIndexes(lo: number, hi: number, m: number, need: number[]): void {
  if (!(lo < m && m <= hi)) badMath('consistency plan range');
  if (m === hi) {
    if (lo !== 0) subtreeIndexes(lo, hi, need);
    return;
  }
  const k = pow2AtMost(hi - lo - 1);
  if (m <= lo + k) {
    consistencyIndexes(lo, lo + k, m, need);
    subtreeIndexes(lo + k, hi, need);
  } else {
    subtreeIndexes(lo, lo + k, need);
    consistencyIndexes(lo + k, hi, m, need);
  }
}

function consistencyPath(lo: number, hi: number, m: number, c: Cursor, out: Hash[]): void {
  if (m === hi) {
    if (lo !== 0) out.push(subtreeHash(lo, hi, c));
    return;
  }
  const k = pow2AtMost(hi - lo - 1);
  if (m <= lo + k) {
    consistencyPath(lo, lo + k, m, c, out);
    out.push(subtreeHash(lo + k, hi, c));
  } else {
    const left = subtreeHash(lo, lo + k, c);
    consistencyPath(lo + k, hi, m, c, out);
    out.push(left);
  }
}

function done(c: Cursor): void {
  if (c.pos !== c.hashes.length) badMath('proof plan left hashes unused');
}

/** MTH of the first `size` leaves, from at most log2(size)+1 stored hashes read in one call. */
export async function treeHash(size: number, reader: HashReader): Promise<Hash> {
  checkSize(size, MAX_STORED_TREE_SIZE);
  if (size === 0) return EMPTY.slice();
  const need: number[] = [];
  subtreeIndexes(0, size, need);
  const c: Cursor = { hashes: await readChecked(reader, need), pos: 0 };
  const h = subtreeHash(0, size, c);
  done(c);
  return h;
}

/** RFC 9162 inclusion proof of leaf `index` in the tree of `size` leaves (0 ≤ index < size). */
export async function proveInclusion(size: number, index: number, reader: HashReader): Promise<Hash[]> {
  checkSize(size, MAX_STORED_TREE_SIZE);
  if (size === 0) throw new MerkleError('bad-size', 'no inclusion proof in an empty tree');
  if (!isSafeUint(index) || index >= size) {
    throw new MerkleError('bad-index', `leaf index ${String(index)} not below tree size ${size}`);
  }
  const need: number[] = [];
  inclusionIndexes(0, size, index, need);
  if (need.length === 0) return [];
  const c: Cursor = { hashes: await readChecked(reader, need), pos: 0 };
  const out: Hash[] = [];
  inclusionPath(0, size, index, c, out);
  done(c);
  return out;
}

/**
 * RFC 9162 consistency proof from the tree of oldSize leaves to the tree of
 * newSize leaves. Empty when oldSize is 0 or equals newSize (see verifyConsistency).
 */
export async function proveConsistency(oldSize: number, newSize: number, reader: HashReader): Promise<Hash[]> {
  checkSize(oldSize, MAX_STORED_TREE_SIZE, 'old size');
  checkSize(newSize, MAX_STORED_TREE_SIZE, 'new size');
  if (oldSize > newSize) throw new MerkleError('bad-size', `old size ${oldSize} > new size ${newSize}`);
  if (oldSize === 0 || oldSize === newSize) return [];
  const need: number[] = [];
  consistencyIndexes(0, newSize, oldSize, need);
  const c: Cursor = { hashes: await readChecked(reader, need), pos: 0 };
  const out: Hash[] = [];
  consistencyPath(0, newSize, oldSize, c, out);
  done(c);
  return out;
}

// ---------------------------------------------------------------------------
// Verification: RFC 9162 §2.1.3.2 and §2.1.4.2, step by step. fn and sn are
// shifted with arithmetic (they may exceed 32 bits). Hashes are chained as
// words in scratch space: R = running hash, P = proof hash, A = second hash.

const R = new Int32Array(8);
const A = new Int32Array(8);
const P = new Int32Array(8);

/** Does the 8-word value w equal the 32-byte hash h? */
function wordsEqual(w: Int32Array, h: Hash): boolean {
  let d = 0;
  for (let i = 0; i < 8; i++) {
    d |= w[i]! ^ ((h[4 * i]! << 24) | (h[4 * i + 1]! << 16) | (h[4 * i + 2]! << 8) | h[4 * i + 3]!);
  }
  return d === 0;
}

/** Chain step: w = HASH(0x01 ‖ p ‖ w) when left, else HASH(0x01 ‖ w ‖ p). */
function chain(w: Int32Array, p: Int32Array, pIsLeft: boolean): void {
  if (pIsLeft) digest65Words(0x01, p, 0, w, 0);
  else digest65Words(0x01, w, 0, p, 0);
  readDigestWords(w, 0);
}

const half = (x: number): number => Math.floor(x / 2);
const odd = (x: number): boolean => x % 2 === 1;

/**
 * Verifies that `leaf` (a leaf hash) is leaf number `index` of the tree of
 * `size` leaves with root `root`. Throws MerkleError: bad-size (size 0 or
 * not an integer ≤ 2^53 − 1), bad-index (index ≥ size), bad-hash-length,
 * bad-proof (too many or too few proof hashes, or a different root).
 */
export function verifyInclusion(leaf: Hash, index: number, size: number, proof: readonly Hash[], root: Hash): void {
  checkSize(size, MAX_TREE_SIZE);
  if (size === 0) throw new MerkleError('bad-size', 'no leaf is included in an empty tree');
  // §2.1.3.2 step 1.
  if (!isSafeUint(index) || index >= size) {
    throw new MerkleError('bad-index', `leaf index ${String(index)} not below tree size ${size}`);
  }
  checkHash(leaf, 'leaf hash');
  checkHash(root, 'root');
  checkProof(proof);
  // Steps 2–3.
  let fn = index;
  let sn = size - 1;
  bytesToWords(leaf, 0, R, 0);
  // Step 4.
  for (const p of proof) {
    if (sn === 0) throw new MerkleError('bad-proof', 'inclusion proof has too many hashes');
    bytesToWords(p, 0, P, 0);
    if (odd(fn) || fn === sn) {
      chain(R, P, true);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      chain(R, P, false);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5.
  if (sn !== 0) throw new MerkleError('bad-proof', 'inclusion proof has too few hashes');
  if (!wordsEqual(R, root)) throw new MerkleError('bad-proof', 'inclusion proof does not lead to the root');
}

/**
 * Verifies that the tree of oldSize leaves with root oldRoot is a prefix of
 * the tree of newSize leaves with root newRoot.
 *
 * RFC 9162 §2.1.4.2 covers 0 < oldSize < newSize; the other cases follow
 * c2sp.org/merkle-tree (and tlog-witness, which sends "old 0" with an empty
 * proof for a witness's first checkpoint):
 * - oldSize > newSize: bad-size;
 * - oldSize = newSize: valid iff the proof is empty and the roots are equal
 *   (for size 0 they must also be SHA-256(""));
 * - oldSize = 0 < newSize: valid iff the proof is empty and oldRoot is
 *   SHA-256(""), the only root a tree of size 0 has. transparency-dev/merkle
 *   instead rejects every proof from size 0 as "meaningless"; accepting the
 *   empty proof proves nothing about the new tree, which is exactly right:
 *   every tree extends the empty one.
 * Throws MerkleError (bad-size, bad-hash-length, bad-proof).
 */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  proof: readonly Hash[],
  oldRoot: Hash,
  newRoot: Hash,
): void {
  checkSize(oldSize, MAX_TREE_SIZE, 'old size');
  checkSize(newSize, MAX_TREE_SIZE, 'new size');
  checkHash(oldRoot, 'old root');
  checkHash(newRoot, 'new root');
  checkProof(proof);
  if (oldSize > newSize) throw new MerkleError('bad-size', `old size ${oldSize} > new size ${newSize}`);
  if (oldSize === newSize) {
    if (proof.length !== 0) throw new MerkleError('bad-proof', 'consistency proof between equal sizes must be empty');
    if (!equalBytes(oldRoot, newRoot)) throw new MerkleError('bad-proof', 'different roots for the same tree size');
    if (oldSize === 0 && !equalBytes(oldRoot, EMPTY)) throw new MerkleError('bad-proof', 'root of the empty tree is not SHA-256("")');
    return;
  }
  if (oldSize === 0) {
    if (proof.length !== 0) throw new MerkleError('bad-proof', 'consistency proof from the empty tree must be empty');
    if (!equalBytes(oldRoot, EMPTY)) throw new MerkleError('bad-proof', 'root of the empty tree is not SHA-256("")');
    return;
  }
  // §2.1.4.2 step 1.
  if (proof.length === 0) throw new MerkleError('bad-proof', 'empty consistency proof');
  // Step 2: when oldSize is a power of two the old root is itself a node of
  // the new tree and the proof omits it.
  const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : proof;
  // Steps 3–4.
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5: fr and sr (R and A) both start at the first path hash.
  bytesToWords(path[0]!, 0, R, 0);
  A.set(R);
  // Step 6.
  for (let i = 1; i < path.length; i++) {
    if (sn === 0) throw new MerkleError('bad-proof', 'consistency proof has too many hashes');
    bytesToWords(path[i]!, 0, P, 0);
    if (odd(fn) || fn === sn) {
      chain(R, P, true);
      chain(A, P, true);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      chain(A, P, false);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 7.
  if (sn !== 0) throw new MerkleError('bad-proof', 'consistency proof has too few hashes');
  if (!wordsEqual(R, oldRoot)) throw new MerkleError('bad-proof', 'consistency proof does not lead to the old root');
  if (!wordsEqual(A, newRoot)) throw new MerkleError('bad-proof', 'consistency proof does not lead to the new root');
}

// ---------------------------------------------------------------------------
// In-memory roots. The right edge of a tree of n leaves is one complete
// subtree per set bit of n, largest (leftmost) first; appending a leaf merges
// equal-sized subtrees like a binary counter, and the root folds the edge
// right to left: node(t0, node(t1, … )). That is MTH's largest-power-of-two
// split. Hashes live as 8 words each in one Int32Array, so the hot loop
// allocates nothing.

// 54 slots: the edge has at most 53 subtrees, plus one being merged.
const EDGE_SLOTS = 54;

/** Merges the top two subtrees of `edge` (depth entries); returns the new depth. */
function mergeTop(edge: Int32Array, depth: number): number {
  const l = (depth - 2) * 8;
  digest65Words(0x01, edge, l, edge, l + 8);
  readDigestWords(edge, l);
  return depth - 1;
}

function foldEdge(edge: Int32Array, depth: number): Hash {
  if (depth === 0) return EMPTY.slice();
  const acc = new Int32Array(8);
  acc.set(edge.subarray((depth - 1) * 8, depth * 8));
  for (let d = depth - 2; d >= 0; d--) {
    digest65Words(0x01, edge, d * 8, acc, 0);
    readDigestWords(acc, 0);
  }
  return wordsToBytes(acc, 0);
}

/**
 * MTH of a list of leaf hashes: an array of 32-byte hashes, or their
 * concatenation (length a multiple of 32). For database roots of millions of
 * leaves: O(log n) memory besides the input, no allocation per leaf.
 */
export function rootFromLeafHashes(leaves: readonly Hash[] | Uint8Array): Hash {
  const edge = new Int32Array(EDGE_SLOTS * 8);
  let depth = 0;
  if (leaves instanceof Uint8Array) {
    if (leaves.length % HASH_SIZE !== 0) {
      throw new MerkleError('bad-hash-length', `concatenated leaf hashes: ${leaves.length} bytes is not a multiple of 32`);
    }
    const n = leaves.length / HASH_SIZE;
    for (let i = 0; i < n; i++) {
      bytesToWords(leaves, i * HASH_SIZE, edge, depth * 8);
      depth++;
      // i < 2^31 (a Uint8Array holds < 2^33 bytes), so bitwise is exact here.
      for (let c = i; c & 1; c >>>= 1) depth = mergeTop(edge, depth);
    }
  } else {
    if (!Array.isArray(leaves)) throw new MerkleError('bad-hash-length', 'leaves must be an array or a Uint8Array');
    for (let i = 0; i < leaves.length; i++) {
      const h = leaves[i];
      checkHash(h, `leaf hash ${i}`);
      bytesToWords(h, 0, edge, depth * 8);
      depth++;
      for (let c = i; c & 1; c >>>= 1) depth = mergeTop(edge, depth);
    }
  }
  return foldEdge(edge, depth);
}

/**
 * MTH of the leaves data[0:s], data[s:2s], … for leaf size s: hashes each
 * leaf (SHA-256(0x00 ‖ leaf)) and the tree without allocating per leaf. This
 * is the database root: each 32-byte element is one leaf.
 */
export function rootFromLeafData(data: Uint8Array, leafSize: number): Hash {
  if (!Number.isSafeInteger(leafSize) || leafSize < 0 || (leafSize === 0 ? data.length !== 0 : data.length % leafSize !== 0)) {
    throw new MerkleError('bad-size', `${data.length} bytes are not a whole number of ${String(leafSize)}-byte leaves`);
  }
  const edge = new Int32Array(EDGE_SLOTS * 8);
  let depth = 0;
  const n = leafSize === 0 ? 0 : data.length / leafSize;
  for (let i = 0; i < n; i++) {
    if (leafSize === 32) {
      digest33Words(0x00, data, i * 32);
      readDigestWords(edge, depth * 8);
    } else {
      bytesToWords(leafHash(data.subarray(i * leafSize, (i + 1) * leafSize)), 0, edge, depth * 8);
    }
    depth++;
    for (let c = i; c & 1; c >>>= 1) depth = mergeTop(edge, depth);
  }
  return foldEdge(edge, depth);
}

/**
 * Incremental tree (the right edge, or compact range [0, size)): append leaf
 * hashes, read the root at any time. O(log n) memory and O(1) amortised
 * hashing per leaf. Holds up to 2^53 − 1 leaves.
 */
export class TreeBuilder {
  #edge = new Int32Array(EDGE_SLOTS * 8);
  #depth = 0;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  append(leafHash: Hash): void {
    checkHash(leafHash, 'leaf hash');
    if (this.#size >= MAX_TREE_SIZE) throw new MerkleError('bad-size', `tree already has ${MAX_TREE_SIZE} leaves`);
    bytesToWords(leafHash, 0, this.#edge, this.#depth * 8);
    this.#push();
  }

  appendLeafData(data: Uint8Array): void {
    if (this.#size >= MAX_TREE_SIZE) throw new MerkleError('bad-size', `tree already has ${MAX_TREE_SIZE} leaves`);
    if (data.length === 32) {
      digest33Words(0x00, data, 0);
      readDigestWords(this.#edge, this.#depth * 8);
    } else {
      bytesToWords(leafHash(data), 0, this.#edge, this.#depth * 8);
    }
    this.#push();
  }

  /** MTH of the leaves appended so far (SHA-256("") when none). */
  root(): Hash {
    return foldEdge(this.#edge, this.#depth);
  }

  #push(): void {
    this.#depth++;
    // Leaf number `size` closes one subtree per trailing one bit of size.
    for (let c = this.#size; odd(c); c = (c - 1) / 2) this.#depth = mergeTop(this.#edge, this.#depth);
    this.#size++;
  }
}
