// c2sp.org/tlog-witness add-checkpoint request and response formats: literal bytes,
// round trips, caps, and random or mutated input → only WitnessError.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes, toBase64, utf8 } from '@concord/client-sdk/bytes';
import { formatCheckpoint } from '@concord/client-sdk/checkpoint';
import { generateCosignatureKey, newCosignatureSigner } from '@concord/client-sdk/cosignature';
import { generateKey, newSigner, signNote } from '@concord/client-sdk/note';
import {
  MAX_PROOF_LINES,
  TREE_SIZE_CONTENT_TYPE,
  WitnessError,
  formatAddCheckpointRequest,
  formatCosignatureResponse,
  formatTreeSizeBody,
  parseAddCheckpointRequest,
  parseCosignatureResponse,
  parseTreeSizeBody,
} from '@concord/client-sdk/witness';
import type { WitnessErrorCode } from '@concord/client-sdk/witness';

const ORIGIN = 'example.com/behind-the-sofa';
const logKey = generateKey(ORIGIN, new Uint8Array(32).fill(7));
const signer = newSigner(logKey.skey);
const root = new Uint8Array(32).map((_, i) => i);
const note = signNote(formatCheckpoint({ origin: ORIGIN, size: 20852163, root, extensions: [] }), [signer]);
const h = (b: number) => new Uint8Array(32).fill(b);
const dec = new TextDecoder();

function expectCode(f: () => unknown, code: WitnessErrorCode): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(WitnessError);
    expect((e as WitnessError).code).toBe(code);
    return;
  }
  expect.unreachable('did not throw');
}

function onlyWitnessError(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof WitnessError)) throw e;
  }
}

describe('add-checkpoint request', () => {
  it('has the literal wire format', () => {
    const body = formatAddCheckpointRequest({ oldSize: 15, proof: [h(1), h(2)], checkpoint: note });
    const expected = `old 15\n${toBase64(h(1))}\n${toBase64(h(2))}\n\n${dec.decode(note)}`;
    expect(dec.decode(body)).toBe(expected);
    expect(dec.decode(formatAddCheckpointRequest({ oldSize: 0, proof: [], checkpoint: note }))).toBe(`old 0\n\n${dec.decode(note)}`);
    const p = parseAddCheckpointRequest(body);
    expect(p.oldSize).toBe(15);
    expect(p.proof).toEqual([h(1), h(2)]);
    expect(p.checkpoint).toEqual(note);
    expect(p.parsed.origin).toBe(ORIGIN);
    expect(p.parsed.size).toBe(20852163);
    expect(p.parsed.root).toEqual(root);
    expect(p.text).toBe(`${ORIGIN}\n20852163\n${toBase64(root)}\n`);
  });

  it('round-trips random requests', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: MAX_PROOF_LINES }),
        (oldSize, proof) => {
          const body = formatAddCheckpointRequest({ oldSize, proof, checkpoint: note });
          const p = parseAddCheckpointRequest(body);
          expect(p.oldSize).toBe(oldSize);
          expect(p.proof).toEqual(proof);
          expect(p.checkpoint).toEqual(note);
          expect(formatAddCheckpointRequest(p)).toEqual(body);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('caps the proof at 63 lines', () => {
    const proof = Array.from({ length: 64 }, (_, i) => h(i));
    expectCode(() => formatAddCheckpointRequest({ oldSize: 1, proof, checkpoint: note }), 'too-many-proof-lines');
    const body = concatBytes(utf8(`old 1\n${proof.map(toBase64).join('\n')}\n\n`), note);
    expectCode(() => parseAddCheckpointRequest(body), 'too-many-proof-lines');
    const ok = concatBytes(utf8(`old 1\n${proof.slice(1).map(toBase64).join('\n')}\n\n`), note);
    expect(parseAddCheckpointRequest(ok).proof).toHaveLength(63);
  });

  it('rejects non-canonical and malformed bodies', () => {
    const b64 = toBase64(h(9));
    const cases: string[] = [
      `old 01\n\n`, // leading zero
      `old -1\n\n`,
      `old 9007199254740992\n\n`, // 2^53
      `old  1\n\n`,
      `Old 1\n\n`,
      `old 1 \n\n`,
      `old 1\r\n\n`,
      `old 1\n${b64.slice(0, -1)}\n\n`, // short base64
      `old 1\n${toBase64(new Uint8Array(31))}\n\n`, // 31-byte hash
      `old 1\n${toBase64(new Uint8Array(33))}\n\n`,
      `old 1\n${b64.replace(/=$/, '')}\n\n`, // unpadded
      `old 1\n${b64} \n\n`,
      `old 1\n`, // no blank line, the checkpoint follows directly
    ];
    for (const head of cases) expectCode(() => parseAddCheckpointRequest(concatBytes(utf8(head), note)), 'malformed-request');
    expectCode(() => parseAddCheckpointRequest(utf8('old 1\n\n')), 'malformed-request'); // no checkpoint
    expectCode(() => parseAddCheckpointRequest(concatBytes(utf8('old 1\n\n'), utf8(`${ORIGIN}\n1\n${b64}\n`))), 'malformed-request'); // unsigned
    expectCode(() => parseAddCheckpointRequest(concatBytes(utf8('old 1\n\n'), signNote('not a checkpoint\n', [signer]))), 'malformed-request');
    expectCode(() => formatAddCheckpointRequest({ oldSize: -1, proof: [], checkpoint: note }), 'malformed-request');
    expectCode(() => formatAddCheckpointRequest({ oldSize: 1.5, proof: [], checkpoint: note }), 'malformed-request');
    expectCode(() => formatAddCheckpointRequest({ oldSize: 1, proof: [new Uint8Array(31)], checkpoint: note }), 'malformed-request');
    expectCode(() => formatAddCheckpointRequest({ oldSize: 1, proof: [], checkpoint: utf8('junk\n') }), 'malformed-request');
    expectCode(() => parseAddCheckpointRequest(new Uint8Array(2 << 20)), 'too-large');
  });

  it('throws only WitnessError on random and mutated bodies', () => {
    const good = formatAddCheckpointRequest({ oldSize: 3, proof: [h(1), h(2)], checkpoint: note });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (b) => onlyWitnessError(() => parseAddCheckpointRequest(b))),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), (i, x) => {
        const m = good.slice();
        m[i]! ^= x;
        onlyWitnessError(() => parseAddCheckpointRequest(m));
      }),
      { numRuns: 1000 },
    );
    // Every truncation is an error.
    for (let n = 0; n < good.length; n++) expect(() => parseAddCheckpointRequest(good.subarray(0, n))).toThrow(WitnessError);
  });
});

describe('add-checkpoint responses', () => {
  const w = newCosignatureSigner(generateCosignatureKey('witness.example/w1', new Uint8Array(32).fill(1)).skey);
  const w2 = newCosignatureSigner(generateCosignatureKey('witness.example/w2', new Uint8Array(32).fill(2)).skey);
  const text = `${ORIGIN}\n5\n${toBase64(root)}\n`;

  it('200: signature lines, literal format, round trip', () => {
    const s1 = w.cosign(text, 1679315147);
    const s2 = w2.cosign(text, 1679315148);
    const body = formatCosignatureResponse([s1, s2]);
    expect(dec.decode(body)).toBe(`${s1.line}\n${s2.line}\n`);
    expect(s1.line.startsWith('— witness.example/w1 ')).toBe(true);
    const parsed = parseCosignatureResponse(body);
    expect(parsed).toEqual([s1, s2]);
    expect(formatCosignatureResponse(parsed)).toEqual(body);
  });

  it('200: rejects malformed bodies', () => {
    const s1 = w.cosign(text, 1);
    for (const b of ['', '\n', `${s1.line}`, `${s1.line}\n\n`, `\n${s1.line}\n`, `${s1.line}\n\n${s1.line}\n`, `- witness x\n`, `${s1.line} \n`]) {
      expectCode(() => parseCosignatureResponse(utf8(b)), 'malformed-response');
    }
    expectCode(() => formatCosignatureResponse([]), 'malformed-response');
    expectCode(() => formatCosignatureResponse([{ ...s1, line: s1.line + 'x' }]), 'malformed-response');
    expectCode(() => parseCosignatureResponse(new Uint8Array(70_000).fill(0x41)), 'too-large');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => onlyWitnessError(() => parseCosignatureResponse(b))),
      { numRuns: 300 },
    );
    const good = formatCosignatureResponse([s1]);
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), (i, x) => {
        const m = good.slice();
        m[i]! ^= x;
        onlyWitnessError(() => parseCosignatureResponse(m));
      }),
      { numRuns: 500 },
    );
  });

  it(`409: ${TREE_SIZE_CONTENT_TYPE} body`, () => {
    expect(TREE_SIZE_CONTENT_TYPE).toBe('text/x.tlog.size');
    expect(dec.decode(formatTreeSizeBody(42))).toBe('42\n');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (n) => {
        expect(parseTreeSizeBody(formatTreeSizeBody(n))).toBe(n);
      }),
    );
    for (const b of ['', '\n', '42', '042\n', '-1\n', '4 2\n', '42\n\n', '+4\n', '9007199254740992\n', '42\r\n', ' 42\n']) {
      expect(() => parseTreeSizeBody(utf8(b)), b).toThrow(WitnessError);
    }
    expectCode(() => parseTreeSizeBody(utf8('1'.repeat(17) + '\n')), 'too-large');
    expectCode(() => formatTreeSizeBody(-1), 'malformed-response');
    fc.assert(fc.property(fc.uint8Array({ maxLength: 20 }), (b) => onlyWitnessError(() => parseTreeSizeBody(b))));
  });
});
