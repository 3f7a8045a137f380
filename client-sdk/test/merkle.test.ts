// client-sdk/src/merkle.ts: RFC 6962 / RFC 9162 §2.1 Merkle math.
// - transparency-dev/merkle conformance vectors (../shared/vectors/merkle),
//   one test per file, and the RFC 6962 test leaves' roots;
// - the c2sp.org/merkle-tree worked example (7 leaves);
// - Go tlog stored-hash numbering against a BigInt port of Go's loops;
// - trees up to 2^52 leaves (and verification up to 2^53 − 1) through a
//   synthetic HashReader;
// - HashReader faults; fast-check robustness (only MerkleError, ever);
// - roots and proofs against merkletreejs.
// The exhaustive sweep over trees of 1..300 leaves is in merkle-sweep.test.ts.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MerkleTree } from 'merkletreejs';
import { ConcordError } from '@concord/client-sdk/errors';
import {
  EMPTY_ROOT,
  HASH_SIZE,
  type Hash,
  type HashReader,
  MAX_STORED_HASH_INDEX,
  MAX_STORED_TREE_SIZE,
  MAX_TREE_SIZE,
  MerkleError,
  TreeBuilder,
  leafHash,
  nodeHash,
  proveConsistency,
  proveInclusion,
  rootFromLeafData,
  rootFromLeafHashes,
  splitStoredHashIndex,
  storedHashCount,
  storedHashIndex,
  storedHashes,
  storedHashesForRecordHash,
  treeHash,
  verifyConsistency,
  verifyInclusion,
} from '@concord/client-sdk/merkle';

// ---------------------------------------------------------------------------
// Independent reference: node:crypto and the RFC's recursive definitions.

function sha(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}
const refLeaf = (d: Uint8Array) => sha(new Uint8Array([0]), d);
const refNode = (l: Uint8Array, r: Uint8Array) => sha(new Uint8Array([1]), l, r);
const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const hexBytes = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

/** Largest power of two strictly below n (n ≥ 2); exact for n < 2^53. */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
type Range = readonly [lo: number, hi: number];
function pathRanges(m: number, lo: number, hi: number): Range[] {
  if (hi - lo === 1) return [];
  const k = split(hi - lo);
  return m < lo + k ? [...pathRanges(m, lo, lo + k), [lo + k, hi]] : [...pathRanges(m, lo + k, hi), [lo, lo + k]];
}
function subproofRanges(m: number, lo: number, hi: number, b: boolean): Range[] {
  if (m === hi - lo) return b ? [] : [[lo, hi]];
  const k = split(hi - lo);
  return m <= k
    ? [...subproofRanges(m, lo, lo + k, b), [lo + k, hi]]
    : [...subproofRanges(m - k, lo + k, hi, false), [lo, lo + k]];
}
function refRoot(leafHashes: readonly Uint8Array[]): Uint8Array {
  if (leafHashes.length === 0) return sha();
  if (leafHashes.length === 1) return leafHashes[0]!;
  const k = split(leafHashes.length);
  return refNode(refRoot(leafHashes.slice(0, k)), refRoot(leafHashes.slice(k)));
}

/** In-memory stored hashes, built with storedHashesForRecordHash. */
class Store implements HashReader {
  hashes: Hash[] = [];
  calls = 0;
  async readHashes(indexes: readonly number[]): Promise<Hash[]> {
    this.calls++;
    indexes.forEach((x, i) => {
      if (i > 0 && !(x > indexes[i - 1]!)) throw new Error('indexes not strictly increasing');
      if (!(x < this.hashes.length)) throw new Error(`index ${x} not stored`);
    });
    return indexes.map((i) => this.hashes[i]!);
  }
  static async of(leafHashes: readonly Hash[]): Promise<Store> {
    const s = new Store();
    for (let i = 0; i < leafHashes.length; i++) s.hashes.push(...(await storedHashesForRecordHash(i, leafHashes[i]!, s)));
    return s;
  }
}

function expectMerkleError(f: () => unknown, code?: string): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, 'should throw MerkleError').toBeInstanceOf(MerkleError);
  if (code !== undefined) expect((err as MerkleError).code).toBe(code);
}
async function expectMerkleErrorAsync(f: () => Promise<unknown>, code?: string): Promise<void> {
  let err: unknown;
  try {
    await f();
  } catch (e) {
    err = e;
  }
  expect(err, 'should throw MerkleError').toBeInstanceOf(MerkleError);
  if (code !== undefined) expect((err as MerkleError).code).toBe(code);
}

// ---------------------------------------------------------------------------
// Conformance vectors

const VECTORS = path.resolve(process.cwd(), '../shared/vectors/merkle');

function jsonFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? jsonFiles(path.join(dir, e.name)) : e.name.endsWith('.json') ? [path.join(dir, e.name)] : []))
    .sort();
}

interface InclusionCase {
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  wantErr: boolean;
}
interface ConsistencyCase {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  wantErr: boolean;
}

// Some vectors carry hashes that are not 32 bytes: the `additional/` files use
// 12-byte "don't care" placeholder roots (base64 of "don't care 1"/"2") and a
// few inclusion cases use "" for a missing hash. merkle.ts rejects every
// non-32-byte hash up front (bad-hash-length: a SHA-256 root or leaf hash has
// no other length), so ALL such cases are errors here. Only one of them
// expects success:
const PLACEHOLDER_SUCCESS_TREATED_AS_ERROR = new Set([
  // 1 → 1, empty proof, root1 = root2 = 12-byte placeholder: the size logic is
  // fine (equal sizes, equal roots) but the roots are not SHA-256 values.
  // The size logic is checked below with the placeholders replaced by
  // distinct 32-byte hashes, where this case passes.
  'consistency/additional/sizes-are-equal-one-and-proof-is-empty.json',
]);
// With the placeholders replaced by 32-byte hashes, every consistency/additional
// case has its expected outcome except one, where Concord follows
// c2sp.org/merkle-tree (and tlog-witness's "old 0") instead of
// transparency-dev: a consistency proof from size 0 is valid iff it is empty
// and the old root is SHA-256(""), whatever the new tree. transparency-dev
// rejects any proof from size 0 as "meaningless".
const OLD_SIZE_ZERO_ACCEPTED = new Set(['consistency/additional/size1-is-zero-and-size2-is-not-zero.json']);

describe('transparency-dev/merkle conformance vectors', () => {
  const inclusion = jsonFiles(path.join(VECTORS, 'inclusion'));
  const consistency = jsonFiles(path.join(VECTORS, 'consistency'));

  it('the vector folders are present and complete', () => {
    expect(inclusion.length).toBe(98);
    expect(consistency.length).toBe(98);
  });

  for (const file of inclusion) {
    const name = path.relative(VECTORS, file);
    it(name, () => {
      const c = JSON.parse(readFileSync(file, 'utf8')) as InclusionCase;
      const proof = (c.proof ?? []).map(b64);
      const leaf = b64(c.leafHash);
      const root = b64(c.root);
      const run = () => verifyInclusion(leaf, c.leafIdx, c.treeSize, proof, root);
      const placeholder = [leaf, root, ...proof].some((h) => h.length !== HASH_SIZE);
      if (placeholder) {
        expect(c.wantErr || PLACEHOLDER_SUCCESS_TREATED_AS_ERROR.has(name)).toBe(true);
        expectMerkleError(run);
      } else if (c.wantErr) {
        expectMerkleError(run);
      } else {
        run();
      }
    });
  }

  for (const file of consistency) {
    const name = path.relative(VECTORS, file);
    it(name, () => {
      const c = JSON.parse(readFileSync(file, 'utf8')) as ConsistencyCase;
      const proof = (c.proof ?? []).map(b64);
      const r1 = b64(c.root1);
      const r2 = b64(c.root2);
      const run = (a: Uint8Array, b: Uint8Array, p: Uint8Array[]) => () => verifyConsistency(c.size1, c.size2, p, a, b);
      const placeholder = [r1, r2, ...proof].some((h) => h.length !== HASH_SIZE);
      if (placeholder) {
        if (!c.wantErr) expect(PLACEHOLDER_SUCCESS_TREATED_AS_ERROR.has(name)).toBe(true);
        expectMerkleError(run(r1, r2, proof), 'bad-hash-length');
        // Same case with each placeholder mapped to a distinct 32-byte hash.
        const map = (h: Uint8Array) => (h.length === HASH_SIZE ? h : sha(new TextEncoder().encode('placeholder:'), h));
        const mapped = run(map(r1), map(r2), proof.map(map));
        const wantErr = OLD_SIZE_ZERO_ACCEPTED.has(name) ? false : c.wantErr;
        if (wantErr) expectMerkleError(mapped);
        else mapped();
      } else if (c.wantErr) {
        expectMerkleError(run(r1, r2, proof));
      } else {
        run(r1, r2, proof)();
      }
    });
  }

  it('every documented deviation names an existing vector', () => {
    const names = new Set([...inclusion, ...consistency].map((f) => path.relative(VECTORS, f)));
    for (const n of [...PLACEHOLDER_SUCCESS_TREATED_AS_ERROR, ...OLD_SIZE_ZERO_ACCEPTED]) expect(names.has(n), n).toBe(true);
  });
});

// The RFC 6962 test leaves (shared/vectors/README.md).
const RFC_LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(hexBytes);

describe('RFC 6962 test leaves', () => {
  const lh = RFC_LEAVES.map((d) => leafHash(d));

  it('roots given in vectors/README.md', async () => {
    const all = 'XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=';
    const first = 'bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=';
    expect(Buffer.from(rootFromLeafHashes(lh)).toString('base64')).toBe(all);
    expect(Buffer.from(rootFromLeafHashes(lh.slice(0, 1))).toString('base64')).toBe(first);
    expect(Buffer.from(lh[0]!).toString('base64')).toBe(first);
    const store = await Store.of(lh);
    expect(Buffer.from(await treeHash(8, store)).toString('base64')).toBe(all);
    const b = new TreeBuilder();
    for (const d of RFC_LEAVES) b.appendLeafData(d);
    expect(Buffer.from(b.root()).toString('base64')).toBe(all);
    for (let n = 0; n <= 8; n++) expect(rootFromLeafHashes(lh.slice(0, n))).toEqual(refRoot(RFC_LEAVES.slice(0, n).map(refLeaf)));
  });

  it('c2sp.org/merkle-tree worked example: proofs in the 7-leaf tree', async () => {
    const [a, b, c, d, e, f, g] = RFC_LEAVES.slice(0, 7).map(refLeaf) as [Hash, Hash, Hash, Hash, Hash, Hash, Hash];
    const h = refNode(a, b);
    const i = refNode(c, d);
    const j = refNode(e, f);
    const k = refNode(h, i);
    const l = refNode(j, g);
    const root = refNode(k, l);
    const store = await Store.of(RFC_LEAVES.slice(0, 7).map((x) => leafHash(x)));
    expect(await treeHash(7, store)).toEqual(root);
    expect(await proveInclusion(7, 0, store)).toEqual([b, i, l]);
    expect(await proveInclusion(7, 3, store)).toEqual([c, h, l]);
    expect(await proveInclusion(7, 4, store)).toEqual([f, g, k]);
    expect(await proveInclusion(7, 6, store)).toEqual([j, k]);
    expect(await proveConsistency(3, 7, store)).toEqual([c, d, h, l]);
    expect(await proveConsistency(4, 7, store)).toEqual([l]);
    expect(await proveConsistency(6, 7, store)).toEqual([j, g, k]);
    verifyInclusion(e, 4, 7, [f, g, k], root);
    verifyConsistency(3, 7, [c, d, h, l], refNode(h, c), root);
    verifyConsistency(4, 7, [l], k, root);
    verifyConsistency(6, 7, [j, g, k], refNode(k, j), root);
  });
});

// ---------------------------------------------------------------------------
// Hashes, errors, small API contracts

describe('hashes and API contracts', () => {
  it('leafHash, nodeHash and EMPTY_ROOT match node:crypto', () => {
    expect(HASH_SIZE).toBe(32);
    expect(Buffer.from(EMPTY_ROOT).toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    for (let n = 0; n < 100; n++) {
      const d = new Uint8Array(randomBytes(n));
      expect(leafHash(d)).toEqual(refLeaf(d));
    }
    const l = new Uint8Array(randomBytes(32));
    const r = new Uint8Array(randomBytes(32));
    expect(nodeHash(l, r)).toEqual(refNode(l, r));
    expect(nodeHash(r, l)).not.toEqual(nodeHash(l, r));
    // Domain separation: a node is not the leaf of its concatenated children.
    expect(leafHash(new Uint8Array([...l, ...r]))).not.toEqual(nodeHash(l, r));
  });

  it('nodeHash rejects non-32-byte inputs', () => {
    const h = new Uint8Array(32);
    for (const bad of [new Uint8Array(31), new Uint8Array(33), new Uint8Array(0)]) {
      expectMerkleError(() => nodeHash(bad, h), 'bad-hash-length');
      expectMerkleError(() => nodeHash(h, bad), 'bad-hash-length');
    }
  });

  it('MerkleError is a ConcordError with a code', () => {
    let err: unknown;
    try {
      verifyInclusion(new Uint8Array(32), 0, 0, [], new Uint8Array(32));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConcordError);
    expect(err).toBeInstanceOf(MerkleError);
    expect((err as MerkleError).code).toBe('bad-size');
    expect((err as MerkleError).name).toBe('MerkleError');
  });

  it('returned hashes are fresh: mutating EMPTY_ROOT or a result changes nothing else', async () => {
    const saved = EMPTY_ROOT.slice();
    EMPTY_ROOT[0]! ^= 1;
    try {
      expect(rootFromLeafHashes([])).toEqual(saved);
      expect(await treeHash(0, new Store())).toEqual(saved);
      verifyConsistency(0, 0, [], saved, saved);
    } finally {
      EMPTY_ROOT[0]! ^= 1;
    }
    const lh = [leafHash(new Uint8Array([1])), leafHash(new Uint8Array([2]))];
    const store = await Store.of(lh);
    const root = await treeHash(2, store);
    root[0]! ^= 1;
    expect(await treeHash(2, store)).toEqual(refRoot(lh));
  });

  it('rootFromLeafHashes: arrays and concatenations, length checks', () => {
    const lh = Array.from({ length: 37 }, (_, i) => leafHash(new Uint8Array([i])));
    const concat = new Uint8Array(37 * 32);
    lh.forEach((h, i) => concat.set(h, i * 32));
    expect(rootFromLeafHashes(lh)).toEqual(refRoot(lh));
    expect(rootFromLeafHashes(concat)).toEqual(refRoot(lh));
    expect(rootFromLeafHashes(concat.subarray(0, 0))).toEqual(EMPTY_ROOT);
    expectMerkleError(() => rootFromLeafHashes(concat.subarray(0, 33)), 'bad-hash-length');
    expectMerkleError(() => rootFromLeafHashes([...lh, new Uint8Array(31)]), 'bad-hash-length');
  });

  it('rootFromLeafData hashes fixed-size leaves', () => {
    for (const size of [1, 12, 32, 33, 144]) {
      const data = new Uint8Array(randomBytes(size * 21));
      const want = refRoot(Array.from({ length: 21 }, (_, i) => refLeaf(data.subarray(i * size, (i + 1) * size))));
      expect(rootFromLeafData(data, size), `leaf size ${size}`).toEqual(want);
    }
    expect(rootFromLeafData(new Uint8Array(0), 32)).toEqual(EMPTY_ROOT);
    expect(rootFromLeafData(new Uint8Array(0), 0)).toEqual(EMPTY_ROOT);
    expectMerkleError(() => rootFromLeafData(new Uint8Array(33), 32), 'bad-size');
    expectMerkleError(() => rootFromLeafData(new Uint8Array(3), 0), 'bad-size');
    expectMerkleError(() => rootFromLeafData(new Uint8Array(32), -32), 'bad-size');
  });

  it('TreeBuilder: root after every append equals the reference; rejects bad hashes', () => {
    const b = new TreeBuilder();
    expect(b.size).toBe(0);
    expect(b.root()).toEqual(EMPTY_ROOT);
    const lh: Hash[] = [];
    for (let i = 0; i < 70; i++) {
      const d = new Uint8Array(randomBytes(i % 3 === 0 ? 32 : i));
      if (i % 2) b.append(leafHash(d));
      else b.appendLeafData(d);
      lh.push(refLeaf(d));
      expect(b.size).toBe(i + 1);
      expect(b.root()).toEqual(refRoot(lh));
      expect(b.root()).toEqual(b.root()); // root() does not disturb the edge
    }
    expectMerkleError(() => b.append(new Uint8Array(31)), 'bad-hash-length');
    expect(b.size).toBe(70);
  });

  it('verifyInclusion input checks', () => {
    const h = new Uint8Array(32);
    expectMerkleError(() => verifyInclusion(h, 0, 0, [], h), 'bad-size');
    expectMerkleError(() => verifyInclusion(h, 0, -1, [], h), 'bad-size');
    expectMerkleError(() => verifyInclusion(h, 0, 1.5, [], h), 'bad-size');
    expectMerkleError(() => verifyInclusion(h, 0, 2 ** 53, [], h), 'bad-size');
    expectMerkleError(() => verifyInclusion(h, 1, 1, [], h), 'bad-index');
    expectMerkleError(() => verifyInclusion(h, -1, 1, [], h), 'bad-index');
    expectMerkleError(() => verifyInclusion(h, 0.5, 2, [h], h), 'bad-index');
    expectMerkleError(() => verifyInclusion(new Uint8Array(31), 0, 1, [], h), 'bad-hash-length');
    expectMerkleError(() => verifyInclusion(h, 0, 1, [], new Uint8Array(33)), 'bad-hash-length');
    expectMerkleError(() => verifyInclusion(h, 0, 2, [new Uint8Array(0)], h), 'bad-hash-length');
    expectMerkleError(() => verifyInclusion(h, 0, 2, 'x' as unknown as Hash[], h), 'bad-proof');
    expectMerkleError(() => verifyInclusion(h, 0, 2, Array(65).fill(h), h), 'bad-proof');
    verifyInclusion(h, 0, 1, [], h); // a one-leaf tree's root is its leaf hash
    // RFC 9162 §2.1.3.2's length checks report which way the proof is wrong.
    expect(() => verifyInclusion(h, 0, 1, [h], h)).toThrow(/too many/);
    expect(() => verifyInclusion(h, 0, 3, [h], h)).toThrow(/too few/);
    expect(() => verifyConsistency(1, 2, [h, h], h, h)).toThrow(/too many/);
    expect(() => verifyConsistency(3, 8, [h], h, h)).toThrow(/too few/);
  });

  it('verifyConsistency special cases (sizes 0 and equal sizes)', () => {
    const e = EMPTY_ROOT.slice();
    const x = leafHash(new Uint8Array([7]));
    const y = leafHash(new Uint8Array([8]));
    verifyConsistency(0, 0, [], e, e);
    verifyConsistency(0, 5, [], e, x); // every tree extends the empty tree
    verifyConsistency(3, 3, [], x, x);
    expectMerkleError(() => verifyConsistency(0, 0, [], x, x), 'bad-proof'); // size 0 has only one root
    expectMerkleError(() => verifyConsistency(0, 0, [e], e, e), 'bad-proof');
    expectMerkleError(() => verifyConsistency(0, 5, [], x, y), 'bad-proof');
    expectMerkleError(() => verifyConsistency(0, 5, [x], e, y), 'bad-proof');
    expectMerkleError(() => verifyConsistency(3, 3, [], x, y), 'bad-proof');
    expectMerkleError(() => verifyConsistency(3, 3, [x], x, x), 'bad-proof');
    expectMerkleError(() => verifyConsistency(4, 3, [], x, x), 'bad-size');
    expectMerkleError(() => verifyConsistency(1, 2, [], x, y), 'bad-proof');
    expectMerkleError(() => verifyConsistency(1, 2 ** 53, [x], x, y), 'bad-size');
    expectMerkleError(() => verifyConsistency(1, 2, [x], new Uint8Array(12), y), 'bad-hash-length');
  });
});

// ---------------------------------------------------------------------------
// Stored-hash numbering against a BigInt port of Go's tlog loops.

function goStoredHashIndex(level: number, n: bigint): bigint {
  for (let l = level; l > 0; l--) n = 2n * n + 1n;
  let i = 0n;
  for (; n > 0n; n >>= 1n) i += n;
  return i + BigInt(level);
}
function goTrailingZeros(x: bigint): number {
  let z = 0;
  while ((x & 1n) === 0n) {
    x >>= 1n;
    z++;
  }
  return z;
}
function goSplitStoredHashIndex(index: bigint): [number, bigint] {
  let n = index / 2n;
  let indexN = goStoredHashIndex(0, n);
  for (;;) {
    const x = indexN + 1n + BigInt(goTrailingZeros(n + 1n));
    if (x > index) break;
    n++;
    indexN = x;
  }
  const level = Number(index - indexN);
  return [level, n >> BigInt(level)];
}
function goStoredHashCount(n: bigint): bigint {
  if (n === 0n) return 0n;
  let num = goStoredHashIndex(0, n - 1n) + 1n;
  for (let i = n - 1n; (i & 1n) !== 0n; i >>= 1n) num++;
  return num;
}

describe('stored-hash numbering (Go tlog)', () => {
  it('the first hashes, in the order they become computable', () => {
    const order: [number, number][] = [
      [0, 0], [0, 1], [1, 0], [0, 2], [0, 3], [1, 1], [2, 0], [0, 4], [0, 5], [1, 2], [0, 6], [0, 7], [1, 3], [2, 1], [3, 0], [0, 8],
    ];
    order.forEach(([level, n], index) => {
      expect(storedHashIndex(level, n)).toBe(index);
      expect(splitStoredHashIndex(index)).toEqual([level, n]);
    });
    expect([0, 1, 2, 3, 4, 5, 8].map(storedHashCount)).toEqual([0, 1, 3, 4, 7, 8, 15]);
  });

  it('round trip for every index below 100,000 and agreement with Go', () => {
    for (let i = 0; i < 100_000; i++) {
      const [level, n] = splitStoredHashIndex(i);
      if (storedHashIndex(level, n) !== i) expect(storedHashIndex(level, n)).toBe(i);
    }
    for (let i = 0; i < 3000; i++) {
      expect(splitStoredHashIndex(i)).toEqual(goSplitStoredHashIndex(BigInt(i)).map((x, j) => (j === 1 ? Number(x) : x)));
      expect(storedHashCount(i)).toBe(Number(goStoredHashCount(BigInt(i))));
    }
  });

  it('random large values agree with Go (BigInt) up to the 2^52-leaf bound', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 52 }), fc.bigInt({ min: 0n, max: 2n ** 52n }), (level, raw) => {
        const n = raw >> BigInt(level);
        if ((n + 1n) << BigInt(level) > 2n ** 52n) {
          expectMerkleError(() => storedHashIndex(level, Number(n)), 'bad-index');
          return;
        }
        const want = goStoredHashIndex(level, n);
        expect(BigInt(storedHashIndex(level, Number(n)))).toBe(want);
        expect(splitStoredHashIndex(Number(want))).toEqual([level, Number(n)]);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 52n }), (n) => {
        expect(BigInt(storedHashCount(Number(n)))).toBe(goStoredHashCount(n));
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 53n - 2n }), (index) => {
        const [level, n] = goSplitStoredHashIndex(index);
        expect(splitStoredHashIndex(Number(index))).toEqual([level, Number(n)]);
      }),
      { numRuns: 2000 },
    );
  });

  it('bounds: 2^52 leaves, 2^53 − 1 stored hashes, last index 2^53 − 2', () => {
    expect(MAX_STORED_TREE_SIZE).toBe(2 ** 52);
    expect(MAX_STORED_HASH_INDEX).toBe(2 ** 53 - 2);
    expect(MAX_TREE_SIZE).toBe(2 ** 53 - 1);
    expect(storedHashCount(2 ** 52)).toBe(2 ** 53 - 1);
    expect(goStoredHashCount(2n ** 52n + 1n)).toBe(2n ** 53n); // one more leaf: count no longer a safe integer
    expectMerkleError(() => storedHashCount(2 ** 52 + 1), 'bad-size');
    expect(storedHashIndex(52, 0)).toBe(2 ** 53 - 2);
    expect(storedHashIndex(0, 2 ** 52 - 1)).toBe(Number(goStoredHashIndex(0, 2n ** 52n - 1n)));
    expect(splitStoredHashIndex(2 ** 53 - 2)).toEqual([52, 0]);
    expectMerkleError(() => splitStoredHashIndex(2 ** 53 - 1), 'bad-index');
    expectMerkleError(() => storedHashIndex(0, 2 ** 52), 'bad-index');
    expectMerkleError(() => storedHashIndex(1, 2 ** 51), 'bad-index');
    expectMerkleError(() => storedHashIndex(53, 0), 'bad-index');
    for (const bad of [-1, 0.5, Number.NaN, Infinity, 2 ** 53]) {
      expectMerkleError(() => storedHashIndex(0, bad), 'bad-index');
      expectMerkleError(() => storedHashIndex(bad, 0), 'bad-index');
      expectMerkleError(() => splitStoredHashIndex(bad), 'bad-index');
      expectMerkleError(() => storedHashCount(bad), 'bad-size');
    }
  });

  it('storedHashes = storedHashesForRecordHash(leafHash(data)) and reads in one call', async () => {
    const store = new Store();
    for (let i = 0; i < 64; i++) {
      const d = new Uint8Array([i, i]);
      const before = store.calls;
      const a = await storedHashes(i, d, store);
      const calls = store.calls - before;
      const b = await storedHashesForRecordHash(i, leafHash(d), store);
      expect(a).toEqual(b);
      // Leaf i completes trailingZeros(i + 1) subtrees; nothing to read when it completes none.
      const completes = goTrailingZeros(BigInt(i + 1));
      expect(a.length).toBe(1 + completes);
      expect(calls).toBe(completes > 0 ? 1 : 0);
      store.hashes.push(...a);
      expect(store.hashes.length).toBe(storedHashCount(i + 1));
    }
    await expectMerkleErrorAsync(() => storedHashesForRecordHash(0, new Uint8Array(31), store), 'bad-hash-length');
    await expectMerkleErrorAsync(() => storedHashesForRecordHash(-1, leafHash(new Uint8Array()), store), 'bad-size');
  });
});

// ---------------------------------------------------------------------------
// Huge trees: every leaf the same, so the hash of a complete subtree depends
// only on its level and a synthetic reader can serve any stored index.

describe('trees up to 2^52 leaves (and verification to 2^53 − 1)', () => {
  const X = refLeaf(new TextEncoder().encode('same leaf'));
  const levelHash: Uint8Array[] = [X];
  for (let l = 1; l <= 53; l++) levelHash.push(refNode(levelHash[l - 1]!, levelHash[l - 1]!));
  const mthMemo = new Map<number, Uint8Array>();
  /** MTH of n identical leaves, from the RFC recursion. */
  function mthSame(n: number): Uint8Array {
    if (n === 1) return X;
    let h = mthMemo.get(n);
    if (!h) {
      const k = split(n);
      h = refNode(levelHash[Math.log2(k)]!, mthSame(n - k));
      mthMemo.set(n, h);
    }
    return h;
  }
  const rangesToHashes = (rs: Range[]) => rs.map(([lo, hi]) => mthSame(hi - lo));

  class SameLeafReader implements HashReader {
    calls = 0;
    async readHashes(indexes: readonly number[]): Promise<Hash[]> {
      this.calls++;
      return indexes.map((x, i) => {
        if (!Number.isSafeInteger(x) || x < 0 || x > 2 ** 53 - 2) throw new Error(`bad index ${x}`);
        if (i > 0 && !(x > indexes[i - 1]!)) throw new Error('indexes not strictly increasing');
        const [level] = goSplitStoredHashIndex(BigInt(x));
        return levelHash[level]!.slice();
      });
    }
  }

  const SIZES = [1, 2, 3, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 40 + 12345, 2 ** 52 - 1, 2 ** 52];

  it('treeHash, proveInclusion and proveConsistency at sizes beyond 2^32', async () => {
    const r = new SameLeafReader();
    for (const size of SIZES) {
      const root = mthSame(size);
      expect(await treeHash(size, r), `treeHash(${size})`).toEqual(root);
      const indexes = [0, 1, size - 1, size - 2, Math.floor(size / 3), 2 ** 32, 2 ** 51 + 3].filter((i) => i >= 0 && i < size);
      for (const i of indexes) {
        const before = r.calls;
        const proof = await proveInclusion(size, i, r);
        expect(r.calls - before).toBe(size === 1 ? 0 : 1);
        expect(proof, `PATH(${i}, ${size})`).toEqual(rangesToHashes(pathRanges(i, 0, size)));
        verifyInclusion(X, i, size, proof, root);
      }
      const olds = [1, 2, size - 1, Math.floor(size / 2) + 1, 2 ** 32 + 7, 2 ** 51].filter((m) => m >= 1 && m < size);
      for (const m of olds) {
        const proof = await proveConsistency(m, size, r);
        expect(proof, `PROOF(${m}, ${size})`).toEqual(rangesToHashes(subproofRanges(m, 0, size, true)));
        verifyConsistency(m, size, proof, mthSame(m), root);
      }
    }
  });

  it('the stored-hash bound is enforced', async () => {
    const r = new SameLeafReader();
    await expectMerkleErrorAsync(() => treeHash(2 ** 52 + 1, r), 'bad-size');
    await expectMerkleErrorAsync(() => proveInclusion(2 ** 52 + 1, 0, r), 'bad-size');
    await expectMerkleErrorAsync(() => proveConsistency(1, 2 ** 52 + 1, r), 'bad-size');
    await expectMerkleErrorAsync(() => storedHashesForRecordHash(2 ** 52, X, r), 'bad-size');
    // The last leaf that fits completes 52 subtrees: 53 new hashes, the last
    // being the root of all 2^52 leaves, stored at index 2^53 − 2.
    const last = await storedHashesForRecordHash(2 ** 52 - 1, X, r);
    expect(last.length).toBe(53);
    expect(last[52]).toEqual(levelHash[52]);
    expect(storedHashIndex(52, 0)).toBe(2 ** 53 - 2);
  });

  it('verification works up to 2^53 − 1 leaves', () => {
    for (const size of [2 ** 52 + 1, 2 ** 53 - 2, 2 ** 53 - 1]) {
      const root = mthSame(size);
      for (const i of [0, 1, 2 ** 52, size - 2, size - 1, 2 ** 33 + 5]) {
        verifyInclusion(X, i, size, rangesToHashes(pathRanges(i, 0, size)), root);
      }
      for (const m of [1, 3, 2 ** 52, 2 ** 52 + 1, size - 1].filter((m) => m < size)) {
        const proof = rangesToHashes(subproofRanges(m, 0, size, true));
        verifyConsistency(m, size, proof, mthSame(m), root);
        expectMerkleError(() => verifyConsistency(m, size, proof.slice(1), mthSame(m), root), 'bad-proof');
        expectMerkleError(() => verifyConsistency(m, size, [...proof, X], mthSame(m), root), 'bad-proof');
      }
      expectMerkleError(() => verifyInclusion(X, size, size, [], root), 'bad-index');
    }
    expectMerkleError(() => verifyInclusion(X, 0, 2 ** 53, [], X), 'bad-size');
  });
});

// ---------------------------------------------------------------------------
// HashReader faults: an untrusted reader can make proving fail, never crash it
// with another exception, and never make a false proof verify.

describe('bad HashReader', () => {
  const lh = Array.from({ length: 20 }, (_, i) => leafHash(new Uint8Array([i])));
  const root20 = refRoot(lh);
  const ops: [string, (r: HashReader) => Promise<unknown>][] = [
    ['treeHash', (r) => treeHash(20, r)],
    ['proveInclusion', (r) => proveInclusion(20, 5, r)],
    ['proveConsistency', (r) => proveConsistency(13, 20, r)],
    ['storedHashesForRecordHash', (r) => storedHashesForRecordHash(19, lh[19]!, r)],
  ];

  async function faulty(f: (hashes: Hash[]) => unknown): Promise<HashReader & { calls: number }> {
    const good = await Store.of(lh);
    const r = {
      calls: 0,
      async readHashes(indexes: readonly number[]) {
        r.calls++;
        return f(await good.readHashes(indexes)) as Hash[];
      },
    };
    return r;
  }

  const faults: [string, (h: Hash[]) => unknown][] = [
    ['one hash too few', (h) => h.slice(1)],
    ['one hash too many', (h) => [...h, h[0]]],
    ['no hashes', () => []],
    ['a 31-byte hash', (h) => [h[0]!.subarray(1), ...h.slice(1)]],
    ['a 33-byte hash', (h) => [...h.slice(0, -1), new Uint8Array(33)]],
    ['a string', (h) => ['x'.repeat(32), ...h.slice(1)]],
    ['a null entry', (h) => [null, ...h.slice(1)]],
    ['a number array', (h) => [Array(32).fill(0), ...h.slice(1)]],
    ['undefined', () => undefined],
    ['an object', () => ({ length: 3 })],
  ];

  for (const [opName, op] of ops) {
    for (const [faultName, f] of faults) {
      it(`${opName}: reader returns ${faultName} → bad-reader`, async () => {
        const r = await faulty(f);
        await expectMerkleErrorAsync(() => op(r), 'bad-reader');
        expect(r.calls).toBe(1);
      });
    }
    it(`${opName}: a reader's own error propagates unchanged`, async () => {
      const io = new Error('disk on fire');
      const r: HashReader = {
        readHashes: () => Promise.reject(io),
      };
      await expect(op(r)).rejects.toBe(io);
    });
  }

  it('a reader serving wrong hashes of the right shape yields proofs that do not verify', async () => {
    const r = await faulty((h) => h.map((x) => x.map((b) => b ^ 0x55)));
    const wrongRoot = await treeHash(20, r);
    expect(wrongRoot).not.toEqual(root20);
    for (let i = 0; i < 20; i++) {
      const proof = await proveInclusion(20, i, r);
      expectMerkleError(() => verifyInclusion(lh[i]!, i, 20, proof, root20), 'bad-proof');
    }
    for (let m = 1; m < 20; m++) {
      const proof = await proveConsistency(m, 20, r);
      expectMerkleError(() => verifyConsistency(m, 20, proof, refRoot(lh.slice(0, m)), root20), 'bad-proof');
    }
  });
});

// ---------------------------------------------------------------------------
// Robustness: random input never produces anything but MerkleError.

const anyNumber = fc.oneof(
  fc.nat({ max: 300 }),
  fc.maxSafeNat(),
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, 1, 2 ** 52, 2 ** 53 - 1, 2 ** 53, -1, Number.NaN, Infinity, -0),
);
const anyHash = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ minLength: 32, maxLength: 32 }) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.anything() },
) as fc.Arbitrary<Hash>;
const anyProof = fc.oneof(
  { weight: 6, arbitrary: fc.array(anyHash, { maxLength: 12 }) },
  { weight: 1, arbitrary: fc.array(anyHash, { minLength: 60, maxLength: 80 }) },
  { weight: 1, arbitrary: fc.anything() },
) as fc.Arbitrary<Hash[]>;

function onlyMerkleErrors(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof MerkleError)) throw e;
  }
}
async function onlyMerkleErrorsAsync(f: () => Promise<unknown>): Promise<unknown> {
  try {
    return await f();
  } catch (e) {
    if (!(e instanceof MerkleError)) throw e;
    return e;
  }
}

describe('fast-check: random input yields only MerkleError', () => {
  it('verifyInclusion', () => {
    fc.assert(
      fc.property(anyHash, anyNumber, anyNumber, anyProof, anyHash, (leaf, index, size, proof, root) => {
        onlyMerkleErrors(() => verifyInclusion(leaf, index, size, proof, root));
      }),
      { numRuns: 3000 },
    );
  });

  it('verifyConsistency', () => {
    fc.assert(
      fc.property(anyNumber, anyNumber, anyProof, anyHash, anyHash, (m, n, proof, r1, r2) => {
        onlyMerkleErrors(() => verifyConsistency(m, n, proof, r1, r2));
      }),
      { numRuns: 3000 },
    );
  });

  it('valid proofs with random mutations: rejected with MerkleError unless the claim is unchanged', async () => {
    const lh = Array.from({ length: 100 }, (_, i) => leafHash(new Uint8Array([i, 1])));
    const store = await Store.of(lh);
    const roots = Array.from({ length: 101 }, (_, n) => refRoot(lh.slice(0, n)));
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 100 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 6 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        async (n, iRaw, jRaw, kind, junk) => {
          const i = iRaw % n;
          const m = 1 + (iRaw % n);
          const inc = await proveInclusion(n, i, store);
          const con = await proveConsistency(m, n, store);
          verifyInclusion(lh[i]!, i, n, inc, roots[n]!);
          verifyConsistency(m, n, con, roots[m]!, roots[n]!);
          const mutate = (p: Hash[]): Hash[] => {
            const q = p.map((h) => h.slice());
            const j = q.length ? jRaw % q.length : 0;
            switch (kind) {
              case 0: if (q.length) q[j]![jRaw % 32]! ^= 1 << (jRaw % 8); else q.push(junk); break;
              case 1: if (q.length) q.splice(j, 1); else q.push(junk); break;
              case 2: q.splice(j, 0, junk); break;
              case 3: q.push(q.length ? q[j]! : junk); break;
              case 4: if (q.length >= 2 && j + 1 < q.length) [q[j], q[j + 1]] = [q[j + 1]!, q[j]!]; else q.push(junk); break;
              case 5: q.reverse(); if (q.length < 2) q.push(junk); break;
              default: q.unshift(junk);
            }
            return q;
          };
          const inc2 = mutate(inc);
          const con2 = mutate(con);
          expectMerkleError(() => verifyInclusion(lh[i]!, i, n, inc2, roots[n]!));
          if (m < n || con2.length > 0) expectMerkleError(() => verifyConsistency(m, n, con2, roots[m]!, roots[n]!));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('prove functions and stored-hash numbering with random arguments', async () => {
    const lh = Array.from({ length: 64 }, (_, i) => leafHash(new Uint8Array([i, 2])));
    const store = await Store.of(lh);
    // Serves any index (as zeros) for trees larger than the store.
    const zeros: HashReader = { readHashes: async (indexes) => indexes.map(() => new Uint8Array(32)) };
    await fc.assert(
      fc.asyncProperty(anyNumber, anyNumber, async (a, b) => {
        const small = (x: number) => Number.isSafeInteger(x) && x >= 0 && x <= 64;
        // Arguments inside the stored tree give correct proofs; others MerkleError.
        const inc = await onlyMerkleErrorsAsync(() => proveInclusion(a, b, small(a) ? store : zeros));
        if (small(a) && Number.isSafeInteger(b) && b >= 0 && b < a) verifyInclusion(lh[b]!, b, a, inc as Hash[], refRoot(lh.slice(0, a)));
        else if (small(a)) expect(inc).toBeInstanceOf(MerkleError);
        const con = await onlyMerkleErrorsAsync(() => proveConsistency(a, b, small(b) ? store : zeros));
        if (small(a) && small(b) && a <= b) verifyConsistency(a, b, con as Hash[], refRoot(lh.slice(0, a)), refRoot(lh.slice(0, b)));
        else if (small(b)) expect(con).toBeInstanceOf(MerkleError);
        if (small(a)) expect(await treeHash(a, store)).toEqual(refRoot(lh.slice(0, a)));
        else await onlyMerkleErrorsAsync(() => treeHash(a, zeros));
        onlyMerkleErrors(() => storedHashIndex(a, b));
        onlyMerkleErrors(() => splitStoredHashIndex(a));
        onlyMerkleErrors(() => storedHashCount(a));
      }),
      { numRuns: 2000 },
    );
  });

  it('rootFromLeafHashes and TreeBuilder agree on random leaf lists', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 70 }), { maxLength: 80 }), (datas) => {
        const b = new TreeBuilder();
        for (const d of datas) b.appendLeafData(d);
        const lhs = datas.map(refLeaf);
        expect(b.root()).toEqual(refRoot(lhs));
        expect(rootFromLeafHashes(lhs)).toEqual(refRoot(lhs));
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        if (bytes.length % 32 === 0) expect(rootFromLeafHashes(bytes)).toHaveLength(32);
        else expectMerkleError(() => rootFromLeafHashes(bytes), 'bad-hash-length');
      }),
    );
  });
});

// ---------------------------------------------------------------------------
// merkletreejs cross-check.
//
// merkletreejs has no domain-separation option, so RFC 6962 is obtained by:
// - leaves: the RFC 6962 leaf hashes SHA-256(0x00 ‖ d), passed pre-hashed
//   (hashLeaves: false, the default, so they are used as given);
// - hashFn(x) = SHA-256(0x01 ‖ x): merkletreejs hashes a pair as
//   hashFn(concatenator([left, right])) with Buffer.concat, giving
//   SHA-256(0x01 ‖ left ‖ right), the RFC node hash (sortPairs / sortLeaves
//   off, isBitcoinTree off, the defaults);
// - the unbalanced split: with duplicateOdd false and complete false (the
//   defaults) merkletreejs pairs each level left to right and promotes a
//   lone last node unchanged to the next level. That is the same tree as
//   RFC 6962's split at the largest power of two k < n: at every level the
//   nodes are the aligned complete subtrees [j·2^l, (j+1)·2^l) plus one
//   partial last node covering [j·2^l, n); a range of s leaves is first
//   paired at the level where 2^(l−1) < s ≤ 2^l, i.e. split at 2^(l−1), the
//   largest power of two below s. (duplicateOdd: true, the Bitcoin rule,
//   would give a different tree; complete: true too.) The sizes below include
//   non-powers of two where this matters, and merkletreejs's own
//   inclusion proofs are compared element by element.

describe('merkletreejs cross-check (RFC 6962 configuration)', () => {
  const nodeFn = (x: Buffer) => createHash('sha256').update(Buffer.from([1])).update(x).digest();
  const fixed = [1, 2, 3, 5, 6, 7, 9, 31, 33, 1023, 1024, 1025, 4097, 10_000];
  const sizes = [...fixed, ...Array.from({ length: 6 }, () => 1 + Math.floor(Math.random() * 10_000))];

  it.each(sizes)('root and proofs for %i leaves', async (n) => {
    const data = Array.from({ length: n }, (_, i) => new Uint8Array(randomBytes(i % 5 === 0 ? 32 : 1 + (i % 48))));
    const lh = data.map((d) => Buffer.from(refLeaf(d)));
    const tree = new MerkleTree(lh, nodeFn);
    const want = new Uint8Array(tree.getRoot());
    expect(rootFromLeafHashes(lh.map((b) => new Uint8Array(b)))).toEqual(want);
    const builder = new TreeBuilder();
    for (const d of data) builder.appendLeafData(d);
    expect(builder.root()).toEqual(want);
    const store = await Store.of(data.map((d) => leafHash(d)));
    expect(await treeHash(n, store)).toEqual(want);
    for (const i of [0, n - 1, Math.floor(n / 2), Math.floor(Math.random() * n)]) {
      const theirs = tree.getProof(lh[i]!, i).map((p) => new Uint8Array(p.data));
      const ours = await proveInclusion(n, i, store);
      expect(ours, `proof for leaf ${i}`).toEqual(theirs);
      verifyInclusion(leafHash(data[i]!), i, n, theirs, want);
    }
  });
});
