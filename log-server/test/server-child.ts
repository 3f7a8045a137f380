// Runs `concord-log` (log-server/src/cli.ts) in a child process from the TypeScript sources,
// through storage-ts-hooks.mjs (Node 20 has no type stripping): the crash test kills such a
// server with SIGKILL, the CLI tests run init and serve as an operator would. Not a test file.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const HOOKS = new URL('./storage-ts-hooks.mjs', import.meta.url).href;
const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const REGISTER = `data:text/javascript,import{register}from'node:module';register(${JSON.stringify(HOOKS)});`;

function nodeArgs(args: readonly string[]): string[] {
  return ['--conditions=source', '--import', REGISTER, CLI, ...args];
}

export interface ServerChild {
  readonly child: ChildProcess;
  readonly port: number;
  readonly exited: Promise<number | null>;
  output(): string;
}

/**
 * The child's environment: this process's, minus DATABASE_URL (CI exports it
 * for the PostgreSQL suites; a child must use the store its test chose, so a
 * test that wants PostgreSQL passes DATABASE_URL in `env`), plus `env`.
 */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  // The fixtures' witness URLs are made up: children do not push to them (tests that push say so).
  const base: NodeJS.ProcessEnv = { ...process.env, HOST: '127.0.0.1', PORT: '0', CONCORD_WITNESS_PUSH: 'off' };
  delete base.DATABASE_URL;
  return { ...base, ...env };
}

/** Starts `concord-log serve …` on a free port; resolves once it listens. */
export function startServerChild(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<ServerChild> {
  const child = spawn(process.execPath, nodeArgs(['serve', ...args]), {
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start in time: ${out}`));
    }, timeoutMs);
    const onData = (): void => {
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve({ child, port: Number(m[1]), exited, output: () => out });
      }
    };
    child.stdout!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${out}`));
    });
  });
}

/** Runs `concord-log …` to completion. */
export function runCli(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, nodeArgs(args), { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output: out });
    });
  });
}

/** SIGKILLs a child and waits for it to be gone. */
export async function kill(s: ServerChild, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
  if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill(signal);
  return s.exited;
}
