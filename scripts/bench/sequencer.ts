// Log server throughput, each case against a baseline measured in the same run:
//
//   sequencing  64 concurrent HTTP clients (keep-alive) POST small signed entries (org
//               endorsements, ~190 bytes) to `concord-log serve` for BENCH_SEQ_SECONDS; every
//               answer is an entry durably committed (SQLite WAL synchronous=FULL; PostgreSQL
//               synchronous_commit=on). Reported: entries/s and p50/p99 latency. Baselines, on
//               the same machine in the same run: libsodium (the server's verifier) and
//               node:crypto (OpenSSL) each verifying as many Ed25519 signatures per second as
//               they can on one core (the floor of the server's work per entry, and the reason it
//               uses libsodium), and a bare node:http server answering the same POSTs without
//               doing anything (the floor of HTTP itself with this load generator). Also
//               reported, from /proc (Linux): CPU time per acknowledged entry of the server
//               process (all threads), of its event-loop thread, and of the load generator —
//               steadier than entries/s on a shared machine, where other work takes cores away.
//               BENCH_THREADS=1 also prints the server's CPU per thread and the machine's idle
//               time (diagnostics); BENCH_CLIENTS changes the number of clients.
//   tiles       64 concurrent clients GET full hash tiles (8 KiB, all cached) from the log
//               server, and the same bytes from a bare node:http server (the baseline).
//
// The server and the baseline servers run in their own processes; the load generator (this
// file, below) runs in the case's child process, loopback only, bounded in time. On PostgreSQL
// (when DATABASE_URL is set) the sequencing case runs in a fresh database created and dropped
// around each run. The machine's cores are shared by the server, the load generator and the
// worker threads that verify signatures, so absolute numbers are lower bounds.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { toBase64, utf8 } from '@concord/client-sdk/bytes';
import { generateCosignatureKey } from '@concord/client-sdk/cosignature';
import { formatSignatureLine, generateKey, parseSignerKey } from '@concord/client-sdk/note';
import { initLog } from '@concord/log-server/init';
import { nativeEd25519Verify, nativeSigner } from '@concord/log-server/ed25519-native';
import { runCase, runsFromEnv, table } from './lib.js';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 64);
const SEQ_SECONDS = Number(process.env.BENCH_SEQ_SECONDS ?? 6);
const TILE_SECONDS = Number(process.env.BENCH_TILE_SECONDS ?? 4);
const WARMUP_SECONDS = 1;
const CLI = fileURLToPath(new URL('../../../log-server/dist/cli.js', import.meta.url));

// --- load generator -------------------------------------------------------------------------
//
// A deliberately small HTTP/1.1 client: one keep-alive TCP connection per simulated client,
// one request in flight on each, requests written as ready-made bytes, responses parsed only
// as far as the status line and Content-Length. (node:http's client costs several times more
// CPU per request than the servers measured here, and on a shared 2-core machine the load
// generator's CPU is taken from the server.)

interface LoadResult {
  ok: number;
  failed: number;
  seconds: number;
  latenciesMs: number[];
  /** CPU used during the measured window: the server process (all threads), its main thread, this load generator; ms. */
  cpuMs?: { server: number; serverMain: number; client: number };
}

/** CPU time (user + system) of process `pid`, or of its thread `tid`, in ms (Linux /proc; NaN elsewhere). */
function procCpuMs(pid: number, tid?: number): number {
  try {
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'latin1');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}
/** CPU time of each thread of process `pid` by thread name (Linux: each task's comm file under /proc), in ms. */
function threadCpuMs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'latin1').trim();
      out.set(`${name} ${tid}`, procCpuMs(pid, Number(tid)));
    }
  } catch {
    // not Linux, or the process is gone
  }
  return out;
}

/** The machine's CPU time counters (the first line of /proc/stat), in ticks; [] elsewhere. */
function systemCpu(): number[] {
  try {
    return readFileSync('/proc/stat', 'latin1').split('\n')[0]!.trim().split(/ +/).slice(1, 9).map(Number);
  } catch {
    return [];
  }
}

/** USER_HZ: 100 on every Linux configuration Node supports. */
const CLOCK_TICKS = 100;

interface Req {
  method: string;
  path: string;
  body?: Uint8Array;
}

function requestBytes(r: Req): Buffer {
  const head = `${r.method} ${r.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${r.body ? `Content-Length: ${r.body.length}\r\n` : ''}\r\n`;
  return r.body ? Buffer.concat([Buffer.from(head), r.body]) : Buffer.from(head);
}

const CRLF2 = Buffer.from('\r\n\r\n');

/** One keep-alive connection: send(bytes) resolves with the status code of the response. */
function connection(port: number): Promise<{ send(b: Buffer): Promise<number>; close(): void }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.setNoDelay(true);
    let buf: Buffer = Buffer.alloc(0);
    let pending: { resolve(status: number): void; reject(e: Error): void } | null = null;
    let need = -1; // bytes of the whole response once the head is parsed
    let status = 0;
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      for (;;) {
        if (need < 0) {
          const end = buf.indexOf(CRLF2);
          if (end < 0) return;
          const head = buf.subarray(0, end).toString('latin1');
          status = Number(head.slice(9, 12));
          const m = /\r\ncontent-length: *(\d+)/i.exec(head);
          need = end + 4 + (m ? Number(m[1]) : 0);
        }
        if (buf.length < need) return;
        buf = buf.subarray(need);
        need = -1;
        const p = pending;
        pending = null;
        p?.resolve(status);
      }
    });
    const fail = (e: Error): void => {
      const p = pending;
      pending = null;
      p?.reject(e);
    };
    sock.on('error', fail);
    sock.on('close', () => fail(new Error('connection closed')));
    sock.once('connect', () =>
      resolve({
        send: (b) =>
          new Promise<number>((res, rej) => {
            pending = { resolve: res, reject: rej };
            sock.write(b);
          }),
        close: () => sock.destroy(),
      }),
    );
    sock.once('error', reject);
  });
}

/**
 * `clients` connections, each sending its next request as soon as the previous answered, for
 * `seconds` after a warm-up; `next(client)` gives the request. Counts 2xx answers.
 */
async function load(port: number, clients: number, seconds: number, next: (client: number) => Buffer, serverPid?: number): Promise<LoadResult> {
  const conns = await Promise.all(Array.from({ length: clients }, () => connection(port)));
  const warmEnd = performance.now() + WARMUP_SECONDS * 1000;
  const end = warmEnd + seconds * 1000;
  const res: LoadResult = { ok: 0, failed: 0, seconds, latenciesMs: [] };
  let sampled: Promise<void> = Promise.resolve();
  if (serverPid !== undefined) {
    const sample = (): { server: number; serverMain: number; client: number } => {
      const u = process.cpuUsage();
      return { server: procCpuMs(serverPid), serverMain: procCpuMs(serverPid, serverPid), client: (u.user + u.system) / 1000 };
    };
    let first: ReturnType<typeof sample> | undefined;
    let firstThreads = new Map<string, number>();
    let firstStat: number[] = [];
    setTimeout(() => {
      first = sample();
      if (process.env.BENCH_THREADS) {
        firstThreads = threadCpuMs(serverPid);
        firstStat = systemCpu();
      }
    }, warmEnd - performance.now());
    sampled = new Promise<void>((resolve) =>
      setTimeout(() => {
        const last = sample();
        if (process.env.BENCH_THREADS) {
          // Diagnostic: the server's CPU per thread over the measured window, in ms.
          const lines = [...threadCpuMs(serverPid)].map(([t, ms]) => `${t}: ${(ms - (firstThreads.get(t) ?? 0)).toFixed(0)}`);
          process.stderr.write(`server threads (CPU ms): ${lines.join(', ')}\n`);
          const st = systemCpu().map((v, i) => v - (firstStat[i] ?? 0));
          const all = st.reduce((a, b) => a + b, 0);
          const names = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'];
          process.stderr.write(`machine: ${names.map((n, i) => `${n} ${((100 * (st[i] ?? 0)) / all).toFixed(1)}%`).join(', ')}\n`);
        }
        if (first) res.cpuMs = { server: last.server - first.server, serverMain: last.serverMain - first.serverMain, client: last.client - first.client };
        resolve();
      }, end - performance.now()),
    );
  }
  const loop = async (client: number): Promise<void> => {
    const c = conns[client]!;
    while (performance.now() < end) {
      const bytes = next(client);
      const t0 = performance.now();
      let ok = false;
      try {
        ok = (await c.send(bytes)) < 300;
      } catch {
        return;
      }
      const t1 = performance.now();
      if (t0 >= warmEnd && t1 <= end) {
        if (ok) {
          res.ok++;
          res.latenciesMs.push(t1 - t0);
        } else res.failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, i) => loop(i)));
  await sampled;
  for (const c of conns) c.close();
  return res;
}

/** A single request through node:http (setup and checks, not measured). */
function request(agent: http.Agent, port: number, method: string, p: string, body?: Uint8Array): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path: p, agent, headers: body ? { 'content-length': body.length } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

// --- servers --------------------------------------------------------------------------------

/** Extra node options for the log server process (e.g. BENCH_SERVER_NODE_ARGS=--cpu-prof). */
function serverNodeArgs(): string[] {
  return (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
}

/** Starts a node process running `args`, resolving with its port once it prints "listening on http://…:<port>". */
function startServer(args: string[], env: Record<string, string>): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    // The server uses PostgreSQL only when the case says so (DATABASE_URL in `env`).
    const { DATABASE_URL: _ignored, ...inherited } = process.env;
    const child = spawn(process.execPath, args, { env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await done;
}

/** A bare node:http server script: answers every request with 200 and `bytes` (or a tiny JSON). */
const BARE_SERVER = `
const http = require('node:http');
const fs = require('node:fs');
const tiles = process.argv[2] ? JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) : {};
const bodies = new Map(Object.entries(tiles).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
const ok = Buffer.from('{"index":1,"leafHash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}');
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const b = bodies.get(req.url);
    if (b) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'public, max-age=604800, immutable', 'access-control-allow-origin': '*', 'content-length': b.length });
      res.end(b);
    } else {
      res.writeHead(200, { 'content-type': 'application/json', 'access-control-allow-origin': '*', 'content-length': ok.length });
      res.end(ok);
    }
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => console.log('listening on http://127.0.0.1:' + server.address().port));
`;

// --- fixtures -------------------------------------------------------------------------------

interface Org {
  name: string;
  skey: string;
  vkey: string;
}

function policyText(orgs: Org[]): string {
  const juris = ['US', 'FR', 'DE', 'JP'];
  const witnesses = [1, 2, 3, 4].map((i) => generateCosignatureKey(`w${i}.bench`));
  return JSON.stringify({
    origin: 'bench.example/concord',
    'hash-algorithm': 'pdq-256',
    'min-orgs': 2,
    'min-jurisdictions': 2,
    'endorsement-quorum': { orgs: 2, jurisdictions: 2 },
    'notice-period': 86_400,
    'max-checkpoint-age': 86_400,
    'max-release-age': 2_592_000,
    'max-entries': 1_000_000,
    'max-added': 10_000,
    'oprf-limit': 100_000,
    orgs: orgs.map((o, i) => ({ name: o.name, jurisdiction: juris[i % juris.length], vkey: o.vkey })),
    witnesses: witnesses.map((w, i) => ({ vkey: w.vkey, url: `https://w${i + 1}.bench/` })),
    'witness-quorum': 3,
  });
}

/** `n` distinct endorsement entries, signed natively (faster than formatting through client-sdk). */
function makeEntries(orgs: Org[], n: number): Uint8Array[] {
  const signers = orgs.map((o) => ({ o, s: nativeSigner(o.skey), k: parseSignerKey(o.skey) }));
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const { o, s, k } = signers[i % signers.length]!;
    const text = `concord/endorsement/v1\norg ${o.name}\nsubject release ${1 + i} ${toBase64(randomBytes(32))}\n`;
    const sig = s.sign(utf8(text));
    out.push(utf8(`${text}\n${formatSignatureLine(o.name, k.keyHash, sig)}\n`));
  }
  return out;
}

async function withDatabase<T>(fn: (url: string | undefined) => Promise<T>, backend: string): Promise<T> {
  if (backend !== 'postgres') return fn(undefined);
  const base = process.env.DATABASE_URL!;
  const pg = (await import('pg')).default;
  const name = `concord_bench_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const u = new URL(base);
  u.pathname = `/${name}`;
  try {
    return await fn(u.toString());
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

// --- cases ----------------------------------------------------------------------------------

async function sequencingCase(backend: string): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'concord-bench-'));
  try {
    await withDatabase(async (storeUrl) => {
      const orgs: Org[] = ['org-a', 'org-b', 'org-c', 'org-d'].map((name) => ({ name, ...generateKey(name) }));
      await initLog({ dataDir: dir, storeUrl, policyText: policyText(orgs) });
      // Enough distinct entries for a generous rate; they are not reused.
      // Whole requests, built before the run: the load generator only writes them.
      const entries = makeEntries(orgs, Math.ceil(12_000 * (SEQ_SECONDS + WARMUP_SECONDS))).map((body) =>
        requestBytes({ method: 'POST', path: '/add', body }),
      );
      // The benchmark policy's witness URLs are made up: pushing to them would measure failing
      // DNS lookups and retries, not sequencing.
      const env: Record<string, string> = { PORT: '0', HOST: '127.0.0.1', CONCORD_ADD_PER_MINUTE: '100000000', CONCORD_WITNESS_PUSH: 'off' };
      if (storeUrl) env.DATABASE_URL = storeUrl;
      const { child, port } = await startServer([...serverNodeArgs(), CLI, 'serve', '--data', dir], env);
      try {
        let i = 0;
        const r = await load(
          port,
          CLIENTS,
          SEQ_SECONDS,
          () => {
            const request = entries[i++];
            if (request === undefined) throw new Error('ran out of entries: raise the pre-signed count');
            return request;
          },
          child.pid,
        );
        const cp = await request(new http.Agent(), port, 'GET', '/checkpoint');
        const size = Number(cp.body.toString().split('\n')[1]);
        if (!(size >= r.ok + 1)) throw new Error(`checkpoint size ${size} < acknowledged ${r.ok} + 1`);
        emit(r);
      } finally {
        await stopServer(child);
      }
    }, backend);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function bareCase(kind: 'post' | 'tiles', tilesFile?: string): Promise<void> {
  const { child, port } = await startServer(['-e', BARE_SERVER, '--', ...(tilesFile ? [tilesFile] : [])], {});
  try {
    const body = makeEntries([{ name: 'org-a', ...generateKey('org-a') }], 1)[0]!;
    const paths = tilesFile ? Object.keys(JSON.parse(readFileSync(tilesFile, 'utf8')) as Record<string, string>) : [];
    // Requests built before the run, as in the cases measured against this baseline.
    const post = requestBytes({ method: 'POST', path: '/add', body });
    const gets = paths.map((p) => requestBytes({ method: 'GET', path: p }));
    let i = 0;
    const r = await load(port, CLIENTS, kind === 'post' ? SEQ_SECONDS : TILE_SECONDS, () => (kind === 'post' ? post : gets[i++ % gets.length]!));
    emit(r);
  } finally {
    await stopServer(child);
  }
}

async function tilesCase(which: 'log' | 'bare'): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'concord-bench-'));
  const env = { PORT: '0', HOST: '127.0.0.1', CONCORD_ADD_PER_MINUTE: '100000000', CONCORD_WITNESS_PUSH: 'off' };
  try {
    const orgs: Org[] = ['org-a', 'org-b', 'org-c'].map((name) => ({ name, ...generateKey(name) }));
    await initLog({ dataDir: dir, policyText: policyText(orgs) });
    // A log with 20 full level-0 tiles; then a fresh server process, as the baseline gets.
    let server = await startServer([CLI, 'serve', '--data', dir], env);
    const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
    try {
      const entries = makeEntries(orgs, 20 * 256);
      for (let i = 0; i < entries.length; i += CLIENTS) {
        await Promise.all(entries.slice(i, i + CLIENTS).map((e) => request(agent, server.port, 'POST', '/add', e)));
      }
    } finally {
      agent.destroy();
      await stopServer(server.child);
    }
    const paths = Array.from({ length: 20 }, (_, n) => `/tile/0/${String(n).padStart(3, '0')}`);
    server = await startServer([...serverNodeArgs(), CLI, 'serve', '--data', dir], env);
    try {
      const tiles: Record<string, string> = {};
      const one = new http.Agent();
      for (const p of paths) {
        const r = await request(one, server.port, 'GET', p);
        if (r.status !== 200 || r.body.length !== 8192) throw new Error(`GET ${p}: ${r.status}`);
        tiles[p] = r.body.toString('base64');
      }
      one.destroy();
      if (which === 'bare') {
        await stopServer(server.child);
        const file = path.join(dir, 'tiles.json');
        writeFileSync(file, JSON.stringify(tiles));
        await bareCase('tiles', file);
        return;
      }
      let i = 0;
      const gets = paths.map((p) => requestBytes({ method: 'GET', path: p }));
      emit(await load(server.port, CLIENTS, TILE_SECONDS, () => gets[i++ % gets.length]!));
    } finally {
      await stopServer(server.child);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Ed25519 verifications per second on one core (one 190-byte message), by node:crypto or libsodium. */
function verifyCase(backend: 'openssl' | 'libsodium'): void {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const msg = randomBytes(190);
  const sig = cryptoSign(null, msg, privateKey);
  const raw = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(12));
  const sodium = nativeEd25519Verify('libsodium');
  const once = backend === 'openssl' ? (): boolean => cryptoVerify(null, msg, publicKey, sig) : (): boolean => sodium(raw, msg, sig);
  if (!once()) throw new Error(`${backend} refused a valid signature`);
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < 2000) {
    for (let i = 0; i < 100; i++) once();
    n += 100;
  }
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ seconds, peakMiB: process.resourceUsage().maxRSS / 1024, rate: n / seconds, p50: NaN, p99: NaN, failed: 0 }) + '\n');
}

function emit(r: LoadResult): void {
  process.stdout.write(
    JSON.stringify({
      seconds: r.seconds,
      peakMiB: process.resourceUsage().maxRSS / 1024,
      rate: r.ok / r.seconds,
      p50: percentile(r.latenciesMs, 50),
      p99: percentile(r.latenciesMs, 99),
      failed: r.failed,
      // CPU per acknowledged entry in µs: the server (all threads), its main thread, the load generator.
      ...(r.cpuMs && r.ok > 0
        ? { cpuUs: (r.cpuMs.server * 1000) / r.ok, mainUs: (r.cpuMs.serverMain * 1000) / r.ok, clientUs: (r.cpuMs.client * 1000) / r.ok }
        : {}),
    }) + '\n',
  );
}

async function main(): Promise<void> {
  const runs = runsFromEnv(3);
  const me = new URL(import.meta.url);
  const backends = ['sqlite', ...(process.env.DATABASE_URL ? ['postgres'] : [])];
  const verify = runCase(me, ['case', 'verify', 'libsodium'], runs);
  const verifyOpenssl = runCase(me, ['case', 'verify', 'openssl'], runs);
  const bare = runCase(me, ['case', 'bare-post'], runs);
  const seq = Object.fromEntries(backends.map((b) => [b, runCase(me, ['case', 'seq', b], runs)]));
  console.log(
    `\nDurable sequencing: ${CLIENTS} keep-alive HTTP clients POSTing signed entries for ${SEQ_SECONDS} s (median of ${runs}; ${availableParallelism()} cores shared by server and clients)`,
  );
  console.log(
    table([
      ['case', 'entries/s', 'p50 ms', 'p99 ms', 'failed', '× libsodium verify/s', '× node:crypto verify/s', '× bare HTTP', 'server CPU µs/entry', 'main thread', 'load gen'],
      ['libsodium Ed25519 verify, one core (floor of work per entry)', verify.rate!, '', '', '', 1, verify.rate! / verifyOpenssl.rate!, verify.rate! / bare.rate!, 1e6 / verify.rate!, '', ''],
      ['node:crypto (OpenSSL) Ed25519 verify, one core', verifyOpenssl.rate!, '', '', '', verifyOpenssl.rate! / verify.rate!, 1, verifyOpenssl.rate! / bare.rate!, 1e6 / verifyOpenssl.rate!, '', ''],
      ['bare node:http answering the same POSTs (HTTP floor)', bare.rate!, bare.p50!, bare.p99!, bare.failed!, bare.rate! / verify.rate!, bare.rate! / verifyOpenssl.rate!, 1, '', '', ''],
      ...backends.map((b) => [
        `concord-log serve, ${b === 'sqlite' ? 'SQLite (WAL, synchronous=FULL)' : 'PostgreSQL (synchronous_commit=on)'}`,
        seq[b]!.rate!,
        seq[b]!.p50!,
        seq[b]!.p99!,
        seq[b]!.failed!,
        seq[b]!.rate! / verify.rate!,
        seq[b]!.rate! / verifyOpenssl.rate!,
        seq[b]!.rate! / bare.rate!,
        seq[b]!.cpuUs ?? '',
        seq[b]!.mainUs ?? '',
        seq[b]!.clientUs ?? '',
      ]),
    ]),
  );
  console.log(
    'CPU µs/entry: CPU time used during the measured window per acknowledged entry — the server process (all threads;\n' +
      'PostgreSQL\'s own processes not included), its event-loop thread, and the load generator. The machine is shared: when\n' +
      'other work takes the cores, entries/s falls; CPU per entry is the steadier measure of the server\'s own cost.',
  );
  console.log(`goal: ≥ 5,000 entries/s on SQLite → ${seq.sqlite!.rate! >= 5000 ? 'met' : 'NOT met'} (${Math.round(seq.sqlite!.rate!)})`);

  const tilesBare = runCase(me, ['case', 'tiles', 'bare'], runs);
  const tilesLog = runCase(me, ['case', 'tiles', 'log'], runs);
  console.log(`\nTile GETs: ${CLIENTS} keep-alive clients fetching 20 full 8 KiB hash tiles for ${TILE_SECONDS} s (median of ${runs})`);
  console.log(
    table([
      ['case', 'GETs/s', 'p50 ms', 'p99 ms', 'failed', '× bare'],
      ['bare node:http serving the same bytes (baseline)', tilesBare.rate!, tilesBare.p50!, tilesBare.p99!, tilesBare.failed!, 1],
      ['concord-log serve (LRU tile cache)', tilesLog.rate!, tilesLog.p50!, tilesLog.p99!, tilesLog.failed!, tilesLog.rate! / tilesBare.rate!],
    ]),
  );
  console.log(`goal: ≥ 60% of the bare baseline → ${tilesLog.rate! / tilesBare.rate! >= 0.6 ? 'met' : 'NOT met'}`);
}

if (process.argv[2] === 'case') {
  const [kind, arg] = [process.argv[3], process.argv[4]];
  if (kind === 'seq') await sequencingCase(arg!);
  else if (kind === 'bare-post') await bareCase('post');
  else if (kind === 'tiles') await tilesCase(arg as 'log' | 'bare');
  else if (kind === 'verify') verifyCase(arg as 'openssl' | 'libsodium');
  else throw new Error(`unknown case ${kind}`);
  process.exit(0);
} else if (import.meta.url === `file://${process.argv[1]}`) {
  await main();
}

export { main };
