// Concord databases and contribution sets: sorted unique 32-byte elements,
// their RFC 6962 root, the intersection rule, and element proofs.
//
//   ../../shared/DESIGN.md "Database", "Concord entries" (contribution `set`, release `database`)
//   https://www.rfc-editor.org/rfc/rfc9162.html#section-2.1 (the tree)
//
//   blob    = e_0 ‖ e_1 ‖ … ‖ e_{n−1}        each e_i 32 bytes, e_0 < e_1 < … < e_{n−1}
//                                             (byte order: sorted, no duplicates), n ≤ max-entries
//   root    = MTH(e_0, …, e_{n−1})           RFC 6962, each element one leaf: SHA-256(0x00 ‖ e_i);
//                                             SHA-256("") for n = 0
//   count   = n
//   release = { e : e is in the contributions of ≥ min-orgs orgs spanning
//                   ≥ min-jurisdictions distinct jurisdictions } − exclude
//
// The elements are ristretto255 encodings k·H(x) (oprf.ts), but parsers check
// length, order and uniqueness only: decoding a million group elements costs
// over a minute and proves nothing the root does not (DESIGN.md).
//
// Element proofs, JSON (base64 = standard padded, canonical; index = JSON integer):
//
//   membership      {"element":"<b64>","index":<i>,"proof":["<b64 hash>",…]}
//                   RFC 9162 inclusion proof of leaf SHA-256(0x00 ‖ element) at index i.
//   non-membership  {"element":"<b64>","left":<neighbour>|null,"right":<neighbour>|null}
//                   neighbour = {"element":"<b64>","index":<i>,"proof":["<b64 hash>",…]}
//                   left is the largest element below `element`, right the smallest above,
//                   at adjacent indexes (right.index = left.index + 1); at an edge the missing
//                   side is null (right.index = 0, or left.index = count − 1); for the empty
//                   database both are null and the root must be SHA-256("").
// Both verify against a (root, count) pair, e.g. a release entry's `database` line.
// Non-membership relies on the committed database being sorted, which every
// auditor checks when it recomputes the root from the blob.
//
// Errors: DatabaseError for every bad input; badMath for broken invariants.

import { compareBytes, equalBytes, fromBase64, fromUtf8, toBase64 } from './bytes.js';
import { ConcordError, badMath } from './errors.js';
import { EMPTY_ROOT, type Hash, MerkleError, TreeBuilder, leafHash, rootFromLeafData, verifyInclusion } from './merkle.js';

/** Bytes of one element. */
export const ELEMENT_SIZE = 32;

/** Longest inclusion proof for a tree below 2^53 leaves. */
const MAX_PROOF_HASHES = 53;

/** Cap on a proof's JSON text: two neighbours of 53 hashes are ~10 KB. */
export const MAX_PROOF_JSON_SIZE = 65_536;

export type DatabaseErrorCode =
  | 'bad-length'
  | 'unsorted'
  | 'duplicate'
  | 'too-many'
  | 'bad-rule'
  | 'bad-element'
  | 'bad-state'
  | 'present'
  | 'absent'
  | 'bad-proof'
  | 'bad-json';

/**
 * - bad-length: a blob whose length is not a multiple of 32;
 * - unsorted: an element not above its predecessor in byte order;
 * - duplicate: an element equal to its predecessor;
 * - too-many: more elements than the cap (max-entries);
 * - bad-rule: intersection arguments that make no rule (thresholds not integers ≥ 1,
 *   a repeated org, a name or jurisdiction that is not a non-empty string);
 * - bad-element: an element argument that is not 32 bytes;
 * - bad-state: a streaming parser used after finish();
 * - present / absent: asked for a non-membership proof of a member, or a membership
 *   proof of a non-member;
 * - bad-proof: a proof that does not verify (the Merkle layer's error is the cause);
 * - bad-json: a proof's JSON that is not exactly the documented shape.
 */
export class DatabaseError extends ConcordError<DatabaseErrorCode> {
  override readonly name = 'DatabaseError';
}

export interface DatabaseSummary {
  /** RFC 6962 root with each element a leaf. */
  root: Hash;
  /** Number of elements. */
  count: number;
}

// ---------------------------------------------------------------------------
// Helpers over elements stored at offsets in blobs (no per-element allocation)

/**
 * Byte order of a[ao, ao+32) and b[bo, bo+32): negative, zero, positive.
 * Compares big-endian 32-bit words (unsigned, as numbers): equal elements —
 * common in a merge of overlapping lists — cost 8 steps, not 32.
 */
function compare32(a: Uint8Array, ao: number, b: Uint8Array, bo: number): number {
  for (let i = 0; i < ELEMENT_SIZE; i += 4) {
    const x = ((a[ao + i]! << 24) | (a[ao + i + 1]! << 16) | (a[ao + i + 2]! << 8) | a[ao + i + 3]!) >>> 0;
    const y = ((b[bo + i]! << 24) | (b[bo + i + 1]! << 16) | (b[bo + i + 2]! << 8) | b[bo + i + 3]!) >>> 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function checkCap(maxEntries: unknown): number {
  if (maxEntries === undefined) return Number.MAX_SAFE_INTEGER;
  if (typeof maxEntries !== 'number' || !Number.isSafeInteger(maxEntries) || maxEntries < 0) {
    throw new DatabaseError('bad-rule', `maxEntries must be an integer ≥ 0, got ${String(maxEntries)}`);
  }
  return maxEntries;
}

function checkBlob(blob: unknown, what: string): asserts blob is Uint8Array {
  if (!(blob instanceof Uint8Array)) throw new DatabaseError('bad-length', `${what} must be a Uint8Array`);
  if (blob.length % ELEMENT_SIZE !== 0) {
    throw new DatabaseError('bad-length', `${what}: ${blob.length} bytes is not a multiple of ${ELEMENT_SIZE}`);
  }
}

function checkElement(e: unknown, what = 'element'): asserts e is Uint8Array {
  if (!(e instanceof Uint8Array) || e.length !== ELEMENT_SIZE) {
    const got = e instanceof Uint8Array ? `${e.length} bytes` : typeof e;
    throw new DatabaseError('bad-element', `${what} must be ${ELEMENT_SIZE} bytes, got ${got}`);
  }
}

/** Element i of a blob is not above element i − 1 (cmp ≥ 0): duplicate or unsorted. */
function orderError(what: string, i: number, cmp: number): DatabaseError {
  if (cmp === 0) return new DatabaseError('duplicate', `${what}: element ${i} repeats element ${i - 1}`);
  return new DatabaseError('unsorted', `${what}: element ${i} is below element ${i - 1}`);
}

/** Checks length, order, uniqueness and the cap of a whole blob; returns the count. */
function validate(blob: unknown, what: string, maxEntries: number): number {
  checkBlob(blob, what);
  const n = blob.length / ELEMENT_SIZE;
  if (n > maxEntries) throw new DatabaseError('too-many', `${what}: ${n} elements exceed the cap of ${maxEntries}`);
  for (let i = 1; i < n; i++) {
    const c = compare32(blob, (i - 1) * ELEMENT_SIZE, blob, i * ELEMENT_SIZE);
    if (c >= 0) throw orderError(what, i, c);
  }
  return n;
}

// ---------------------------------------------------------------------------
// Whole blobs

/**
 * Validates a database or contribution blob (length, order, uniqueness, at
 * most `maxEntries` elements) and returns its root and count.
 */
export function parseDatabase(blob: Uint8Array, opts?: { maxEntries?: number }): DatabaseSummary {
  const count = validate(blob, 'database', checkCap(opts?.maxEntries));
  return { root: rootFromLeafData(blob, ELEMENT_SIZE), count };
}

/** The blob of a set of 32-byte elements: sorted, duplicates dropped. */
export function formatDatabase(elements: Iterable<Uint8Array>, opts?: { maxEntries?: number }): Uint8Array {
  const cap = checkCap(opts?.maxEntries);
  const list: Uint8Array[] = [];
  let i = 0;
  for (const e of elements) {
    checkElement(e, `element ${i++}`);
    list.push(e);
  }
  list.sort(compareBytes);
  const out = new Uint8Array(list.length * ELEMENT_SIZE);
  let n = 0;
  for (let j = 0; j < list.length; j++) {
    if (n > 0 && compare32(out, (n - 1) * ELEMENT_SIZE, list[j]!, 0) === 0) continue;
    out.set(list[j]!, n * ELEMENT_SIZE);
    n++;
  }
  if (n > cap) throw new DatabaseError('too-many', `${n} elements exceed the cap of ${cap}`);
  return n === list.length ? out : out.slice(0, n * ELEMENT_SIZE);
}

/** Element i of a blob (a copy). */
export function elementAt(blob: Uint8Array, i: number): Uint8Array {
  checkBlob(blob, 'database');
  if (!Number.isSafeInteger(i) || i < 0 || i >= blob.length / ELEMENT_SIZE) {
    throw new DatabaseError('bad-element', `no element ${String(i)} in a database of ${blob.length / ELEMENT_SIZE}`);
  }
  return blob.slice(i * ELEMENT_SIZE, (i + 1) * ELEMENT_SIZE);
}

// ---------------------------------------------------------------------------
// Streaming parse

export interface ParsedDatabase extends DatabaseSummary {
  /** The blob itself, when the parser was asked to keep it. */
  elements?: Uint8Array;
}

/**
 * Parses a blob arriving in chunks (any boundaries): checks order,
 * uniqueness and the cap as elements complete, and builds the root
 * incrementally. Holds 64 bytes plus the tree's right edge (O(log n)), and the
 * elements only with `keepElements`. The first error is sticky: every later
 * call throws it again.
 */
export class DatabaseParser {
  readonly #cap: number;
  readonly #keep: boolean;
  readonly #tree = new TreeBuilder();
  readonly #prev = new Uint8Array(ELEMENT_SIZE);
  readonly #pending = new Uint8Array(ELEMENT_SIZE);
  #pendingLength = 0;
  #count = 0;
  #kept: Uint8Array = new Uint8Array(0);
  #error: DatabaseError | null = null;
  #finished = false;

  constructor(opts?: { maxEntries?: number; keepElements?: boolean }) {
    this.#cap = checkCap(opts?.maxEntries);
    this.#keep = opts?.keepElements === true;
  }

  /** Complete elements seen so far. */
  get count(): number {
    return this.#count;
  }

  push(chunk: Uint8Array): void {
    this.#usable();
    if (!(chunk instanceof Uint8Array)) this.#fail(new DatabaseError('bad-length', 'chunk must be a Uint8Array'));
    let o = 0;
    if (this.#pendingLength > 0) {
      const take = Math.min(ELEMENT_SIZE - this.#pendingLength, chunk.length);
      this.#pending.set(chunk.subarray(0, take), this.#pendingLength);
      this.#pendingLength += take;
      o = take;
      if (this.#pendingLength < ELEMENT_SIZE) return;
      this.#element(this.#pending, 0);
      this.#pendingLength = 0;
    }
    for (; o + ELEMENT_SIZE <= chunk.length; o += ELEMENT_SIZE) this.#element(chunk, o);
    if (o < chunk.length) {
      this.#pending.set(chunk.subarray(o), 0);
      this.#pendingLength = chunk.length - o;
    }
  }

  /** Ends the blob: throws bad-length on a partial element, else returns root and count. */
  finish(): ParsedDatabase {
    this.#usable();
    if (this.#pendingLength !== 0) {
      const total = this.#count * ELEMENT_SIZE + this.#pendingLength;
      this.#fail(new DatabaseError('bad-length', `database: ${total} bytes is not a multiple of ${ELEMENT_SIZE}`));
    }
    this.#finished = true;
    const out: ParsedDatabase = { root: this.#tree.root(), count: this.#count };
    if (this.#keep) out.elements = this.#kept.length === this.#count * ELEMENT_SIZE ? this.#kept : this.#kept.slice(0, this.#count * ELEMENT_SIZE);
    this.#kept = new Uint8Array(0);
    return out;
  }

  #usable(): void {
    if (this.#error !== null) throw this.#error;
    if (this.#finished) throw new DatabaseError('bad-state', 'parser already finished');
  }

  #fail(e: DatabaseError): never {
    this.#error = e;
    throw e;
  }

  #element(buf: Uint8Array, off: number): void {
    const i = this.#count;
    if (i >= this.#cap) this.#fail(new DatabaseError('too-many', `database: more than ${this.#cap} elements`));
    if (i > 0) {
      const c = compare32(this.#prev, 0, buf, off);
      if (c >= 0) this.#fail(orderError('database', i, c));
    }
    for (let j = 0; j < ELEMENT_SIZE; j++) this.#prev[j] = buf[off + j]!;
    this.#tree.appendLeafData(this.#prev);
    if (this.#keep) {
      const need = (i + 1) * ELEMENT_SIZE;
      if (need > this.#kept.length) {
        const grown = new Uint8Array(Math.max(need, Math.min(this.#kept.length * 2, this.#cap * ELEMENT_SIZE), 1024));
        grown.set(this.#kept);
        this.#kept = grown;
      }
      this.#kept.set(this.#prev, i * ELEMENT_SIZE);
    }
    this.#count = i + 1;
  }
}

// ---------------------------------------------------------------------------
// Set operations by merging sorted blobs

export interface DatabaseDiff {
  /** Elements of `next` not in `previous`. */
  added: number;
  /** Elements of `previous` not in `next`. */
  removed: number;
}

/**
 * Walks two blobs in one merge, validating both (length, order, uniqueness)
 * as it goes, and calls visit once per distinct element: −1 when only in a,
 * 0 when in both, 1 when only in b. visit returning false stops the walk.
 */
function merge(a: Uint8Array, aWhat: string, b: Uint8Array, bWhat: string, visit: (where: -1 | 0 | 1) => boolean | void): void {
  checkBlob(a, aWhat);
  checkBlob(b, bWhat);
  const na = a.length;
  const nb = b.length;
  let i = 0;
  let j = 0;
  // Each list's order is checked when its cursor moves past an element.
  const stepA = () => {
    if (i + ELEMENT_SIZE < na) {
      const c = compare32(a, i, a, i + ELEMENT_SIZE);
      if (c >= 0) throw orderError(aWhat, i / ELEMENT_SIZE + 1, c);
    }
    i += ELEMENT_SIZE;
  };
  const stepB = () => {
    if (j + ELEMENT_SIZE < nb) {
      const c = compare32(b, j, b, j + ELEMENT_SIZE);
      if (c >= 0) throw orderError(bWhat, j / ELEMENT_SIZE + 1, c);
    }
    j += ELEMENT_SIZE;
  };
  while (i < na || j < nb) {
    let where: -1 | 0 | 1;
    if (i >= na) where = 1;
    else if (j >= nb) where = -1;
    else {
      const c = compare32(a, i, b, j);
      where = c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    if (visit(where) === false) return;
    if (where <= 0) stepA();
    if (where >= 0) stepB();
  }
}

/** Added and removed counts from `previous` to `next` (release entry lines). */
export function diffDatabases(previous: Uint8Array, next: Uint8Array): DatabaseDiff {
  let added = 0;
  let removed = 0;
  merge(previous, 'previous database', next, 'database', (w) => {
    if (w < 0) removed++;
    else if (w > 0) added++;
  });
  return { added, removed };
}

/** Is every element of `a` in `b`? (A device accepts a shrinking database without notice.) */
export function isSubset(a: Uint8Array, b: Uint8Array): boolean {
  let subset = true;
  // Walks to the end even after the answer is known, so both blobs are fully validated.
  merge(a, 'subset candidate', b, 'database', (w) => {
    if (w < 0) subset = false;
  });
  return subset;
}

// ---------------------------------------------------------------------------
// The intersection rule

export interface Contribution {
  /** The org's name (unique among the contributions). */
  org: string;
  /** Its jurisdiction (ISO-3166 alpha-2 in policies; compared as an opaque string here). */
  jurisdiction: string;
  /** Its contribution blob: sorted unique 32-byte elements. */
  elements: Uint8Array;
}

export interface IntersectionRule {
  /** Keep an element only when at least this many orgs hold it (policy: ≥ 2). */
  minOrgs: number;
  /** … and those orgs span at least this many distinct jurisdictions (policy: ≥ 2). */
  minJurisdictions: number;
}

/** Why each distinct element was dropped or kept; the four buckets partition `distinct`. */
export interface IntersectionReport {
  /** Contributions merged. */
  contributions: number;
  /** Distinct elements across all contributions. */
  distinct: number;
  /** Dropped: held by fewer than minOrgs orgs. */
  belowMinOrgs: number;
  /** Dropped: enough orgs, but fewer than minJurisdictions distinct jurisdictions among them. */
  belowMinJurisdictions: number;
  /** Dropped: passed both thresholds but listed in the exclusion set. */
  excluded: number;
  /** Kept: the release database's count. */
  kept: number;
  /** Elements in the exclusion set (excluded plus those that were not candidates anyway). */
  excludeListed: number;
}

export interface Intersection extends DatabaseSummary {
  /** The release database blob. */
  elements: Uint8Array;
  report: IntersectionReport;
}

/**
 * DESIGN.md's release rule, as one deterministic function: an element is
 * kept iff the contributions of ≥ rule.minOrgs orgs hold it, those orgs span
 * ≥ rule.minJurisdictions distinct jurisdictions, and it is not in `exclude`
 * (a blob; exclusion only ever removes). Every blob is validated (length,
 * order, uniqueness, and `maxEntries` for each contribution and the result).
 *
 * A k-way merge over the sorted blobs with a binary heap of cursors: O(T log k)
 * for T elements in k contributions (k is the number of orgs, so in effect
 * O(T)), memory O(k) beyond the output. The order of `contributions` does not
 * affect the result.
 */
export function intersectContributions(
  contributions: readonly Contribution[],
  rule: IntersectionRule,
  exclude: Uint8Array = new Uint8Array(0),
  opts?: { maxEntries?: number },
): Intersection {
  const cap = checkCap(opts?.maxEntries);
  if (!Array.isArray(contributions)) throw new DatabaseError('bad-rule', 'contributions must be an array');
  const { minOrgs, minJurisdictions } = rule ?? ({} as IntersectionRule);
  for (const [name, v] of [['minOrgs', minOrgs], ['minJurisdictions', minJurisdictions]] as const) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
      throw new DatabaseError('bad-rule', `${name} must be an integer ≥ 1, got ${String(v)}`);
    }
  }
  const k = contributions.length;
  const blobs: Uint8Array[] = [];
  const what: string[] = [];
  const jid = new Int32Array(k);
  const jurisdictions = new Map<string, number>();
  const orgs = new Set<string>();
  let total = 0;
  for (let j = 0; j < k; j++) {
    const c = contributions[j];
    if (typeof c !== 'object' || c === null) throw new DatabaseError('bad-rule', `contribution ${j} must be an object`);
    const { org, jurisdiction, elements } = c;
    if (typeof org !== 'string' || org === '') throw new DatabaseError('bad-rule', `contribution ${j}: org must be a non-empty string`);
    if (typeof jurisdiction !== 'string' || jurisdiction === '') {
      throw new DatabaseError('bad-rule', `contribution ${j}: jurisdiction must be a non-empty string`);
    }
    if (orgs.has(org)) throw new DatabaseError('bad-rule', `org ${JSON.stringify(org)} contributes twice`);
    orgs.add(org);
    const w = `contribution of ${JSON.stringify(org)}`;
    checkBlob(elements, w);
    if (elements.length / ELEMENT_SIZE > cap) {
      throw new DatabaseError('too-many', `${w}: ${elements.length / ELEMENT_SIZE} elements exceed the cap of ${cap}`);
    }
    let id = jurisdictions.get(jurisdiction);
    if (id === undefined) jurisdictions.set(jurisdiction, (id = jurisdictions.size));
    jid[j] = id;
    blobs.push(elements);
    what.push(w);
    total += elements.length / ELEMENT_SIZE;
  }
  checkBlob(exclude, 'exclusion set');

  // Cursors (byte offsets) and a min-heap of contribution numbers ordered by
  // each cursor's element. key[j] caches the first 4 bytes of j's head as a
  // number, so most comparisons are one numeric compare. Ties break by
  // contribution number, which does not matter: equal heads are consumed together.
  const pos = new Float64Array(k);
  const key = new Float64Array(k);
  const heap = new Int32Array(k);
  let size = 0;
  const keyAt = (b: Uint8Array, p: number): number => ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  const less = (x: number, y: number): boolean => {
    const kx = key[x]!;
    const ky = key[y]!;
    if (kx !== ky) return kx < ky;
    const c = compare32(blobs[x]!, pos[x]!, blobs[y]!, pos[y]!);
    return c < 0 || (c === 0 && x < y);
  };
  const siftDown = (at: number): void => {
    const v = heap[at]!;
    for (;;) {
      const l = 2 * at + 1;
      if (l >= size) break;
      const r = l + 1;
      const m = r < size && less(heap[r]!, heap[l]!) ? r : l;
      if (!less(heap[m]!, v)) break;
      heap[at] = heap[m]!;
      at = m;
    }
    heap[at] = v;
  };
  for (let j = 0; j < k; j++) {
    if (blobs[j]!.length === 0) continue;
    key[j] = keyAt(blobs[j]!, 0);
    heap[size++] = j;
  }
  for (let i = (size >> 1) - 1; i >= 0; i--) siftDown(i);

  // Output: at most total / minOrgs elements can be held by minOrgs orgs.
  const bound = Math.min(Math.floor(total / minOrgs), cap + 1);
  let out = new Uint8Array(bound * ELEMENT_SIZE);
  let kept = 0;
  let distinct = 0;
  let belowMinOrgs = 0;
  let belowMinJurisdictions = 0;
  let excluded = 0;
  const stamp = new Float64Array(jurisdictions.size).fill(-1);
  let x = 0; // exclusion cursor (bytes)
  const nx = exclude.length;

  while (size > 0) {
    const top = heap[0]!;
    const cur = blobs[top]!; // the element is cur[at, at+32); blobs are never written
    const at = pos[top]!;
    const curKey = key[top]!;
    let holders = 0;
    let spans = 0;
    // Pop every contribution whose head equals the element (the first is top itself).
    while (size > 0) {
      const j = heap[0]!;
      const b = blobs[j]!;
      const p = pos[j]!;
      if (holders > 0 && (key[j] !== curKey || compare32(b, p, cur, at) !== 0)) break;
      holders++;
      const jj = jid[j]!;
      if (stamp[jj] !== distinct) {
        stamp[jj] = distinct;
        spans++;
      }
      // Advance j, checking its order as the cursor moves.
      const q = p + ELEMENT_SIZE;
      if (q < b.length) {
        const kq = keyAt(b, q);
        if (kq <= key[j]!) {
          const c = compare32(b, p, b, q);
          if (c >= 0) throw orderError(what[j]!, q / ELEMENT_SIZE, c);
        }
        pos[j] = q;
        key[j] = kq;
      } else {
        // j is heap[0]: move the last entry to the top.
        heap[0] = heap[--size]!;
      }
      if (size > 0) siftDown(0);
    }
    if (holders === 0) badMath('merge consumed nothing');
    distinct++;
    if (holders < minOrgs) {
      belowMinOrgs++;
      continue;
    }
    if (spans < minJurisdictions) {
      belowMinJurisdictions++;
      continue;
    }
    // Advance the exclusion cursor past smaller elements (validating its order).
    let cx = 1;
    while (x < nx) {
      cx = compare32(exclude, x, cur, at);
      if (cx >= 0) break;
      advanceExclusion();
    }
    if (x < nx && cx === 0) {
      excluded++;
      continue;
    }
    if (kept >= cap) throw new DatabaseError('too-many', `release database: more than ${cap} elements`);
    if (kept >= bound) badMath('intersection output bound');
    const o = kept * ELEMENT_SIZE;
    for (let b = 0; b < ELEMENT_SIZE; b++) out[o + b] = cur[at + b]!;
    kept++;
  }
  // Validate the rest of the exclusion set too, so a bad blob never passes.
  while (x < nx) advanceExclusion();

  function advanceExclusion(): void {
    const q = x + ELEMENT_SIZE;
    if (q < nx) {
      const c = compare32(exclude, x, exclude, q);
      if (c >= 0) throw orderError('exclusion set', q / ELEMENT_SIZE, c);
    }
    x = q;
  }

  const used = kept * ELEMENT_SIZE;
  // Do not pin a mostly-empty buffer.
  out = used * 2 >= out.length ? out.subarray(0, used) : out.slice(0, used);
  return {
    elements: out,
    root: rootFromLeafData(out, ELEMENT_SIZE),
    count: kept,
    report: {
      contributions: k,
      distinct,
      belowMinOrgs,
      belowMinJurisdictions,
      excluded,
      kept,
      excludeListed: nx / ELEMENT_SIZE,
    },
  };
}

// ---------------------------------------------------------------------------
// Element proofs

export interface MembershipProof {
  /** The element proven present. */
  element: Uint8Array;
  /** Its index in the database. */
  index: number;
  /** RFC 9162 inclusion proof of leaf SHA-256(0x00 ‖ element) at index. */
  proof: Hash[];
}

/** A neighbour in a non-membership proof has exactly a membership proof's shape. */
export type Neighbour = MembershipProof;

export interface NonMembershipProof {
  /** The element proven absent. */
  element: Uint8Array;
  /** The largest element below it, or null when it is below every element. */
  left: Neighbour | null;
  /** The smallest element above it, or null when it is above every element. */
  right: Neighbour | null;
}

/** Binary search: [true, index] when present, else [false, insertion point]. */
/** Is the 32-byte `element` in the sorted database blob? (Binary search.) */
export function contains(blob: Uint8Array, element: Uint8Array): boolean {
  return locate(blob, element)[0];
}

function locate(blob: Uint8Array, element: Uint8Array): [boolean, number] {
  let lo = 0;
  let hi = blob.length / ELEMENT_SIZE;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const c = compare32(blob, mid * ELEMENT_SIZE, element, 0);
    if (c === 0) return [true, mid];
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return [false, lo];
}

/**
 * RFC 9162 §2.1.3.1 PATH(index, D[0:n]) from the elements themselves: the
 * sibling subtree roots from the top down, reversed to leaf-first order. O(n)
 * hashing per proof (every leaf is hashed once); for many proofs over one
 * large database, store the tree's hashes and use merkle.ts proveInclusion.
 */
function inclusionPath(blob: Uint8Array, n: number, index: number): Hash[] {
  const sub = (lo: number, hi: number) => rootFromLeafData(blob.subarray(lo * ELEMENT_SIZE, hi * ELEMENT_SIZE), ELEMENT_SIZE);
  const path: Hash[] = [];
  let lo = 0;
  let hi = n;
  while (hi - lo > 1) {
    let k = 1;
    while (k * 2 < hi - lo) k *= 2; // largest power of two < hi − lo
    if (index < lo + k) {
      path.push(sub(lo + k, hi));
      hi = lo + k;
    } else {
      path.push(sub(lo, lo + k));
      lo = lo + k;
    }
  }
  return path.reverse();
}

function neighbour(blob: Uint8Array, n: number, index: number): Neighbour {
  return { element: blob.slice(index * ELEMENT_SIZE, (index + 1) * ELEMENT_SIZE), index, proof: inclusionPath(blob, n, index) };
}

/** Proof that `element` is in the database blob (validated first); throws absent otherwise. */
export function proveMembership(database: Uint8Array, element: Uint8Array): MembershipProof {
  const n = validate(database, 'database', Number.MAX_SAFE_INTEGER);
  checkElement(element);
  const [found, i] = locate(database, element);
  if (!found) throw new DatabaseError('absent', 'element is not in the database');
  return neighbour(database, n, i);
}

/** Proof that `element` is not in the database blob (validated first); throws present otherwise. */
export function proveNonMembership(database: Uint8Array, element: Uint8Array): NonMembershipProof {
  const n = validate(database, 'database', Number.MAX_SAFE_INTEGER);
  checkElement(element);
  const [found, i] = locate(database, element);
  if (found) throw new DatabaseError('present', 'element is in the database');
  return {
    element: element.slice(),
    left: i > 0 ? neighbour(database, n, i - 1) : null,
    right: i < n ? neighbour(database, n, i) : null,
  };
}

function checkSummary(root: unknown, count: unknown): void {
  if (!(root instanceof Uint8Array) || root.length !== 32) throw new DatabaseError('bad-proof', 'root must be 32 bytes');
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) {
    throw new DatabaseError('bad-proof', `count must be an integer ≥ 0, got ${String(count)}`);
  }
}

function verifyNeighbour(root: Hash, count: number, nb: unknown, what: string): Neighbour {
  if (typeof nb !== 'object' || nb === null) throw new DatabaseError('bad-proof', `${what} must be an object`);
  const { element, index, proof } = nb as Neighbour;
  if (!(element instanceof Uint8Array) || element.length !== ELEMENT_SIZE) throw new DatabaseError('bad-proof', `${what}: element must be 32 bytes`);
  try {
    verifyInclusion(leafHash(element), index, count, proof, root);
  } catch (cause) {
    if (cause instanceof MerkleError) throw new DatabaseError('bad-proof', `${what}: ${cause.message}`, { cause });
    throw cause;
  }
  return nb as Neighbour;
}

/**
 * Verifies that `element` is in the database with this root and count.
 * Throws bad-proof (or bad-element for a malformed element argument).
 */
export function verifyMembership(root: Hash, count: number, element: Uint8Array, proof: MembershipProof): void {
  checkElement(element);
  checkSummary(root, count);
  const p = verifyNeighbour(root, count, proof, 'membership proof');
  if (!equalBytes(p.element, element)) throw new DatabaseError('bad-proof', 'membership proof is for another element');
}

/**
 * Verifies that `element` is not in the (sorted) database with this root
 * and count: its neighbours are included at adjacent indexes and straddle it.
 */
export function verifyNonMembership(root: Hash, count: number, element: Uint8Array, proof: NonMembershipProof): void {
  checkElement(element);
  checkSummary(root, count);
  if (typeof proof !== 'object' || proof === null) throw new DatabaseError('bad-proof', 'proof must be an object');
  if (!(proof.element instanceof Uint8Array) || !equalBytes(proof.element, element)) {
    throw new DatabaseError('bad-proof', 'non-membership proof is for another element');
  }
  const { left, right } = proof;
  if (count === 0) {
    if (left !== null || right !== null) throw new DatabaseError('bad-proof', 'the empty database has no neighbours');
    if (!equalBytes(root, EMPTY_ROOT)) throw new DatabaseError('bad-proof', 'root of an empty database must be SHA-256("")');
    return;
  }
  if (left === null && right === null) throw new DatabaseError('bad-proof', 'a non-empty database needs a neighbour');
  if (left !== null) {
    const l = verifyNeighbour(root, count, left, 'left neighbour');
    if (compareBytes(l.element, element) >= 0) throw new DatabaseError('bad-proof', 'left neighbour is not below the element');
    if (right === null && l.index !== count - 1) throw new DatabaseError('bad-proof', 'left neighbour without a right one must be the last element');
  }
  if (right !== null) {
    const r = verifyNeighbour(root, count, right, 'right neighbour');
    if (compareBytes(element, r.element) >= 0) throw new DatabaseError('bad-proof', 'right neighbour is not above the element');
    if (left === null && r.index !== 0) throw new DatabaseError('bad-proof', 'right neighbour without a left one must be the first element');
  }
  if (left !== null && right !== null && right.index !== left.index + 1) {
    throw new DatabaseError('bad-proof', 'neighbours are not at adjacent indexes');
  }
}

// ---------------------------------------------------------------------------
// Proof JSON

function neighbourJson(p: Neighbour): unknown {
  return { element: toBase64(p.element), index: p.index, proof: p.proof.map((h) => toBase64(h)) };
}

export function formatMembershipProof(p: MembershipProof): string {
  return JSON.stringify(neighbourJson(p));
}

export function formatNonMembershipProof(p: NonMembershipProof): string {
  return JSON.stringify({
    element: toBase64(p.element),
    left: p.left === null ? null : neighbourJson(p.left),
    right: p.right === null ? null : neighbourJson(p.right),
  });
}

function parseJson(text: unknown): Record<string, unknown> {
  let s: string;
  if (typeof text === 'string') s = text;
  else if (text instanceof Uint8Array) {
    if (text.length > MAX_PROOF_JSON_SIZE) throw new DatabaseError('bad-json', `proof exceeds ${MAX_PROOF_JSON_SIZE} bytes`);
    try {
      s = fromUtf8(text);
    } catch (cause) {
      throw new DatabaseError('bad-json', 'proof is not UTF-8', { cause });
    }
  } else throw new DatabaseError('bad-json', 'proof must be a string or bytes');
  if (s.length > MAX_PROOF_JSON_SIZE) throw new DatabaseError('bad-json', `proof exceeds ${MAX_PROOF_JSON_SIZE} characters`);
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch (cause) {
    throw new DatabaseError('bad-json', 'proof is not JSON', { cause });
  }
  return object(v, 'proof');
}

function object(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new DatabaseError('bad-json', `${what} must be a JSON object`);
  return v as Record<string, unknown>;
}

function exactKeys(o: Record<string, unknown>, keys: readonly string[], what: string): void {
  const got = Object.keys(o).sort();
  const want = [...keys].sort();
  if (got.length !== want.length || got.some((k, i) => k !== want[i])) {
    throw new DatabaseError('bad-json', `${what} must have exactly the keys ${want.join(', ')}`);
  }
}

function b64(v: unknown, what: string): Uint8Array {
  if (typeof v !== 'string') throw new DatabaseError('bad-json', `${what} must be a base64 string`);
  let b: Uint8Array;
  try {
    b = fromBase64(v);
  } catch (cause) {
    throw new DatabaseError('bad-json', `${what}: not canonical padded base64`, { cause });
  }
  if (b.length !== 32) throw new DatabaseError('bad-json', `${what}: want 32 bytes, got ${b.length}`);
  return b;
}

function neighbourFromJson(v: unknown, what: string): Neighbour {
  const o = object(v, what);
  exactKeys(o, ['element', 'index', 'proof'], what);
  const index = o.index;
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) {
    throw new DatabaseError('bad-json', `${what}: index must be an integer ≥ 0`);
  }
  if (!Array.isArray(o.proof) || o.proof.length > MAX_PROOF_HASHES) {
    throw new DatabaseError('bad-json', `${what}: proof must be an array of at most ${MAX_PROOF_HASHES} hashes`);
  }
  const proof = o.proof.map((h: unknown, i: number) => b64(h, `${what}: proof[${i}]`));
  return { element: b64(o.element, `${what}: element`), index, proof };
}

/** Parses a membership proof's JSON strictly (exact keys, canonical base64, integer index). */
export function parseMembershipProof(text: string | Uint8Array): MembershipProof {
  return neighbourFromJson(parseJson(text), 'membership proof');
}

/** Parses a non-membership proof's JSON strictly. */
export function parseNonMembershipProof(text: string | Uint8Array): NonMembershipProof {
  const o = parseJson(text);
  exactKeys(o, ['element', 'left', 'right'], 'non-membership proof');
  return {
    element: b64(o.element, 'element'),
    left: o.left === null ? null : neighbourFromJson(o.left, 'left neighbour'),
    right: o.right === null ? null : neighbourFromJson(o.right, 'right neighbour'),
  };
}
