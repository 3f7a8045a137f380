// concord org contribute | audit-release | endorse: an organisation's three duties
// (DESIGN.md "Blinding", "Which contributions a release uses", "Endorsement").
//
//   concord org contribute --org NAME --key SKEY_FILE --hashes FILE --log URL --trust FILE
//                          [--expires-in SECONDS] [--json]
//   concord org audit-release N --log URL --trust FILE [--json]
//   concord org endorse N --org NAME --key SKEY_FILE --log URL --trust FILE [--json]
//
// Every command first opens an authenticated view of the log from the trust file
// (log-view.ts): nothing the server says is used before it is verified against the pinned
// anchor. contribute is contribute.ts; audit-release and endorse run release-audit.ts.
// endorse submits the endorsement only when every audit check passes and, in addition, the
// release cites the org's own latest contribution before it (`own-contribution`: DESIGN.md
// "my own latest contribution is the one used").
//
// Exit codes: 0 all verified (and submitted); 1 a check failed or an error occurred (the
// failing check is named on stderr); 2 usage.
//
// --json output:
//   contribute     {"org","sequence","index","leafHash","policy","set":{"root","count"},"blob",
//                   "expires","hashes","duplicates"}
//   audit-release  {"release","index","leafHash","ok","published","publishedAt",
//                   "checks":[{"id","ok","detail"}…]}
//   endorse        {"release","org","endorsed","index","leafHash","ok","checks":[…]}
//                  (endorsed false with ok true: this org had already endorsed it)

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDecimal, toBase64, toHex, equalBytes } from '@concord/client-sdk/bytes';
import { LogClient } from '@concord/client-sdk/client';
import { signEntry } from '@concord/client-sdk/entries';
import type { EndorsementEntry } from '@concord/client-sdk/entries';
import { ConcordError } from '@concord/client-sdk/errors';
import { newSigner } from '@concord/client-sdk/note';
import type { Signer } from '@concord/client-sdk/note';
import { verifyEntryAuthor } from '@concord/client-sdk/policy';
import { UsageError, parseArgs, required } from '../cli-common.js';
import type { CliIO, Command } from '../cli-common.js';
import { DEFAULT_EXPIRES_IN, checkOrgKey, contribute, parseHashList } from '../contribute.js';
import { openLogView, readTrustFile } from '../log-view.js';
import type { LogView, Trust } from '../log-view.js';
import { createProgress, silentProgress } from '../progress.js';
import type { Progress } from '../progress.js';
import { auditRelease, loggedContributions } from '../release-audit.js';
import type { ReleaseAudit } from '../release-audit.js';

const CONTRIBUTE_USAGE = `usage: concord org contribute --org NAME --key SKEY_FILE --hashes FILE --log URL --trust FILE [--expires-in S] [--json]

  --org NAME        the organisation (an org line of the policy in force)
  --key FILE        the org's signer key (PRIVATE+KEY+NAME+…)
  --hashes FILE     raw perceptual hashes, hex, one per line, of the policy's hash algorithm
  --log URL         the log's base URL
  --trust FILE      the trust anchor: the initial policy entry as logged
  --expires-in S    seconds until the contribution expires (default ${DEFAULT_EXPIRES_IN}, 90 days)
  --json            print the submitted contribution as JSON`;

const AUDIT_USAGE = `usage: concord org audit-release N --log URL --trust FILE [--json]

  N                 the release's sequence number
  --log URL         the log's base URL
  --trust FILE      the trust anchor: the initial policy entry as logged
  --json            print {"release","ok","checks":[{"id","ok","detail"}…],…}`;

const ENDORSE_USAGE = `usage: concord org endorse N --org NAME --key SKEY_FILE --log URL --trust FILE [--json]

  N                 the release's sequence number (endorsed only if its audit passes)
  --org NAME        the endorsing organisation
  --key FILE        the org's signer key
  --log URL         the log's base URL
  --trust FILE      the trust anchor: the initial policy entry as logged
  --json            print the audit and the submitted endorsement as JSON`;

/** A check as printed: the audit's, plus endorse's own-contribution. */
interface Check {
  readonly id: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** A file the user named could not be used: exit 1 with this message. */
class InputError extends Error {
  override readonly name = 'InputError';
}

function resolve(io: CliIO, file: string): string {
  return path.resolve(io.cwd, file);
}

function readText(io: CliIO, file: string, what: string, max: number): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(resolve(io, file));
  } catch (err) {
    throw new InputError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (bytes.length > max) throw new InputError(`${what} ${file} is larger than ${max} bytes`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new InputError(`${what} ${file} is not UTF-8 text`);
  }
}

function readSignerFile(io: CliIO, file: string): Signer {
  const text = readText(io, file, 'key file', 4096).trim();
  try {
    return newSigner(text);
  } catch (err) {
    throw new InputError(`key file ${file} is not a signer key (PRIVATE+KEY+…): ${err instanceof Error ? err.message : String(err)}`);
  }
}

function readTrust(io: CliIO, file: string): Trust {
  return readTrustFile(resolve(io, file));
}

function releaseNumber(p: { positionals: readonly string[] }): number {
  const s = p.positionals[0];
  if (s === undefined) throw new UsageError('the release number N is required');
  let n: number;
  try {
    n = parseDecimal(s);
  } catch {
    throw new UsageError(`release number ${JSON.stringify(s)} is not a canonical decimal`);
  }
  if (n < 1) throw new UsageError('release numbers start at 1');
  return n;
}

function progressFor(io: CliIO, json: boolean): Progress {
  return json ? silentProgress : createProgress({ write: io.stderr, tty: io.isTTY });
}

/** Phase notes while blobs download: on a terminal only (CI logs get the report alone). */
function auditProgress(io: CliIO, json: boolean, progress: Progress): { onProgress?: (m: string) => void } {
  return io.isTTY && !json ? { onProgress: (m) => progress.note(m) } : {};
}

async function openView(io: CliIO, url: string, trust: Trust, progress: Progress): Promise<LogView> {
  let bar: ReturnType<Progress['bar']> | undefined;
  const view = await openLogView({
    url,
    trust,
    fetch: io.fetch,
    now: io.now(),
    onProgress: (done, total) => {
      bar ??= progress.bar('reading the log', total);
      bar.update(done);
    },
  });
  bar?.finish();
  return view;
}

/** Runs a command body, turning input-file problems into exit 1 with a message. */
function withInputErrors(name: string, f: (args: readonly string[], io: CliIO) => Promise<number>): Command['run'] {
  return async (args, io) => {
    try {
      return await f(args, io);
    } catch (err) {
      if (err instanceof InputError) {
        io.stderr(`concord ${name}: ${err.message}\n`);
        return 1;
      }
      throw err;
    }
  };
}

// --- contribute ------------------------------------------------------------------------------

async function runContribute(args: readonly string[], io: CliIO): Promise<number> {
  const p = parseArgs(args, { values: ['org', 'key', 'hashes', 'log', 'trust', 'expires-in'], flags: ['json'] });
  const org = required(p, 'org');
  const keyFile = required(p, 'key');
  const hashesFile = required(p, 'hashes');
  const url = required(p, 'log');
  const trustFile = required(p, 'trust');
  const json = p.flags.json === true;
  let expiresIn = DEFAULT_EXPIRES_IN;
  if (p.values['expires-in'] !== undefined) {
    try {
      expiresIn = parseDecimal(p.values['expires-in']);
    } catch {
      throw new UsageError(`--expires-in ${JSON.stringify(p.values['expires-in'])} is not a canonical number of seconds`);
    }
    if (expiresIn < 1) throw new UsageError('--expires-in must be at least 1 second');
  }

  // Everything local is checked before the network is touched.
  const signer = readSignerFile(io, keyFile);
  if (signer.name !== org) throw new InputError(`key file ${keyFile} is ${JSON.stringify(signer.name)}'s key, not ${JSON.stringify(org)}'s`);
  const trust = readTrust(io, trustFile);
  const text = readText(io, hashesFile, 'hashes file', 1 << 30);
  const parse = (alg: Trust['policy']['hashAlgorithm']): Uint8Array[] => {
    try {
      return parseHashList(text, alg);
    } catch (err) {
      if (err instanceof ConcordError) throw new InputError(`${hashesFile}: ${err.message}`);
      throw err;
    }
  };
  let hashes = parse(trust.policy.hashAlgorithm);

  const progress = progressFor(io, json);
  const view = await openView(io, url, trust, progress);
  const policy = view.policy.entry;
  if (policy.hashAlgorithm !== trust.policy.hashAlgorithm) hashes = parse(policy.hashAlgorithm);
  checkOrgKey(policy, org, signer);

  const client = new LogClient({ url, fetch: io.fetch, now: () => io.now() });
  let bar: ReturnType<Progress['bar']> | undefined;
  const result = await contribute({
    view,
    client,
    org,
    signer,
    hashes,
    now: io.now(),
    expiresIn,
    onProgress: (done, total) => {
      bar ??= progress.bar('blinding', total);
      bar.update(done);
    },
  });
  bar?.finish();
  const e = result.entry;
  if (json) {
    io.stdout(
      JSON.stringify({
        org,
        sequence: result.sequence,
        index: result.index,
        leafHash: toBase64(result.leafHash),
        policy: toBase64(e.policy),
        set: { root: toBase64(e.set.root), count: e.set.count },
        blob: `sha256:${toHex(e.blob)}`,
        expires: e.expires,
        hashes: result.hashes,
        duplicates: result.duplicates,
      }) + '\n',
    );
  } else {
    io.stdout(
      [
        `contribution ${result.sequence} of ${org}: ${e.set.count} elements from ${result.hashes} hashes (${result.duplicates} duplicates dropped)`,
        `  set ${toBase64(e.set.root)} ${e.set.count}`,
        `  blob sha256:${toHex(e.blob)}`,
        `  expires ${e.expires}`,
        `  entry ${result.index}, leaf ${toBase64(result.leafHash)}`,
        '',
      ].join('\n'),
    );
  }
  return 0;
}

// --- audit-release ---------------------------------------------------------------------------

function printChecks(io: CliIO, checks: readonly Check[]): void {
  const w = Math.max(...checks.map((c) => c.id.length));
  for (const c of checks) io.stdout(`  ${c.ok ? 'ok  ' : 'FAIL'}  ${c.id.padEnd(w)}  ${c.detail}\n`);
}

function auditJson(a: ReleaseAudit, checks: readonly Check[]): Record<string, unknown> {
  return {
    release: a.sequence,
    index: a.release?.index ?? null,
    leafHash: a.release === undefined ? null : toBase64(a.release.signed.leafHash),
    ok: checks.every((c) => c.ok),
    published: a.published,
    publishedAt: a.publishedAt ?? null,
    checks: checks.map((c) => ({ id: c.id, ok: c.ok, detail: c.detail })),
  };
}

async function runAudit(args: readonly string[], io: CliIO): Promise<number> {
  const p = parseArgs(args, { values: ['log', 'trust'], flags: ['json'], positionals: 1 });
  const n = releaseNumber(p);
  const url = required(p, 'log');
  const trustFile = required(p, 'trust');
  const json = p.flags.json === true;
  const trust = readTrust(io, trustFile);
  const progress = progressFor(io, json);
  const view = await openView(io, url, trust, progress);
  const audit = await auditRelease(view, n, { now: io.now(), ...auditProgress(io, json, progress) });
  if (json) io.stdout(JSON.stringify(auditJson(audit, audit.checks)) + '\n');
  else {
    io.stdout(`release ${n}${audit.release !== undefined ? ` (entry ${audit.release.index})` : ''} of ${view.origin}:\n`);
    printChecks(io, audit.checks);
  }
  const failed = audit.checks.filter((c) => !c.ok).map((c) => c.id);
  if (failed.length > 0) {
    io.stderr(`concord org audit-release: release ${n} FAILED: ${failed.join(', ')}\n`);
    return 1;
  }
  if (!json) io.stdout(`release ${n}: all ${audit.checks.length} checks passed\n`);
  return 0;
}

// --- endorse ----------------------------------------------------------------------------------

/**
 * The endorser's own check: the release cites the org's latest authentic contribution
 * sequenced before it (or none, when the org has none).
 */
function ownContribution(view: LogView, a: ReleaseAudit, org: string): Check {
  const release = a.release!;
  let latest: { index: number; sequence: number; leaf: Uint8Array } | undefined;
  for (const c of loggedContributions(view)) {
    if (c.entry.org !== org || c.index >= release.index) continue;
    try {
      verifyEntryAuthor(c.signed, view.chain.policyAt(c.index));
    } catch (err) {
      if (err instanceof ConcordError) continue;
      throw err;
    }
    if (latest === undefined || c.entry.sequence > latest.sequence) latest = { index: c.index, sequence: c.entry.sequence, leaf: c.signed.leafHash };
  }
  const cited = release.entry.contributions.find((c) => c.org === org);
  const id = 'own-contribution';
  if (latest === undefined) {
    return cited === undefined
      ? { id, ok: true, detail: `${org} has no contribution before the release, and none is cited` }
      : { id, ok: false, detail: `the release cites a contribution of ${org}, which has none before it` };
  }
  if (cited !== undefined && equalBytes(cited.leaf, latest.leaf)) {
    return { id, ok: true, detail: `the release cites ${org}'s latest contribution (sequence ${latest.sequence}, entry ${latest.index})` };
  }
  return { id, ok: false, detail: `${org}'s latest contribution before the release is sequence ${latest.sequence} (entry ${latest.index}); the release ${cited === undefined ? 'cites none' : 'cites another'}` };
}

async function runEndorse(args: readonly string[], io: CliIO): Promise<number> {
  const p = parseArgs(args, { values: ['org', 'key', 'log', 'trust'], flags: ['json'], positionals: 1 });
  const n = releaseNumber(p);
  const org = required(p, 'org');
  const keyFile = required(p, 'key');
  const url = required(p, 'log');
  const trustFile = required(p, 'trust');
  const json = p.flags.json === true;
  const signer = readSignerFile(io, keyFile);
  if (signer.name !== org) throw new InputError(`key file ${keyFile} is ${JSON.stringify(signer.name)}'s key, not ${JSON.stringify(org)}'s`);
  const trust = readTrust(io, trustFile);
  const progress = progressFor(io, json);
  const view = await openView(io, url, trust, progress);
  const audit = await auditRelease(view, n, { now: io.now(), ...auditProgress(io, json, progress) });
  const checks: Check[] = [...audit.checks];
  if (audit.release !== undefined) checks.push(ownContribution(view, audit, org));
  const failed = checks.filter((c) => !c.ok).map((c) => c.id);
  if (!json) {
    io.stdout(`release ${n}${audit.release !== undefined ? ` (entry ${audit.release.index})` : ''} of ${view.origin}:\n`);
    printChecks(io, checks);
  }
  if (failed.length > 0 || audit.release === undefined || audit.policy === undefined) {
    if (json) io.stdout(JSON.stringify({ ...auditJson(audit, checks), org, endorsed: false }) + '\n');
    io.stderr(`concord org endorse: refusing to endorse release ${n}: FAILED: ${failed.join(', ')}\n`);
    return 1;
  }
  const release = audit.release;
  checkOrgKey(audit.policy.entry, org, signer);

  // Already endorsed by this org (an authentic endorsement of this very entry)? Then say so.
  for (let i = release.index + 1; i < view.entries.length; i++) {
    let e: EndorsementEntry;
    try {
      const se = view.parsed(i);
      if (se.entry.type !== 'endorsement') continue;
      e = se.entry;
      if (e.org !== org || e.subject.kind !== 'release' || e.subject.sequence !== n || !equalBytes(e.subject.leaf, release.signed.leafHash)) continue;
      verifyEntryAuthor(se, view.chain.policyAt(i));
    } catch (err) {
      if (err instanceof ConcordError) continue;
      throw err;
    }
    if (json) io.stdout(JSON.stringify({ ...auditJson(audit, checks), org, endorsed: false, index: i }) + '\n');
    else io.stdout(`${org} already endorsed release ${n} (entry ${i}); nothing submitted\n`);
    return 0;
  }

  const entry: EndorsementEntry = { type: 'endorsement', org, subject: { kind: 'release', sequence: n, leaf: release.signed.leafHash } };
  const client = new LogClient({ url, fetch: io.fetch, now: () => io.now() });
  const added = await client.add(signEntry(entry, signer));
  if (json) {
    io.stdout(JSON.stringify({ ...auditJson(audit, checks), org, endorsed: true, index: added.index, endorsementLeafHash: toBase64(added.leafHash), leafHash: toBase64(release.signed.leafHash) }) + '\n');
  } else {
    io.stdout(`release ${n}: all ${checks.length} checks passed; endorsed by ${org}: entry ${added.index}, leaf ${toBase64(added.leafHash)}\n`);
  }
  return 0;
}

export const commands: Record<string, Command> = {
  'org contribute': {
    summary: 'blind a hash list through the log\'s VOPRF and submit it as a contribution',
    usage: CONTRIBUTE_USAGE,
    run: withInputErrors('org contribute', runContribute),
  },
  'org audit-release': {
    summary: 'recompute and check a release, check by check',
    usage: AUDIT_USAGE,
    run: withInputErrors('org audit-release', runAudit),
  },
  'org endorse': {
    summary: 'endorse a release (only after its audit passes)',
    usage: ENDORSE_USAGE,
    run: withInputErrors('org endorse', runEndorse),
  },
};
