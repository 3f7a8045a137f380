// Tests for proof.ts (c2sp.org/tlog-proof@v1): the literal format, round trips over a real
// log, inclusion proofs cross-checked against an independent recursive RFC 6962 PATH(m, D[n])
// (§2.1.1), every bit flip and index change rejected, strict parsing of every line, and
// fuzzing that only ever yields ProofError.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { fromUtf8, toBase64, utf8 } from '@concord/client-sdk/bytes';
import { newVerifier, generateKey } from '@concord/client-sdk/note';
import { proveInclusion } from '@concord/client-sdk/merkle';
import { MAX_PROOF_HASHES, MAX_PROOF_SIZE, PROOF_HEADER, ProofError, formatProof, parseProof, verifyProof, verifyProofAgainst } from '@concord/client-sdk/proof';
import type { TlogProof } from '@concord/client-sdk/proof';
import { T0, createNetwork, seeded } from './fixtures/network.js';
import type { Network } from './fixtures/network.js';

const h = (...parts: Uint8Array[]): Uint8Array => {
  const c = createHash('sha256');
  for (const p of parts) c.update(p);
  return new Uint8Array(c.digest());
};

/** RFC 6962 §2.1.1 PATH(m, D[n]), written from the RFC's recursion with node:crypto. */
function refPath(m: number, leaves: Uint8Array[]): Uint8Array[] {
  const n = leaves.length;
  if (n === 1) return [];
  let k = 1;
  while (k * 2 < n) k *= 2;
  if (m < k) return [...refPath(m, leaves.slice(0, k)), refMth(leaves.slice(k))];
  return [...refPath(m - k, leaves.slice(k)), refMth(leaves.slice(0, k))];
}
function refMth(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return h(new Uint8Array(0));
  if (leaves.length === 1) return h(Uint8Array.of(0), leaves[0]!);
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return h(Uint8Array.of(1), refMth(leaves.slice(0, k)), refMth(leaves.slice(k)));
}

async function logOf(n: number): Promise<{ net: Network; note: Uint8Array }> {
  const net = createNetwork({ seed: 'proof' });
  const db = net.database(1);
  for (let i = 1; i < n; i++) net.contribute(net.orgs[i % 3]!.name, db);
  const note = await net.cosign(T0);
  return { net, note };
}

describe('tlog-proof format', () => {
  it('writes exactly the spec layout: header, extra, index, hashes, blank line, checkpoint', async () => {
    const { net, note } = await logOf(5);
    const proof = await proveInclusion(5, 3, net.hashReader(5));
    const text = fromUtf8(formatProof({ extra: utf8('ctx'), index: 3, proof, checkpoint: note }));
    const want = [PROOF_HEADER, `extra ${toBase64(utf8('ctx'))}`, 'index 3', ...proof.map(toBase64), '', ''].join('\n') + fromUtf8(note);
    expect(text).toBe(want);
    expect(text.startsWith('c2sp.org/tlog-proof@v1\nextra Y3R4\nindex 3\n')).toBe(true);
  });

  it('round-trips and verifies every index of logs of size 1..20 (paths = independent RFC 6962 PATH)', async () => {
    for (let n = 1; n <= 20; n++) {
      const { net, note } = await logOf(n);
      const leaves = net.entries.map((e) => e.bytes);
      const log = newVerifier(net.logVkey);
      for (let i = 0; i < n; i++) {
        const proof = await proveInclusion(n, i, net.hashReader(n));
        expect(proof.map(toBase64)).toEqual(refPath(i, leaves).map(toBase64));
        const bytes = formatProof({ index: i, proof, checkpoint: note });
        const p = parseProof(bytes);
        expect(formatProof(p)).toEqual(bytes);
        expect(p.extra).toBeUndefined();
        const cp = verifyProof(p, net.entries[i]!.leaf, log, net.origin);
        expect(cp.checkpoint.size).toBe(n);
        // The wrong leaf, or the right one at another index, is refused.
        if (n > 1) expect(() => verifyProof(p, net.entries[(i + 1) % n]!.leaf, log, net.origin)).toThrow(ProofError);
        if (n > 1) expect(() => verifyProof({ ...p, index: (i + 1) % n }, net.entries[i]!.leaf, log, net.origin)).toThrow(ProofError);
      }
    }
  });

  it('every flipped bit of every proof hash → not-included', async () => {
    const { net, note } = await logOf(13);
    const log = newVerifier(net.logVkey);
    const proof = await proveInclusion(13, 6, net.hashReader(13));
    const tree = verifyProof({ index: 6, proof, checkpoint: note }, net.entries[6]!.leaf, log, net.origin).checkpoint;
    for (let j = 0; j < proof.length; j++) {
      for (let bit = 0; bit < 256; bit++) {
        const bad = proof.map((x) => x.slice());
        bad[j]![bit >> 3]! ^= 1 << (bit & 7);
        const p: TlogProof = { index: 6, proof: bad, checkpoint: note };
        let code: string | undefined;
        try {
          verifyProofAgainst(parseProof(formatProof(p)), net.entries[6]!.leaf, tree);
        } catch (e) {
          code = (e as ProofError).code;
        }
        expect(code).toBe('not-included');
      }
    }
    // A surplus or a missing hash too.
    for (const bad of [[...proof, proof[0]!], proof.slice(1)]) {
      expect(() => verifyProof({ index: 6, proof: bad, checkpoint: note }, net.entries[6]!.leaf, log, net.origin)).toThrow(
        expect.objectContaining({ code: 'not-included' }),
      );
    }
  });

  it('a checkpoint not signed by the log key → bad-checkpoint', async () => {
    const { net, note } = await logOf(4);
    const proof = await proveInclusion(4, 1, net.hashReader(4));
    const other = newVerifier(generateKey(net.origin, seeded('other log')).vkey);
    expect(() => verifyProof({ index: 1, proof, checkpoint: note }, net.entries[1]!.leaf, other, net.origin)).toThrow(
      expect.objectContaining({ code: 'bad-checkpoint' }),
    );
    expect(() => verifyProof({ index: 1, proof, checkpoint: note }, net.entries[1]!.leaf, newVerifier(net.logVkey), 'other.example/log')).toThrow(
      expect.objectContaining({ code: 'bad-checkpoint' }),
    );
  });
});

describe('tlog-proof strict parsing', () => {
  const base = async (): Promise<{ text: string; note: string }> => {
    const { net, note } = await logOf(6);
    const proof = await proveInclusion(6, 2, net.hashReader(6));
    return { text: fromUtf8(formatProof({ index: 2, proof, checkpoint: note })), note: fromUtf8(note) };
  };

  it('refuses each malformed line', async () => {
    const { text, note } = await base();
    const lines = text.slice(0, text.indexOf('\n\n')).split('\n');
    const rest = text.slice(text.indexOf('\n\n'));
    const bad = (ls: string[]): string => ls.join('\n') + rest;
    const cases: [string, string][] = [
      ['wrong header', bad(['c2sp.org/tlog-proof@v2', ...lines.slice(1)])],
      ['leading zero index', bad([lines[0]!, 'index 02', ...lines.slice(2)])],
      ['negative index', bad([lines[0]!, 'index -2', ...lines.slice(2)])],
      ['index too large', bad([lines[0]!, 'index 9007199254740992', ...lines.slice(2)])],
      ['no index', bad([lines[0]!, ...lines.slice(2)])],
      ['empty extra', bad([lines[0]!, 'extra ', ...lines.slice(1)])],
      ['non-canonical extra', bad([lines[0]!, 'extra YQ', ...lines.slice(1)])],
      ['extra after index', bad([lines[0]!, lines[1]!, 'extra YQ==', ...lines.slice(2)])],
      ['short hash', bad([...lines.slice(0, 2), toBase64(new Uint8Array(31)), ...lines.slice(3)])],
      ['non-canonical hash', bad([...lines.slice(0, 2), lines[2]!.slice(0, -2) + 'B=', ...lines.slice(3)])],
      ['CR line end', bad([lines[0]! + '\r', ...lines.slice(1)])],
      ['no blank line', lines.join('\n') + '\n' + note.replace('\n\n', '\n')],
      ['no checkpoint', lines.join('\n') + '\n\n'],
      ['checkpoint not a note', lines.join('\n') + '\n\nexample.org/concord\n6\n'],
      ['too many hashes', bad([...lines.slice(0, 2), ...Array.from({ length: MAX_PROOF_HASHES + 1 }, () => lines[2]!)])],
    ];
    for (const [what, t] of cases) {
      expect(() => parseProof(utf8(t)), what).toThrow(ProofError);
      expect(() => parseProof(t), what).toThrow(expect.objectContaining({ code: 'malformed-proof' }));
    }
    expect(() => parseProof(new Uint8Array([0xff, 0xfe]))).toThrow(expect.objectContaining({ code: 'malformed-proof' }));
    expect(() => parseProof(new Uint8Array(MAX_PROOF_SIZE + 1))).toThrow(expect.objectContaining({ code: 'too-large' }));
    // The valid text, for contrast.
    expect(parseProof(text).index).toBe(2);
  });

  it('formatProof refuses values without a canonical encoding', async () => {
    const { net, note } = await logOf(3);
    const proof = await proveInclusion(3, 0, net.hashReader(3));
    for (const p of [
      { index: -1, proof, checkpoint: note },
      { index: 0.5, proof, checkpoint: note },
      { index: 0, proof: [new Uint8Array(31)], checkpoint: note },
      { index: 0, proof, checkpoint: note, extra: new Uint8Array(0) },
      { index: 0, proof, checkpoint: utf8('not a note\n') },
    ]) {
      expect(() => formatProof(p)).toThrow(ProofError);
    }
  });

  it('random bytes and mutated proofs only ever throw ProofError', async () => {
    const { text } = await base();
    const good = utf8(text);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        try {
          parseProof(b);
        } catch (e) {
          if (!(e instanceof ProofError)) throw e;
        }
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const b = good.slice();
        b[at]! ^= x;
        try {
          const p = parseProof(b);
          expect(formatProof(p)).toEqual(b); // whatever parses is canonical
        } catch (e) {
          if (!(e instanceof ProofError)) throw e;
        }
      }),
      { numRuns: 1000 },
    );
  });
});
