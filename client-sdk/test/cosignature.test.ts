// c2sp.org/tlog-cosignature (cosignature/v1) and the witness clock of DESIGN.md
// "Time, notice and freshness": the shared vector (generated with Go's sumdb/note),
// node:crypto cross-checks, bit flips, seenBy/aliveAt under lying minorities.
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex, toBase64, u64be, utf8 } from '@concord/client-sdk/bytes';
import { formatCheckpoint, openCheckpoint } from '@concord/client-sdk/checkpoint';
import {
  CosignatureError,
  FUTURE_TOLERANCE,
  aliveAt,
  cosignatureTime,
  cosignedMessage,
  generateCosignatureKey,
  newCosignatureSigner,
  newCosignatureVerifier,
  seenBy,
  verifyCosignatures,
} from '@concord/client-sdk/cosignature';
import type { CosignatureErrorCode, WitnessCosignature } from '@concord/client-sdk/cosignature';
import {
  NoteError,
  formatNote,
  generateKey,
  isValidKeyName,
  newSigner,
  newVerifier,
  noteSignature,
  openNote,
  parseNote,
  parseVerifierKey,
  signNote,
} from '@concord/client-sdk/note';
import type { Ed25519Verify, NoteSignature } from '@concord/client-sdk/note';

const v = (JSON.parse(readFileSync(new URL('../../../shared/vectors/note/notes.json', import.meta.url), 'utf8')) as Record<
  string,
  Record<string, string | number>
>)['cosignature-v1']!;
const TS = v.timestamp as number;
const BODY = v.checkpoint_body as string;
const NOTE = v.note as string;
const WITNESS_VKEY = v.witness_vkey as string;
const WITNESS = 'witness.example.com/w1';
const ORIGIN = 'example.com/behind-the-sofa';

/** "SHA-256('…') = <hex>": the hex, checked against node:crypto over the quoted string. */
function seedOf(field: string): Uint8Array {
  const m = /^SHA-256\('(.*)'\) = ([0-9a-f]{64})$/.exec(field);
  expect(m).not.toBeNull();
  expect(createHash('sha256').update(m![1]!).digest('hex')).toBe(m![2]);
  return fromHex(m![2]!);
}

const nodeEd25519Verify: Ed25519Verify = (pk, msg, sig) =>
  nodeVerify(
    null,
    msg,
    createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(pk)]), format: 'der', type: 'spki' }),
    sig,
  );

function codeOf(f: () => unknown): CosignatureErrorCode | 'ok' {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof CosignatureError) return e.code;
    throw e;
  }
}

const witnessLine = (): NoteSignature => parseNote(utf8(NOTE)).signatures.find((s) => s.name === WITNESS)!;

describe('the cosignature-v1 vector', () => {
  it('cosignedMessage is byte-exact', () => {
    expect(cosignedMessage(BODY, TS)).toEqual(utf8(v.cosigned_message as string));
  });

  it('the seeds regenerate the published log and witness keys', () => {
    expect(generateKey(ORIGIN, seedOf(v.log_seed as string))).toEqual({ skey: v.log_skey, vkey: v.log_vkey });
    const w = generateCosignatureKey(WITNESS, seedOf(v.witness_seed as string));
    expect(w.vkey).toBe(WITNESS_VKEY);
    expect(w.skey.startsWith(`PRIVATE+KEY+${WITNESS}+61e820f5+BP`)).toBe(true); // base64 of 0x04 ‖ … starts "B"
  });

  it('the witness signature verifies with the witness vkey, and its time decodes to 1679315147', () => {
    const sig = witnessLine();
    expect(cosignatureTime(sig)).toBe(1679315147);
    const w = newCosignatureVerifier(WITNESS_VKEY);
    expect(w.name).toBe(WITNESS);
    expect(w.keyHash).toBe(0x61e820f5);
    expect(w.verify(utf8(BODY), sig.signature)).toBe(true);
    expect(newCosignatureVerifier(WITNESS_VKEY, { ed25519Verify: nodeEd25519Verify }).verify(utf8(BODY), sig.signature)).toBe(true);
    // Independently: node:crypto over the vector's cosigned_message bytes.
    expect(nodeEd25519Verify(w.publicKey, utf8(v.cosigned_message as string), sig.signature.slice(8))).toBe(true);
    // A cosignature verifier is a note Verifier: openNote with it alone opens the note.
    expect(openNote(utf8(NOTE), [w]).verified.map((s) => s.name)).toEqual([WITNESS]);
  });

  it('re-cosigning with the seed reproduces the witness line byte for byte', () => {
    const signer = newCosignatureSigner(generateCosignatureKey(WITNESS, seedOf(v.witness_seed as string)).skey);
    expect(signer.cosign(BODY, TS)).toEqual(witnessLine());
    // And the whole vector note is log signature first, then the cosignature.
    expect(signNote(BODY, [newSigner(v.log_skey as string)], [signer.cosign(BODY, TS)])).toEqual(utf8(NOTE));
  });

  it('a flipped time, a flipped signature bit or another text fails', () => {
    const sig = witnessLine().signature;
    const w = newCosignatureVerifier(WITNESS_VKEY);
    for (let bit = 0; bit < sig.length * 8; bit++) {
      const m = sig.slice();
      m[bit >> 3]! ^= 1 << (bit & 7);
      expect(w.verify(utf8(BODY), m), `bit ${bit}`).toBe(false);
    }
    const later = concatBytes(u64be(TS + 1), sig.slice(8));
    expect(w.verify(utf8(BODY), later)).toBe(false);
    expect(w.verify(utf8(BODY.replace('20852163', '20852164')), sig)).toBe(false);
    expect(w.verify(utf8(BODY), sig.slice(0, 71))).toBe(false);
    expect(w.verify(utf8(BODY), concatBytes(sig, Uint8Array.of(0)))).toBe(false);
    // Time ≥ 2^53 cannot be represented: not verified rather than misread.
    expect(w.verify(utf8(BODY), concatBytes(Uint8Array.of(0, 0x20, 0, 0, 0, 0, 0, 0), sig.slice(8)))).toBe(false);
  });

  it('verifyCosignatures counts the witness at its time, up to 300 s in the future', () => {
    const w = newCosignatureVerifier(WITNESS_VKEY);
    expect(verifyCosignatures(utf8(NOTE), [w], TS)).toEqual([{ witness: WITNESS_VKEY, time: TS }]);
    expect(verifyCosignatures(utf8(NOTE), [w], TS - FUTURE_TOLERANCE)).toEqual([{ witness: WITNESS_VKEY, time: TS }]);
    expect(verifyCosignatures(utf8(NOTE), [w], TS - FUTURE_TOLERANCE - 1)).toEqual([]);
    expect(verifyCosignatures(utf8(NOTE), [], TS)).toEqual([]);
    // The log's line is not a cosignature and is ignored.
    const sc = openCheckpoint(utf8(NOTE), newVerifier(v.log_vkey as string), ORIGIN);
    expect(verifyCosignatures(sc.note, [w], TS + 10 ** 6)).toHaveLength(1);
  });

  it('a bad cosignature line of a listed witness rejects the note; of an unlisted one is ignored', () => {
    const sig = witnessLine();
    const bad = noteSignature(sig.name, sig.keyHash, sig.signature.map((b, i) => (i === 20 ? b ^ 1 : b)));
    const logLine = parseNote(utf8(NOTE)).signatures[0]!;
    const note = formatNote({ text: BODY, signatures: [logLine, bad] });
    const w = newCosignatureVerifier(WITNESS_VKEY);
    expect(codeOf(() => verifyCosignatures(note, [w], TS))).toBe('bad-cosignature');
    const other = newCosignatureVerifier(generateCosignatureKey('other.example/w', new Uint8Array(32).fill(5)).vkey);
    expect(verifyCosignatures(note, [other], TS)).toEqual([]);
  });
});

describe('keys and parsing', () => {
  it('verifier and signer keys must be type 0x04', () => {
    expect(codeOf(() => newCosignatureVerifier(v.log_vkey as string))).toBe('bad-key');
    expect(codeOf(() => newCosignatureSigner(v.log_skey as string))).toBe('bad-key');
    expect(codeOf(() => newCosignatureVerifier('nonsense'))).toBe('bad-key');
    expect(codeOf(() => newCosignatureSigner('PRIVATE+KEY+nonsense'))).toBe('bad-key');
    expect(codeOf(() => generateCosignatureKey('bad name'))).toBe('bad-key');
    expect(codeOf(() => generateCosignatureKey('ok', new Uint8Array(5)))).toBe('bad-key');
    expect(() => newVerifier(WITNESS_VKEY)).toThrow(NoteError);
    expect(parseVerifierKey(WITNESS_VKEY).type).toBe(0x04);
  });

  it('a witness list that repeats a (name, key ID) or a public key is refused', () => {
    const w = newCosignatureVerifier(WITNESS_VKEY);
    expect(codeOf(() => verifyCosignatures(utf8(NOTE), [w, w], TS))).toBe('bad-key');
    // Same public key under another name: the Ed25519 message does not commit to the name.
    const pk = parseVerifierKey(WITNESS_VKEY).publicKey;
    const alias = newCosignatureVerifier(
      (() => {
        const seed = seedOf(v.witness_seed as string);
        return generateCosignatureKey('alias.example/w1', seed).vkey;
      })(),
    );
    expect(alias.publicKey).toEqual(pk);
    expect(codeOf(() => verifyCosignatures(utf8(NOTE), [w, alias], TS))).toBe('bad-key');
  });

  it('cosignatureTime needs exactly u64 ‖ 64 bytes and a time ≤ 2^53 − 1', () => {
    const base = witnessLine();
    for (const len of [0, 8, 71, 73]) {
      expect(codeOf(() => cosignatureTime({ ...base, signature: new Uint8Array(len) }))).toBe('malformed-cosignature');
    }
    const big = concatBytes(Uint8Array.of(0, 0x20, 0, 0, 0, 0, 0, 0), new Uint8Array(64));
    expect(codeOf(() => cosignatureTime({ ...base, signature: big }))).toBe('malformed-cosignature');
    const max = concatBytes(u64be(2 ** 53 - 1), new Uint8Array(64));
    expect(cosignatureTime({ ...base, signature: max })).toBe(2 ** 53 - 1);
  });

  it('cosignedMessage refuses texts without a final newline and non-integer times', () => {
    expect(codeOf(() => cosignedMessage('no newline', 1))).toBe('malformed-cosignature');
    expect(codeOf(() => cosignedMessage(BODY, -1))).toBe('malformed-cosignature');
    expect(codeOf(() => cosignedMessage(BODY, 1.5))).toBe('malformed-cosignature');
    expect(codeOf(() => cosignedMessage(BODY, 2 ** 53))).toBe('malformed-cosignature');
    expect(cosignedMessage(BODY, 0)).toEqual(utf8(`cosignature/v1\ntime 0\n${BODY}`));
  });

  it('verifyCosignatures on garbage throws CosignatureError only', () => {
    const w = newCosignatureVerifier(WITNESS_VKEY);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        try {
          verifyCosignatures(b, [w], TS);
        } catch (e) {
          expect(e).toBeInstanceOf(CosignatureError);
        }
      }),
    );
    expect(() => verifyCosignatures(utf8(NOTE), [w], -1)).toThrow(RangeError);
  });
});

describe('property tests', () => {
  const name = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 16 }).filter(isValidKeyName);
  const checkpointText = fc
    .record({ size: fc.maxSafeNat(), root: fc.uint8Array({ minLength: 32, maxLength: 32 }) })
    .map(({ size, root }) => formatCheckpoint({ origin: 'example.org/concord', size, root, extensions: [] }));

  it('cosign → parse → cosignatureTime/re-format round-trips; verification is bound to time and text', () => {
    fc.assert(
      fc.property(name, fc.uint8Array({ minLength: 32, maxLength: 32 }), checkpointText, fc.maxSafeNat(), (n, seed, text, time) => {
        const { skey, vkey } = generateCosignatureKey(n, seed);
        const line = newCosignatureSigner(skey).cosign(text, time);
        const parsed = parseNote(formatNote({ text, signatures: [line] })).signatures[0]!;
        expect(parsed).toEqual(line);
        expect(cosignatureTime(parsed)).toBe(time);
        expect(noteSignature(parsed.name, parsed.keyHash, concatBytes(u64be(time), parsed.signature.slice(8))).line).toBe(line.line);
        const w = newCosignatureVerifier(vkey);
        expect(w.verify(utf8(text), parsed.signature)).toBe(true);
        const other = time === 0 ? 1 : time - 1;
        expect(w.verify(utf8(text), concatBytes(u64be(other), parsed.signature.slice(8)))).toBe(false);
      }),
      { numRuns: 40 },
    );
  });

  it('cosignatureTime on arbitrary signatures: a time or CosignatureError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
        try {
          const t = cosignatureTime({ name: 'w', keyHash: 0, signature: b, line: '' });
          expect(b.length).toBe(72);
          expect(t).toBeLessThanOrEqual(Number.MAX_SAFE_INTEGER);
        } catch (e) {
          expect(e).toBeInstanceOf(CosignatureError);
        }
      }),
    );
  });

  it('random vkey/skey strings give CosignatureError bad-key only', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        expect(codeOf(() => newCosignatureVerifier(s))).toBe('bad-key');
        expect(codeOf(() => newCosignatureSigner('PRIVATE+KEY+' + s))).toBe('bad-key');
      }),
    );
  });
});

describe('witness clock: seenBy and aliveAt', () => {
  const c = (witness: string, time: number): WitnessCosignature => ({ witness, time });

  it('exact order statistics for a hand-built set', () => {
    const set = [c('w1', 100), c('w2', 200), c('w3', 300), c('w4', 400)];
    expect([1, 2, 3, 4, 5].map((k) => seenBy(set, k))).toEqual([100, 200, 300, 400, undefined]);
    expect([1, 2, 3, 4, 5].map((k) => aliveAt(set, k))).toEqual([400, 300, 200, 100, undefined]);
    expect(seenBy([], 1)).toBeUndefined();
    expect(() => seenBy(set, 0)).toThrow(RangeError);
    expect(() => aliveAt(set, 1.5)).toThrow(RangeError);
  });

  it('a backdating minority (k − 1 liars with ancient times) cannot pull seenBy below an honest time', () => {
    // k = 3 of N = 4: liars w1, w2 claim to have seen C at times 1 and 2.
    const honest = [c('w3', 1000), c('w4', 1100)];
    const set = [c('w1', 1), c('w2', 2), ...honest];
    expect(seenBy(set, 3)).toBe(1000);
    // They can only make aliveAt more conservative (earlier).
    expect(aliveAt(set, 3)).toBe(2);
    // Without the liars' help the quorum is short.
    expect(seenBy(honest, 3)).toBeUndefined();
  });

  it('a forward-dating minority cannot push aliveAt above an honest time', () => {
    const set = [c('w1', 5_000), c('w2', 5_000), c('w3', 500), c('w4', 400)];
    expect(aliveAt(set, 3)).toBe(500);
    // They can only make seenBy more conservative (later).
    expect(seenBy(set, 3)).toBe(5_000);
  });

  it('a witness with several times counts once: earliest for seenBy, latest for aliveAt', () => {
    const set = [c('w1', 100), c('w1', 900), c('w1', 500), c('w2', 300), c('w2', 300)];
    expect(seenBy(set, 1)).toBe(100);
    expect(seenBy(set, 2)).toBe(300);
    expect(aliveAt(set, 1)).toBe(900);
    expect(aliveAt(set, 2)).toBe(300);
    expect(seenBy(set, 3)).toBeUndefined();
    expect(aliveAt([c('w1', 1), c('w1', 2), c('w1', 3)], 2)).toBeUndefined();
  });

  it('property: with at most k − 1 liars, seenBy ≥ some honest earliest time and aliveAt ≤ some honest latest time', () => {
    const times = fc.array(fc.nat({ max: 10_000 }), { minLength: 1, maxLength: 3 });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(times, { minLength: 1, maxLength: 6 }), fc.array(times, { maxLength: 4 }), (k, honest, liars) => {
        fc.pre(liars.length <= k - 1);
        const set = [
          ...honest.flatMap((ts, i) => ts.map((t) => c(`h${i}`, t))),
          ...liars.flatMap((ts, i) => ts.map((t) => c(`l${i}`, t))),
        ];
        const s = seenBy(set, k);
        const a = aliveAt(set, k);
        const n = honest.length + liars.length;
        expect(s === undefined).toBe(n < k);
        expect(a === undefined).toBe(n < k);
        if (s !== undefined && a !== undefined) {
          expect(s).toBeGreaterThanOrEqual(Math.min(...honest.map((ts) => Math.min(...ts))));
          expect(a).toBeLessThanOrEqual(Math.max(...honest.map((ts) => Math.max(...ts))));
        }
      }),
    );
  });

  it('end to end: four witnesses, two copies of one checkpoint, a future cosignature ignored', () => {
    const log = generateKey('example.org/concord', new Uint8Array(32).fill(1));
    const ws = [1, 2, 3, 4].map((i) => generateCosignatureKey(`w${i}.example/witness`, new Uint8Array(32).fill(10 + i)));
    const signers = ws.map((w) => newCosignatureSigner(w.skey));
    const verifiers = ws.map((w) => newCosignatureVerifier(w.vkey));
    const text = formatCheckpoint({ origin: 'example.org/concord', size: 42, root: new Uint8Array(32).fill(7), extensions: [] });
    const now = 1_700_000_000;
    // Copy A: w1 at now−1000, w2 at now−900, w3 at now−800, w4 dated now+301 (not counted).
    const a = signNote(text, [newSigner(log.skey)], [
      signers[0]!.cosign(text, now - 1000),
      signers[1]!.cosign(text, now - 900),
      signers[2]!.cosign(text, now - 800),
      signers[3]!.cosign(text, now + FUTURE_TOLERANCE + 1),
    ]);
    // Copy B, cosigned later: w1 again at now−100, w2 at now−50, w4 at now+300 (counted).
    const b = signNote(text, [newSigner(log.skey)], [
      signers[0]!.cosign(text, now - 100),
      signers[1]!.cosign(text, now - 50),
      signers[3]!.cosign(text, now + FUTURE_TOLERANCE),
    ]);
    for (const msg of [a, b]) openCheckpoint(msg, newVerifier(log.vkey), 'example.org/concord');
    const ca = verifyCosignatures(a, verifiers, now);
    expect(ca.map((x) => x.time).sort()).toEqual([now - 1000, now - 900, now - 800]);
    const all = [...ca, ...verifyCosignatures(b, verifiers, now)];
    // Earliest per witness: w1 now−1000, w2 now−900, w3 now−800, w4 now+300.
    expect(seenBy(all, 3)).toBe(now - 800);
    // Latest per witness: w4 now+300, w2 now−50, w1 now−100, w3 now−800.
    expect(aliveAt(all, 3)).toBe(now - 100);
    expect(aliveAt(all, 4)).toBe(now - 800);
    expect(new Set(all.map((x) => x.witness))).toEqual(new Set(ws.map((w) => w.vkey)));
    // Tampering with one cosignature in copy B rejects that copy.
    const parsed = parseNote(b);
    const sigs = parsed.signatures.map((s, i) =>
      i === 1 ? noteSignature(s.name, s.keyHash, s.signature.map((x, j) => (j === 40 ? x ^ 0x80 : x))) : s,
    );
    expect(codeOf(() => verifyCosignatures(formatNote({ text, signatures: sigs }), verifiers, now))).toBe('bad-cosignature');
    expect(toBase64(verifiers[0]!.publicKey)).toBe(toBase64(parseVerifierKey(ws[0]!.vkey).publicKey));
  });
});
