#!/usr/bin/env node
// concord: the command line for auditors, organisations, witnesses and device makers.
//
//   concord witness serve        run a c2sp.org/tlog-witness server
//   concord policy export        the policy's witness quorum as c2sp.org/tlog-policy text
//   concord keygen               a signed-note key pair (org, auditor, witness)
//   concord org contribute       blind a hash list through the log's VOPRF and submit it
//   concord org audit-release    recompute and check a release
//   concord org endorse          endorse a release (only after its audit passes)
//   concord audit                verify a whole log from the outside
//   concord monitor              follow a log and report changes and split views
//   concord check-image          is an image hash in the current release? (with a proof)
//   concord verify-proof         check a check-image proof offline
//   concord verify-bundle        the device acceptance checks, one by one
//
// Each command lives in commands/<group>.ts; this file only dispatches.

import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { Fetch } from '@concord/client-sdk/client';
import { UsageError } from './cli-common.js';
import type { CliIO, Command } from './cli-common.js';

type Loader = () => Promise<Record<string, Command>>;

// Command name → the module that defines it (loaded only when used).
const COMMANDS: Record<string, Loader> = {
  'witness serve': async () => (await import('./commands/witness.js')).commands,
  'policy export': async () => (await import('./commands/witness.js')).commands,
  keygen: async () => (await import('./commands/keygen.js')).commands,
  'org contribute': async () => (await import('./commands/org.js')).commands,
  'org audit-release': async () => (await import('./commands/org.js')).commands,
  'org endorse': async () => (await import('./commands/org.js')).commands,
  audit: async () => (await import('./commands/audit.js')).commands,
  monitor: async () => (await import('./commands/monitor.js')).commands,
  'check-image': async () => (await import('./commands/check-image.js')).commands,
  'verify-proof': async () => (await import('./commands/check-image.js')).commands,
  'verify-bundle': async () => (await import('./commands/verify-bundle.js')).commands,
};

async function help(io: CliIO): Promise<void> {
  const lines = ['usage: concord <command> [options]   (concord <command> --help for its options)', ''];
  for (const name of Object.keys(COMMANDS)) {
    const cmd = (await COMMANDS[name]!())[name];
    lines.push(`  ${name.padEnd(20)} ${cmd?.summary ?? ''}`);
  }
  io.stdout(lines.join('\n') + '\n');
}

/** Runs one command line; returns the exit code (see cli-common.ts). */
export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  const two = argv.slice(0, 2).join(' ');
  const name = COMMANDS[two] !== undefined ? two : argv[0] ?? '';
  const rest = argv.slice(name.split(' ').length);
  if (name === '' || name === 'help' || name === '--help' || name === '-h') {
    await help(io);
    return name === '' ? 2 : 0;
  }
  const load = COMMANDS[name];
  if (load === undefined) {
    io.stderr(`concord: unknown command ${JSON.stringify(argv.slice(0, 2).join(' '))}; see concord help\n`);
    return 2;
  }
  const cmd = (await load())[name]!;
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(`concord ${name}: ${cmd.summary}\n\n${cmd.usage}\n`);
    return 0;
  }
  try {
    return await cmd.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`concord ${name}: ${err.message}\n\n${cmd.usage}\n`);
      return 2;
    }
    const code = typeof (err as { code?: unknown })?.code === 'string' ? ` [${(err as { code: string }).code}]` : '';
    io.stderr(`concord ${name}: error${code}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

/** The real process's I/O. */
export function processIO(signal?: AbortSignal): CliIO {
  return {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    env: process.env,
    fetch: globalThis.fetch as unknown as Fetch,
    now: () => Math.floor(Date.now() / 1000),
    isTTY: process.stdout.isTTY === true,
    cwd: process.cwd(),
    ...(signal !== undefined ? { signal } : {}),
  };
}

// Run as a program (directly, or through npm's bin symlink), not when imported.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  const ac = new AbortController();
  let interrupted = 0;
  const stop = (): void => {
    if (++interrupted > 1) process.exit(130);
    ac.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const code = await main(process.argv.slice(2), processIO(ac.signal));
  process.exitCode = code;
  // Long-running commands have closed their servers; do not wait for idle sockets.
  if (ac.signal.aborted) process.exit(code);
}
