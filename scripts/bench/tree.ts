// Tree hash of N random 32-byte leaves (RFC 6962), against two baselines
// measured in the same run:
//   stream  — node:crypto hashing the same bytes (N×33 + (N−1)×65) in one
//             streaming pass: the hardware limit for this much SHA-256 input;
//   naive   — a straightforward tree built with one crypto.hash call per node.
// Our cases: client-sdk on one core, and on two cores (worker threads each
// hash one subtree; the main thread joins them).
import { createHash, hash as nodeHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { nodeHash as sdkNodeHash, rootFromLeafData } from '@concord/client-sdk/merkle';
import { measure, runCase, runsFromEnv, table } from './lib.js';

const N = Number(process.env.BENCH_LEAVES ?? 1_000_000);

function leaves(n: number): Uint8Array {
  // Pseudo-random but the same in every child (xorshift32), so every case must
  // produce the same root; main() checks that they do.
  // Shared memory, so the two-thread case hands the same bytes to its workers
  // without a copy.
  const b = new Uint8Array(new SharedArrayBuffer(n * 32));
  const w = new Uint32Array(b.buffer);
  let x = 0x9e3779b9;
  for (let i = 0; i < w.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    w[i] = x >>> 0;
  }
  return b;
}

/** First 48 bits of a root as a number, so children can report it in a Sample. */
function rootTag(root: Uint8Array): number {
  return root.subarray(0, 6).reduce((a, v) => a * 256 + v, 0);
}

/** Root of leaves [lo, hi) with client-sdk's fixed-size-leaf path (what database roots use). */
function sdkRoot(data: Uint8Array, lo: number, hi: number): Uint8Array {
  return rootFromLeafData(data.subarray(lo * 32, hi * 32), 32);
}

function naiveRoot(data: Uint8Array): Buffer {
  const n = data.length / 32;
  let level: Buffer[] = [];
  const pre = Buffer.alloc(33);
  for (let i = 0; i < n; i++) {
    pre.set(data.subarray(i * 32, i * 32 + 32), 1);
    level.push(nodeHash('sha256', pre, 'buffer'));
  }
  // RFC 6962 split = left-complete tree; pairing left to right and carrying
  // an odd last node up unchanged yields the same root.
  const buf = Buffer.alloc(65);
  buf[0] = 1;
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) {
      buf.set(level[i]!, 1);
      buf.set(level[i + 1]!, 33);
      next.push(nodeHash('sha256', buf, 'buffer'));
    }
    if (level.length % 2) next.push(level[level.length - 1]!);
    level = next;
  }
  return level[0]!;
}

function streamBaseline(n: number): void {
  const total = n * 33 + (n - 1) * 65;
  const chunk = Buffer.alloc(1 << 20, 7);
  const h = createHash('sha256');
  for (let left = total; left > 0; left -= chunk.length) h.update(left >= chunk.length ? chunk : chunk.subarray(0, left));
  h.digest();
}

async function twoCoreRoot(data: Uint8Array): Promise<Uint8Array> {
  const n = data.length / 32;
  // Largest power of two below n: the RFC 6962 split point.
  let k = 1;
  while (k * 2 < n) k *= 2;
  const shared = data.buffer as SharedArrayBuffer;
  const run = (lo: number, hi: number) =>
    new Promise<Uint8Array>((resolve, reject) => {
      const w = new Worker(new URL(import.meta.url), { workerData: { shared, lo, hi } });
      w.once('message', (m: Uint8Array) => resolve(m));
      w.once('error', reject);
    });
  const [l, r] = await Promise.all([run(0, k), run(k, n)]);
  return sdkNodeHash(l, r);
}

async function child(kind: string): Promise<void> {
  const data = leaves(N);
  const result = { leaves: N, root: 0 };
  await measure(async () => {
    if (kind === 'stream') streamBaseline(N);
    else if (kind === 'naive') result.root = rootTag(naiveRoot(data));
    else if (kind === 'sdk') result.root = rootTag(sdkRoot(data, 0, N));
    else if (kind === 'sdk2') result.root = rootTag(await twoCoreRoot(data));
    else throw new Error(`unknown case ${kind}`);
  }, result);
}

async function main(): Promise<void> {
  const runs = runsFromEnv(5);
  const me = new URL(import.meta.url);
  const cases = ['stream', 'naive', 'sdk', 'sdk2'] as const;
  const res = Object.fromEntries(cases.map((c) => [c, runCase(me, ['case', c], runs)]));
  for (const c of ['sdk', 'sdk2'] as const) {
    if (res[c]!.root !== res.naive!.root) throw new Error(`${c} computed a different root than the naive baseline`);
  }
  const rate = (c: (typeof cases)[number]) => N / res[c]!.seconds;
  console.log(`\nTree hash of ${N.toLocaleString('en-US')} random 32-byte leaves (median of ${runs}; ${availableParallelism()} cores)`);
  console.log(
    table([
      ['case', 'leaves/s', 'seconds', 'peak MiB', '× naive', '× stream'],
      ...cases.map((c) => [
        { stream: 'node:crypto one streaming pass (limit)', naive: 'node:crypto, one crypto.hash per node', sdk: 'client-sdk, one core', sdk2: 'client-sdk, two worker threads' }[c],
        rate(c),
        res[c]!.seconds,
        res[c]!.peakMiB,
        rate(c) / rate('naive'),
        rate(c) / rate('stream'),
      ]),
    ]),
  );
}

if (!isMainThread) {
  const { shared, lo, hi } = workerData as { shared: SharedArrayBuffer; lo: number; hi: number };
  parentPort!.postMessage(sdkRoot(new Uint8Array(shared), lo, hi));
} else if (process.argv[2] === 'case') {
  await child(process.argv[3]!);
} else if (import.meta.url === `file://${process.argv[1]}`) {
  await main();
}

export { main };
