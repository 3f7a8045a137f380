// Device acceptance of a 1,000,000-element database (client-sdk device.openDatabase with its
// bundle: every signature, cosignature, inclusion and consistency proof, the database's order
// and RFC 6962 root, the store), against two baselines measured in the same run:
//   hash    — node:crypto SHA-256 of the same 32 MB in one pass (the hashing floor);
//   tree    — client-sdk's own tree hash of the same elements (rootFromLeafData), which
//             openDatabase must run once and only once.
// Goal (issue 5): openDatabase ≤ 1.2 × tree, and ≥ 600,000 elements/s. Each case runs in a fresh
// child; the log (policy, contributions, release, endorsements, cosigned checkpoints, bundle)
// is built before the clock starts. BENCH_ELEMENTS overrides the size.
import { createHash } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { ristretto255 } from '@noble/curves/ed25519.js';
import { buildBundle } from '@concord/client-sdk/bundle';
import type { BundleSource } from '@concord/client-sdk/bundle';
import { formatCheckpoint } from '@concord/client-sdk/checkpoint';
import { generateCosignatureKey, newCosignatureSigner } from '@concord/client-sdk/cosignature';
import { MemoryStore, openDatabase } from '@concord/client-sdk/device';
import { parseSignedEntry, signEntry } from '@concord/client-sdk/entries';
import type { ConcordEntry, PolicyEntry } from '@concord/client-sdk/entries';
import { nodeHash, rootFromLeafData, storedHashIndex, treeHash } from '@concord/client-sdk/merkle';
import type { Hash, HashReader } from '@concord/client-sdk/merkle';
import { generateKey, newSigner, signNote } from '@concord/client-sdk/note';
import type { NoteSignature, Signer } from '@concord/client-sdk/note';
import { measure, median, runCase, runsFromEnv, table } from './lib.js';
import type { Sample } from './lib.js';

const N = Number(process.env.BENCH_ELEMENTS ?? 1_000_000);
const ORIGIN = 'bench.example/concord';
const T0 = 1_700_000_000;
const DAY = 86_400;

/** N sorted distinct elements: a big-endian counter, then xorshift bytes. */
function elements(n: number): Uint8Array {
  const b = new Uint8Array(n * 32);
  const v = new DataView(b.buffer);
  let x = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    v.setUint32(i * 32, i);
    for (let j = 4; j < 32; j += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      v.setUint32(i * 32 + j, x >>> 0);
    }
  }
  return b;
}

/** A minimal in-memory log: just what a bundle needs (the tests' fixture has the full version). */
async function scenario(database: Uint8Array): Promise<{ bundle: Uint8Array; anchor: Uint8Array; now: number }> {
  const seed = (s: string) => sha256(new TextEncoder().encode(s));
  const log = newSigner(generateKey(ORIGIN, seed('log')).skey);
  const logVkey = generateKey(ORIGIN, seed('log')).vkey;
  const opKey = generateKey(`${ORIGIN}/operator`, seed('op'));
  const operator = newSigner(opKey.skey);
  const orgs = (['DE', 'FR', 'US'] as const).map((j) => {
    const k = generateKey(`org-${j.toLowerCase()}`, seed(j));
    return { name: `org-${j.toLowerCase()}`, jurisdiction: j, vkey: k.vkey, signer: newSigner(k.skey) };
  });
  const witnesses = [1, 2, 3, 4].map((i) => generateCosignatureKey(`w${i}.example`, seed(`w${i}`)));
  const policy: PolicyEntry = {
    type: 'policy', sequence: 1, previous: null, log: logVkey, operator: opKey.vkey, hashAlgorithm: 'pdq-256',
    blindingKey: ristretto255.Point.BASE.multiply(7n).toBytes(), minOrgs: 2, minJurisdictions: 2,
    endorsementQuorum: { orgs: 2, jurisdictions: 2 }, noticePeriod: DAY, maxCheckpointAge: DAY, maxReleaseAge: 30 * DAY,
    maxEntries: 2 * N, maxAdded: 2 * N, oprfLimit: 100_000,
    orgs: orgs.map(({ name, jurisdiction, vkey }) => ({ name, jurisdiction, vkey })),
    auditors: [],
    witnesses: witnesses.map((w, i) => ({ vkey: w.vkey, url: `https://w${i + 1}.example/` })).sort((a, b) => (a.vkey < b.vkey ? -1 : 1)),
    witnessQuorum: 3,
  };
  const entries: Uint8Array[] = [];
  const hashes: Hash[] = [];
  const add = (e: ConcordEntry, s: Signer) => {
    const bytes = signEntry(e, s);
    const index = entries.length;
    let cur = parseSignedEntry(bytes).leafHash;
    hashes.push(cur);
    for (let level = 0, n = index; n % 2 === 1; level++, n = (n - 1) / 2) {
      cur = nodeHash(hashes[storedHashIndex(level, n - 1)]!, cur);
      hashes.push(cur);
    }
    entries.push(bytes);
    return { index, leaf: parseSignedEntry(bytes).leafHash };
  };
  const reader: HashReader = { readHashes: async (ix) => ix.map((i) => hashes[i]!) };
  const p1 = add(policy, operator);
  const root = rootFromLeafData(database, 32);
  const contributions = orgs.map((o) => ({
    org: o.name,
    leaf: add({ type: 'contribution', org: o.name, sequence: 1, policy: p1.leaf, set: { root, count: N }, blob: sha256(database), expires: T0 + 60 * DAY }, o.signer).leaf,
  }));
  const r = add(
    { type: 'release', sequence: 1, previous: null, policy: p1.leaf, contributions, exclude: null, database: { root, count: N }, added: N, removed: 0, blob: sha256(database), expires: T0 + 20 * DAY },
    operator,
  );
  const ends = orgs.map((o) => add({ type: 'endorsement', org: o.name, subject: { kind: 'release', sequence: 1, leaf: r.leaf } }, o.signer));
  const note = async (time: number): Promise<Uint8Array> => {
    const text = formatCheckpoint({ origin: ORIGIN, size: entries.length, root: await treeHash(entries.length, reader), extensions: [] });
    const cos: NoteSignature[] = witnesses.map((w) => newCosignatureSigner(w.skey).cosign(text, time));
    return signNote(text, [log], cos);
  };
  const P = await note(T0 + 100);
  const F = await note(T0 + 100 + DAY + 10);
  const source: BundleSource = {
    latestCheckpoint: async () => F,
    earliestCheckpoint: async () => P,
    locate: async () => ({ release: r.index, endorsements: ends.map((e) => e.index), policies: [{ index: p1.index, endorsements: [] }] }),
    entries: async (ix) => ix.map((i) => entries[i]!),
    hashReader: () => reader,
  };
  return { bundle: await buildBundle(source, 1), anchor: entries[0]!, now: T0 + 100 + DAY + 60 };
}

function tag(root: Uint8Array): number {
  return root.subarray(0, 6).reduce((a, v) => a * 256 + v, 0);
}

async function child(kind: string): Promise<void> {
  const database = elements(N);
  const result = { elements: N, root: 0 };
  const s = kind === 'open' ? await scenario(database) : undefined;
  // The same JIT warm-up for both client-sdk cases (building the scenario hashed the whole
  // database once, so 'open' would otherwise start warmer than 'tree').
  if (kind !== 'hash') rootFromLeafData(database.subarray(0, 32 * Math.min(N, 100_000)), 32);
  await measure(async () => {
    if (kind === 'hash') createHash('sha256').update(database).digest();
    else if (kind === 'tree') result.root = tag(rootFromLeafData(database, 32));
    else if (kind === 'open') {
      const v = await openDatabase({ database, bundle: s!.bundle, trust: { anchor: s!.anchor, origin: ORIGIN }, store: new MemoryStore(), now: s!.now });
      result.root = tag(v.root);
    } else throw new Error(`unknown case ${kind}`);
  }, result);
}

async function main(): Promise<void> {
  const runs = runsFromEnv(5);
  const me = new URL(import.meta.url);
  const cases = ['hash', 'tree', 'open'] as const;
  // Interleaved (hash, tree, open, hash, tree, open, …) so that load from other processes on a
  // shared machine falls on every case alike; medians per case.
  const samples: Record<string, Sample[]> = { hash: [], tree: [], open: [] };
  for (let r = 0; r < runs; r++) for (const c of cases) samples[c]!.push(runCase(me, ['case', c], 1));
  const res = Object.fromEntries(
    cases.map((c) => [c, Object.fromEntries(Object.keys(samples[c]![0]!).map((k) => [k, median(samples[c]!.map((x) => x[k]!))])) as Sample]),
  );
  if (res.open!.root !== res.tree!.root) throw new Error('openDatabase verified a different root than the tree hash');
  const rate = (c: (typeof cases)[number]) => N / res[c]!.seconds;
  console.log(`\nDevice acceptance of a ${N.toLocaleString('en-US')}-element database (median of ${runs})`);
  console.log(
    table([
      ['case', 'elements/s', 'seconds', 'peak MiB', '× tree time'],
      ...cases.map((c) => [
        { hash: 'node:crypto SHA-256 of the 32 MB, one pass', tree: 'client-sdk tree hash (rootFromLeafData)', open: 'client-sdk openDatabase with its bundle' }[c],
        rate(c),
        res[c]!.seconds,
        res[c]!.peakMiB,
        res[c]!.seconds / res.tree!.seconds,
      ]),
    ]),
  );
  const overhead = res.open!.seconds / res.tree!.seconds - 1;
  console.log(`verification overhead beyond the tree hash: ${(overhead * 100).toFixed(1)}% (goal ≤ 20%); ${Math.round(rate('open')).toLocaleString('en-US')} elements/s (goal ≥ 600,000)`);
}

if (process.argv[2] === 'case') {
  await child(process.argv[3]!);
} else if (import.meta.url === `file://${process.argv[1]}`) {
  await main();
}

export { main };
