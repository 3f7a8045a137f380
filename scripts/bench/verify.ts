// Verification costs on the device path:
//   verifyInclusion at tree size 2^20 (µs/op), beside node:crypto's SHA-256 of
//     the same 20 node hashes (the hashing floor);
//   a checkpoint with 3 witness cosignatures opened and counted (µs), beside
//     node:crypto's native Ed25519 verifying the same 4 signatures.
import { generateKeyPairSync, hash as cryptoHash, randomBytes, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import {
  leafHash,
  nodeHash,
  proveInclusion,
  splitStoredHashIndex,
  verifyInclusion,
  type Hash,
  type HashReader,
} from '@concord/client-sdk/merkle';
import { generateKey, newSigner, newVerifier, signNote, parseNote, formatNote } from '@concord/client-sdk/note';
import { formatCheckpoint, openCheckpoint } from '@concord/client-sdk/checkpoint';
import { generateCosignatureKey, newCosignatureSigner, newCosignatureVerifier, verifyCosignatures } from '@concord/client-sdk/cosignature';
import { runCase, runsFromEnv, table } from './lib.js';

const SIZE = 1 << 20;

function opsPerSample(fn: () => void, minSeconds = 1): { usPerOp: number } {
  for (let i = 0; i < 200; i++) fn(); // warm up
  let ops = 0;
  const t0 = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < minSeconds) {
    for (let i = 0; i < 100; i++) fn();
    ops += 100;
    elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  }
  return { usPerOp: (elapsed / ops) * 1e6 };
}

async function inclusionCase(kind: string): Promise<void> {
  // Levels of a complete tree of 2^20 random leaves, served as a HashReader.
  const levels: Hash[][] = [[]];
  for (let i = 0; i < SIZE; i++) levels[0]!.push(leafHash(randomBytes(32)));
  while (levels[levels.length - 1]!.length > 1) {
    const prev = levels[levels.length - 1]!;
    const next: Hash[] = [];
    for (let i = 0; i < prev.length; i += 2) next.push(nodeHash(prev[i]!, prev[i + 1]!));
    levels.push(next);
  }
  const reader: HashReader = {
    async readHashes(indexes) {
      return indexes.map((x) => {
        const [l, n] = splitStoredHashIndex(x);
        return levels[l]![n]!;
      });
    },
  };
  const root = levels[20]![0]!;
  const index = 777_777;
  const proof = await proveInclusion(SIZE, index, reader);
  const leaf = levels[0]![index]!;
  let r: { usPerOp: number };
  if (kind === 'sdk') {
    r = opsPerSample(() => verifyInclusion(leaf, index, SIZE, proof, root));
  } else {
    const buf = Buffer.alloc(65);
    r = opsPerSample(() => {
      for (const p of proof) {
        buf.set(p, 1);
        buf.set(leaf, 33);
        cryptoHash('sha256', buf, 'buffer');
      }
    });
  }
  process.stdout.write(JSON.stringify({ seconds: 0, peakMiB: process.resourceUsage().maxRSS / 1024, usPerOp: r.usPerOp }) + '\n');
}

async function checkpointCase(kind: string): Promise<void> {
  const origin = 'bench.example/concord';
  const log = generateKey(origin);
  const wits = [1, 2, 3].map((i) => generateCosignatureKey(`witness${i}.example`));
  const text = formatCheckpoint({ origin, size: SIZE, root: randomBytes(32), extensions: [] });
  const now = Math.floor(Date.now() / 1000);
  const signed = parseNote(signNote(text, [newSigner(log.skey)]));
  for (const w of wits) signed.signatures.push(newCosignatureSigner(w.skey).cosign(text, now - 5));
  const note = formatNote(signed);
  const logV = newVerifier(log.vkey);
  const witV = wits.map((w) => newCosignatureVerifier(w.vkey));
  let r: { usPerOp: number };
  if (kind === 'sdk') {
    r = opsPerSample(() => {
      const c = openCheckpoint(note, logV, origin);
      const cos = verifyCosignatures(note, witV, now);
      if (c.checkpoint.size !== SIZE || cos.length !== 3) throw new Error('bench setup is wrong');
    }, 2);
  } else {
    const keys = [0, 1, 2, 3].map(() => generateKeyPairSync('ed25519'));
    const msgs = [0, 1, 2, 3].map((i) => Buffer.from(`cosignature/v1\ntime ${now}\n${text}${i}`));
    const sigs = keys.map((k, i) => cryptoSign(null, msgs[i]!, k.privateKey));
    r = opsPerSample(() => {
      for (let i = 0; i < 4; i++) if (!cryptoVerify(null, msgs[i]!, keys[i]!.publicKey, sigs[i]!)) throw new Error('bad');
    }, 2);
  }
  process.stdout.write(JSON.stringify({ seconds: 0, peakMiB: process.resourceUsage().maxRSS / 1024, usPerOp: r.usPerOp }) + '\n');
}

export async function main(): Promise<void> {
  const runs = runsFromEnv(5);
  const me = new URL(import.meta.url);
  const incl = runCase(me, ['inclusion', 'sdk'], runs);
  const inclBase = runCase(me, ['inclusion', 'node'], runs);
  const cp = runCase(me, ['checkpoint', 'sdk'], runs);
  const cpBase = runCase(me, ['checkpoint', 'node'], runs);
  console.log(`\nVerification (median of ${runs})`);
  console.log(
    table([
      ['operation', 'µs/op', 'baseline µs/op', 'ratio'],
      ['verifyInclusion, size 2^20 (vs node:crypto, 20 hashes)', incl.usPerOp!, inclBase.usPerOp!, incl.usPerOp! / inclBase.usPerOp!],
      ['checkpoint + 3 cosignatures (vs node:crypto Ed25519 ×4)', cp.usPerOp!, cpBase.usPerOp!, cp.usPerOp! / cpBase.usPerOp!],
    ]),
  );
}

if (process.argv[2] === 'inclusion') await inclusionCase(process.argv[3]!);
else if (process.argv[2] === 'checkpoint') await checkpointCase(process.argv[3]!);
else if (import.meta.url === `file://${process.argv[1]}`) await main();
