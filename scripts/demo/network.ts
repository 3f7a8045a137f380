// The local Concord network of `npm start`, as a library: test/npm-start.test.ts runs the very
// same round against a temporary directory.
//
// Every step goes through the commands and HTTP APIs a real deployment uses, in child processes:
//   concord-log init / serve / release        the operator
//   concord witness serve                      four witnesses
//   concord org contribute / audit-release / endorse   four organisations
//   concord audit / check-image               an auditor
// and the device step uses client-sdk's device.updateFromLog with a file-backed store, exactly as
// an app embedding the SDK would. Nothing here reads the log's storage or signs on anyone's behalf.
//
// Layout under the data directory:
//   log.key operator.key blinding.key *.vkey anchor.entry log.db blobs/   the log (concord-log init)
//   demo/policy.json            the operator's policy file
//   demo/<org>.key              each organisation's signing key (0600)
//   demo/<org>.hashes           each organisation's synthetic raw PDQ hashes (hex, one per line)
//   demo/witness-?.key / .db    each witness's cosigning key (0600) and state
//   demo/press-auditor.key      the auditor's key (0600)
//   demo/device/                the device's stored state
//   demo/auditor/               the auditor's --state directory
//   demo/round.json             which steps of the round are done (a restart continues)

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromHex, toBase64, toHex } from '@concord/client-sdk/bytes';
import { LogClient } from '@concord/client-sdk/client';
import { generateCosignatureKey } from '@concord/client-sdk/cosignature';
import { DeviceError, updateFromLog } from '@concord/client-sdk/device';
import type { VerifiedDatabase } from '@concord/client-sdk/device';
import { parseSignedEntry } from '@concord/client-sdk/entries';
import type { PolicyEntry } from '@concord/client-sdk/entries';
import { generateKey, newSigner, parseVerifierKey } from '@concord/client-sdk/note';
import { blind, blindingInput, formatEvaluateRequest, parseEvaluateResponse, verifyAndUnblind } from '@concord/client-sdk/oprf';
import { FileDeviceStore } from '@concord/verifier/device-store';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root, from scripts/demo/ or scripts/dist/demo/. */
export const repoRoot = path.resolve(here, path.basename(path.dirname(here)) === 'dist' ? '../../..' : '../..');
const LOG_CLI = path.join(repoRoot, 'log-server/dist/cli.js');
const CONCORD_CLI = path.join(repoRoot, 'verifier/dist/cli.js');

export const ORIGIN = 'localhost/concord-demo';

/** Four organisations in three jurisdictions (two in one country). */
export const ORGS = [
  { name: 'hotline-de', jurisdiction: 'DE' },
  { name: 'hotline-fr', jurisdiction: 'FR' },
  { name: 'childsafe-us-east', jurisdiction: 'US' },
  { name: 'childsafe-us-west', jurisdiction: 'US' },
] as const;
export type OrgName = (typeof ORGS)[number]['name'];
export const WITNESSES = ['witness-a', 'witness-b', 'witness-c', 'witness-d'] as const;
export const AUDITOR = 'press-auditor';

/**
 * The synthetic lists, in groups with planned overlaps. Each raw hash is a 32-byte PDQ-sized
 * value derived from (group, i); which organisations hold it decides its fate under the policy
 * (min-orgs 2, min-jurisdictions 2).
 */
export const GROUPS: readonly { id: string; size: number; holders: readonly OrgName[]; kept: boolean; why: string }[] = [
  { id: 'de-fr', size: 40, holders: ['hotline-de', 'hotline-fr'], kept: true, why: '2 organisations, 2 jurisdictions' },
  { id: 'de-us-us', size: 25, holders: ['hotline-de', 'childsafe-us-east', 'childsafe-us-west'], kept: true, why: '3 organisations, 2 jurisdictions' },
  { id: 'fr-us', size: 20, holders: ['hotline-fr', 'childsafe-us-west'], kept: true, why: '2 organisations, 2 jurisdictions' },
  { id: 'all', size: 5, holders: ['hotline-de', 'hotline-fr', 'childsafe-us-east', 'childsafe-us-west'], kept: true, why: '4 organisations, 3 jurisdictions' },
  { id: 'us-us', size: 15, holders: ['childsafe-us-east', 'childsafe-us-west'], kept: false, why: '2 organisations, but both in the US' },
  { id: 'only-de', size: 10, holders: ['hotline-de'], kept: false, why: 'one organisation only' },
  { id: 'only-fr', size: 10, holders: ['hotline-fr'], kept: false, why: 'one organisation only' },
  { id: 'only-us-east', size: 10, holders: ['childsafe-us-east'], kept: false, why: 'one organisation only' },
  { id: 'only-us-west', size: 10, holders: ['childsafe-us-west'], kept: false, why: 'one organisation only' },
];

/** The raw hash i of a group (hex): deterministic, so every run plans the same overlaps. */
export function rawHash(group: string, i: number): string {
  return createHash('sha256').update(`concord-demo ${group} ${i}`).digest('hex');
}

/** What the round expects: kept raw hashes, and the two hashes it singles out. */
export function plan(): { kept: string[]; dropped: string[]; falsePositive: string; neverListed: string } {
  const kept: string[] = [];
  const dropped: string[] = [];
  for (const g of GROUPS) for (let i = 0; i < g.size; i++) (g.kept ? kept : dropped).push(rawHash(g.id, i));
  // A hash several organisations listed that turns out to be a false positive (kept by the rules).
  const falsePositive = rawHash('fr-us', 0);
  // A hash only one organisation listed: the intersection drops it; the auditor proves its absence.
  const neverListed = rawHash('only-de', 0);
  return { kept, dropped, falsePositive, neverListed };
}

export interface NetworkOptions {
  readonly dataDir: string;
  /** Log port; witnesses listen on port+1 … port+4. */
  readonly port: number;
  /** Seconds of notice in the demo policy (default 20). */
  readonly noticePeriod?: number;
  readonly say?: (line: string) => void;
  /** Extra environment for child processes. */
  readonly env?: Record<string, string | undefined>;
}

/** What `concord-log release --json` prints (the parts shown here). */
interface ReleaseJson {
  sequence: number;
  report: { contributions: number; distinct: number; belowMinOrgs: number; belowMinJurisdictions: number; excluded: number; kept: number };
  database: { count: number; root: string };
}

interface RoundState {
  contributed: string[];
  release1?: number;
  /** The database of release 1 as `concord-log release` reported it. */
  database1?: { root: string; count: number };
  endorsed1: string[];
  deviceRelease?: number;
  audited?: boolean;
  release2?: number;
  database2?: { root: string; count: number };
  endorsed2: string[];
}

export interface RoundOutcome {
  readonly release1: { sequence: number; root: string; count: number };
  readonly release2: { sequence: number; root: string; count: number };
  readonly deviceBeforeNotice: string;
  readonly device1: VerifiedDatabase;
  readonly device2: VerifiedDatabase;
  readonly auditExit: number;
  readonly checkImage: { exit: number; output: string };
}

/** A child's captured run. */
export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export class DemoNetwork {
  readonly dataDir: string;
  readonly demoDir: string;
  readonly port: number;
  readonly url: string;
  private readonly noticePeriod: number;
  private readonly say: (line: string) => void;
  private readonly env: Record<string, string | undefined>;
  private readonly children: ChildProcess[] = [];
  private stopping = false;
  /** Called when a server child dies unexpectedly. */
  onChildExit: (name: string, code: number | null, signal: NodeJS.Signals | null) => void = () => {};

  constructor(o: NetworkOptions) {
    this.dataDir = path.resolve(o.dataDir);
    this.demoDir = path.join(this.dataDir, 'demo');
    this.port = o.port;
    this.url = `http://127.0.0.1:${o.port}`;
    this.noticePeriod = o.noticePeriod ?? 20;
    this.say = o.say ?? ((l) => console.log(l));
    const env = { ...process.env, ...o.env };
    // The demo network is the embedded default: never the PostgreSQL a developer exported.
    delete env.DATABASE_URL;
    this.env = env;
  }

  get exists(): boolean {
    return existsSync(path.join(this.dataDir, 'anchor.entry'));
  }

  private file(name: string): string {
    return path.join(this.demoDir, name);
  }

  private writeSecret(name: string, text: string): void {
    writeFileSync(this.file(name), text + '\n', { mode: 0o600 });
    chmodSync(this.file(name), 0o600);
  }

  // --- processes ------------------------------------------------------------------------------

  /** Runs a CLI to completion, capturing its output. */
  run(cli: 'log' | 'concord', args: readonly string[], env: Record<string, string> = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const p = spawn(process.execPath, [cli === 'log' ? LOG_CLI : CONCORD_CLI, ...args], {
        cwd: this.dataDir,
        env: { ...this.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      p.once('error', reject);
      p.once('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  /** Runs a CLI that must succeed; its output on failure is part of the error. */
  async must(cli: 'log' | 'concord', args: readonly string[], env: Record<string, string> = {}): Promise<RunResult> {
    const r = await this.run(cli, args, env);
    if (r.code !== 0) {
      throw new Error(`${cli === 'log' ? 'concord-log' : 'concord'} ${args.slice(0, 2).join(' ')} exited with ${r.code}:\n${r.stderr}${r.stdout}`);
    }
    return r;
  }

  private startChild(name: string, cli: 'log' | 'concord', args: readonly string[], env: Record<string, string>): ChildProcess {
    const p = spawn(process.execPath, [cli === 'log' ? LOG_CLI : CONCORD_CLI, ...args], {
      cwd: this.dataDir,
      env: { ...this.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr?.setEncoding('utf8').on('data', (d: string) => {
      err = (err + d).slice(-4000);
    });
    p.once('exit', (code, signal) => {
      if (!this.stopping) {
        this.say(`${name} stopped (${signal ?? code})${err !== '' ? `:\n${err}` : ''}`);
        this.onChildExit(name, code, signal);
      }
    });
    this.children.push(p);
    return p;
  }

  private async waitFor(url: string, what: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const r = await fetch(url);
        await r.arrayBuffer();
        if (r.status < 500) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`${what} did not answer on ${url} within 60 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Starts the four witnesses and the log server. */
  async start(): Promise<void> {
    const logVkey = readFileSync(path.join(this.dataDir, 'log.vkey'), 'utf8').trim();
    await Promise.all(
      WITNESSES.map(async (w, i) => {
        const port = this.port + 1 + i;
        this.startChild(w, 'concord', ['witness', 'serve', '--key', this.file(`${w}.key`), '--db', this.file(`${w}.db`), '--log-key', logVkey], {
          HOST: '127.0.0.1',
          PORT: String(port),
        });
        await this.waitFor(`http://127.0.0.1:${port}/`, w);
      }),
    );
    this.startChild('the log server', 'log', ['serve', '--data', this.dataDir], {
      HOST: '127.0.0.1',
      PORT: String(this.port),
      // Witnesses re-cosign an unchanged checkpoint every few seconds, so that the demo's
      // notice period is measured by their clocks within seconds of its end.
      CONCORD_WITNESS_RECOSIGN: '3',
    });
    await this.waitFor(`${this.url}/checkpoint`, 'the log server');
  }

  /** Stops every process this network started. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await Promise.all(
      this.children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : null)),
    );
  }

  // --- creation -------------------------------------------------------------------------------

  /** Keys, synthetic lists, the policy file, then `concord-log init`. */
  async create(): Promise<void> {
    mkdirSync(this.demoDir, { recursive: true });
    const orgs = ORGS.map((o) => {
      const k = generateKey(o.name);
      this.writeSecret(`${o.name}.key`, k.skey);
      const lines: string[] = [];
      for (const g of GROUPS) if (g.holders.includes(o.name)) for (let i = 0; i < g.size; i++) lines.push(rawHash(g.id, i));
      writeFileSync(this.file(`${o.name}.hashes`), lines.join('\n') + '\n');
      return { name: o.name, jurisdiction: o.jurisdiction, vkey: k.vkey };
    });
    const witnesses = WITNESSES.map((w, i) => {
      const k = generateCosignatureKey(`${w}.localhost`);
      this.writeSecret(`${w}.key`, k.skey);
      return { vkey: k.vkey, url: `http://127.0.0.1:${this.port + 1 + i}/` };
    });
    const auditor = generateKey(AUDITOR);
    this.writeSecret(`${AUDITOR}.key`, auditor.skey);
    const policy = {
      origin: ORIGIN,
      'hash-algorithm': 'pdq-256',
      'min-orgs': 2,
      'min-jurisdictions': 2,
      'endorsement-quorum': { orgs: 3, jurisdictions: 2 },
      'notice-period': this.noticePeriod,
      'max-checkpoint-age': 3600,
      'max-release-age': 30 * 86400,
      'max-entries': 1_000_000,
      'max-added': 10_000,
      'oprf-limit': 100_000,
      orgs,
      auditors: [{ name: AUDITOR, vkey: auditor.vkey }],
      witnesses,
      'witness-quorum': 3,
    };
    writeFileSync(this.file('policy.json'), JSON.stringify(policy, null, 2) + '\n');
    this.say('Step 0 — the operator writes a policy and creates the log:');
    this.say('  4 organisations in 3 jurisdictions (DE, FR, US twice); an entry reaches the database only');
    this.say('  if 2 organisations from 2 jurisdictions listed it; a release needs endorsements from 3');
    this.say(`  organisations in 2 jurisdictions; checkpoints need 3 of 4 witnesses; ${this.noticePeriod} s of notice.`);
    await this.must('log', ['init', '--policy', this.file('policy.json'), '--data', this.dataDir]);
    this.saveState({ contributed: [], endorsed1: [], endorsed2: [] });
  }

  // --- the round ------------------------------------------------------------------------------

  private state(): RoundState {
    const f = this.file('round.json');
    if (!existsSync(f)) return { contributed: [], endorsed1: [], endorsed2: [] };
    return JSON.parse(readFileSync(f, 'utf8')) as RoundState;
  }

  private saveState(s: RoundState): void {
    writeFileSync(this.file('round.json'), JSON.stringify(s, null, 2) + '\n');
  }

  private get trustArgs(): string[] {
    return ['--log', this.url, '--trust', path.join(this.dataDir, 'anchor.entry')];
  }

  get trust(): { anchor: Uint8Array; origin: string } {
    return { anchor: new Uint8Array(readFileSync(path.join(this.dataDir, 'anchor.entry'))), origin: ORIGIN };
  }

  private policy(): PolicyEntry {
    return parseSignedEntry(this.trust.anchor).entry as PolicyEntry;
  }

  /** The device: fetch the latest bundle and database, verify, store (client-sdk device.ts). */
  async device(): Promise<VerifiedDatabase> {
    const client = new LogClient({ url: this.url });
    const store = new FileDeviceStore(this.file('device'));
    return updateFromLog({ client, trust: this.trust, store, now: Math.floor(Date.now() / 1000) });
  }

  private showDevice(db: VerifiedDatabase): void {
    const when = (t: number): string => new Date(t * 1000).toISOString().replace('.000Z', 'Z');
    this.say('  ┌─ Settings › Privacy › Child-safety database ─────────────────────────');
    this.say(`  │ Release ${db.sequence}: ${db.count} entries`);
    this.say(`  │ Root ${toBase64(db.root)}`);
    this.say(`  │ Published ${when(db.publishedAt)}, noticed ${Number.isFinite(db.noticedAt) ? when(db.noticedAt) : '—'}${db.acceptedWithoutNotice ? ' (accepted at once: it only removes entries)' : ''}`);
    for (const e of db.endorsers) this.say(`  │ Endorsed in ${e.jurisdiction} by ${e.orgs.join(', ')}`);
    this.say(`  │ Log checkpoint ${db.checkpoint.size}, witnessed alive at ${when(db.checkpoint.aliveAt)}`);
    this.say('  └──────────────────────────────────────────────────────────────────────');
  }

  /** The elements k·H(x) of raw hashes, through the operator's VOPRF as the auditor, DLEQ-verified. */
  async elements(rawHexes: readonly string[]): Promise<Uint8Array[]> {
    const client = new LogClient({ url: this.url });
    const signer = newSigner(readFileSync(this.file(`${AUDITOR}.key`), 'utf8').trim());
    const p = this.policy();
    const out: Uint8Array[] = [];
    for (let i = 0; i < rawHexes.length; i += 1000) {
      const bs = rawHexes.slice(i, i + 1000).map((h) => blind(blindingInput(p.hashAlgorithm, fromHex(h))));
      const blinded = bs.map((b) => b.blinded);
      const res = parseEvaluateResponse(await client.oprfEvaluate(ORIGIN, formatEvaluateRequest(blinded), signer), bs.length);
      out.push(...verifyAndUnblind(p.blindingKey, bs.map((b) => b.blind), blinded, res));
    }
    return out;
  }

  async element(rawHex: string): Promise<Uint8Array> {
    return (await this.elements([rawHex]))[0]!;
  }

  private async endorseAll(sequence: number, done: string[]): Promise<void> {
    // Three organisations from two jurisdictions meet the quorum; the fourth also checks.
    for (const o of ORGS) {
      if (done.includes(o.name)) continue;
      const audit = await this.run('concord', ['org', 'audit-release', String(sequence), ...this.trustArgs]);
      if (audit.code !== 0) throw new Error(`${o.name}: the audit of release ${sequence} failed:\n${audit.stderr}${audit.stdout}`);
      await this.must('concord', ['org', 'endorse', String(sequence), '--org', o.name, '--key', this.file(`${o.name}.key`), ...this.trustArgs]);
      done.push(o.name);
      this.say(`  ${o.name} (${o.jurisdiction}) recomputed release ${sequence} from the public log — every check passed — and endorsed it`);
    }
  }

  private async waitNotice(what: string, until: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + (this.noticePeriod + 120) * 1000;
    while (!(await until())) {
      if (Date.now() > deadline) throw new Error(`${what} did not happen in time`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  /** Runs whatever steps of the round are not done yet; returns the outcome. */
  async round(): Promise<RoundOutcome | undefined> {
    const st = this.state();
    const { falsePositive, neverListed } = plan();
    if (st.release2 !== undefined && st.deviceRelease === st.release2) {
      // The round already ran in this network: check it again from the outside.
      this.say('');
      this.say(`The round already ran in this network (releases ${st.release1} and ${st.release2}); checking it again:`);
      this.showDevice(await this.device());
      const audit = await this.run('concord', ['audit', ...this.trustArgs, '--state', this.file('auditor')]);
      this.say(audit.code === 0 ? '  concord audit: everything verified again' : `  concord audit FAILED (exit ${audit.code}):\n${audit.stdout}${audit.stderr}`);
      return undefined;
    }

    this.say('');
    this.say('Step 1 — each organisation blinds its list through the operator\'s VOPRF (checking every DLEQ');
    this.say('         proof) and submits it; raw hashes never leave the organisation.');
    for (const o of ORGS) {
      if (st.contributed.includes(o.name)) continue;
      const r = await this.must('concord', ['org', 'contribute', '--org', o.name, '--key', this.file(`${o.name}.key`), '--hashes', this.file(`${o.name}.hashes`), ...this.trustArgs, '--json']);
      const j = JSON.parse(r.stdout) as { set: { count: number }; index: number };
      this.say(`  ${o.name} (${o.jurisdiction}): ${j.set.count} blinded entries, logged as entry ${j.index}`);
      st.contributed.push(o.name);
      this.saveState(st);
    }

    this.say('');
    this.say('Step 2 — the operator builds release 1: the deterministic intersection.');
    if (st.release1 === undefined) {
      const r = await this.must('log', ['release', '--data', this.dataDir, '--log', this.url, '--json']);
      const j = JSON.parse(r.stdout) as ReleaseJson;
      st.release1 = j.sequence;
      st.database1 = j.database;
      this.saveState(st);
      const rep = j.report;
      this.say(`  ${rep.distinct} distinct blinded entries in ${rep.contributions} contributions:`);
      this.say(`    dropped ${rep.belowMinOrgs}: listed by only one organisation`);
      this.say(`    dropped ${rep.belowMinJurisdictions}: listed by organisations of one jurisdiction only`);
      this.say(`    kept ${rep.kept}: listed by 2 or more organisations in 2 or more jurisdictions`);
      this.say(`  release ${j.sequence}: ${j.database.count} entries, root ${j.database.root}`);
    }
    this.say('  (the plan behind the synthetic lists:)');
    for (const g of GROUPS) this.say(`  ${String(g.size).padStart(5)} hashes held by ${g.holders.join(' + ')}: ${g.kept ? 'kept' : 'dropped'} (${g.why})`);

    this.say('');
    this.say('Step 3 — each organisation audits release 1 from the public log and endorses it; the');
    this.say('         witnesses cosign every checkpoint.');
    await this.endorseAll(st.release1, st.endorsed1);
    this.saveState(st);

    this.say('');
    this.say(`Step 4 — a device opens release 1 only after its ${this.noticePeriod} s notice, measured by witness clocks.`);
    let deviceBeforeNotice = 'already accepted earlier';
    let device1: VerifiedDatabase | undefined;
    if (st.deviceRelease === undefined || st.deviceRelease < st.release1) {
      try {
        device1 = await this.device();
        deviceBeforeNotice = 'accepted (the notice had already passed)';
      } catch (err) {
        if (!(err instanceof DeviceError)) throw err;
        deviceBeforeNotice = err.code;
        this.say(`  too early: the device refuses with "${err.code}" — ${err.message}`);
      }
      if (device1 === undefined) {
        await this.waitNotice('the notice period', async () => {
          try {
            device1 = await this.device();
            return true;
          } catch (err) {
            if (err instanceof DeviceError && (err.code === 'not-noticed' || err.code === 'too-few-cosignatures')) return false;
            throw err;
          }
        });
      }
      st.deviceRelease = st.release1;
      this.saveState(st);
    } else {
      device1 = await this.device();
    }
    this.showDevice(device1!);

    this.say('');
    this.say('Step 5 — an auditor verifies the whole log, and proves a hash only one organisation listed');
    this.say('         is NOT in the database.');
    const audit = await this.run('concord', ['audit', ...this.trustArgs, '--state', this.file('auditor')]);
    this.say(
      audit.code === 0
        ? '  concord audit: every signature, proof, policy, intersection and endorsement verified'
        : `  concord audit FAILED (exit ${audit.code}):\n${audit.stdout}${audit.stderr}`,
    );
    st.audited = audit.code === 0;
    this.saveState(st);
    const check = await this.run('concord', ['check-image', ...this.trustArgs, '--key', this.file(`${AUDITOR}.key`), '--hash', neverListed]);
    for (const line of check.stdout.trim().split('\n').slice(0, 6)) this.say(`  ${line}`);

    this.say('');
    this.say('Step 6 — a false positive is reported: the operator excludes it, the organisations endorse');
    this.say('         release 2, and the device moves to it at once: it only removes an entry.');
    if (st.release2 === undefined) {
      const element = await this.element(falsePositive);
      writeFileSync(this.file('exclude.txt'), toHex(element) + '\n');
      const r = await this.must('log', ['release', '--data', this.dataDir, '--log', this.url, '--exclude', this.file('exclude.txt'), '--json']);
      const j = JSON.parse(r.stdout) as ReleaseJson;
      st.release2 = j.sequence;
      st.database2 = j.database;
      this.saveState(st);
      this.say(`  release ${j.sequence}: ${j.database.count} entries (excluded ${j.report.excluded}), root ${j.database.root}`);
    }
    await this.endorseAll(st.release2, st.endorsed2);
    this.saveState(st);
    let device2: VerifiedDatabase | undefined;
    await this.waitNotice('a witnessed checkpoint with the endorsements', async () => {
      try {
        device2 = await this.device();
        return device2.sequence === st.release2;
      } catch (err) {
        if (err instanceof DeviceError && err.code === 'too-few-cosignatures') return false;
        throw err;
      }
    });
    st.deviceRelease = st.release2;
    this.saveState(st);
    this.showDevice(device2!);

    // What the release builder reported (the device's view is returned beside it, for comparison;
    // a state file written before the builder's report was kept falls back to the device's).
    const reported = (db: { root: string; count: number } | undefined, d: VerifiedDatabase): { root: string; count: number } =>
      db === undefined ? { root: toBase64(d.root), count: d.count } : { root: db.root, count: db.count };
    return {
      release1: { sequence: st.release1, ...reported(st.database1, device1!) },
      release2: { sequence: st.release2, ...reported(st.database2, device2!) },
      deviceBeforeNotice,
      device1: device1!,
      device2: device2!,
      auditExit: audit.code ?? -1,
      checkImage: { exit: check.code ?? -1, output: check.stdout },
    };
  }

  /** Witness names and their submission URLs (for printing). */
  witnessUrls(): { name: string; url: string }[] {
    return this.policy().witnesses.map((w) => ({ name: parseVerifierKey(w.vkey).name, url: w.url }));
  }
}
