// Shared fixtures of the log-server tests: a policy file with orgs, an auditor and witnesses
// whose keys the test holds, a fresh log in a temporary directory (real SQLite), and entry
// makers. Not a test file itself.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateCosignatureKey } from '@concord/client-sdk/cosignature';
import { signEntry } from '@concord/client-sdk/entries';
import type { ConcordEntry } from '@concord/client-sdk/entries';
import { generateKey, newSigner } from '@concord/client-sdk/note';
import type { Signer } from '@concord/client-sdk/note';
import { initLog } from '@concord/log-server/init';
import type { InitResult } from '@concord/log-server/init';
import { openLog } from '@concord/log-server/log';
import type { LogConfig, OpenLog } from '@concord/log-server/log';

export const ORIGIN = 'test.example/concord';

export interface Party {
  readonly name: string;
  readonly skey: string;
  readonly vkey: string;
  readonly signer: Signer;
}

function party(name: string): Party {
  const k = generateKey(name);
  return { name, ...k, signer: newSigner(k.skey) };
}

export interface Fixture {
  readonly orgs: Party[];
  readonly auditor: Party;
  readonly witnesses: { skey: string; vkey: string }[];
  readonly policyText: string;
}

/** Three orgs (US, FR, DE), one auditor, four witnesses with quorum 3. */
export function makeFixture(overrides: Record<string, unknown> = {}): Fixture {
  const orgs = [party('org-us'), party('org-fr'), party('org-de')];
  const auditor = party('press');
  const witnesses = [1, 2, 3, 4].map((i) => generateCosignatureKey(`w${i}.example`));
  const juris = ['US', 'FR', 'DE'];
  const policy = {
    origin: ORIGIN,
    'hash-algorithm': 'pdq-256',
    'min-orgs': 2,
    'min-jurisdictions': 2,
    'endorsement-quorum': { orgs: 2, jurisdictions: 2 },
    'notice-period': 86_400,
    'max-checkpoint-age': 86_400,
    'max-release-age': 30 * 86_400,
    'max-entries': 1_000_000,
    'max-added': 10_000,
    'oprf-limit': 100_000,
    orgs: orgs.map((o, i) => ({ name: o.name, jurisdiction: juris[i], vkey: o.vkey })),
    auditors: [{ name: auditor.name, vkey: auditor.vkey }],
    witnesses: witnesses.map((w, i) => ({ vkey: w.vkey, url: `https://w${i + 1}.example/` })),
    'witness-quorum': 3,
    ...overrides,
  };
  return { orgs, auditor, witnesses, policyText: JSON.stringify(policy, null, 2) };
}

export interface TestLog {
  readonly dir: string;
  readonly fixture: Fixture;
  readonly init: InitResult;
  readonly operator: Signer;
  /** Opens (again) the log with these settings. */
  open(config?: Partial<LogConfig>): Promise<OpenLog>;
  cleanup(): void;
}

/** A new log in a temporary directory (SQLite), created with `initLog`. */
export async function createTestLog(fixture: Fixture = makeFixture()): Promise<TestLog> {
  const dir = mkdtempSync(path.join(tmpdir(), 'concord-log-'));
  const init = await initLog({ dataDir: dir, policyText: fixture.policyText });
  const operator = newSigner(readFileSync(path.join(dir, 'operator.key'), 'utf8').trim());
  return {
    dir,
    fixture,
    init,
    operator,
    open: (config = {}) => openLog({ dataDir: dir, maxDelayMs: 1, ...config }),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A small signed entry: an endorsement by `org` of a made-up release (unique per call). */
export function endorsement(org: Party, seq = 1 + Math.floor(Math.random() * 1e9)): Uint8Array {
  const entry: ConcordEntry = { type: 'endorsement', org: org.name, subject: { kind: 'release', sequence: seq, leaf: new Uint8Array(randomBytes(32)) } };
  return signEntry(entry, org.signer);
}

export async function postEntry(app: { request(path: string, init?: RequestInit): Response | Promise<Response> }, bytes: Uint8Array): Promise<Response> {
  return app.request('/add', { method: 'POST', body: bytes });
}
