// The contribute path's blinding at batch 1,000 (one POST /oprf/evaluate):
// blind → request JSON → server parse + evaluate + one DLEQ proof → response
// JSON → client parse + verify + unblind, all on one core, against baselines
// measured in the same run:
//   mults     — the bare ristretto255 scalar multiplications the path cannot
//               avoid: 3 per element (r·H(x), k·B, r⁻¹·Z), noble's constant-time
//               multiply on distinct points. The limit for this library.
//   mults+msm — those plus the three 1,000-point multi-scalar multiplications
//               the proof needs (server M; client M and Z), noble's vartime MSM.
//   noble     — the same round trip through noble's own ristretto255_oprf
//               (blind, blindEvaluateBatch, finalizeBatch), for comparison.
// Per-element costs the baselines leave out: hash_to_ristretto255, point
// encodings and decodings (an inverse square root each), transcript hashing.
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { ristretto255, ristretto255_hasher, ristretto255_oprf } from '@noble/curves/ed25519.js';
import { mulAddUnsafe } from '@noble/curves/abstract/curve.js';
import {
  blind,
  blindEvaluateBatch,
  blindingInput,
  formatEvaluateRequest,
  formatEvaluateResponse,
  generateKeyPair,
  parseEvaluateRequest,
  parseEvaluateResponse,
  verifyAndUnblind,
} from '@concord/client-sdk/oprf';
import { measure, runCase, runsFromEnv, table } from './lib.js';

const BATCH = Number(process.env.BENCH_BATCH ?? 1000);

function inputs(n: number): Uint8Array[] {
  return Array.from({ length: n }, () => blindingInput('pdq-256', new Uint8Array(randomBytes(32))));
}

async function child(kind: string): Promise<void> {
  const keys = generateKeyPair();
  const xs = inputs(BATCH);
  const Point = ristretto255.Point;
  const Fn = Point.Fn;
  const extra: Record<string, number> = { elements: BATCH };
  if (kind === 'path') {
    // Warm the JIT on a small batch first (not measured).
    {
      const bs = xs.slice(0, 8).map((x) => blind(x));
      const r = blindEvaluateBatch(keys.secretKey, keys.publicKey, bs.map((b) => b.blinded));
      verifyAndUnblind(keys.publicKey, bs.map((b) => b.blind), bs.map((b) => b.blinded), r);
    }
    await measure(() => {
      let t = performance.now();
      const bs = xs.map((x) => blind(x));
      const blinded = bs.map((b) => b.blinded);
      const request = formatEvaluateRequest(blinded);
      extra.blindSeconds = (performance.now() - t) / 1e3;
      t = performance.now();
      const response = formatEvaluateResponse(blindEvaluateBatch(keys.secretKey, keys.publicKey, parseEvaluateRequest(request)));
      extra.serverSeconds = (performance.now() - t) / 1e3;
      t = performance.now();
      const elements = verifyAndUnblind(keys.publicKey, bs.map((b) => b.blind), blinded, parseEvaluateResponse(response, BATCH));
      extra.finalizeSeconds = (performance.now() - t) / 1e3;
      if (elements.length !== BATCH) throw new Error('short batch');
    }, extra);
    return;
  }
  if (kind === 'noble') {
    const o = ristretto255_oprf.voprf;
    {
      const bs = xs.slice(0, 8).map((x) => o.blind(x));
      const r = o.blindEvaluateBatch(keys.secretKey, keys.publicKey, bs.map((b) => b.blinded));
      o.finalizeBatch(bs.map((b, i) => ({ input: xs[i]!, blind: b.blind, blinded: b.blinded, evaluated: r.evaluated[i]! })), keys.publicKey, r.proof);
    }
    await measure(() => {
      const bs = xs.map((x) => o.blind(x));
      const r = o.blindEvaluateBatch(keys.secretKey, keys.publicKey, bs.map((b) => b.blinded));
      o.finalizeBatch(bs.map((b, i) => ({ input: xs[i]!, blind: b.blind, blinded: b.blinded, evaluated: r.evaluated[i]! })), keys.publicKey, r.proof);
    }, extra);
    return;
  }
  if (kind !== 'mults' && kind !== 'msm') throw new Error(`unknown case ${kind}`);
  // Baselines: distinct points and full-size random scalars, prepared outside the timer.
  const points = xs.map((x) => ristretto255_hasher.hashToCurve(x));
  const scalar = () => Fn.create(BigInt('0x' + randomBytes(40).toString('hex')) % Fn.ORDER) || 1n;
  const scalars = Array.from({ length: 3 * BATCH }, scalar);
  const weights = Array.from({ length: BATCH }, scalar);
  for (let i = 0; i < 8; i++) points[i]!.multiply(scalars[i]!); // warm up
  await measure(() => {
    let acc = Point.ZERO;
    for (let i = 0; i < BATCH; i++) {
      const p = points[i]!;
      // Three multiplications per element, on different points as in the protocol.
      const b = p.multiply(scalars[3 * i]!);
      const z = b.multiply(scalars[3 * i + 1]!);
      acc = acc.add(z.multiply(scalars[3 * i + 2]!));
    }
    if (kind === 'msm') {
      for (let m = 0; m < 3; m++) acc = acc.add(mulAddUnsafe(Point, points, weights));
    }
    if (acc.is0()) throw new Error('unlikely');
  }, extra);
}

async function main(): Promise<void> {
  const runs = runsFromEnv(3);
  const me = new URL(import.meta.url);
  const cases = ['mults', 'msm', 'path', 'noble'] as const;
  const res = Object.fromEntries(cases.map((c) => [c, runCase(me, ['case', c], runs)]));
  const rate = (c: (typeof cases)[number]) => BATCH / res[c]!.seconds;
  const p = res.path!;
  console.log(`\nVOPRF ristretto255-SHA512, batch ${BATCH.toLocaleString('en-US')}, one core (median of ${runs}; ${availableParallelism()} cores)`);
  console.log(
    table([
      ['case', 'elements/s', 'seconds', 'peak MiB', '÷ mults', '÷ mults+msm'],
      ...cases.map((c) => [
        {
          mults: 'bare scalar mults, 3 per element (limit)',
          msm: 'bare mults + 3 proof MSMs of 1,000',
          path: 'client-sdk: blind, evaluate, verify, unblind',
          noble: 'noble ristretto255_oprf, same round trip',
        }[c],
        rate(c),
        res[c]!.seconds,
        res[c]!.peakMiB,
        rate(c) / rate('mults'),
        rate(c) / rate('msm'),
      ]),
    ]),
  );
  console.log(
    `client-sdk split: blind ${p.blindSeconds!.toFixed(2)} s, server ${p.serverSeconds!.toFixed(2)} s, ` +
      `verify+unblind ${p.finalizeSeconds!.toFixed(2)} s; a 1,000,000-element contribution at this rate: ` +
      `${Math.round(1e6 / rate('path') / 60)} min on one core.`,
  );
}

if (process.argv[2] === 'case') {
  await child(process.argv[3]!);
} else if (import.meta.url === `file://${process.argv[1]}`) {
  await main();
}

export { main };
