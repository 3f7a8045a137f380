// concord witness serve, concord policy export.
//
//   concord witness serve --key FILE --db FILE --log-key VKEY [--log-key VKEY …] [--json]
//       A c2sp.org/tlog-witness server (verifier/src/witness/app.ts) with the cosigner key in
//       FILE (type 0x04, from `concord keygen --witness`) and its durable state in the SQLite
//       database FILE (created if missing). Each witnessed log is named by its verifier key
//       (type 0x01); the log's origin is the key's name (Concord names the log key after the
//       origin). Listens on HOST:PORT (environment; default 127.0.0.1:8080, PORT=0 picks a free
//       port) until interrupted. Prints one line: the URL it listens on (the submission prefix
//       to put in a policy's `witness` line) and its verifier key; with --json one JSON object
//       {"url", "vkey", "logs": [origins]}.
//
//   concord policy export (--trust FILE | --policy-entry FILE) [--json]
//       Writes a Concord policy entry's log key, witnesses and witness quorum as
//       c2sp.org/tlog-policy text, for other C2SP tools:
//
//         # c2sp.org/tlog-policy: Concord policy 1 of example.org/concord
//         log <log vkey>
//         witness <name> <vkey> <submission prefix URL>      one line per witness
//         group concord-quorum <k> <name> …                   k of the N witnesses
//         quorum concord-quorum
//
//       Witness names are the witnesses' key names (unique within a valid policy). The
//       policy entry is checked (validatePolicy); --trust (the devices' anchor, policy 1) must
//       be signed by its own operator key, and so must a --policy-entry whose signer is its own
//       operator. A later policy signed by its predecessor's operator cannot be checked alone
//       (that takes the chain): a note on stderr says so. Exit 1 when a check fails.

import { readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { getRequestListener } from '@hono/node-server';
import Database from 'better-sqlite3';
import { parseSignedEntry, verifyEntrySignature } from '@concord/client-sdk/entries';
import type { PolicyEntry, SignedEntry } from '@concord/client-sdk/entries';
import { KEY_TYPE_COSIGNATURE_V1, formatVerifierKey, parseSignerKey, parseVerifierKey } from '@concord/client-sdk/note';
import { validatePolicy } from '@concord/client-sdk/policy';
import { UsageError, parseArgs, required } from '../cli-common.js';
import type { CliIO, Command } from '../cli-common.js';
import { createWitnessApp } from '../witness/app.js';
import type { WitnessedLog } from '../witness/app.js';

// ---------------------------------------------------------------------------
// witness serve

const SERVE_USAGE = `usage: concord witness serve --key FILE --db FILE --log-key VKEY [--log-key VKEY ...] [--json]

  --key FILE      the witness's cosigner key (PRIVATE+KEY+…, type 0x04; concord keygen --witness)
  --db FILE       SQLite database with the witness state (created if missing; keep it forever:
                  a witness that loses it must be retired, not restarted)
  --log-key VKEY  a log to witness, by its verifier key; the origin is the key's name (repeatable)

environment: HOST (default 127.0.0.1), PORT (default 8080; 0 picks a free port)`;

/** Reads a secret key file: one key and a newline; group/other access is refused. */
export function readSecretKeyFile(file: string): string {
  const mode = statSync(file).mode;
  if ((mode & 0o077) !== 0) throw new Error(`${file} is accessible by group or others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`);
  const text = readFileSync(file, 'utf8');
  const key = text.endsWith('\n') ? text.slice(0, -1) : text;
  if (key.includes('\n') || key === '') throw new Error(`${file} must hold one key on one line`);
  return key;
}

function portFrom(env: CliIO['env']): number {
  const v = env.PORT;
  if (v === undefined || v === '') return 8080;
  if (!/^(0|[1-9][0-9]{0,4})$/.test(v) || Number(v) > 65535) throw new UsageError('PORT must be an integer in 0..65535');
  return Number(v);
}

async function serve(args: readonly string[], io: CliIO): Promise<number> {
  const p = parseArgs(args, { values: ['key', 'db'], multi: ['log-key'], flags: ['json'] });
  const keyFile = path.resolve(io.cwd, required(p, 'key'));
  const dbFile = path.resolve(io.cwd, required(p, 'db'));
  const vkeys = p.multi['log-key'] ?? [];
  if (vkeys.length === 0) throw new UsageError('at least one --log-key is required');
  const logs: WitnessedLog[] = vkeys.map((vkey) => {
    let origin: string;
    try {
      origin = parseVerifierKey(vkey).name;
    } catch (err) {
      throw new UsageError(`--log-key ${JSON.stringify(vkey.slice(0, 80))}: ${err instanceof Error ? err.message : String(err)}`);
    }
    return { origin, vkey };
  });
  const host = io.env.HOST ?? '127.0.0.1';
  const port = portFrom(io.env);

  const skey = readSecretKeyFile(keyFile);
  const k = parseSignerKey(skey);
  if (k.type !== KEY_TYPE_COSIGNATURE_V1) throw new Error(`${keyFile} is not a witness key (type 0x04); make one with concord keygen --witness`);
  const vkey = formatVerifierKey(k.name, k.type, k.publicKey);

  const db = new Database(dbFile);
  try {
    const app = createWitnessApp({ db, skey, logs, now: () => io.now() });
    const server = createServer(getRequestListener(app.fetch));
    server.keepAliveTimeout = 65_000; // the spec asks clients to keep connections alive
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const bound = (server.address() as AddressInfo).port;
    const shownHost = host.includes(':') ? `[${host}]` : host;
    const url = `http://${shownHost}:${bound}/`;
    if (p.flags.json === true) io.stdout(JSON.stringify({ url, vkey, logs: logs.map((l) => l.origin) }) + '\n');
    else io.stdout(`witness ${vkey} listening on ${url} for ${logs.map((l) => l.origin).join(', ')}\n`);
    await new Promise<void>((resolve) => {
      if (io.signal === undefined) return; // runs until the process ends
      if (io.signal.aborted) return resolve();
      io.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    return 0;
  } finally {
    db.close();
  }
}

// ---------------------------------------------------------------------------
// policy export

const EXPORT_USAGE = `usage: concord policy export (--trust FILE | --policy-entry FILE) [--json]

  --trust FILE         the trust anchor: the initial policy entry exactly as logged
  --policy-entry FILE  any Concord policy entry (signed note bytes)
  --json               {"origin","sequence","policy"} with the tlog-policy text in "policy"`;

/** The tlog-policy group that holds the quorum (a name distinct from every witness name). */
function groupName(names: readonly string[]): string {
  let g = 'concord-quorum';
  for (let i = 2; names.includes(g); i++) g = `concord-quorum-${i}`;
  return g;
}

/**
 * A Concord policy's log key, witnesses and quorum as c2sp.org/tlog-policy text. Witnesses are
 * named by their key names; the name `none` is predefined by tlog-policy, so a witness whose
 * key is named `none` is exported as `witness-<i>`.
 */
export function formatTlogPolicy(p: PolicyEntry, comment?: string): string {
  const names = p.witnesses.map((w, i) => {
    const n = parseVerifierKey(w.vkey).name;
    return n === 'none' ? `witness-${i + 1}` : n;
  });
  const group = groupName(names);
  const lines: string[] = [];
  if (comment !== undefined) lines.push(`# ${comment}`);
  lines.push(`log ${p.log}`, '');
  p.witnesses.forEach((w, i) => lines.push(`witness ${names[i]} ${w.vkey} ${w.url}`));
  lines.push(`group ${group} ${p.witnessQuorum} ${names.join(' ')}`, `quorum ${group}`);
  return lines.join('\n') + '\n';
}

async function policyExport(args: readonly string[], io: CliIO): Promise<number> {
  const p = parseArgs(args, { values: ['trust', 'policy-entry'], flags: ['json'] });
  const trust = p.values.trust;
  const entryFile = p.values['policy-entry'];
  if ((trust === undefined) === (entryFile === undefined)) throw new UsageError('give exactly one of --trust and --policy-entry');
  const file = path.resolve(io.cwd, (trust ?? entryFile)!);
  const se: SignedEntry = parseSignedEntry(new Uint8Array(readFileSync(file)));
  if (se.entry.type !== 'policy') {
    io.stderr(`concord policy export: ${file} holds a ${se.entry.type} entry, not a policy\n`);
    return 1;
  }
  const policy = se.entry;
  const origin = parseVerifierKey(policy.log).name;
  validatePolicy(policy, origin);
  const own = parseVerifierKey(policy.operator);
  if (trust !== undefined && policy.sequence !== 1) {
    io.stderr(`concord policy export: a trust anchor is policy 1; ${file} is policy ${policy.sequence}\n`);
    return 1;
  }
  if (trust !== undefined || (se.signature.name === own.name && se.signature.keyHash === own.keyHash)) {
    verifyEntrySignature(se, policy.operator);
  } else {
    io.stderr(`note: policy ${policy.sequence} is signed by ${se.signature.name}, not its own operator key; its signature is checked only with the policy chain\n`);
  }
  const text = formatTlogPolicy(policy, `c2sp.org/tlog-policy: Concord policy ${policy.sequence} of ${origin}`);
  if (p.flags.json === true) io.stdout(JSON.stringify({ origin, sequence: policy.sequence, policy: text }) + '\n');
  else io.stdout(text);
  return 0;
}

export const commands: Record<string, Command> = {
  'witness serve': { summary: 'run a c2sp.org/tlog-witness server', usage: SERVE_USAGE, run: serve },
  'policy export': { summary: "the policy's witness quorum as c2sp.org/tlog-policy text", usage: EXPORT_USAGE, run: policyExport },
};
