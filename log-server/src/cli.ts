#!/usr/bin/env node
// concord-log: create and serve a Concord transparency log.
//
//   concord-log init --policy <file.json> [--origin <origin>] [--data <dir>]
//   concord-log serve [--data <dir>] [--read-only]
//
// init writes keys and creates the log (see init.ts; the policy file format is in
// policy-file.ts); serve opens an existing log and listens (see main.ts for the environment:
// HOST, PORT, DATABASE_URL, CONCORD_*). This file only parses arguments.

import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { runInit, runServe } from './main.js';

const USAGE = `usage:
  concord-log init --policy <file.json> [--origin <origin>] [--data <dir>]
  concord-log serve [--data <dir>] [--read-only]

environment: HOST, PORT (default 127.0.0.1:8080), DATABASE_URL (postgres://… ; default SQLite
in the data directory), CONCORD_DATA (default ./data), CONCORD_ADD_PER_MINUTE,
CONCORD_MAX_BLOB_BYTES, CONCORD_BATCH_MAX, CONCORD_BATCH_DELAY_MS, CONCORD_CACHE_BYTES`;

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
