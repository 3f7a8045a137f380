// `concord audit` of a whole log served by a local `concord-log serve`: 100,000 entries (three
// contributions, a release, its endorsements, and ~100,000 small endorsement entries standing
// for a busy log) whose release database has 1,000,000 elements, recomputed from two
// contributions of 1,000,000 elements and one of 1,000,000 with half of them shared.
//
// Setup (not measured): a fresh SQLite log built in-process through log-server's own sequencer
// (every entry prechecked and signed as in production; random 32-byte elements, as DESIGN.md
// allows for benchmarks), cosigned by the policy's four witnesses, then served by a separate
// `concord-log serve` process (log-server/dist/cli.js) on 127.0.0.1.
// Measured, in a fresh child process per run: runAudit (verifier/src/audit.ts) from nothing —
// checkpoint, every tile and entry bundle, the tree recomputed, every entry checked, the three
// contribution blobs (32 MB each) downloaded and the intersection recomputed — with the audit's
// own breakdown (download, tree, entries, blobs, intersection). The audit must find nothing.
// Baselines, same machine, same run: libsodium (what the audit verifies with) and node:crypto
// each verifying ENTRIES Ed25519 signatures on one core (one per entry: the floor of the entries
// phase), and one sequential SHA-256 pass over the log's database file and blobs (bytes the audit
// must hash at least once).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256 } from '@noble/hashes/sha2.js';
import { generateCosignatureKey, newCosignatureSigner } from '@concord/client-sdk/cosignature';
import { diffDatabases, formatDatabase, intersectContributions, parseDatabase } from '@concord/client-sdk/database';
import { parseSignedEntry, signEntry } from '@concord/client-sdk/entries';
import type { ConcordEntry } from '@concord/client-sdk/entries';
import { generateKey, parseNote } from '@concord/client-sdk/note';
import { nativeSigner } from '@concord/log-server/ed25519-native';
import { initLog } from '@concord/log-server/init';
import { openLog } from '@concord/log-server/log';
import { runAudit } from '@concord/verifier/audit';
import { nativeEd25519Backend, nativeEd25519Verify } from '@concord/verifier/ed25519-native';
import { parseTrust } from '@concord/verifier/log-view';
import { measure, runCase, runsFromEnv, table } from './lib.js';

const ENTRIES = Number(process.env.BENCH_AUDIT_ENTRIES ?? 100_000);
const ELEMENTS = Number(process.env.BENCH_AUDIT_ELEMENTS ?? 1_000_000);
const ORIGIN = 'bench.example/concord';
const CLI = fileURLToPath(new URL('../../../log-server/dist/cli.js', import.meta.url));

/** Sorted random elements as one blob (formatDatabase of n random 32-byte strings). */
function randomElements(n: number): Uint8Array[] {
  const all = new Uint8Array(randomBytes(32 * n));
  return Array.from({ length: n }, (_, i) => all.subarray(32 * i, 32 * i + 32));
}

async function buildLog(dir: string): Promise<void> {
  const names = ['org-de', 'org-fr', 'org-us'];
  const juris: Record<string, string> = { 'org-de': 'DE', 'org-fr': 'FR', 'org-us': 'US' };
  const keys = Object.fromEntries(names.map((n) => [n, generateKey(n)]));
  const witnesses = [1, 2, 3, 4].map((i) => generateCosignatureKey(`w${i}.example`));
  const policy = {
    origin: ORIGIN,
    'hash-algorithm': 'pdq-256',
    'min-orgs': 2,
    'min-jurisdictions': 2,
    'endorsement-quorum': { orgs: 2, jurisdictions: 2 },
    'notice-period': 86_400,
    'max-checkpoint-age': 86_400,
    'max-release-age': 30 * 86_400,
    'max-entries': ELEMENTS,
    'max-added': ELEMENTS,
    'oprf-limit': 100_000,
    orgs: names.map((n) => ({ name: n, jurisdiction: juris[n], vkey: keys[n]!.vkey })),
    auditors: [],
    witnesses: witnesses.map((w, i) => ({ vkey: w.vkey, url: `https://w${i + 1}.example/` })),
    'witness-quorum': 3,
  };
  await initLog({ dataDir: dir, policyText: JSON.stringify(policy) });
  const log = await openLog({ dataDir: dir, witnessPush: false, maxDelayMs: 2 });
  const signers = Object.fromEntries(names.map((n) => [n, nativeSigner(keys[n]!.skey)]));
  const operator = nativeSigner(readFileSync(path.join(dir, 'operator.key'), 'utf8').trim());
  const anchorLeaf = parseTrust(new Uint8Array(readFileSync(path.join(dir, 'anchor.entry')))).leaf;
  const submit = async (bytes: Uint8Array): Promise<{ index: number; leaf: Uint8Array }> => {
    const se = parseSignedEntry(bytes);
    const r = await log.sequencer!.submit(await log.state.precheck(se));
    return { index: r.index, leaf: se.leafHash };
  };
  const putBlob = async (bytes: Uint8Array): Promise<Uint8Array> => {
    const d = sha256(bytes);
    await log.blobs.put(d, (async function* () { yield bytes; })(), { maxBytes: bytes.length });
    return d;
  };

  // Contributions: US and FR hold the same ELEMENTS; DE holds half of them and half its own.
  const shared = randomElements(ELEMENTS);
  const lists: Record<string, Uint8Array> = {
    'org-us': formatDatabase(shared),
    'org-fr': formatDatabase(shared),
    'org-de': formatDatabase([...shared.slice(0, ELEMENTS / 2), ...randomElements(ELEMENTS / 2)]),
  };
  const now = Math.floor(Date.now() / 1000);
  const cited: { org: string; leaf: Uint8Array }[] = [];
  for (const n of names) {
    const s = parseDatabase(lists[n]!);
    const blob = await putBlob(lists[n]!);
    const e: ConcordEntry = { type: 'contribution', org: n, sequence: 1, policy: anchorLeaf, set: { root: s.root, count: s.count }, blob, expires: now + 20 * 86_400 };
    cited.push({ org: n, leaf: (await submit(signEntry(e, signers[n]!))).leaf });
  }
  // ~ENTRIES small entries standing for a busy log (endorsements of made-up releases).
  const filler = ENTRIES - 1 - names.length - 1 - 2;
  for (let start = 0; start < filler; start += 2048) {
    const batch: Promise<unknown>[] = [];
    for (let i = start; i < Math.min(filler, start + 2048); i++) {
      const n = names[i % 3]!;
      const e: ConcordEntry = { type: 'endorsement', org: n, subject: { kind: 'release', sequence: 1000 + i, leaf: new Uint8Array(randomBytes(32)) } };
      batch.push(submit(signEntry(e, signers[n]!)));
    }
    await Promise.all(batch);
  }
  // The release: the intersection of the three, by the operator.
  const x = intersectContributions(names.map((n) => ({ org: n, jurisdiction: juris[n]!, elements: lists[n]! })), { minOrgs: 2, minJurisdictions: 2 });
  const blob = await putBlob(x.elements);
  const d = diffDatabases(new Uint8Array(0), x.elements);
  const release: ConcordEntry = {
    type: 'release',
    sequence: 1,
    previous: null,
    policy: anchorLeaf,
    contributions: cited,
    exclude: null,
    database: { root: x.root, count: x.count },
    added: d.added,
    removed: d.removed,
    blob,
    expires: now + 20 * 86_400,
  };
  const rel = await submit(signEntry(release, operator));
  for (const n of ['org-fr', 'org-us']) await submit(signEntry({ type: 'endorsement', org: n, subject: { kind: 'release', sequence: 1, leaf: rel.leaf } }, signers[n]!));
  // Witnesses cosign the head.
  const cp = (await log.store.latestCheckpoint())!;
  const text = parseNote(cp.note).text;
  for (const w of witnesses) {
    const sig = newCosignatureSigner(w.skey).cosign(text, now);
    await log.store.addCosignature({ size: cp.size, witness: w.vkey, time: now, line: sig.line });
  }
  if (cp.size !== ENTRIES) throw new Error(`built ${cp.size} entries, want ${ENTRIES}`);
  await log.close();
}

function startServer(dir: string): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const { DATABASE_URL: _ignored, ...env } = process.env;
    const child = spawn(process.execPath, [CLI, 'serve', '--data', dir], { env: { ...env, PORT: '0', HOST: '127.0.0.1', CONCORD_WITNESS_PUSH: 'off' }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening on (http:\/\/[^:]+:\d+)/.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
}

async function child(kind: string, url: string, trustFile: string, dataDir: string): Promise<void> {
  const trust = parseTrust(new Uint8Array(readFileSync(trustFile)));
  if (kind === 'audit') {
    const extra: Record<string, number> = {};
    await measure(async () => {
      const r = await runAudit({ url, trust, now: Math.floor(Date.now() / 1000), concurrency: 16 });
      if (r.findings.length > 0 || r.incomplete) throw new Error(`the audit found: ${r.findings.map((f) => f.id).join(', ')}`);
      if (r.releases[0]?.database.count !== ELEMENTS) throw new Error('wrong release size');
      Object.assign(extra, {
        download: r.timings.download / 1000,
        tree: r.timings.tree / 1000,
        entries: r.timings.entries / 1000,
        blobs: r.timings.blobs / 1000,
        intersection: r.timings.intersection / 1000,
      });
    }, extra);
  } else if (kind === 'ed25519' || kind === 'ed25519-sodium') {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const msg = randomBytes(200);
    const sig = cryptoSign(null, msg, privateKey);
    const raw = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(12));
    if (kind === 'ed25519-sodium' && nativeEd25519Backend() !== 'libsodium') throw new Error('sodium-native did not load');
    const sodium = nativeEd25519Verify();
    const once = kind === 'ed25519' ? (): boolean => cryptoVerify(null, msg, publicKey, sig) : (): boolean => sodium(raw, msg, sig);
    await measure(() => {
      for (let i = 0; i < ENTRIES; i++) if (!once()) throw new Error('bad math: verify');
    });
  } else if (kind === 'sha256') {
    // The floor: every entry and blob byte hashed once, sequentially, from disk.
    await measure(async () => {
      const h = createHash('sha256');
      for (const f of [path.join(dataDir, 'log.db')]) h.update(readFileSync(f));
      for (const b of readBlobs(dataDir)) h.update(b);
      h.digest();
    });
  } else throw new Error(`unknown case ${kind}`);
}

function readBlobs(dataDir: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(readFileSync(p));
    }
  };
  walk(path.join(dataDir, 'blobs'));
  return out;
}

async function main(): Promise<void> {
  const runs = runsFromEnv(3);
  const dir = mkdtempSync(path.join(tmpdir(), 'concord-bench-audit-'));
  let server: ChildProcess | undefined;
  try {
    const t0 = Date.now();
    await buildLog(dir);
    console.log(`\nbuilt a log of ${ENTRIES.toLocaleString('en-US')} entries with a ${ELEMENTS.toLocaleString('en-US')}-element release in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const s = await startServer(dir);
    server = s.child;
    const me = new URL(import.meta.url);
    const trust = path.join(dir, 'anchor.entry');
    const audit = runCase(me, ['case', 'audit', s.url, trust, dir], runs);
    const floor = runCase(me, ['case', 'sha256', s.url, trust, dir], runs);
    const verify = runCase(me, ['case', 'ed25519', s.url, trust, dir], runs);
    const verifySodium = runCase(me, ['case', 'ed25519-sodium', s.url, trust, dir], runs);
    console.log(`\nFull audit of ${ENTRIES.toLocaleString('en-US')} entries + a ${ELEMENTS.toLocaleString('en-US')}-element release from a local concord-log serve (median of ${runs})`);
    console.log(
      table([
        ['phase', 'seconds', 'share'],
        ...(['download', 'tree', 'entries', 'blobs', 'intersection'] as const).map((k) => [k, audit[k]!, `${((audit[k]! / audit.seconds) * 100).toFixed(0)}%`]),
        ['total', audit.seconds, '100%'],
      ]),
    );
    console.log(
      `entries phase × ${(audit.entries! / verifySodium.seconds).toFixed(2)} libsodium verifying ${ENTRIES.toLocaleString('en-US')} Ed25519 signatures on one core (${verifySodium.seconds.toFixed(2)} s), ` +
        `× ${(audit.entries! / verify.seconds).toFixed(2)} node:crypto (${verify.seconds.toFixed(2)} s)`,
    );
    console.log(`peak RSS ${Math.round(audit.peakMiB)} MiB; ${Math.round(ENTRIES / audit.seconds).toLocaleString('en-US')} entries/s overall; ` + `× ${(audit.seconds / floor.seconds).toFixed(1)} one SHA-256 pass over the log database and blobs (${floor.seconds.toFixed(2)} s)`);
  } finally {
    if (server !== undefined && server.exitCode === null) {
      const done = new Promise((r) => server!.once('exit', r));
      server.kill('SIGTERM');
      await done;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'case') {
  await child(process.argv[3]!, process.argv[4]!, process.argv[5]!, process.argv[6]!);
} else if (import.meta.url === `file://${process.argv[1]}`) {
  await main();
}

export { main, buildLog, startServer };
