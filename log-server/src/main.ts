// The only place that reads the environment and listens. `concord-log` (cli.ts) calls in here;
// `node log-server/dist/main.js` is `concord-log serve` with the defaults.
//
//   HOST, PORT                 listen address (default 127.0.0.1:8080)
//   DATABASE_URL               postgres://user:pass@host:port/db for PostgreSQL; default SQLite
//                              <data>/log.db (sqlite:<path> also accepted)
//   CONCORD_DATA               data directory (default ./data; --data overrides)
//   CONCORD_ADD_PER_MINUTE     POST /add submissions per author key per minute (default 600)
//   CONCORD_MAX_BLOB_BYTES     blob size cap (default 536870912 = 512 MiB; ≤ 32 × max-entries too)
//   CONCORD_BATCH_MAX          entries per sequencing batch (default 32)
//   CONCORD_BATCH_DELAY_MS     longest wait of a lone submission for company (default 2)
//   CONCORD_CACHE_BYTES        tile cache size (default 67108864 = 64 MiB)
//   CONCORD_WITNESS_PUSH       "off" to not push checkpoints to the policy's witnesses (default on)
//   CONCORD_WITNESS_RECOSIGN   seconds between re-pushes of an unchanged checkpoint (default 300)
//
// serve: opens the log (never creates one: a missing log is an error), takes the sequencer
// lock — if another server holds it, exits with an error unless --read-only — and listens.
// SIGINT/SIGTERM: stop accepting connections, sequence what is pending, release the lock, exit.
// If the sequencer stops for good (lost lock, storage in an unknown state) the process exits
// with status 1: restarting recomputes everything from storage (crash-only).

import { nativeEd25519Backend } from './ed25519-native.js';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { nodeListener } from './app.js';
import { initLog } from './init.js';
import type { InitResult } from './init.js';
import { openLog } from './log.js';
import type { LogConfig, OpenLog } from './log.js';
import { KeyFileError } from './keys.js';
import { buildRelease } from './release.js';
import type { ReleaseOptions, ReleaseResult } from './release.js';
import { StorageError } from './storage/types.js';

export interface ServeArgs {
  readonly dataDir?: string;
  readonly readOnly?: boolean;
}

export interface InitArgs {
  readonly dataDir?: string;
  readonly policyFile: string;
  readonly origin?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

function intEnv(env: Env, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (!/^(0|[1-9][0-9]{0,15})$/.test(v) || !Number.isSafeInteger(Number(v))) throw new Error(`${name} must be a non-negative integer`);
  return Number(v);
}

function dataDirOf(args: { dataDir?: string }, env: Env): string {
  return args.dataDir ?? env.CONCORD_DATA ?? './data';
}

function storeUrlOf(env: Env): string | undefined {
  const u = env.DATABASE_URL;
  return u === undefined || u === '' ? undefined : u;
}

function witnessPushOf(env: Env): LogConfig['witnessPush'] {
  const v = env.CONCORD_WITNESS_PUSH;
  if (v === 'off') return false;
  if (v !== undefined && v !== '' && v !== 'on') throw new Error('CONCORD_WITNESS_PUSH must be "on" or "off"');
  const recosign = intEnv(env, 'CONCORD_WITNESS_RECOSIGN');
  if (recosign === 0) throw new Error('CONCORD_WITNESS_RECOSIGN must be at least 1');
  return recosign === undefined ? {} : { recosignSeconds: recosign };
}

/** The LogConfig the environment describes. */
export function configFromEnv(args: ServeArgs, env: Env = process.env): LogConfig {
  return {
    dataDir: dataDirOf(args, env),
    storeUrl: storeUrlOf(env),
    readOnly: args.readOnly === true,
    addPerMinute: intEnv(env, 'CONCORD_ADD_PER_MINUTE'),
    maxBlobBytes: intEnv(env, 'CONCORD_MAX_BLOB_BYTES'),
    maxBatch: intEnv(env, 'CONCORD_BATCH_MAX'),
    maxDelayMs: intEnv(env, 'CONCORD_BATCH_DELAY_MS'),
    cacheBytes: intEnv(env, 'CONCORD_CACHE_BYTES'),
    witnessPush: witnessPushOf(env),
  };
}

/** `concord-log init`. */
export async function runInit(args: InitArgs, env: Env = process.env): Promise<InitResult> {
  const dataDir = dataDirOf(args, env);
  const r = await initLog({ dataDir, storeUrl: storeUrlOf(env), policyText: readFileSync(args.policyFile, 'utf8'), origin: args.origin });
  console.log(`created log ${r.origin} in ${dataDir} (${r.storeUrl.startsWith('sqlite:') ? r.storeUrl : 'PostgreSQL'})`);
  console.log(`log key       ${r.logVkey}`);
  console.log(`operator key  ${r.operatorVkey}`);
  console.log(`blinding key  ${r.blindingKey}`);
  console.log(`anchor        entry 0, leaf ${Buffer.from(r.anchorLeaf).toString('base64')} (${dataDir}/anchor.entry)`);
  return r;
}

export interface ReleaseArgs extends Omit<ReleaseOptions, 'dataDir' | 'logUrl'> {
  readonly dataDir?: string;
  readonly logUrl?: string;
}

/**
 * `concord-log release`: against the running server at --log, else CONCORD_LOG_URL, else
 * http://HOST:PORT (serve's defaults, 127.0.0.1:8080); see release.ts.
 */
export async function runRelease(args: ReleaseArgs, env: Env = process.env): Promise<ReleaseResult> {
  const logUrl = args.logUrl ?? (env.CONCORD_LOG_URL || `http://${env.HOST ?? '127.0.0.1'}:${intEnv(env, 'PORT') ?? 8080}`);
  return buildRelease({ ...args, dataDir: dataDirOf(args, env), logUrl });
}

export interface Serving {
  readonly log: OpenLog;
  readonly server: Server;
  readonly port: number;
  stop(): Promise<void>;
}

/** `concord-log serve`: opens the log and listens until SIGINT/SIGTERM. */
export async function runServe(args: ServeArgs, env: Env = process.env): Promise<Serving> {
  const host = env.HOST ?? '127.0.0.1';
  const port = intEnv(env, 'PORT') ?? 8080;
  let log: OpenLog;
  try {
    log = await openLog({
      ...configFromEnv(args, env),
      onFatal: (err) => {
        console.error('fatal: the sequencer stopped:', err);
        process.exit(1);
      },
    });
  } catch (err) {
    if (err instanceof StorageError && err.code === 'locked') {
      throw new Error(`another server is sequencing this log (${err.message}); only one may. Start this one with --read-only to serve reads.`, { cause: err });
    }
    if ((err instanceof StorageError || err instanceof KeyFileError) && err.code === 'not-found') {
      throw new Error(`no log here (${err.message}); create one with \`concord-log init --policy <file>\``, { cause: err });
    }
    throw err;
  }
  const server = createServer(nodeListener(log.app, log.reader));
  server.keepAliveTimeout = 65_000; // longer than common client and proxy idle timeouts
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await log.close();
    })());
  const onSignal = (): void => {
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // Announced only once the signal handlers stand: whoever waits for this line may stop the
  // server at once, and must get a clean shutdown.
  const checks = log.sequencer ? `, Ed25519 by ${nativeEd25519Backend()}` : '';
  console.log(`${log.origin}: ${log.sequencer ? 'sequencing' : 'read-only'}${checks}, listening on http://${host}:${bound}`);
  return { log, server, port: bound, stop };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runServe({}).catch((err: unknown) => {
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
