#!/usr/bin/env node
// concord-log: create and serve a Concord transparency log.
//
//   concord-log init --policy <file.json> [--origin <origin>] [--data <dir>]
//   concord-log serve [--data <dir>] [--read-only]
//   concord-log release [--data <dir>] [--log <url>] [--exclude <file>] [--expires-in <seconds>]
//                       [--publication-window <seconds>] [--accept-long-notice] [--dry-run] [--json]
//
// init writes keys and creates the log (see init.ts; the policy file format is in
// policy-file.ts); serve opens an existing log and listens (see main.ts for the environment:
// HOST, PORT, DATABASE_URL, CONCORD_*); release builds and appends the next database release
// from the running server (release.ts). This file only parses arguments and prints.

import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseDecimal } from '@concord/client-sdk/bytes';
import { ConcordError } from '@concord/client-sdk/errors';
import { runInit, runRelease, runServe } from './main.js';
import { formatReleaseSummary } from './release.js';

const USAGE = `usage:
  concord-log init --policy <file.json> [--origin <origin>] [--data <dir>]
  concord-log serve [--data <dir>] [--read-only]
  concord-log release [--data <dir>] [--log <url>] [--exclude <file>] [--expires-in <seconds>]
                      [--publication-window <seconds>] [--accept-long-notice] [--dry-run] [--json]

release: run by the operator against the running server (default CONCORD_LOG_URL, else
http://HOST:PORT); --exclude FILE lists false-positive database elements, one per line, hex or
base64; --expires-in defaults to the policy's max-release-age.

environment: HOST, PORT (default 127.0.0.1:8080), DATABASE_URL (postgres://… ; default SQLite
in the data directory), CONCORD_DATA (default ./data), CONCORD_ADD_PER_MINUTE,
CONCORD_MAX_BLOB_BYTES, CONCORD_BATCH_MAX, CONCORD_BATCH_DELAY_MS, CONCORD_CACHE_BYTES,
CONCORD_WITNESS_PUSH (on|off: push checkpoints to the policy's witnesses; default on),
CONCORD_WITNESS_RECOSIGN (seconds between re-pushes of an unchanged checkpoint; default 300)`;

class UsageError extends Error {}

/** Parses `--name value` options and `--flag`s; anything else is a usage error. */
export function parseArgs(argv: readonly string[], values: readonly string[], flags: readonly string[]): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.startsWith('--') ? a.slice(2) : '';
    if (name !== '' && Object.prototype.hasOwnProperty.call(out, name)) throw new UsageError(`${a} given twice`);
    if (flags.includes(name)) out[name] = true;
    else if (values.includes(name)) {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${a} needs a value`);
      out[name] = v;
    } else throw new UsageError(`unexpected argument ${JSON.stringify(a)}`);
  }
  return out;
}

export async function cli(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'init') {
      const o = parseArgs(rest, ['policy', 'origin', 'data'], []);
      if (typeof o.policy !== 'string') throw new UsageError('init needs --policy <file.json>');
      await runInit({
        policyFile: o.policy,
        origin: typeof o.origin === 'string' ? o.origin : undefined,
        dataDir: typeof o.data === 'string' ? o.data : undefined,
      });
      return 0;
    }
    if (command === 'serve') {
      const o = parseArgs(rest, ['data'], ['read-only']);
      await runServe({ dataDir: typeof o.data === 'string' ? o.data : undefined, readOnly: o['read-only'] === true });
      return -1; // keeps running until a signal
    }
    if (command === 'release') {
      const o = parseArgs(rest, ['data', 'log', 'exclude', 'expires-in', 'publication-window'], ['accept-long-notice', 'dry-run', 'json']);
      const seconds = (name: string): number | undefined => {
        const v = o[name];
        if (typeof v !== 'string') return undefined;
        try {
          return parseDecimal(v);
        } catch {
          throw new UsageError(`--${name} must be a whole number of seconds`);
        }
      };
      const json = o.json === true;
      try {
        const r = await runRelease({
          dataDir: typeof o.data === 'string' ? o.data : undefined,
          logUrl: typeof o.log === 'string' ? o.log : undefined,
          excludeFile: typeof o.exclude === 'string' ? o.exclude : undefined,
          expiresIn: seconds('expires-in'),
          publicationWindow: seconds('publication-window'),
          acceptLongNotice: o['accept-long-notice'] === true,
          dryRun: o['dry-run'] === true,
        });
        console.log(json ? JSON.stringify(r, null, 2) : formatReleaseSummary(r).trimEnd());
        return 0;
      } catch (err) {
        if (!json || err instanceof UsageError) throw err;
        const code = err instanceof ConcordError ? err.code : 'error';
        console.log(JSON.stringify({ error: { code, message: err instanceof Error ? err.message : String(err) } }, null, 2));
        return 1;
      }
    }
    if (command === 'help' || command === '--help' || command === '-h') {
      console.log(USAGE);
      return 0;
    }
    throw new UsageError(command === undefined ? 'no command' : `unknown command ${JSON.stringify(command)}`);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`${err.message}\n${USAGE}`);
      return 2;
    }
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

// Run as a program (directly, or through npm's bin symlink), not when imported.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  const code = await cli(process.argv.slice(2));
  if (code >= 0) process.exit(code);
}
