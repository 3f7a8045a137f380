// What every `concord` command shares: its I/O (injected, so tests run commands in-process),
// argument parsing, and the typed usage error.
//
// Conventions for commands (verifier/src/commands/*.ts):
// - `run(args, io)` returns the exit code: 0 only when everything verified, 1 when a check
//   failed or an error occurred, 2 for a usage error. A long-running command (witness serve,
//   monitor) resolves only when io.signal aborts.
// - `--json` on every command: one JSON document (or JSON lines for streams) on stdout, nothing
//   else on stdout; human-readable text otherwise. Diagnostics go to stderr.
// - Nothing is trusted that has not been authenticated against the pinned trust file.

import { parseArgs as nodeParseArgs } from 'node:util';
import type { Fetch } from '@concord/client-sdk/client';

export interface CliIO {
  stdout(s: string): void;
  stderr(s: string): void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly fetch: Fetch;
  /** Unix seconds. */
  now(): number;
  /** Is stdout a terminal (progress bars) or a pipe (plain lines)? */
  readonly isTTY: boolean;
  readonly cwd: string;
  /** Aborts long-running commands (Ctrl-C). */
  readonly signal?: AbortSignal;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface Command {
  /** One line for `concord help`. */
  readonly summary: string;
  /** The usage text (options). */
  readonly usage: string;
  run(args: readonly string[], io: CliIO): Promise<number>;
}

export interface ArgSpec {
  /** Options taking one value: --name value (or --name=value). */
  readonly values?: readonly string[];
  /** Options that may repeat: collected into arrays. */
  readonly multi?: readonly string[];
  /** Boolean flags. */
  readonly flags?: readonly string[];
  /** Positional arguments allowed (default 0). */
  readonly positionals?: number;
}

export interface ParsedArgs {
  readonly values: Readonly<Record<string, string | undefined>>;
  readonly multi: Readonly<Record<string, readonly string[]>>;
  readonly flags: Readonly<Record<string, boolean>>;
  readonly positionals: readonly string[];
}

/** Strict parsing: unknown options, missing values and extra positionals are UsageErrors. */
export function parseArgs(args: readonly string[], spec: ArgSpec): ParsedArgs {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const v of spec.values ?? []) options[v] = { type: 'string' };
  for (const v of spec.multi ?? []) options[v] = { type: 'string', multiple: true };
  for (const v of spec.flags ?? []) options[v] = { type: 'boolean' };
  let parsed: ReturnType<typeof nodeParseArgs>;
  try {
    parsed = nodeParseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const max = spec.positionals ?? 0;
  if (parsed.positionals.length > max) throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[max])}`);
  const values: Record<string, string | undefined> = {};
  const multi: Record<string, string[]> = {};
  const flags: Record<string, boolean> = {};
  for (const v of spec.values ?? []) {
    const x = parsed.values[v];
    if (Array.isArray(x)) throw new UsageError(`--${v} given twice`);
    values[v] = typeof x === 'string' ? x : undefined;
  }
  for (const v of spec.multi ?? []) {
    const x = parsed.values[v];
    multi[v] = Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string') : [];
  }
  for (const v of spec.flags ?? []) flags[v] = parsed.values[v] === true;
  return { values, multi, flags, positionals: parsed.positionals };
}

/** A required option's value, or a UsageError naming it. */
export function required(p: ParsedArgs, name: string): string {
  const v = p.values[name];
  if (v === undefined || v === '') throw new UsageError(`--${name} is required`);
  return v;
}
