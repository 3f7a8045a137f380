// `npm start`: a local Concord network on the embedded default (SQLite under ./data/).
//
// It uses the same commands and HTTP APIs a real deployment uses: the log is
// created with `concord-log init` from a policy file and served with
// `concord-log serve`; everything printed as verified is checked here with
// client-sdk against what the server returned, never taken on trust.
//
//   npm start               create ./data if absent, then serve and verify
//   npm start -- --fresh    delete ./data first and start over
//   PORT=9090 npm start     serve the log on another port (default 8080)
//
// Ctrl-C stops every process it started.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { toBase64 } from '@concord/client-sdk/bytes';
import { openCheckpoint } from '@concord/client-sdk/checkpoint';
import { generateCosignatureKey } from '@concord/client-sdk/cosignature';
import { parseSignedEntry, type PolicyEntry } from '@concord/client-sdk/entries';
import { leafHash, proveInclusion, verifyInclusion } from '@concord/client-sdk/merkle';
import { generateKey, newVerifier } from '@concord/client-sdk/note';
import { tileHashReader, tilePath, decodeEntryBundle, type Tile } from '@concord/client-sdk/tiles';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dataDir = path.resolve(process.env.CONCORD_DATA ?? path.join(root, 'data'));
const demoDir = path.join(dataDir, 'demo');
const port = Number(process.env.PORT ?? 8080);
const origin = 'localhost/concord-demo';
const logCli = path.join(root, 'log-server/dist/cli.js');
const children: ChildProcess[] = [];

/** Four organisations in three jurisdictions (two in one country), as the demo policy needs. */
const ORGS = [
  { name: 'hotline-de', jurisdiction: 'DE' },
  { name: 'hotline-fr', jurisdiction: 'FR' },
  { name: 'childsafe-us-east', jurisdiction: 'US' },
  { name: 'childsafe-us-west', jurisdiction: 'US' },
] as const;
const WITNESSES = ['witness-a', 'witness-b', 'witness-c', 'witness-d'] as const;

function say(s: string): void {
  console.log(s);
}

function writeSecret(file: string, text: string): void {
  writeFileSync(file, text + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** Creates the organisations' and witnesses' keys and the policy file, then `concord-log init`. */
async function createNetwork(): Promise<void> {
  mkdirSync(demoDir, { recursive: true });
  const orgs = ORGS.map((o) => {
    const k = generateKey(o.name);
    writeSecret(path.join(demoDir, `${o.name}.key`), k.skey);
    return { name: o.name, jurisdiction: o.jurisdiction, vkey: k.vkey };
  });
  const witnesses = WITNESSES.map((w, i) => {
    const k = generateCosignatureKey(`${w}.localhost`);
    writeSecret(path.join(demoDir, `${w}.key`), k.skey);
    return { vkey: k.vkey, url: `http://127.0.0.1:${port + 1 + i}/` };
  });
  const policy = {
    origin,
    'hash-algorithm': 'pdq-256',
    'min-orgs': 2,
    'min-jurisdictions': 2,
    'endorsement-quorum': { orgs: 3, jurisdictions: 2 },
    'notice-period': 20,
    'max-checkpoint-age': 3600,
    'max-release-age': 30 * 86400,
    'max-entries': 1_000_000,
    'max-added': 10_000,
    'oprf-limit': 1_000_000,
    orgs,
    auditors: [{ name: 'press-auditor', vkey: auditorKey() }],
    witnesses,
    'witness-quorum': 3,
  };
  const policyFile = path.join(demoDir, 'policy.json');
  writeFileSync(policyFile, JSON.stringify(policy, null, 2) + '\n');
  say('Step 0 — the operator writes a policy: 4 organisations in 3 jurisdictions (DE, FR, US twice),');
  say('         an entry needs 2 organisations from 2 jurisdictions, releases need endorsements from');
  say('         3 organisations in 2 jurisdictions, checkpoints need 3 of 4 witnesses.');
  await run(process.execPath, [logCli, 'init', '--policy', policyFile, '--data', dataDir]);
}

function auditorKey(): string {
  const k = generateKey('press-auditor');
  writeSecret(path.join(demoDir, 'press-auditor.key'), k.skey);
  return k.vkey;
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: 'inherit' });
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(args[0] ?? cmd)} ${args[1]} exited with ${code}`))));
    p.once('error', reject);
  });
}

function serve(): ChildProcess {
  const p = spawn(process.execPath, [logCli, 'serve', '--data', dataDir], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1' },
  });
  children.push(p);
  p.once('exit', (code, signal) => {
    if (!stopping) {
      console.error(`the log server stopped (${signal ?? code}); stopping`);
      void stop(1);
    }
  });
  return p;
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`GET ${url}: ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function waitForServer(base: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const r = await fetch(`${base}/checkpoint`);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the log server did not answer on ${base} within 30 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * What a device or auditor does first: check the signed checkpoint against the
 * log key of the trust anchor (policy 1), read the tree through tiles that are
 * each authenticated against that checkpoint, and prove the anchor is entry 0.
 */
async function verifyLog(base: string): Promise<void> {
  const anchor = readFileSync(path.join(dataDir, 'anchor.entry'));
  const policy = parseSignedEntry(anchor).entry as PolicyEntry;
  const cp = openCheckpoint(await fetchBytes(`${base}/checkpoint`), newVerifier(policy.log), origin).checkpoint;
  const reader = tileHashReader(
    { size: cp.size, root: cp.root },
    { readTiles: (tiles: readonly Tile[]) => Promise.all(tiles.map((t) => fetchBytes(`${base}/${tilePath(t)}`))) },
  );
  const leaf = leafHash(anchor);
  verifyInclusion(leaf, 0, cp.size, await proveInclusion(cp.size, 0, reader), cp.root);
  const bundle = decodeEntryBundle(await fetchBytes(`${base}/${tilePath({ level: 'entries', n: 0, width: Math.min(cp.size, 256) })}`));
  if (toBase64(leafHash(bundle[0]!)) !== toBase64(leaf)) throw new Error('entry 0 served by the log is not the trust anchor');
  say('');
  say(`Verified with client-sdk: checkpoint of size ${cp.size}, root ${toBase64(cp.root)}`);
  say(`  signed by the log key of the trust anchor (${policy.log.split('+')[0]}),`);
  say(`  and the trust anchor (policy 1, leaf ${toBase64(leaf)}) is entry 0 of that tree,`);
  say('  proven through tiles that were each authenticated against the checkpoint root.');
}

let stopping = false;
async function stop(code: number): Promise<never> {
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null)));
  process.exit(code);
}

async function main(): Promise<void> {
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));
  if (process.argv.includes('--fresh')) {
    rmSync(dataDir, { recursive: true, force: true });
    say(`--fresh: removed ${dataDir}`);
  }
  if (!existsSync(path.join(dataDir, 'anchor.entry'))) await createNetwork();
  else say(`Continuing with the existing network in ${dataDir} (npm start -- --fresh starts over).`);
  const base = `http://127.0.0.1:${port}`;
  serve();
  await waitForServer(base);
  await verifyLog(base);
  say('');
  say('Serving (Ctrl-C stops):');
  say(`  checkpoint   ${base}/checkpoint`);
  say(`  tiles        ${base}/tile/0/000.p/<width>   entries ${base}/tile/entries/000.p/<width>`);
  say(`  proofs       ${base}/proof/inclusion?index=0&size=<size>`);
}

main().catch(async (err: unknown) => {
  console.error(`npm start failed: ${err instanceof Error ? err.message : String(err)}`);
  await stop(1);
});
