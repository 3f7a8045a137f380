// Small benchmark harness. Every case runs in a fresh child process (so peak
// RSS is per case and one case's garbage never slows the next), several times;
// we report medians because the machine is shared and noisy. Ratios are always
// against a baseline measured in the same run, never against remembered numbers.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface Sample {
  /** Seconds of wall time for the measured section. */
  seconds: number;
  /** Peak resident set size of the whole child process, in MiB. */
  peakMiB: number;
  [extra: string]: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs `node <script> <args>` `runs` times; the child prints one JSON Sample on its last line. */
export function runCase(script: string | URL, args: readonly string[], runs: number): Sample {
  const file = typeof script === 'string' ? script : fileURLToPath(script);
  const samples: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    const out = execFileSync(process.execPath, ['--expose-gc', file, ...args], {
      encoding: 'utf8',
      maxBuffer: 16 << 20,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const last = out.trim().split('\n').pop()!;
    samples.push(JSON.parse(last) as Sample);
  }
  const keys = Object.keys(samples[0]!);
  const med: Record<string, number> = {};
  for (const k of keys) med[k] = median(samples.map((s) => s[k]!));
  return med as Sample;
}

/** Called inside a child: time fn once, print the Sample line. */
export async function measure(fn: () => unknown | Promise<unknown>, extra: Record<string, number> = {}): Promise<void> {
  // `extra` is read after fn runs, so fn may fill it in (e.g. a result to cross-check).
  (globalThis as { gc?: () => void }).gc?.();
  const t0 = process.hrtime.bigint();
  await fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const peakMiB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify({ seconds, peakMiB, ...extra }) + '\n');
}

export function table(rows: readonly (readonly (string | number)[])[]): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)));
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

function fmt(n: number): string {
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  return n.toPrecision(3);
}

export function runsFromEnv(fallback: number): number {
  const v = Number(process.env.BENCH_RUNS);
  return Number.isInteger(v) && v > 0 ? v : fallback;
}
