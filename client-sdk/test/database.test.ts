// client-sdk/src/database.ts: database blobs, roots, streaming parse, diff,
// the intersection rule, and element proofs.
// - roots against an independent recursive RFC 6962 MTH over node:crypto;
// - streaming parse with random chunkings equals the one-shot parse; each error code;
// - intersection against a brute-force reference on random small inputs
//   (fast-check), plus the scenario: four orgs in three jurisdictions,
//   elements held by one org only and by two orgs of one jurisdiction;
// - exclusions only remove; diff and subset against Set-based references;
// - membership and non-membership proofs: every element and every gap of
//   small databases, JSON round trips, bit flips, wrong and non-adjacent neighbours.
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { toBase64 } from '@concord/client-sdk/bytes';
import { EMPTY_ROOT } from '@concord/client-sdk/merkle';
import {
  type Contribution,
  DatabaseError,
  DatabaseParser,
  type NonMembershipProof,
  diffDatabases,
  elementAt,
  formatDatabase,
  formatMembershipProof,
  formatNonMembershipProof,
  intersectContributions,
  isSubset,
  parseDatabase,
  parseMembershipProof,
  parseNonMembershipProof,
  proveMembership,
  proveNonMembership,
  verifyMembership,
  verifyNonMembership,
} from '@concord/client-sdk/database';

const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof DatabaseError) return e.code;
    throw e;
  }
  return 'no error';
}

// ---------------------------------------------------------------------------
// Independent reference

function sha(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** RFC 6962 §2.1 MTH, recursively, each element a leaf. */
function refRoot(elements: readonly Uint8Array[]): Uint8Array {
  const n = elements.length;
  if (n === 0) return sha();
  if (n === 1) return sha(new Uint8Array([0]), elements[0]!);
  let k = 1;
  while (k * 2 < n) k *= 2;
  return sha(new Uint8Array([1]), refRoot(elements.slice(0, k)), refRoot(elements.slice(k)));
}

const cmp = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b);

/** Sorted unique list → blob, without the module under test. */
function blobOf(list: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(list));
}

function sortedUnique(list: readonly Uint8Array[]): Uint8Array[] {
  const m = new Map<string, Uint8Array>();
  for (const e of list) m.set(toHex(e), e);
  return [...m.values()].sort(cmp);
}

function randomElements(n: number): Uint8Array[] {
  return sortedUnique(Array.from({ length: n }, () => new Uint8Array(randomBytes(32))));
}

/** A 32-byte element from a small integer, so random tests collide often. */
function el(i: number): Uint8Array {
  const e = new Uint8Array(32);
  e[0] = i >> 8;
  e[1] = i & 255;
  e[31] = 0x5a;
  return e;
}

function split(blob: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < blob.length; i += 32) out.push(blob.slice(i, i + 32));
  return out;
}

// ---------------------------------------------------------------------------

describe('database blobs and roots', () => {
  it('root and count equal the recursive RFC 6962 MTH for sizes 0..70 and 1,000', () => {
    for (const n of [...Array(71).keys(), 1000]) {
      const list = randomElements(n);
      const s = parseDatabase(blobOf(list));
      expect(s.count).toBe(list.length);
      expect(toHex(s.root)).toBe(toHex(refRoot(list)));
    }
    expect(toHex(parseDatabase(new Uint8Array(0)).root)).toBe(toHex(sha()));
    expect(toHex(parseDatabase(new Uint8Array(0)).root)).toBe(toHex(EMPTY_ROOT));
  });

  it('a known root: elements 0x00…00 and 0x01…01', () => {
    const a = new Uint8Array(32);
    const b = new Uint8Array(32).fill(1);
    const want = sha(new Uint8Array([1]), sha(new Uint8Array([0]), a), sha(new Uint8Array([0]), b));
    expect(toHex(parseDatabase(blobOf([a, b])).root)).toBe(toHex(want));
  });

  it('formatDatabase sorts and drops duplicates', () => {
    const list = randomElements(50);
    const shuffled = [...list, ...list.slice(0, 10)].sort(() => Math.random() - 0.5);
    expect(toHex(formatDatabase(shuffled))).toBe(toHex(blobOf(list)));
    expect(formatDatabase([])).toHaveLength(0);
    expect(code(() => formatDatabase([new Uint8Array(31)]))).toBe('bad-element');
    expect(code(() => formatDatabase(list, { maxEntries: 49 }))).toBe('too-many');
    expect(toHex(elementAt(blobOf(list), 3))).toBe(toHex(list[3]!));
    expect(code(() => elementAt(blobOf(list), 50))).toBe('bad-element');
  });

  it('parseDatabase error codes', () => {
    const list = randomElements(5);
    expect(code(() => parseDatabase(new Uint8Array(33)))).toBe('bad-length');
    expect(code(() => parseDatabase(blobOf(list).subarray(0, 159)))).toBe('bad-length');
    expect(code(() => parseDatabase(blobOf([list[1]!, list[0]!])))).toBe('unsorted');
    expect(code(() => parseDatabase(blobOf([list[0]!, list[1]!, list[1]!])))).toBe('duplicate');
    expect(code(() => parseDatabase(blobOf(list), { maxEntries: 4 }))).toBe('too-many');
    expect(parseDatabase(blobOf(list), { maxEntries: 5 }).count).toBe(5);
    expect(code(() => parseDatabase(blobOf(list), { maxEntries: -1 }))).toBe('bad-rule');
  });
});

describe('streaming parser', () => {
  const list = randomElements(300);
  const blob = blobOf(list);
  const whole = parseDatabase(blob);

  it('random chunkings give the same root, count and elements as the one-shot parse', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 100 }), { maxLength: 400 }), fc.boolean(), (cuts, keep) => {
        const p = new DatabaseParser({ keepElements: keep });
        let o = 0;
        for (const c of cuts) {
          if (o >= blob.length) break;
          p.push(blob.subarray(o, Math.min(blob.length, o + c)));
          o += c;
        }
        if (o < blob.length) p.push(blob.subarray(o));
        const r = p.finish();
        expect(r.count).toBe(whole.count);
        expect(toHex(r.root)).toBe(toHex(whole.root));
        if (keep) expect(toHex(r.elements!)).toBe(toHex(blob));
        else expect(r.elements).toBeUndefined();
      }),
      { numRuns: 200 },
    );
  });

  it('byte-at-a-time and empty input', () => {
    const p = new DatabaseParser();
    for (let i = 0; i < 32 * 20; i++) p.push(blob.subarray(i, i + 1));
    expect(toHex(p.finish().root)).toBe(toHex(parseDatabase(blob.subarray(0, 640)).root));
    const e = new DatabaseParser({ keepElements: true });
    e.push(new Uint8Array(0));
    const r = e.finish();
    expect(r.count).toBe(0);
    expect(toHex(r.root)).toBe(toHex(EMPTY_ROOT));
    expect(r.elements).toHaveLength(0);
  });

  it('error codes, found at any chunk boundary, sticky afterwards', () => {
    const run = (b: Uint8Array, chunk: number, opts?: { maxEntries?: number }) =>
      code(() => {
        const p = new DatabaseParser(opts);
        for (let o = 0; o < b.length; o += chunk) p.push(b.subarray(o, o + chunk));
        p.finish();
      });
    for (const chunk of [1, 7, 32, 33, 1000]) {
      expect(run(blob.subarray(0, 32 * 10 + 5), chunk)).toBe('bad-length');
      expect(run(blobOf([list[0]!, list[2]!, list[1]!]), chunk)).toBe('unsorted');
      expect(run(blobOf([list[0]!, list[1]!, list[1]!, list[2]!]), chunk)).toBe('duplicate');
      expect(run(blob, chunk, { maxEntries: 299 })).toBe('too-many');
      expect(run(blob, chunk, { maxEntries: 300 })).toBe('no error');
    }
    const p = new DatabaseParser();
    expect(code(() => p.push(blobOf([list[1]!, list[0]!])))).toBe('unsorted');
    expect(code(() => p.push(blobOf([list[2]!])))).toBe('unsorted');
    expect(code(() => p.finish())).toBe('unsorted');
    const q = new DatabaseParser();
    q.finish();
    expect(code(() => q.push(blob))).toBe('bad-state');
    expect(code(() => q.finish())).toBe('bad-state');
  });
});

describe('diff and subset', () => {
  const pools = fc.tuple(fc.uniqueArray(fc.integer({ min: 0, max: 60 })), fc.uniqueArray(fc.integer({ min: 0, max: 60 })));

  it('added/removed counts equal a Set-based reference', () => {
    fc.assert(
      fc.property(pools, ([a, b]) => {
        const A = new Set(a);
        const B = new Set(b);
        const d = diffDatabases(formatDatabase(a.map(el)), formatDatabase(b.map(el)));
        expect(d.added).toBe([...B].filter((x) => !A.has(x)).length);
        expect(d.removed).toBe([...A].filter((x) => !B.has(x)).length);
        expect(isSubset(formatDatabase(a.map(el)), formatDatabase(b.map(el)))).toBe([...A].every((x) => B.has(x)));
      }),
      { numRuns: 300 },
    );
  });

  it('examples, and invalid blobs are rejected even after the answer is known', () => {
    const d = (a: number[], b: number[]) => diffDatabases(blobOf(a.map(el)), blobOf(b.map(el)));
    expect(d([1, 2, 3], [2, 3, 4, 5])).toEqual({ added: 2, removed: 1 });
    expect(d([], [])).toEqual({ added: 0, removed: 0 });
    expect(isSubset(blobOf([]), blobOf([el(1)]))).toBe(true);
    expect(isSubset(blobOf([el(2)]), blobOf([el(1)]))).toBe(false);
    expect(code(() => d([1, 3, 2], [1]))).toBe('unsorted');
    expect(code(() => d([1], [1, 1]))).toBe('duplicate');
    expect(code(() => isSubset(blobOf([el(9)]), blobOf([el(1), el(3), el(2)])))).toBe('unsorted');
    expect(code(() => diffDatabases(new Uint8Array(31), new Uint8Array(0)))).toBe('bad-length');
  });
});

// ---------------------------------------------------------------------------
// Intersection

interface Org {
  org: string;
  jurisdiction: string;
  ids: number[];
}

/** Brute force: for each candidate element, count holders and their jurisdictions. */
function refIntersect(orgs: Org[], minOrgs: number, minJur: number, exclude: number[]) {
  const all = new Set(orgs.flatMap((o) => o.ids));
  const ex = new Set(exclude);
  const kept: number[] = [];
  let belowMinOrgs = 0;
  let belowMinJurisdictions = 0;
  let excluded = 0;
  for (const x of all) {
    const holders = orgs.filter((o) => o.ids.includes(x));
    const js = new Set(holders.map((o) => o.jurisdiction));
    if (holders.length < minOrgs) belowMinOrgs++;
    else if (js.size < minJur) belowMinJurisdictions++;
    else if (ex.has(x)) excluded++;
    else kept.push(x);
  }
  return { kept: formatDatabase(kept.map(el)), distinct: all.size, belowMinOrgs, belowMinJurisdictions, excluded };
}

const contributionsOf = (orgs: Org[]): Contribution[] =>
  orgs.map((o) => ({ org: o.org, jurisdiction: o.jurisdiction, elements: formatDatabase(o.ids.map(el)) }));

describe('intersection rule', () => {
  it('matches a brute-force reference on random small inputs (fast-check)', () => {
    const org = fc.record({
      jurisdiction: fc.constantFrom('AU', 'CA', 'DE', 'FR'),
      ids: fc.uniqueArray(fc.integer({ min: 0, max: 40 }), { maxLength: 30 }),
    });
    fc.assert(
      fc.property(
        fc.array(org, { maxLength: 7 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 4 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 45 }), { maxLength: 12 }),
        (raw, minOrgs, minJur, exclude) => {
          const orgs = raw.map((o, i) => ({ org: `org${i}`, ...o }));
          const got = intersectContributions(contributionsOf(orgs), { minOrgs, minJurisdictions: minJur }, formatDatabase(exclude.map(el)));
          const want = refIntersect(orgs, minOrgs, minJur, exclude);
          expect(toHex(got.elements)).toBe(toHex(want.kept));
          expect(got.count).toBe(want.kept.length / 32);
          expect(toHex(got.root)).toBe(toHex(refRoot(split(want.kept))));
          expect(got.report).toEqual({
            contributions: orgs.length,
            distinct: want.distinct,
            belowMinOrgs: want.belowMinOrgs,
            belowMinJurisdictions: want.belowMinJurisdictions,
            excluded: want.excluded,
            kept: got.count,
            excludeListed: exclude.length,
          });
          // Deterministic and independent of the contributions' order.
          const rev = intersectContributions(contributionsOf([...orgs].reverse()), { minOrgs, minJurisdictions: minJur }, formatDatabase(exclude.map(el)));
          expect(toHex(rev.elements)).toBe(toHex(got.elements));
        },
      ),
      { numRuns: 400 },
    );
  });

  it("the issue's scenario: four orgs in three jurisdictions", () => {
    // 1: held by one org only                     → dropped (orgs)
    // 2: held by two orgs of one jurisdiction (DE) → dropped (jurisdictions)
    // 3: DE + FR                                   → kept
    // 4: all four                                  → kept, unless excluded
    // 5: DE, DE, CA                                → kept
    const orgs: Org[] = [
      { org: 'alpha', jurisdiction: 'DE', ids: [1, 2, 3, 4, 5] },
      { org: 'beta', jurisdiction: 'DE', ids: [2, 4, 5] },
      { org: 'gamma', jurisdiction: 'FR', ids: [3, 4] },
      { org: 'delta', jurisdiction: 'CA', ids: [4, 5] },
    ];
    const rule = { minOrgs: 2, minJurisdictions: 2 };
    const r = intersectContributions(contributionsOf(orgs), rule);
    expect(split(r.elements).map(toHex)).toEqual([3, 4, 5].map((i) => toHex(el(i))));
    expect(r.report).toEqual({ contributions: 4, distinct: 5, belowMinOrgs: 1, belowMinJurisdictions: 1, excluded: 0, kept: 3, excludeListed: 0 });
    expect(toHex(r.root)).toBe(toHex(refRoot([3, 4, 5].map(el))));
    // With min-jurisdictions 1 the same-jurisdiction pair is kept: the rule, not luck, drops it.
    expect(intersectContributions(contributionsOf(orgs), { minOrgs: 2, minJurisdictions: 1 }).count).toBe(4);
    // Exclusions only remove: excluding 4 and a non-candidate 1 and an unknown 9.
    const ex = intersectContributions(contributionsOf(orgs), rule, formatDatabase([el(4), el(1), el(9)]));
    expect(split(ex.elements).map(toHex)).toEqual([3, 5].map((i) => toHex(el(i))));
    expect(ex.report).toMatchObject({ excluded: 1, kept: 2, excludeListed: 3 });
    expect(isSubset(ex.elements, r.elements)).toBe(true);
    expect(diffDatabases(r.elements, ex.elements)).toEqual({ added: 0, removed: 1 });
  });

  it('exclusions only ever remove (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uniqueArray(fc.integer({ min: 0, max: 30 })), { minLength: 2, maxLength: 5 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 40 })),
        (lists, exclude) => {
          const orgs = lists.map((ids, i) => ({ org: `o${i}`, jurisdiction: `J${i % 3}`, ids }));
          const rule = { minOrgs: 2, minJurisdictions: 2 };
          const base = intersectContributions(contributionsOf(orgs), rule);
          const cut = intersectContributions(contributionsOf(orgs), rule, formatDatabase(exclude.map(el)));
          expect(isSubset(cut.elements, base.elements)).toBe(true);
          const ex = new Set(exclude.map((i) => toHex(el(i))));
          expect(split(cut.elements).map(toHex)).toEqual(split(base.elements).map(toHex).filter((h) => !ex.has(h)));
          expect(diffDatabases(base.elements, cut.elements)).toEqual({ added: 0, removed: cut.report.excluded });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('validates its inputs', () => {
    const ok = contributionsOf([
      { org: 'a', jurisdiction: 'DE', ids: [1, 2] },
      { org: 'b', jurisdiction: 'FR', ids: [2, 3] },
    ]);
    const rule = { minOrgs: 2, minJurisdictions: 2 };
    expect(intersectContributions(ok, rule).count).toBe(1);
    expect(intersectContributions([], rule).count).toBe(0);
    expect(code(() => intersectContributions(ok, { minOrgs: 0, minJurisdictions: 2 }))).toBe('bad-rule');
    expect(code(() => intersectContributions(ok, { minOrgs: 2, minJurisdictions: 1.5 }))).toBe('bad-rule');
    expect(code(() => intersectContributions([ok[0]!, ok[0]!], rule))).toBe('bad-rule');
    expect(code(() => intersectContributions([{ ...ok[0]!, jurisdiction: '' }, ok[1]!], rule))).toBe('bad-rule');
    expect(code(() => intersectContributions([{ ...ok[0]!, elements: blobOf([el(2), el(1)]) }, ok[1]!], rule))).toBe('unsorted');
    // The bad order is found even in a tail no other list reaches.
    expect(code(() => intersectContributions([ok[0]!, { ...ok[1]!, elements: blobOf([el(2), el(7), el(7)]) }], rule))).toBe('duplicate');
    expect(code(() => intersectContributions([{ ...ok[0]!, elements: new Uint8Array(40) }, ok[1]!], rule))).toBe('bad-length');
    expect(code(() => intersectContributions(ok, rule, blobOf([el(5), el(4)])))).toBe('unsorted');
    expect(code(() => intersectContributions(ok, rule, new Uint8Array(0), { maxEntries: 2 }))).toBe('no error');
    expect(code(() => intersectContributions(ok, rule, new Uint8Array(0), { maxEntries: 1 }))).toBe('too-many'); // a contribution
    expect(code(() => intersectContributions(ok, { minOrgs: 1, minJurisdictions: 1 }, new Uint8Array(0), { maxEntries: 2 }))).toBe('too-many');
  });

  it('scales: 3 × 20,000 random elements with overlaps, against a Map-based count', () => {
    const pool = randomElements(30_000);
    const lists = [0, 1, 2].map((j) => pool.filter((_, i) => (i * 7 + j * 13) % 5 < 3));
    const contributions = lists.map((l, j) => ({ org: `o${j}`, jurisdiction: `J${j}`, elements: blobOf(l) }));
    const r = intersectContributions(contributions, { minOrgs: 2, minJurisdictions: 2 });
    const counts = new Map<string, number>();
    for (const l of lists) for (const e of l) counts.set(toHex(e), (counts.get(toHex(e)) ?? 0) + 1);
    const want = [...counts.entries()].filter(([, c]) => c >= 2).map(([h]) => h).sort();
    expect(split(r.elements).map(toHex)).toEqual(want);
    expect(toHex(r.root)).toBe(toHex(parseDatabase(blobOf(want.map((h) => new Uint8Array(Buffer.from(h, 'hex'))))).root));
  });
});

// ---------------------------------------------------------------------------
// Element proofs

describe('membership and non-membership proofs', () => {
  it('every element and every gap of databases of 0..33 elements proves and verifies, through JSON', () => {
    for (let n = 0; n <= 33; n++) {
      // Even ids are members; odd ids are the gaps between them, plus both edges.
      const blob = formatDatabase(Array.from({ length: n }, (_, i) => el(2 * i + 2)));
      const { root, count } = parseDatabase(blob);
      for (let i = 0; i < n; i++) {
        const p = proveMembership(blob, el(2 * i + 2));
        expect(p.index).toBe(i);
        const back = parseMembershipProof(formatMembershipProof(p));
        verifyMembership(root, count, el(2 * i + 2), back);
        expect(code(() => proveNonMembership(blob, el(2 * i + 2)))).toBe('present');
      }
      for (let g = 0; g <= n; g++) {
        const x = el(2 * g + 1);
        const p = proveNonMembership(blob, x);
        expect(p.left === null).toBe(g === 0);
        expect(p.right === null).toBe(g === n);
        const back = parseNonMembershipProof(formatNonMembershipProof(p));
        verifyNonMembership(root, count, x, back);
        expect(code(() => proveMembership(blob, x))).toBe('absent');
      }
    }
  });

  it('documents the JSON shape', () => {
    const blob = formatDatabase([el(2), el(4), el(6)]);
    const m = JSON.parse(formatMembershipProof(proveMembership(blob, el(4))));
    expect(Object.keys(m)).toEqual(['element', 'index', 'proof']);
    expect(m.element).toBe(toBase64(el(4)));
    expect(m.index).toBe(1);
    expect(m.proof).toHaveLength(2);
    const nm = JSON.parse(formatNonMembershipProof(proveNonMembership(blob, el(7))));
    expect(Object.keys(nm)).toEqual(['element', 'left', 'right']);
    expect(nm.right).toBeNull();
    expect(nm.left.index).toBe(2);
    expect(JSON.parse(formatNonMembershipProof(proveNonMembership(new Uint8Array(0), el(7))))).toEqual({ element: toBase64(el(7)), left: null, right: null });
  });

  const blob = formatDatabase(Array.from({ length: 21 }, (_, i) => el(2 * i + 2)));
  const { root, count } = parseDatabase(blob);

  it('membership: every bit flip of every proof hash and of the element fails; wrong index, count, root fail', () => {
    const p = proveMembership(blob, el(14));
    for (let h = 0; h < p.proof.length; h++) {
      for (let bit = 0; bit < 256; bit++) {
        const proof = p.proof.map((x) => x.slice());
        proof[h]![bit >> 3]! ^= 1 << (bit & 7);
        expect(code(() => verifyMembership(root, count, el(14), { ...p, proof }))).toBe('bad-proof');
      }
    }
    for (let bit = 0; bit < 256; bit++) {
      const e = el(14);
      e[bit >> 3]! ^= 1 << (bit & 7);
      expect(code(() => verifyMembership(root, count, e, { ...p, element: e }))).toBe('bad-proof');
    }
    expect(code(() => verifyMembership(root, count, el(16), p))).toBe('bad-proof'); // proof for another element
    expect(code(() => verifyMembership(root, count, el(14), { ...p, index: p.index + 1 }))).toBe('bad-proof');
    // A wrong count fails when it changes the proof's shape (16 or 40 leaves for index 6 of 21).
    // Sizes with the same shape (22) accept the same path: an RFC 9162 proof binds the size only
    // through the root, which is why (root, count) come together from a signed release entry.
    expect(code(() => verifyMembership(root, 16, el(14), p))).toBe('bad-proof');
    expect(code(() => verifyMembership(root, 40, el(14), p))).toBe('bad-proof');
    expect(code(() => verifyMembership(EMPTY_ROOT, count, el(14), p))).toBe('bad-proof');
    expect(code(() => verifyMembership(root, count, el(14), { ...p, proof: [...p.proof, p.proof[0]!] }))).toBe('bad-proof');
    expect(code(() => verifyMembership(root, count, el(14), { ...p, proof: p.proof.slice(1) }))).toBe('bad-proof');
  });

  it('non-membership: bit flips, wrong neighbours, non-adjacent neighbours, false edges fail', () => {
    const x = el(15); // between el(14) at index 6 and el(16) at index 7
    const p = proveNonMembership(blob, x);
    expect(p.left!.index).toBe(6);
    expect(p.right!.index).toBe(7);
    verifyNonMembership(root, count, x, p);
    for (const side of ['left', 'right'] as const) {
      const nb = p[side]!;
      for (let h = 0; h < nb.proof.length; h++) {
        const proof = nb.proof.map((y) => y.slice());
        proof[h]![h % 32]! ^= 1 << h % 8;
        expect(code(() => verifyNonMembership(root, count, x, { ...p, [side]: { ...nb, proof } }))).toBe('bad-proof');
      }
      const e = nb.element.slice();
      e[31]! ^= 1;
      expect(code(() => verifyNonMembership(root, count, x, { ...p, [side]: { ...nb, element: e } }))).toBe('bad-proof');
    }
    const m = (i: number) => proveMembership(blob, el(2 * i + 2));
    // Real, included neighbours that straddle x but are not adjacent: hides el(14) or el(16).
    expect(code(() => verifyNonMembership(root, count, x, { element: x, left: m(5), right: m(7) }))).toBe('bad-proof');
    expect(code(() => verifyNonMembership(root, count, x, { element: x, left: m(6), right: m(8) }))).toBe('bad-proof');
    // Neighbours swapped, or both on one side.
    expect(code(() => verifyNonMembership(root, count, x, { element: x, left: m(7), right: m(6) }))).toBe('bad-proof');
    expect(code(() => verifyNonMembership(root, count, x, { element: x, left: m(4), right: m(5) }))).toBe('bad-proof');
    // A member "proven" absent with itself as a neighbour.
    expect(code(() => verifyNonMembership(root, count, el(14), { element: el(14), left: m(5), right: m(6) }))).toBe('bad-proof');
    // A false edge: only a left neighbour that is not the last element; only a right one that is not the first.
    expect(code(() => verifyNonMembership(root, count, x, { element: x, left: m(6), right: null }))).toBe('bad-proof');
    expect(code(() => verifyNonMembership(root, count, x, { element: x, left: null, right: m(7) }))).toBe('bad-proof');
    expect(code(() => verifyNonMembership(root, count, x, { element: x, left: null, right: null }))).toBe('bad-proof');
    // The proof is for another element, or checked against another tree.
    expect(code(() => verifyNonMembership(root, count, el(13), p))).toBe('bad-proof');
    expect(code(() => verifyNonMembership(root, 16, x, p))).toBe('bad-proof');
    expect(code(() => verifyNonMembership(root, 40, x, p))).toBe('bad-proof');
    // Empty database: only with both sides null and the empty root.
    const empty: NonMembershipProof = { element: x, left: null, right: null };
    verifyNonMembership(EMPTY_ROOT, 0, x, empty);
    expect(code(() => verifyNonMembership(root, 0, x, empty))).toBe('bad-proof');
    expect(code(() => verifyNonMembership(EMPTY_ROOT, 0, x, p))).toBe('bad-proof');
  });

  it('edges verify and only edges may omit a side', () => {
    const lo = proveNonMembership(blob, el(1));
    verifyNonMembership(root, count, el(1), lo);
    const hi = proveNonMembership(blob, el(99));
    expect(hi.left!.index).toBe(count - 1);
    verifyNonMembership(root, count, el(99), hi);
    expect(code(() => verifyNonMembership(root, count, el(99), { ...hi, left: proveMembership(blob, el(40)) }))).toBe('bad-proof');
    // The last element's path also fits a 22-leaf tree, but then it is not the last element.
    expect(code(() => verifyNonMembership(root, count + 1, el(99), hi))).toBe('bad-proof');
  });

  it('proof JSON parsing is strict and never throws anything but DatabaseError', () => {
    const good = formatNonMembershipProof(proveNonMembership(blob, el(15)));
    const g = JSON.parse(good);
    const bad = (o: unknown) => code(() => parseNonMembershipProof(JSON.stringify(o)));
    expect(bad({ ...g, extra: 1 })).toBe('bad-json');
    expect(bad({ element: g.element, left: g.left })).toBe('bad-json');
    expect(bad({ ...g, left: { ...g.left, index: -1 } })).toBe('bad-json');
    expect(bad({ ...g, left: { ...g.left, index: 1.5 } })).toBe('bad-json');
    expect(bad({ ...g, left: { ...g.left, index: '6' } })).toBe('bad-json');
    expect(bad({ ...g, left: { ...g.left, proof: Array(54).fill(g.left.proof[0]) } })).toBe('bad-json');
    expect(bad({ ...g, element: g.element.replace('=', '') })).toBe('bad-json');
    expect(bad({ ...g, element: toBase64(new Uint8Array(31)) })).toBe('bad-json');
    expect(code(() => parseMembershipProof('{"element":1}'))).toBe('bad-json');
    expect(code(() => parseMembershipProof(new Uint8Array([0xff])))).toBe('bad-json');
    expect(code(() => parseMembershipProof(' '.repeat(70_000)))).toBe('bad-json');
    const bytes = new TextEncoder().encode(good);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (muts) => {
        const b = bytes.slice();
        for (const [at, v] of muts) b[at % b.length] = v;
        try {
          const p = parseNonMembershipProof(b);
          verifyNonMembership(root, count, p.element, p);
        } catch (e) {
          expect(e).toBeInstanceOf(DatabaseError);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a proof against a 100,000-element database', () => {
    const list = randomElements(100_000);
    const big = blobOf(list);
    const s = parseDatabase(big);
    const p = proveMembership(big, list[54_321]!);
    expect(p.proof).toHaveLength(17);
    verifyMembership(s.root, s.count, list[54_321]!, p);
    const x = new Uint8Array(list[54_321]!);
    x[31] = x[31]! ^ 1;
    if (!list.some((e) => Buffer.compare(e, x) === 0)) verifyNonMembership(s.root, s.count, x, proveNonMembership(big, x));
  });
});
