// Exhaustive sweep of client-sdk/src/merkle.ts over every tree of 1..300
// leaves, against an independent RFC 6962 / RFC 9162 implementation written
// here with node:crypto (MTH, PATH and SUBPROOF straight from the RFC's
// recursive definitions), with a stored-hash log built by
// storedHashesForRecordHash and read through an in-memory HashReader.
//
// Mutations (details and the reason for sampling beside ALL_BITS_MAX below):
// every bit of every proof hash and root for trees up to 16 leaves and for
// the first and last index / old size up to 64; one bit per 32-bit word,
// rotating, for every other index and old size up to 64; one random bit per
// proof hash above 64. Every proof hash dropped in turn, a surplus hash
// appended; index and size bits flipped.
//
// Index and size flips: RFC 9162 verification binds the tree size only
// through the proof's shape, so a flipped size can legitimately verify: leaf 0
// of a 5-leaf tree has the proof [leaf 1, node(2,3), leaf 4] and, against the
// same root, verifies as "leaf 0 of a 7-leaf tree" (7 = 5 with bit 1 set),
// whose proof has the same shape. (Harmless: callers take size and root
// together from a signed checkpoint, and no 7-leaf tree has that 5-leaf root,
// thanks to the leaf/node domain separation.) So for index and size flips the test does not
// assume failure; it asks an oracle, derived from the RFC recursions alone,
// whether the mutated claim is actually true for the given hashes, and
// requires verification to agree exactly. Proof-hash and root flips must
// always fail.
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import {
  type Hash,
  type HashReader,
  MerkleError,
  TreeBuilder,
  leafHash,
  proveConsistency,
  proveInclusion,
  rootFromLeafHashes,
  storedHashCount,
  storedHashIndex,
  storedHashesForRecordHash,
  treeHash,
  verifyConsistency,
  verifyInclusion,
} from '@concord/client-sdk/merkle';

const MAX = 300;
const FULL_FLIPS = 64;

// ---------------------------------------------------------------------------
// Independent reference (node:crypto, RFC 6962 §2.1 recursions).

function sha(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}
const ONE = new Uint8Array([1]);
const ZERO = new Uint8Array([0]);

/** Largest power of two strictly below n (n ≥ 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

type Range = readonly [lo: number, hi: number];

/** RFC 9162 §2.1.3.1 PATH(m, D[lo:hi]) as the ranges whose MTH forms the proof. */
function pathRanges(m: number, lo: number, hi: number): Range[] {
  if (hi - lo === 1) return [];
  const k = split(hi - lo);
  return m < lo + k ? [...pathRanges(m, lo, lo + k), [lo + k, hi]] : [...pathRanges(m, lo + k, hi), [lo, lo + k]];
}

/** RFC 9162 §2.1.4.1 SUBPROOF(m, D[lo:hi], b) as ranges (m counts leaves from lo). */
function subproofRanges(m: number, lo: number, hi: number, b: boolean): Range[] {
  if (m === hi - lo) return b ? [] : [[lo, hi]];
  const k = split(hi - lo);
  return m <= k
    ? [...subproofRanges(m, lo, lo + k, b), [lo + k, hi]]
    : [...subproofRanges(m - k, lo + k, hi, false), [lo, lo + k]];
}

const isPow2 = (x: number) => x > 0 && (x & (x - 1)) === 0;

// ---- Oracle: does a proof for (index, size) / (m, n) also prove a mutated claim?
// Every proof hash is MTH of a known range of the real tree. Evaluate the
// mutated claim's root expression symbolically, over ranges: node(MTH[a,b),
// MTH[b,c)) is MTH[a,c) exactly when b is [a,c)'s RFC split point; anything
// else is some other hash (collision resistance). The claim verifies iff the
// expressions come out as the given roots' ranges.

function join(x: string, y: string): string {
  const a = /^(\d+):(\d+)$/.exec(x);
  const b = /^(\d+):(\d+)$/.exec(y);
  if (a && b) {
    const [lo, mid, mid2, hi] = [Number(a[1]), Number(a[2]), Number(b[1]), Number(b[2])];
    if (mid === mid2 && hi - lo >= 2 && mid - lo === split(hi - lo)) return `${lo}:${hi}`;
  }
  return `(${x},${y})`;
}

function evalRange(lo: number, hi: number, avail: Map<string, string>): string {
  const have = avail.get(`${lo}:${hi}`);
  if (have !== undefined) return have;
  if (hi - lo <= 1) return '?';
  const k = split(hi - lo);
  return join(evalRange(lo, lo + k, avail), evalRange(lo + k, hi, avail));
}

const key = (r: Range) => `${r[0]}:${r[1]}`;

function inclusionClaimHolds(index: number, size: number, index2: number, size2: number): boolean {
  if (!Number.isSafeInteger(index2) || !Number.isSafeInteger(size2) || index2 < 0 || index2 >= size2) return false;
  const p = pathRanges(index, 0, size);
  const p2 = pathRanges(index2, 0, size2);
  if (p.length !== p2.length) return false;
  const avail = new Map<string, string>([[`${index2}:${index2 + 1}`, `${index}:${index + 1}`]]);
  p2.forEach((r, i) => avail.set(key(r), key(p[i]!)));
  return evalRange(0, size2, avail) === `0:${size}`;
}

/** For a proof of 0 < m < n: does it prove (m2, n2) against the same roots? */
function consistencyClaimHolds(m: number, n: number, m2: number, n2: number): boolean {
  if (m2 >= n2 || m2 === 0) return false; // the proof is non-empty and root(m) ≠ SHA-256("")
  const p = subproofRanges(m, 0, n, true);
  const p2 = subproofRanges(m2, 0, n2, true);
  if (p.length !== p2.length) return false;
  const avail = new Map<string, string>();
  p2.forEach((r, i) => avail.set(key(r), key(p[i]!)));
  if (isPow2(m2)) avail.set(`0:${m2}`, `0:${m}`); // the verifier supplies the old root itself
  return evalRange(0, m2, avail) === `0:${m}` && evalRange(0, n2, avail) === `0:${n}`;
}

// ---------------------------------------------------------------------------
// Fixture: 300 leaves of assorted lengths (0..80 bytes, so both the 33-byte
// fast path and the general path are exercised).

let seed = 0x2545f491;
function rand(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
}
const randInt = (n: number) => Math.floor(rand() * n);

const data: Uint8Array[] = [];
const leaves: Hash[] = [];
const memo = new Map<string, Uint8Array>();
function mth(lo: number, hi: number): Uint8Array {
  const k = `${lo}:${hi}`;
  let h = memo.get(k);
  if (h === undefined) {
    if (hi - lo === 0) h = sha();
    else if (hi - lo === 1) h = sha(ZERO, data[lo]!);
    else {
      const s = split(hi - lo);
      h = sha(ONE, mth(lo, lo + s), mth(lo + s, hi));
    }
    memo.set(k, h);
  }
  return h;
}
const rangeHashes = (rs: Range[]) => rs.map(([lo, hi]) => mth(lo, hi));

/** In-memory stored hashes; checks the one-batch, increasing-index contract. */
class Store implements HashReader {
  hashes: Hash[] = [];
  calls = 0;
  async readHashes(indexes: readonly number[]): Promise<Hash[]> {
    this.calls++;
    for (let i = 0; i < indexes.length; i++) {
      if (i > 0 && !(indexes[i]! > indexes[i - 1]!)) throw new Error('indexes not strictly increasing');
      if (!(indexes[i]! < this.hashes.length)) throw new Error(`index ${indexes[i]} beyond ${this.hashes.length} stored hashes`);
    }
    return indexes.map((i) => this.hashes[i]!);
  }
}
const store = new Store();

beforeAll(async () => {
  for (let i = 0; i < MAX; i++) {
    const d = new Uint8Array(i % 7 === 0 ? 32 : randInt(81));
    for (let j = 0; j < d.length; j++) d[j] = randInt(256);
    data.push(d);
    leaves.push(leafHash(d));
    const add = await storedHashesForRecordHash(i, leaves[i]!, store);
    store.hashes.push(...add);
  }
});

const roots = () => Array.from({ length: MAX + 1 }, (_, n) => mth(0, n));

// Collects unexpected outcomes instead of calling expect per mutation
// (millions of cases). While it runs, errors capture no stack trace: that
// halves the cost of each rejected mutation.
class Tally {
  cases = 0;
  bad: string[] = [];
  /** Runs f, which must throw a MerkleError (expectPass false) or return (expectPass true). */
  check(what: () => string, expectPass: boolean, f: () => void): void {
    this.cases++;
    let passed: boolean;
    try {
      f();
      passed = true;
    } catch (e) {
      if (!(e instanceof MerkleError)) {
        this.bad.push(`${what()}: threw ${String(e)}`);
        return;
      }
      passed = false;
    }
    if (passed !== expectPass && this.bad.length < 20) this.bad.push(`${what()}: ${passed ? 'verified' : 'rejected'}`);
  }
}

function withoutStackTraces(): void {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  onTestFinished(() => {
    Error.stackTraceLimit = limit;
  });
}

const flipBit = (h: Uint8Array, bit: number) => {
  h[bit >> 3]! ^= 1 << (bit & 7);
};
/** x with bit b (0..52) flipped, exact above 2^32. */
const flipNum = (x: number, b: number) => Number(BigInt(x) ^ (1n << BigInt(b)));

// What to mutate. Every flip costs one full verification (several SHA-256
// compressions plus a thrown error, ~5 µs here), so all 256 bits of every
// hash for every index and old size up to 64 (~7 million verifications) would
// take about a minute. Instead, for trees of n leaves:
// - n ≤ 16, and for n ≤ 64 the first and last index (old sizes 1 and n − 1):
//   ALL 256 bits of every proof hash and root;
// - every other index / old size with n ≤ 64: one bit in every 32-bit word of
//   every proof hash and root (8 flips), the bit within the word rotating
//   with n, index and proof position, so every one of the 256 bit positions
//   of every proof slot is flipped across the sweep;
// - n > 64: one random bit per proof hash and root, for every 8th index /
//   old size (rotating with n) plus the first and last.
// Index and size flips (n ≤ 64) cover bits 0..7 (all that matter below 256)
// and 31, 32 and 52, which exercise the arithmetic beyond 32 bits.
const ALL_BITS_MAX = 16;
const ALL_BITS = Array.from({ length: 256 }, (_, b) => b);
const WORD_BITS = Array.from({ length: 32 }, (_, s) => Array.from({ length: 8 }, (_, w) => w * 32 + ((s + 11 * w) & 31)));
const NUMBER_BITS = [0, 1, 2, 3, 4, 5, 6, 7, 31, 32, 52];
type Mode = 'all' | 'words' | 'random' | 'skip';
function mode(n: number, i: number, first: number, last: number): Mode {
  if (n <= ALL_BITS_MAX || (n <= FULL_FLIPS && (i === first || i === last))) return 'all';
  if (n <= FULL_FLIPS) return 'words';
  return i === first || i === last || i % 8 === n % 8 ? 'random' : 'skip';
}
function bitsToFlip(m: Mode, salt: number): readonly number[] {
  if (m === 'all') return ALL_BITS;
  if (m === 'words') return WORD_BITS[salt & 31]!;
  return [randInt(256)];
}

describe('merkle sweep, trees of 1..300 leaves', () => {
  it('leaf hashes and stored hashes match the reference', () => {
    for (let i = 0; i < MAX; i++) expect(leaves[i]).toEqual(sha(ZERO, data[i]!));
    expect(store.hashes.length).toBe(storedHashCount(MAX));
    // Every complete subtree (level, n) is stored at storedHashIndex(level, n).
    let checked = 0;
    for (let level = 0; 2 ** level <= MAX; level++) {
      for (let n = 0; (n + 1) * 2 ** level <= MAX; n++) {
        expect(store.hashes[storedHashIndex(level, n)], `(${level}, ${n})`).toEqual(mth(n * 2 ** level, (n + 1) * 2 ** level));
        checked++;
      }
    }
    expect(checked).toBe(storedHashCount(MAX));
  });

  it('treeHash = rootFromLeafHashes = TreeBuilder = reference MTH for every size', async () => {
    const b = new TreeBuilder();
    const r = roots();
    expect(b.root()).toEqual(r[0]);
    for (let n = 1; n <= MAX; n++) {
      b.append(leaves[n - 1]!);
      const before = store.calls;
      const th = await treeHash(n, store);
      expect(store.calls - before, 'one readHashes call').toBe(1);
      expect(th, `treeHash(${n})`).toEqual(r[n]);
      expect(rootFromLeafHashes(leaves.slice(0, n)), `rootFromLeafHashes(${n})`).toEqual(r[n]);
      const concat = new Uint8Array(n * 32);
      leaves.slice(0, n).forEach((h, i) => concat.set(h, i * 32));
      expect(rootFromLeafHashes(concat)).toEqual(r[n]);
      expect(b.size).toBe(n);
      expect(b.root(), `TreeBuilder(${n})`).toEqual(r[n]);
    }
    expect(await treeHash(0, store)).toEqual(sha());
  });

  it('proveInclusion = RFC PATH and verifies, for every size and index', async () => {
    const r = roots();
    let count = 0;
    for (let n = 1; n <= MAX; n++) {
      for (let i = 0; i < n; i++) {
        const before = store.calls;
        const proof = await proveInclusion(n, i, store);
        expect(store.calls - before).toBe(n === 1 ? 0 : 1);
        const want = rangeHashes(pathRanges(i, 0, n));
        if (proof.length !== want.length || proof.some((h, j) => !Buffer.from(h).equals(want[j]!))) {
          expect(proof, `PATH(${i}, ${n})`).toEqual(want);
        }
        verifyInclusion(leaves[i]!, i, n, proof, r[n]!);
        count++;
      }
    }
    expect(count).toBe((MAX * (MAX + 1)) / 2);
  });

  it('proveConsistency = RFC PROOF and verifies, for every old size 0..n and n', async () => {
    const r = roots();
    let count = 0;
    for (let n = 0; n <= MAX; n++) {
      for (let m = 0; m <= n; m++) {
        const before = store.calls;
        const proof = await proveConsistency(m, n, store);
        expect(store.calls - before).toBe(m === 0 || m === n ? 0 : 1);
        // RFC 9162: empty for m = n; c2sp.org/merkle-tree: empty for m = 0.
        const want = m === 0 || m === n ? [] : rangeHashes(subproofRanges(m, 0, n, true));
        if (proof.length !== want.length || proof.some((h, j) => !Buffer.from(h).equals(want[j]!))) {
          expect(proof, `PROOF(${m}, ${n})`).toEqual(want);
        }
        verifyConsistency(m, n, proof, r[m]!, r[n]!);
        count++;
      }
    }
    expect(count).toBe(((MAX + 1) * (MAX + 2)) / 2);
  });

  it(`inclusion: bit flips in proof hashes, root, index and size (sizes 1..${FULL_FLIPS} dense, up to ${MAX} sampled), dropped and surplus hashes`, async () => {
    withoutStackTraces();
    const r = roots();
    const t = new Tally();
    for (let n = 1; n <= MAX; n++) {
      for (let i = 0; i < n; i++) {
        const md = mode(n, i, 0, n - 1);
        if (md === 'skip') continue;
        const proof = await proveInclusion(n, i, store);
        const leaf = leaves[i]!.slice();
        const root = r[n]!.slice();
        const verify = () => verifyInclusion(leaf, i, n, proof, root);
        const at = (s: string) => () => `size ${n} index ${i} ${s}`;
        t.check(at('unmodified'), true, verify);
        const hashes: [Uint8Array, string][] = [...proof.map((h, j): [Uint8Array, string] => [h, `proof[${j}]`]), [root, 'root']];
        hashes.forEach(([h, name], j) => {
          for (const bit of bitsToFlip(md, n + i + j)) {
            flipBit(h, bit);
            t.check(() => `${at(name)()} bit ${bit}`, false, verify);
            flipBit(h, bit);
          }
        });
        const bit = randInt(256);
        flipBit(leaf, bit);
        t.check(at(`leaf bit ${bit}`), false, verify);
        flipBit(leaf, bit);
        const randDrop = randInt(proof.length);
        for (let j = 0; j < proof.length; j++) {
          if (md === 'random' && j !== randDrop) continue;
          const p2 = proof.filter((_, x) => x !== j);
          t.check(at(`without proof[${j}]`), false, () => verifyInclusion(leaf, i, n, p2, root));
        }
        t.check(at('surplus hash'), false, () => verifyInclusion(leaf, i, n, [...proof, leaves[0]!], root));
        if (md !== 'random') {
          for (const b of NUMBER_BITS) {
            const i2 = flipNum(i, b);
            const n2 = flipNum(n, b);
            t.check(at(`index bit ${b}`), inclusionClaimHolds(i, n, i2, n), () => verifyInclusion(leaf, i2, n, proof, root));
            t.check(at(`size bit ${b}`), inclusionClaimHolds(i, n, i, n2), () => verifyInclusion(leaf, i, n2, proof, root));
          }
        }
      }
    }
    expect(t.bad).toEqual([]);
    expect(t.cases).toBeGreaterThan(400_000);
  });

  it(`consistency: bit flips in proof hashes, roots and sizes (sizes 1..${FULL_FLIPS} dense, up to ${MAX} sampled), dropped and surplus hashes`, async () => {
    withoutStackTraces();
    const r = roots();
    const t = new Tally();
    for (let n = 1; n <= MAX; n++) {
      // Old size 0 is excluded: its (empty) proof is valid for any new size and root, by design.
      for (let m = 1; m <= n; m++) {
        const md = mode(n, m, 1, n - 1);
        if (md === 'skip') continue;
        const proof = await proveConsistency(m, n, store);
        const r1 = r[m]!.slice();
        const r2 = r[n]!.slice();
        const verify = () => verifyConsistency(m, n, proof, r1, r2);
        const at = (s: string) => () => `old ${m} new ${n} ${s}`;
        t.check(at('unmodified'), true, verify);
        const hashes: [Uint8Array, string][] = [
          ...proof.map((h, j): [Uint8Array, string] => [h, `proof[${j}]`]),
          [r1, 'old root'],
          [r2, 'new root'],
        ];
        hashes.forEach(([h, name], j) => {
          for (const bit of bitsToFlip(md, n + m + j)) {
            flipBit(h, bit);
            t.check(() => `${at(name)()} bit ${bit}`, false, verify);
            flipBit(h, bit);
          }
        });
        const randDrop = randInt(proof.length);
        for (let j = 0; j < proof.length; j++) {
          if (md === 'random' && j !== randDrop) continue;
          const p2 = proof.filter((_, x) => x !== j);
          t.check(at(`without proof[${j}]`), false, () => verifyConsistency(m, n, p2, r1, r2));
        }
        t.check(at('surplus hash'), false, () => verifyConsistency(m, n, [...proof, leaves[0]!], r1, r2));
        if (md !== 'random') {
          t.check(at('old root prepended'), false, () => verifyConsistency(m, n, [r1, ...proof], r1, r2));
          for (const b of NUMBER_BITS) {
            const m2 = flipNum(m, b);
            const n2 = flipNum(n, b);
            const holds = (mm: number, nn: number) => (m === n ? false : consistencyClaimHolds(m, n, mm, nn));
            t.check(at(`old size bit ${b}`), holds(m2, n), () => verifyConsistency(m2, n, proof, r1, r2));
            t.check(at(`new size bit ${b}`), holds(m, n2), () => verifyConsistency(m, n2, proof, r1, r2));
          }
        }
      }
    }
    expect(t.bad).toEqual([]);
    expect(t.cases).toBeGreaterThan(400_000);
  });

  it('the oracle is not vacuous: some size flips legitimately verify (RFC 9162 binds size only via the proof shape)', async () => {
    const r = roots();
    // Leaf 0 of 5 leaves: same proof shape as leaf 0 of 7 leaves.
    expect(inclusionClaimHolds(0, 5, 0, 7)).toBe(true);
    verifyInclusion(leaves[0]!, 0, 7, await proveInclusion(5, 0, store), r[5]!);
    // But never for a different index, or for a size whose shape differs.
    expect(inclusionClaimHolds(0, 5, 1, 5)).toBe(false);
    expect(inclusionClaimHolds(0, 5, 0, 4)).toBe(false);
    expect(() => verifyInclusion(leaves[0]!, 0, 4, [], r[5]!)).toThrow(MerkleError);
  });
});
