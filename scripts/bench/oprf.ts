// The contribute path's blinding at batch 1,000 (one POST /oprf/evaluate):
// blind → request JSON → server parse + evaluate + one DLEQ proof → response
// JSON → client parse + verify + unblind, all on one core, for each OPRF group
// backend (client-sdk/src/oprf.ts OprfBackend), against baselines measured in
// the same run:
//   mults     — the bare ristretto255 scalar multiplications the path cannot
//               avoid: 3 per element (r·H(x), k·B, r⁻¹·Z), the backend's
//               constant-time multiply on distinct points. The limit for that library.
//   mults+msm — those plus the three 1,000-point multi-scalar multiplications
//               the proof needs (server M; client M and Z), the backend's MSM.
//   noble-oprf — the same round trip through noble's own ristretto255_oprf
//               (blind, blindEvaluateBatch, finalizeBatch), for comparison.
// Backends: noble (the default, pure TypeScript) and libsodium
// (libsodium-wrappers-sumo, WASM, via verifier/src/oprf-sodium.ts).
// Per-element costs the baselines leave out: hash_to_ristretto255, point
// encodings and decodings, transcript hashing, JSON and base64.
//
// BENCH_OPRF_MILLION=1 adds the 1,000,000-element contribution with the
// libsodium backend: 1,000 batches of 1,000 through the whole path, split over
// BENCH_WORKERS worker threads (default: min(2, cores)), every element kept;
// reports wall time and the peak RSS of the whole process (limit 1 GiB). Its
// run count is BENCH_RUNS, default 1. BENCH_OPRF_CASES=a,b,… picks cases.
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ristretto255, ristretto255_hasher, ristretto255_oprf } from '@noble/curves/ed25519.js';
import {
  type OprfBackend,
  blind,
  blindEvaluateBatch,
  blindingInput,
  evaluate,
  formatEvaluateRequest,
  formatEvaluateResponse,
  generateKeyPair,
  nobleBackend,
  parseEvaluateRequest,
  parseEvaluateResponse,
  verifyAndUnblind,
} from '@concord/client-sdk/oprf';
import { sodiumOprfBackend } from '@concord/verifier/oprf-sodium';
import { measure, median, runCase, runsFromEnv, table, type Sample } from './lib.js';

const BATCH = Number(process.env.BENCH_BATCH ?? 1000);
const MILLION = Number(process.env.BENCH_OPRF_ELEMENTS ?? 1_000_000);
const BACKENDS = ['noble', 'sodium'] as const;
type BackendName = (typeof BACKENDS)[number];

/**
 * measure() with the CPU seconds of the whole process (every thread) added as
 * `cpuSeconds`: on a shared machine wall time swings with other load, CPU
 * time much less, so the ratios below use it.
 */
async function measureCpu(fn: () => unknown | Promise<unknown>, extra: Record<string, number>): Promise<void> {
  await measure(async () => {
    const c0 = process.cpuUsage();
    await fn();
    const c = process.cpuUsage(c0);
    extra.cpuSeconds = (c.user + c.system) / 1e6;
  }, extra);
}

function inputs(n: number): Uint8Array[] {
  return Array.from({ length: n }, () => blindingInput('pdq-256', new Uint8Array(randomBytes(32))));
}

async function backendOf(name: BackendName): Promise<OprfBackend<unknown>> {
  return name === 'sodium' ? ((await sodiumOprfBackend()) as OprfBackend<unknown>) : (nobleBackend as OprfBackend<unknown>);
}

interface Keys {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

/**
 * One request's round trip through the wire bodies, as `org contribute` and
 * the server run it; `split` (if given) receives the seconds of each side.
 */
function roundTrip(backend: OprfBackend<unknown>, keys: Keys, xs: readonly Uint8Array[], split?: Record<string, number>): Uint8Array[] {
  let t = performance.now();
  const bs = xs.map((x) => blind(x, { backend }));
  const blinded = bs.map((b) => b.blinded);
  const request = formatEvaluateRequest(blinded);
  if (split) split.blindSeconds = (performance.now() - t) / 1e3;
  t = performance.now();
  const served = blindEvaluateBatch(keys.secretKey, keys.publicKey, parseEvaluateRequest(request, { backend }), { backend });
  const response = formatEvaluateResponse(served);
  if (split) split.serverSeconds = (performance.now() - t) / 1e3;
  t = performance.now();
  const elements = verifyAndUnblind(
    keys.publicKey,
    bs.map((b) => b.blind),
    blinded,
    parseEvaluateResponse(response, xs.length, { backend }),
    { backend },
  );
  if (split) split.finalizeSeconds = (performance.now() - t) / 1e3;
  if (elements.length !== xs.length) throw new Error('short batch');
  return elements;
}

async function child(kind: string): Promise<void> {
  const keys = generateKeyPair();
  const xs = inputs(BATCH);
  const extra: Record<string, number> = { elements: BATCH };
  const [backendName, what] = kind.split(':') as [string, string];
  if (backendName === 'million') return million();
  if (backendName === 'noble-oprf') {
    const o = ristretto255_oprf.voprf;
    {
      const bs = xs.slice(0, 8).map((x) => o.blind(x));
      const r = o.blindEvaluateBatch(keys.secretKey, keys.publicKey, bs.map((b) => b.blinded));
      o.finalizeBatch(bs.map((b, i) => ({ input: xs[i]!, blind: b.blind, blinded: b.blinded, evaluated: r.evaluated[i]! })), keys.publicKey, r.proof);
    }
    await measureCpu(() => {
      const bs = xs.map((x) => o.blind(x));
      const r = o.blindEvaluateBatch(keys.secretKey, keys.publicKey, bs.map((b) => b.blinded));
      o.finalizeBatch(bs.map((b, i) => ({ input: xs[i]!, blind: b.blind, blinded: b.blinded, evaluated: r.evaluated[i]! })), keys.publicKey, r.proof);
    }, extra);
    return;
  }
  if (backendName !== 'noble' && backendName !== 'sodium') throw new Error(`unknown case ${kind}`);
  const backend = await backendOf(backendName);
  if (what === 'path') {
    roundTrip(backend, keys, xs.slice(0, 8)); // warm up (not measured)
    await measureCpu(() => {
      roundTrip(backend, keys, xs, extra);
    }, extra);
    return;
  }
  if (what !== 'mults' && what !== 'msm') throw new Error(`unknown case ${kind}`);
  // Baselines: distinct elements and full-size random scalars, prepared outside the timer.
  const Fn = ristretto255.Point.Fn;
  const elements = xs.map((x) => backend.decode(ristretto255_hasher.hashToCurve(x).toBytes())!);
  const scalar = () => Fn.create(BigInt('0x' + randomBytes(40).toString('hex')) % Fn.ORDER) || 1n;
  const scalars = Array.from({ length: 3 * BATCH }, scalar);
  const weights = Array.from({ length: BATCH }, scalar);
  for (let i = 0; i < 8; i++) backend.multiply(elements[i], scalars[i]!); // warm up
  await measureCpu(() => {
    const out: unknown[] = [];
    for (let i = 0; i < BATCH; i++) {
      // Three multiplications per element, each on a different element, as in the protocol.
      const b = backend.multiply(elements[i], scalars[3 * i]!);
      const z = backend.multiply(b, scalars[3 * i + 1]!);
      out.push(backend.multiply(z, scalars[3 * i + 2]!));
    }
    if (what === 'msm') {
      for (let m = 0; m < 3; m++) out.push(backend.multiScalarMultiply(elements, weights));
    }
    if (out.some((e) => backend.isIdentity(e))) throw new Error('unlikely');
  }, extra);
}

// ---------------------------------------------------------------------------
// 1,000,000 elements over worker threads

interface WorkerJob {
  kind: 'oprf-million-worker';
  batches: number;
  keys: Keys;
}

async function millionWorker(job: WorkerJob): Promise<void> {
  const backend = await backendOf('sodium');
  const out = new Uint8Array(job.batches * BATCH * 32);
  for (let n = 0; n < job.batches; n++) {
    const xs = inputs(BATCH);
    const elements = roundTrip(backend, job.keys, xs);
    elements.forEach((e, i) => out.set(e, (n * BATCH + i) * 32));
    // Spot check, one per batch: the element is k·H(x).
    const direct = evaluate(job.keys.secretKey, xs[n % BATCH]!, undefined, { backend });
    if (Buffer.compare(direct, elements[n % BATCH]!) !== 0) throw new Error('element is not k·H(x)');
  }
  parentPort!.postMessage(out, [out.buffer]);
}

async function million(): Promise<void> {
  const workers = Number(process.env.BENCH_WORKERS ?? Math.min(2, availableParallelism()));
  const batches = Math.ceil(MILLION / BATCH);
  const keys = generateKeyPair();
  const share = (w: number) => Math.floor(batches / workers) + (w < batches % workers ? 1 : 0);
  const extra: Record<string, number> = { elements: batches * BATCH, workers };
  await measureCpu(async () => {
    const parts = await Promise.all(
      Array.from({ length: workers }, (_, w) => {
        const job: WorkerJob = { kind: 'oprf-million-worker', batches: share(w), keys };
        return new Promise<Uint8Array>((resolve, reject) => {
          const worker = new Worker(new URL(import.meta.url), { workerData: job, execArgv: [] });
          worker.once('message', (m: Uint8Array) => resolve(m));
          worker.once('error', reject);
          worker.once('exit', (c) => (c === 0 ? undefined : reject(new Error(`worker exited ${c}`))));
        });
      }),
    );
    // The contribution: every element, kept in memory (32 bytes each).
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    if (all.length !== batches * BATCH * 32) throw new Error('lost elements');
    extra.megabytes = all.length / 2 ** 20;
  }, extra);
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const runs = runsFromEnv(3);
  const me = new URL(import.meta.url);
  const all = ['noble:mults', 'noble:msm', 'noble:path', 'noble-oprf', 'sodium:mults', 'sodium:msm', 'sodium:path'];
  const picked = process.env.BENCH_OPRF_CASES === undefined ? all : process.env.BENCH_OPRF_CASES.split(',').filter((c) => c !== '');
  // Runs interleaved (every case once, then again…) so that load from other
  // processes on a shared machine falls on every case alike; medians per case.
  const samples: Record<string, Sample[]> = Object.fromEntries(picked.map((c) => [c, []]));
  for (let r = 0; r < runs; r++) for (const c of picked) samples[c]!.push(runCase(me, ['case', c], 1));
  const res: Record<string, Sample> = {};
  for (const c of picked) {
    const xs = samples[c]!;
    res[c] = Object.fromEntries(Object.keys(xs[0]!).map((k) => [k, median(xs.map((x) => x[k]!))])) as Sample;
  }
  const rate = (c: string) => (res[c] ? BATCH / res[c]!.seconds : NaN);
  /** Elements per CPU second: the ratios use it (see measureCpu). */
  const cpuRate = (c: string) => (res[c] ? BATCH / res[c]!.cpuSeconds! : NaN);
  const label: Record<string, string> = {
    'noble:mults': 'noble: bare scalar mults, 3 per element (limit)',
    'noble:msm': 'noble: bare mults + 3 proof MSMs of 1,000',
    'noble:path': 'noble: blind, evaluate, verify, unblind',
    'noble-oprf': 'noble ristretto255_oprf, same round trip',
    'sodium:mults': 'libsodium: bare scalar mults, 3 per element (limit)',
    'sodium:msm': 'libsodium: bare mults + 3 proof MSMs of 1,000',
    'sodium:path': 'libsodium: blind, evaluate, verify, unblind',
  };
  const base = (c: string) => (c.startsWith('sodium') ? 'sodium' : 'noble');
  if (picked.length > 0) {
    console.log(`\nVOPRF ristretto255-SHA512, batch ${BATCH.toLocaleString('en-US')}, one thread (median of ${runs}; ${availableParallelism()} cores)`);
    console.log('ratios are of elements per CPU second (wall time on a shared machine varies with other load)');
    console.log(
      table([
        ['case', 'elements/s', 'per CPU s', 'seconds', 'CPU s', 'peak MiB', '÷ own mults', '÷ own mults+msm', '÷ noble path'],
        ...picked.map((c) => [
          label[c] ?? c,
          rate(c),
          cpuRate(c),
          res[c]!.seconds,
          res[c]!.cpuSeconds!,
          res[c]!.peakMiB,
          cpuRate(c) / cpuRate(`${base(c)}:mults`),
          cpuRate(c) / cpuRate(`${base(c)}:msm`),
          cpuRate(c) / cpuRate('noble:path'),
        ]),
      ]),
    );
  }
  for (const b of BACKENDS) {
    const p = res[`${b}:path`];
    if (!p) continue;
    console.log(
      `${b} split: blind ${p.blindSeconds!.toFixed(3)} s, server ${p.serverSeconds!.toFixed(3)} s, ` +
        `verify+unblind ${p.finalizeSeconds!.toFixed(3)} s; 1,000,000 elements at this rate: ` +
        `${(1e6 / cpuRate(`${b}:path`) / 60).toFixed(1)} CPU min.`,
    );
  }
  if (process.env.BENCH_OPRF_MILLION === '1') {
    const m = runCase(me, ['case', 'million'], runsFromEnv(1));
    console.log(
      `libsodium, ${m.elements!.toLocaleString('en-US')}-element contribution (client and server, ${m.workers} worker threads): ` +
        `${m.seconds.toFixed(1)} s (${Math.round(m.elements! / m.seconds).toLocaleString('en-US')} elements/s), ` +
        `${m.cpuSeconds!.toFixed(1)} CPU s (${Math.round(m.elements! / m.cpuSeconds!).toLocaleString('en-US')} elements per CPU s), ` +
        `peak RSS ${Math.round(m.peakMiB)} MiB (limit 1,024), ${m.megabytes!.toFixed(1)} MiB of elements kept.`,
    );
  }
}

if (!isMainThread && (workerData as WorkerJob | undefined)?.kind === 'oprf-million-worker') {
  await millionWorker(workerData as WorkerJob);
} else if (process.argv[2] === 'case') {
  await child(process.argv[3]!);
} else if (import.meta.url === `file://${process.argv[1]}`) {
  await main();
}

export { main };
