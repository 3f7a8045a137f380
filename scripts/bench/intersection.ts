// The release rule on 4 contributions × N random 32-byte elements (N =
// 1,000,000 by default): k-way merge, thresholds (min-orgs 2,
// min-jurisdictions 2; orgs in DE, DE, FR, CA), 1,000 exclusions, and the
// RFC 6962 root of the result — time and peak memory — against a baseline
// measured in the same run:
//   sha — node:crypto hashing the same 4 × N × 32 bytes in one streaming pass.
// The lists are drawn from a sorted pool of 2N elements (each list a random
// half, so about N each), so elements are held by 0–4 orgs like real
// overlapping lists. Peak RSS includes the inputs (4 × ~32 MB) in every case.
import { createHash, randomFillSync } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { intersectContributions, type Contribution } from '@concord/client-sdk/database';
import { rootFromLeafData } from '@concord/client-sdk/merkle';
import { measure, runCase, runsFromEnv, table } from './lib.js';

const N = Number(process.env.BENCH_ELEMENTS ?? 1_000_000);
const ORGS = [
  ['alpha', 'DE'],
  ['beta', 'DE'],
  ['gamma', 'FR'],
  ['delta', 'CA'],
] as const;

function random(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) randomFillSync(b, off, Math.min(65536, n - off));
  return b;
}

/**
 * Four sorted lists of about n elements each and about 1,000 exclusions,
 * streamed out of a virtual sorted pool of 2n distinct random-looking
 * elements (a strictly increasing 48-bit prefix, then 26 random bytes): each
 * pool element joins each list with probability 1/2, so elements are held by
 * 0–4 orgs like real overlapping lists. No pool is materialised, so the setup
 * peak is the lists themselves.
 */
function lists(n: number): { lists: Uint8Array[]; exclude: Uint8Array } {
  const p = 2 * n;
  const slack = 32 * Math.ceil(6 * Math.sqrt(n) + 64); // 12 standard deviations of Binomial(2n, 1/2)
  const out = ORGS.map(() => new Uint8Array(n * 32 + slack));
  const exclude = new Uint8Array(2000 * 32);
  const len = [0, 0, 0, 0];
  let nx = 0;
  const step = 2 ** 48 / p;
  const e = new Uint8Array(32);
  const BLOCK = 65536;
  let rnd = random(BLOCK * 32);
  let ri = 0;
  for (let i = 0; i < p; i++) {
    if (ri + 32 > rnd.length) {
      rnd = random(BLOCK * 32);
      ri = 0;
    }
    e.set(rnd.subarray(ri, ri + 32));
    ri += 32;
    const u = ((e[0]! << 8) | e[1]!) / 65536; // [0, 1)
    const mask = e[2]! & 15;
    const ex = ((e[3]! << 8) | e[4]!) < (65536 * 1000) / p;
    let v = Math.floor((i + u) * step); // strictly increasing: consecutive values differ by ≥ step/65536 ≥ 1
    for (let b = 5; b >= 0; b--) {
      e[b] = v % 256;
      v = Math.floor(v / 256);
    }
    for (let j = 0; j < 4; j++) {
      if ((mask >> j) & 1) {
        out[j]!.set(e, len[j]!);
        len[j]! += 32;
      }
    }
    if (ex && nx < exclude.length) {
      exclude.set(e, nx);
      nx += 32;
    }
  }
  return { lists: out.map((l, j) => l.subarray(0, len[j]!)), exclude: exclude.subarray(0, nx) };
}

async function child(kind: string): Promise<void> {
  const P = 2 * N;
  const data = lists(N);
  const contributions: Contribution[] = ORGS.map(([org, jurisdiction], j) => ({ org, jurisdiction, elements: data.lists[j]! }));
  const exclude = data.exclude;
  const extra: Record<string, number> = { elements: contributions.reduce((a, c) => a + c.elements.length / 32, 0) };
  await measure(() => {
    if (kind === 'sha') {
      const h = createHash('sha256');
      for (const c of contributions) h.update(c.elements);
      h.digest();
    } else if (kind === 'intersect') {
      const r = intersectContributions(contributions, { minOrgs: 2, minJurisdictions: 2 }, exclude);
      // The output buffer the call allocated (sized for the worst case, total / min-orgs).
      extra.outputMiB = r.elements.buffer.byteLength / 2 ** 20;
      extra.kept = r.count;
      extra.distinct = r.report.distinct;
      extra.belowMinOrgs = r.report.belowMinOrgs;
      extra.belowMinJurisdictions = r.report.belowMinJurisdictions;
      extra.excluded = r.report.excluded;
      // The root alone, again, to split the time.
      const t = performance.now();
      rootFromLeafData(r.elements, 32);
      extra.rootSeconds = (performance.now() - t) / 1e3;
    } else throw new Error(`unknown case ${kind}`);
  }, extra);
}

async function main(): Promise<void> {
  const runs = runsFromEnv(3);
  const me = new URL(import.meta.url);
  const cases = ['sha', 'intersect'] as const;
  const res = Object.fromEntries(cases.map((c) => [c, runCase(me, ['case', c], runs)]));
  const i = res.intersect!;
  const rate = (c: (typeof cases)[number]) => res[c]!.elements! / res[c]!.seconds;
  console.log(`\nIntersection and root of 4 × ${N.toLocaleString('en-US')} random 32-byte elements (median of ${runs}; ${availableParallelism()} cores)`);
  console.log(
    table([
      ['case', 'input elements/s', 'seconds', 'peak MiB', '× sha'],
      ...cases.map((c) => [
        { sha: 'node:crypto SHA-256, one pass over the inputs', intersect: 'client-sdk intersectContributions + root' }[c],
        rate(c),
        res[c]!.seconds,
        res[c]!.peakMiB,
        rate(c) / rate('sha'),
      ]),
    ]),
  );
  console.log(
    `result: ${i.kept!.toLocaleString('en-US')} kept of ${i.distinct!.toLocaleString('en-US')} distinct ` +
      `(${i.belowMinOrgs!.toLocaleString('en-US')} below min-orgs, ${i.belowMinJurisdictions!.toLocaleString('en-US')} below min-jurisdictions, ` +
      `${i.excluded} excluded); root of the result alone ${i.rootSeconds!.toFixed(2)} s (timed again after the intersection, which includes it); ` +
      `output buffer ${i.outputMiB!.toFixed(0)} MiB; inputs ${((i.elements! * 32) / 2 ** 20).toFixed(0)} MiB (${i.elements!.toLocaleString('en-US')} elements).`,
  );
}

if (process.argv[2] === 'case') {
  await child(process.argv[3]!);
} else if (import.meta.url === `file://${process.argv[1]}`) {
  await main();
}

export { main };
