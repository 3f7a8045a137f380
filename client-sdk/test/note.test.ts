// c2sp.org/signed-note: shared vectors (C2SP example, Go sumdb/note), key strings,
// strict parsing, every-byte mutations, RFC 8032 strictness and property tests.
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromBase64, toBase64, utf8 } from '@concord/client-sdk/bytes';
import {
  KEY_TYPE_COSIGNATURE_V1,
  KEY_TYPE_ED25519,
  MAX_KEY_NAME_BYTES,
  MAX_NOTE_SIZE,
  MAX_SIGNATURES,
  NoteError,
  formatKeyHash,
  formatNote,
  formatVerifierKey,
  generateKey,
  generateTypedKey,
  isStrictEd25519PublicKey,
  isValidKeyName,
  keyHash,
  newSigner,
  newVerifier,
  nobleEd25519Verify,
  noteSignature,
  openNote,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
} from '@concord/client-sdk/note';
import type { Ed25519Verify, NoteErrorCode, NoteSignature, Verifier } from '@concord/client-sdk/note';

interface NoteVector {
  vkey: string;
  skey?: string;
  note: string;
  text?: string;
}
const vectors = JSON.parse(
  readFileSync(new URL('../../../shared/vectors/note/notes.json', import.meta.url), 'utf8'),
) as Record<string, NoteVector>;
const c2sp = vectors['c2sp-example']!;
const peter = vectors['go-peterneumann']!;
const peterPlus = vectors['go-peterneumann-plus-unknown']!;

const enc = (s: string): Uint8Array => utf8(s);

/** Independent Ed25519 verification through node:crypto (OpenSSL). */
const nodeEd25519Verify: Ed25519Verify = (pk, msg, sig) => {
  const key = createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(pk)]),
    format: 'der',
    type: 'spki',
  });
  return nodeVerify(null, msg, key, sig);
};

function codeOf(f: () => unknown): NoteErrorCode | 'ok' {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof NoteError) return e.code;
    throw e;
  }
}

/** Builds a vkey string by hand, without formatVerifierKey's checks. */
function rawVkey(name: string, type: number, pk: Uint8Array): string {
  const tk = concatBytes(Uint8Array.of(type), pk);
  return `${name}+${formatKeyHash(keyHash(name, tk))}+${toBase64(tk)}`;
}

const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const P = 2n ** 255n - 19n;
const le32 = (n: bigint): Uint8Array => {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return out;
};
const fromLe = (b: Uint8Array): bigint => b.reduceRight((acc, x) => (acc << 8n) | BigInt(x), 0n);

describe('shared vectors (../shared/vectors/note/notes.json)', () => {
  it('the C2SP signed-note example verifies, round-trips and has the published key ID', () => {
    const v = newVerifier(c2sp.vkey);
    expect(v.name).toBe('example.com/foo');
    expect(formatKeyHash(v.keyHash)).toBe('530d903a');
    const opened = openNote(enc(c2sp.note), [v]);
    expect(opened.text).toBe(c2sp.text);
    expect(opened.verified.map((s) => s.name)).toEqual(['example.com/foo']);
    expect(opened.unverified).toEqual([]);
    expect(formatNote(parseNote(enc(c2sp.note)))).toEqual(enc(c2sp.note));
  });

  it('re-signing the PeterNeumann text with its published skey reproduces the note byte for byte', () => {
    const signer = newSigner(peter.skey!);
    expect(signer.name).toBe('PeterNeumann');
    expect(signer.keyHash).toBe(0xc74f20a3);
    const msg = signNote(peter.text!, [signer]);
    expect(msg).toEqual(enc(peter.note));
    const opened = openNote(msg, [newVerifier(peter.vkey)]);
    expect(opened.text).toBe(peter.text);
    expect(opened.verified).toHaveLength(1);
  });

  it('the skey seed regenerates both published key strings', () => {
    const seed = fromBase64(peter.skey!.split('+').slice(4).join('+')).slice(1);
    expect(generateKey('PeterNeumann', seed)).toEqual({ skey: peter.skey, vkey: peter.vkey });
    const k = parseSignerKey(peter.skey!);
    expect(rawVkey(k.name, k.type, k.publicKey)).toBe(peter.vkey);
  });

  it('the unknown EnochRoot signature is ignored and kept as unverified', () => {
    const opened = openNote(enc(peterPlus.note), [newVerifier(peterPlus.vkey)]);
    expect(opened.text).toBe(peter.text);
    expect(opened.verified.map((s) => s.name)).toEqual(['PeterNeumann']);
    expect(opened.unverified.map((s) => s.name)).toEqual(['EnochRoot']);
    // signNote puts the new signature first, then the extra ones: Go's output order here.
    const again = signNote(peter.text!, [newSigner(peter.skey!)], opened.unverified);
    expect(again).toEqual(enc(peterPlus.note));
    // A signer that re-signs replaces its own old line instead of duplicating it.
    expect(signNote(peter.text!, [newSigner(peter.skey!)], [...opened.verified, ...opened.unverified])).toEqual(
      enc(peterPlus.note),
    );
  });

  it('a known EnochRoot key whose signature fails rejects the note; a key ID match with another name is ignored', () => {
    const enoch = parseNote(enc(peterPlus.note)).signatures[1]!;
    const lying: Verifier = { name: 'EnochRoot', keyHash: enoch.keyHash, verify: () => false };
    expect(codeOf(() => openNote(enc(peterPlus.note), [newVerifier(peter.vkey), lying]))).toBe('invalid-signature');
    const otherName: Verifier = { name: 'EnochRoot2', keyHash: enoch.keyHash, verify: () => false };
    const otherId: Verifier = { name: 'EnochRoot', keyHash: (enoch.keyHash + 1) >>> 0, verify: () => false };
    const opened = openNote(enc(peterPlus.note), [newVerifier(peter.vkey), otherName, otherId]);
    expect(opened.unverified.map((s) => s.name)).toEqual(['EnochRoot']);
  });

  it('a note signed only by unknown keys is unverified', () => {
    const stranger = newVerifier(generateKey('PeterNeumann', new Uint8Array(32).fill(9)).vkey);
    expect(codeOf(() => openNote(enc(peter.note), [stranger]))).toBe('unverified');
    expect(codeOf(() => openNote(enc(peter.note), []))).toBe('unverified');
  });

  it('node:crypto as the injected verifier agrees on every vector', () => {
    for (const v of [c2sp, peter, peterPlus]) {
      expect(openNote(enc(v.note), [newVerifier(v.vkey, { ed25519Verify: nodeEd25519Verify })]).text).toBe(
        parseNote(enc(v.note)).text,
      );
    }
  });
});

describe('every-byte mutations of the vector notes', () => {
  // Flip each bit of each byte. Outcomes allowed: a NoteError, or (only when the
  // flip is inside an unknown signature line) the original text with the original
  // verified line. A modified text must never open.
  for (const [label, v] of [
    ['c2sp', c2sp],
    ['peter', peter],
    ['peter+unknown', peterPlus],
  ] as const) {
    it(`${label}: no flipped bit yields an accepted modified note`, () => {
      const orig = enc(v.note);
      const verifier = newVerifier(v.vkey);
      const good = openNote(orig, [verifier]);
      const unknownStart = label === 'peter+unknown' ? orig.length - enc(peterPlus.note.split('\n').at(-2)! + '\n').length : orig.length;
      let accepted = 0;
      for (let i = 0; i < orig.length; i++) {
        for (let bit = 0; bit < 8; bit++) {
          const m = orig.slice();
          m[i]! ^= 1 << bit;
          let opened;
          try {
            opened = openNote(m, [verifier]);
          } catch (e) {
            expect(e).toBeInstanceOf(NoteError);
            continue;
          }
          accepted++;
          expect(i, `byte ${i} bit ${bit}`).toBeGreaterThanOrEqual(unknownStart);
          expect(opened.text).toBe(good.text);
          expect(opened.verified.map((s) => s.line)).toEqual(good.verified.map((s) => s.line));
        }
      }
      if (label !== 'peter+unknown') expect(accepted).toBe(0);
      else expect(accepted).toBeGreaterThan(0);
    });
  }
});

describe('key names and key IDs', () => {
  it('isValidKeyName follows the spec (no Unicode space, no "+", non-empty) plus our limits', () => {
    for (const ok of ['a', 'example.com/foo', 'PeterNeumann', 'é', '日本/ログ', 'x'.repeat(MAX_KEY_NAME_BYTES), 'oid/1.3.6.1', '\ufeffa']) {
      expect(isValidKeyName(ok), JSON.stringify(ok)).toBe(true);
    }
    const bad = [
      '',
      'a b',
      'a+b',
      '+',
      'a\tb',
      'a\nb',
      'a\rb',
      'a\u000bb',
      'a\u00a0b',
      'a\u0085b',
      'a\u1680b',
      'a\u2003b',
      'a\u2028b',
      'a\u2029b',
      'a\u202fb',
      'a\u205fb',
      'a\u3000b',
      'a\u0001b',
      'a\u001fb',
      '\ud800',
      'a\udc00',
      'x'.repeat(MAX_KEY_NAME_BYTES + 1),
      'é'.repeat(128), // 256 UTF-8 bytes
    ];
    for (const b of bad) expect(isValidKeyName(b), JSON.stringify(b)).toBe(false);
  });

  it('keyHash is SHA-256(name ‖ "\\n" ‖ type ‖ key)[:4] (cross-checked with node:crypto)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }), fc.uint8Array({ minLength: 1, maxLength: 40 }), (name, tk) => {
        const h = createHash('sha256').update(Buffer.from(name, 'utf8')).update('\n').update(tk).digest();
        expect(keyHash(name, tk)).toBe(h.readUInt32BE(0));
      }),
    );
    const k = parseVerifierKey(peter.vkey);
    expect(keyHash('PeterNeumann', concatBytes(Uint8Array.of(1), k.publicKey))).toBe(0xc74f20a3);
    expect(formatKeyHash(0x0000abcd)).toBe('0000abcd');
  });
});

describe('verifier and signer keys', () => {
  it('parses and re-encodes the vector vkeys', () => {
    for (const v of [c2sp, peter]) {
      const k = parseVerifierKey(v.vkey);
      expect(k.type).toBe(KEY_TYPE_ED25519);
      expect(k.publicKey).toHaveLength(32);
      expect(formatVerifierKey(k.name, k.type, k.publicKey)).toBe(v.vkey);
    }
  });

  it('rejects malformed vkeys with bad-key', () => {
    const k = parseVerifierKey(peter.vkey);
    const b64 = toBase64(concatBytes(Uint8Array.of(1), k.publicKey));
    const cases = [
      '',
      'PeterNeumann',
      'PeterNeumann+c74f20a3',
      'PeterNeumann+c74f20a3+',
      'PeterNeumann+C74F20A3+' + b64, // uppercase hex is not canonical
      'PeterNeumann+c74f20a4+' + b64, // wrong key ID
      'PeterNeumann+c74f20a+' + b64,
      'PeterNeumann+0c74f20a3+' + b64,
      'Peter Neumann+c74f20a3+' + b64,
      '+c74f20a3+' + b64,
      'PeterNeumann+c74f20a3+' + b64.slice(0, -1), // missing padding
      'PeterNeumann+c74f20a3+' + b64 + '\n',
      'PeterNeumann+c74f20a3+' + toBase64(concatBytes(Uint8Array.of(1), k.publicKey, Uint8Array.of(0))), // 33-byte key
      rawVkey('PeterNeumann', 0x02, k.publicKey), // unsupported type, correct key ID
      rawVkey('PeterNeumann', 0x01, k.publicKey.slice(0, 31)),
      'PRIVATE+KEY+' + peter.vkey,
      peter.skey!,
      'x'.repeat(300) + '+c74f20a3+' + b64,
    ];
    for (const c of cases) expect(codeOf(() => parseVerifierKey(c)), c).toBe('bad-key');
    expect(codeOf(() => parseVerifierKey(42 as unknown as string))).toBe('bad-key');
  });

  it('every single-character substitution of a vkey is rejected', () => {
    const alphabet = 'AZaz09+/=-_ .é';
    for (let i = 0; i < peter.vkey.length; i++) {
      for (const c of alphabet) {
        if (peter.vkey[i] === c) continue;
        const m = peter.vkey.slice(0, i) + c + peter.vkey.slice(i + 1);
        expect(codeOf(() => parseVerifierKey(m)), m).toBe('bad-key');
      }
    }
  });

  it('newVerifier takes type 0x01 only; newSigner takes PRIVATE+KEY type 0x01 only', () => {
    const cos = generateTypedKey('witness.example/w', KEY_TYPE_COSIGNATURE_V1, new Uint8Array(32).fill(3));
    expect(parseVerifierKey(cos.vkey).type).toBe(KEY_TYPE_COSIGNATURE_V1);
    expect(codeOf(() => newVerifier(cos.vkey))).toBe('bad-key');
    expect(codeOf(() => newSigner(cos.skey))).toBe('bad-key');
    expect(codeOf(() => newSigner(peter.vkey))).toBe('bad-key');
    // A skey whose key ID does not match the key derived from its seed.
    const parts = peter.skey!.split('+');
    expect(codeOf(() => newSigner([...parts.slice(0, 3), 'c74f20a4', ...parts.slice(4)].join('+')))).toBe('bad-key');
    expect(codeOf(() => newSigner('PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALV'))).toBe('bad-key');
    expect(codeOf(() => newSigner('private+key+' + peter.skey!.slice(12)))).toBe('bad-key');
  });

  it('generateKey validates its name and seed and draws random seeds by default', () => {
    expect(codeOf(() => generateKey('bad name'))).toBe('bad-key');
    expect(codeOf(() => generateKey('a+b'))).toBe('bad-key');
    expect(codeOf(() => generateKey('ok', new Uint8Array(31)))).toBe('bad-key');
    expect(codeOf(() => generateTypedKey('ok', 0x02))).toBe('bad-key');
    const a = generateKey('example.org/concord');
    const b = generateKey('example.org/concord');
    expect(a.vkey).not.toBe(b.vkey);
    expect(parseVerifierKey(a.vkey).name).toBe('example.org/concord');
    expect(newSigner(a.skey).keyHash).toBe(newVerifier(a.vkey).keyHash);
  });

  it('property: generated keys round-trip and sign notes that their verifiers open', () => {
    const name = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 24 }).filter(isValidKeyName);
    fc.assert(
      fc.property(name, fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.string({ maxLength: 40 }), (n, seed, body) => {
        const { skey, vkey } = generateKey(n, seed);
        const k = parseVerifierKey(vkey);
        expect(formatVerifierKey(k.name, k.type, k.publicKey)).toBe(vkey);
        const sk = parseSignerKey(skey);
        expect(sk.publicKey).toEqual(k.publicKey);
        expect(sk.seed).toEqual(seed);
        const text = body.replace(/[\u0000-\u001f]/g, '').replace(/[\ud800-\udfff]/g, '') + '\n';
        const msg = signNote(text, [newSigner(skey)]);
        expect(openNote(msg, [newVerifier(vkey)]).text).toBe(text);
        expect(openNote(msg, [newVerifier(vkey, { ed25519Verify: nodeEd25519Verify })]).text).toBe(text);
      }),
      { numRuns: 50 },
    );
  });

  it('property: random strings are rejected with bad-key only', () => {
    const parts = fc.tuple(
      fc.string({ maxLength: 12 }),
      fc.oneof(fc.stringMatching(/^[0-9a-f]{8}$/), fc.string({ maxLength: 9 })),
      fc.oneof(fc.uint8Array({ maxLength: 40 }).map(toBase64), fc.string({ maxLength: 50 })),
    );
    fc.assert(
      fc.property(fc.oneof(fc.string(), parts.map(([a, b, c]) => `${a}+${b}+${c}`)), (s) => {
        expect(codeOf(() => parseVerifierKey(s))).toBe('bad-key');
        expect(codeOf(() => newSigner('PRIVATE+KEY+' + s))).toBe('bad-key');
      }),
    );
  });
});

describe('parseNote strictness', () => {
  const sigLine = (name: string, bytes: Uint8Array): string => `— ${name} ${toBase64(bytes)}`;
  const five = Uint8Array.of(1, 2, 3, 4, 5);
  const parse = (s: string): NoteErrorCode | 'ok' => codeOf(() => parseNote(enc(s)));

  it('accepts the minimal forms the spec allows', () => {
    expect(parse(`a\n\n${sigLine('k', five)}\n`)).toBe('ok');
    // The text may hold blank lines: the split is at the last one.
    const n = parseNote(enc(`a\n\nb\n\n\n${sigLine('k', five)}\n${sigLine('j', five)}\n`));
    expect(n.text).toBe('a\n\nb\n\n');
    expect(n.signatures.map((s) => s.name)).toEqual(['k', 'j']);
    expect(n.signatures[0]!.keyHash).toBe(0x01020304);
    expect(n.signatures[0]!.signature).toEqual(Uint8Array.of(5));
    expect(n.signatures[0]!.line).toBe(sigLine('k', five));
    // A text of one empty line, and a byte-order mark kept as text.
    expect(parseNote(enc(`\n\n${sigLine('k', five)}\n`)).text).toBe('\n');
    expect(parseNote(enc(`\ufeffa\n\n${sigLine('k', five)}\n`)).text).toBe('\ufeffa\n');
  });

  it('rejects malformed notes', () => {
    const good = sigLine('k', five);
    const cases: Array<[string, string]> = [
      ['no blank line', `a\n${good}\n`],
      ['no signatures', 'a\n\n'],
      ['no final newline', `a\n\n${good}`],
      ['CRLF', `a\r\n\r\n${good}\r\n`],
      ['tab in text', `a\tb\n\n${good}\n`],
      ['NUL in signature', `a\n\n${good}\u0000\n`],
      ['hyphen for em dash', `a\n\n- k ${toBase64(five)}\n`],
      ['en dash', `a\n\n– k ${toBase64(five)}\n`],
      ['no space after dash', `a\n\n—k ${toBase64(five)}\n`],
      ['two spaces', `a\n\n— k  ${toBase64(five)}\n`],
      ['trailing space', `a\n\n${good} \n`],
      ['no signature', `a\n\n— k\n`],
      ['empty signature', `a\n\n— k \n`],
      ['four-byte signature', `a\n\n${sigLine('k', Uint8Array.of(1, 2, 3, 4))}\n`],
      ['missing padding', `a\n\n— k ${toBase64(five).replace(/=+$/, '')}\n`],
      ['non-zero pad bits', `a\n\n— k AQIDBAV=\n`],
      ['url-safe base64', `a\n\n— k ${toBase64(Uint8Array.of(251, 255, 191, 0, 1)).replace(/\+/g, '-').replace(/\//g, '_')}\n`],
      ['plus in name', `a\n\n${sigLine('k+j', five)}\n`],
      ['NBSP in name', `a\n\n${sigLine('k\u00a0j', five)}\n`],
      ['text after signatures', `a\n\n${good}\nb\n`],
    ];
    for (const [what, s] of cases) expect(parse(s), what).toBe('malformed-note');
    // Invalid UTF-8: a lone continuation byte, an overlong "/", a surrogate.
    for (const bad of [[0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80]]) {
      const m = concatBytes(enc('a'), Uint8Array.from(bad), enc(`\n\n${good}\n`));
      expect(codeOf(() => parseNote(m))).toBe('malformed-note');
    }
    expect(codeOf(() => parseNote('a\n\n— k AQIDBAU=\n' as unknown as Uint8Array))).toBe('malformed-note');
  });

  it('caps size at MAX_NOTE_SIZE bytes and signatures at MAX_SIGNATURES', () => {
    const tail = `\n\n${sigLine('k', five)}\n`;
    const fill = (n: number): string => 'x'.repeat(n - enc(tail).length) + tail;
    expect(parseNote(enc(fill(MAX_NOTE_SIZE))).signatures).toHaveLength(1);
    expect(codeOf(() => parseNote(enc(fill(MAX_NOTE_SIZE + 1))))).toBe('too-large');
    const lines = (n: number): string => Array.from({ length: n }, (_, i) => sigLine(`k${i}`, five)).join('\n');
    expect(parseNote(enc(`a\n\n${lines(MAX_SIGNATURES)}\n`)).signatures).toHaveLength(MAX_SIGNATURES);
    expect(parse(`a\n\n${lines(MAX_SIGNATURES + 1)}\n`)).toBe('too-many-signatures');
  });
});

describe('formatNote and signNote', () => {
  const sig = noteSignature('k', 7, Uint8Array.of(9, 9));

  it('formatNote refuses invalid notes', () => {
    expect(codeOf(() => formatNote({ text: 'a\n', signatures: [] }))).toBe('malformed-note');
    expect(codeOf(() => formatNote({ text: 'a', signatures: [sig] }))).toBe('malformed-note');
    expect(codeOf(() => formatNote({ text: '', signatures: [sig] }))).toBe('malformed-note');
    expect(codeOf(() => formatNote({ text: 'a\rb\n', signatures: [sig] }))).toBe('malformed-note');
    expect(codeOf(() => formatNote({ text: '\ud800\n', signatures: [sig] }))).toBe('malformed-note');
    expect(codeOf(() => formatNote({ text: 'a\n', signatures: [{ ...sig, keyHash: 8 }] }))).toBe('malformed-note');
    expect(codeOf(() => formatNote({ text: 'a\n', signatures: [{ ...sig, name: 'bad name' }] }))).toBe('bad-key');
    expect(codeOf(() => formatNote({ text: 'a\n', signatures: [{ ...sig, keyHash: 2 ** 32 }] }))).toBe('bad-key');
    expect(codeOf(() => formatNote({ text: 'a\n', signatures: [{ ...sig, signature: new Uint8Array(0) }] }))).toBe(
      'malformed-note',
    );
    expect(codeOf(() => formatNote({ text: 'a\n', signatures: Array(MAX_SIGNATURES + 1).fill(sig) }))).toBe(
      'too-many-signatures',
    );
    expect(codeOf(() => formatNote({ text: 'x'.repeat(MAX_NOTE_SIZE) + '\n', signatures: [sig] }))).toBe('too-large');
  });

  it('signNote: text checks, duplicate signers, invalid signer names', () => {
    const s = newSigner(peter.skey!);
    expect(codeOf(() => signNote('no newline', [s]))).toBe('malformed-note');
    expect(codeOf(() => signNote('a\n', [s, s]))).toBe('duplicate-key');
    expect(codeOf(() => signNote('a\n', [{ name: 'a b', keyHash: 1, sign: () => Uint8Array.of(1) }]))).toBe('bad-key');
    expect(codeOf(() => signNote('a\n', []))).toBe('malformed-note');
    expect(signNote('a\n', [], [sig])).toEqual(enc(`a\n\n${sig.line}\n`));
  });

  it('texts with blank lines, and texts that look like signatures, survive a round trip', () => {
    const s = newSigner(peter.skey!);
    const v = newVerifier(peter.vkey);
    for (const text of ['\n', 'a\n\n', 'a\n\n\nb\n', `hello\n\n${sig.line}\n`, 'ünïcödé ✓\n']) {
      const msg = signNote(text, [s]);
      expect(openNote(msg, [v]).text).toBe(text);
      expect(formatNote(parseNote(msg))).toEqual(msg);
    }
  });
});

describe('openNote verification rules', () => {
  const s = newSigner(peter.skey!);
  const v = newVerifier(peter.vkey);

  it('the same (name, key ID) twice among verifiers is duplicate-key; a shared key ID under two names is fine', () => {
    expect(codeOf(() => openNote(enc(peter.note), [v, v]))).toBe('duplicate-key');
    expect(codeOf(() => openNote(enc(peter.note), [v, newVerifier(peter.vkey)]))).toBe('duplicate-key');
    const twin: Verifier = { name: 'Other', keyHash: v.keyHash, verify: () => false };
    expect(openNote(enc(peter.note), [v, twin]).verified).toHaveLength(1);
  });

  it('every line of a known key is verified: a second, bad line rejects the note', () => {
    const good = parseNote(enc(peter.note)).signatures[0]!;
    const bad = noteSignature(good.name, good.keyHash, good.signature.map((b, i) => (i === 0 ? b ^ 1 : b)));
    expect(codeOf(() => openNote(formatNote({ text: peter.text!, signatures: [good, bad] }), [v]))).toBe('invalid-signature');
    expect(codeOf(() => openNote(formatNote({ text: peter.text!, signatures: [bad, good] }), [v]))).toBe('invalid-signature');
    // Identical repeated lines are listed once.
    const twice = openNote(formatNote({ text: peter.text!, signatures: [good, good] }), [v]);
    expect(twice.verified).toHaveLength(1);
  });

  it('a signature that is not 64 bytes fails, it does not throw', () => {
    const good = parseNote(enc(peter.note)).signatures[0]!;
    for (const len of [1, 63, 65, 128]) {
      const odd = noteSignature(good.name, good.keyHash, new Uint8Array(len));
      expect(codeOf(() => openNote(formatNote({ text: peter.text!, signatures: [odd] }), [v]))).toBe('invalid-signature');
    }
    expect(v.verify(enc(peter.text!), good.signature)).toBe(true);
    expect(s.sign(enc(peter.text!))).toEqual(good.signature);
  });

  it('an injected verifier that throws counts as a failed signature', () => {
    const throwing = newVerifier(peter.vkey, {
      ed25519Verify: () => {
        throw new Error('boom');
      },
    });
    expect(codeOf(() => openNote(enc(peter.note), [throwing]))).toBe('invalid-signature');
  });
});

describe('RFC 8032 strict Ed25519', () => {
  const seed = new Uint8Array(32).fill(0x42);
  const pk = ed25519.getPublicKey(seed);
  const msg = enc('strict\n');
  const sig = ed25519.sign(msg, seed);

  it('a signature with S + L (same S mod L) is rejected by noble strict and node:crypto', () => {
    expect(nobleEd25519Verify(pk, msg, sig)).toBe(true);
    expect(nodeEd25519Verify(pk, msg, sig)).toBe(true);
    const s = fromLe(sig.slice(32));
    const malleated = concatBytes(sig.slice(0, 32), le32(s + L));
    expect(nobleEd25519Verify(pk, msg, malleated)).toBe(false);
    expect(nodeEd25519Verify(pk, msg, malleated)).toBe(false);
    // Through a note: the mauled signature is an invalid signature of the known key.
    const name = 'strict.example/k';
    const tk = concatBytes(Uint8Array.of(1), pk);
    const h = keyHash(name, tk);
    const v = newVerifier(`${name}+${formatKeyHash(h)}+${toBase64(tk)}`);
    const note = formatNote({ text: 'strict\n', signatures: [noteSignature(name, h, malleated)] });
    expect(codeOf(() => openNote(note, [v]))).toBe('invalid-signature');
    expect(openNote(formatNote({ text: 'strict\n', signatures: [noteSignature(name, h, sig)] }), [v]).verified).toHaveLength(1);
  });

  // The eight points of small order, canonically encoded.
  const SMALL_ORDER = [
    '0100000000000000000000000000000000000000000000000000000000000000',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    '0000000000000000000000000000000000000000000000000000000000000000',
    '0000000000000000000000000000000000000000000000000000000000000080',
    '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
    '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
    'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
    'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
  ].map((h) => Uint8Array.from(Buffer.from(h, 'hex')));

  it('small-order public keys are refused, though (R = identity, S = 0) would "verify" any message under ZIP-215', () => {
    const identityR = SMALL_ORDER[0]!;
    const forged = concatBytes(identityR, new Uint8Array(32));
    for (const a of SMALL_ORDER) {
      // The points are valid encodings of small order (checked independently of our code).
      const p = ed25519.Point.fromBytes(a, true);
      expect(p.multiply(8n).is0() || p.clearCofactor().is0()).toBe(true);
      expect(isStrictEd25519PublicKey(a)).toBe(false);
      expect(codeOf(() => parseVerifierKey(rawVkey('evil', 1, a)))).toBe('bad-key');
      expect(codeOf(() => formatVerifierKey('evil', 1, a))).toBe('bad-key');
      expect(nobleEd25519Verify(a, msg, forged)).toBe(false);
    }
    // The forgery is real under the permissive rule, so the checks above can fail.
    expect(ed25519.verify(forged, msg, SMALL_ORDER[0]!, { zip215: true })).toBe(true);
    expect(ed25519.verify(forged, enc('anything else'), SMALL_ORDER[0]!, { zip215: true })).toBe(true);
  });

  it('non-canonical public keys (y ≥ p) are refused', () => {
    // y = p + 1 encodes the identity non-canonically.
    expect(isStrictEd25519PublicKey(le32(P + 1n))).toBe(false);
    // A large-order point with y < 19 also has the non-canonical encoding y + p.
    let found = 0;
    for (let y = 2n; y < 19n; y++) {
      let pt;
      try {
        pt = ed25519.Point.fromBytes(le32(y), false);
      } catch {
        continue;
      }
      if (pt.isSmallOrder()) continue;
      found++;
      expect(isStrictEd25519PublicKey(le32(y))).toBe(true);
      const nonCanonical = le32(y + P);
      expect(() => ed25519.Point.fromBytes(nonCanonical, true)).not.toThrow(); // ZIP-215 would take it
      expect(isStrictEd25519PublicKey(nonCanonical)).toBe(false);
      expect(codeOf(() => parseVerifierKey(rawVkey('evil', 1, nonCanonical)))).toBe('bad-key');
    }
    expect(found).toBeGreaterThan(0);
  });

  it('a signature whose R is a non-canonical encoding is rejected (the canonical twin verifies)', () => {
    // With the secret scalar a, R = identity (r = 0) and S = H(R ‖ A ‖ M)·a mod L is a
    // valid RFC 8032 signature for the exact bytes of R that went into the hash.
    const { scalar } = ed25519.utils.getExtendedPublicKey(seed);
    const forR = (rBytes: Uint8Array): Uint8Array => {
      const k = fromLe(sha512(concatBytes(rBytes, pk, msg))) % L;
      return concatBytes(rBytes, le32((k * scalar) % L));
    };
    const canonical = forR(le32(1n));
    expect(nobleEd25519Verify(pk, msg, canonical)).toBe(true);
    const nonCanonical = forR(le32(P + 1n));
    expect(ed25519.verify(nonCanonical, msg, pk, { zip215: true })).toBe(true);
    expect(nobleEd25519Verify(pk, msg, nonCanonical)).toBe(false);
  });

  it('differential: noble strict and node:crypto agree on valid and bit-flipped signatures', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 64 }), fc.nat(511), (sd, m, flip) => {
        const p = ed25519.getPublicKey(sd);
        const sg = ed25519.sign(m, sd);
        expect(nobleEd25519Verify(p, m, sg)).toBe(true);
        expect(nodeEd25519Verify(p, m, sg)).toBe(true);
        const bad = sg.slice();
        bad[flip >> 3]! ^= 1 << (flip & 7);
        expect(nobleEd25519Verify(p, m, bad)).toBe(false);
        expect(nodeEd25519Verify(p, m, bad)).toBe(false);
      }),
      { numRuns: 60 },
    );
  });

  it('nobleEd25519Verify never throws on wrong lengths', () => {
    expect(nobleEd25519Verify(new Uint8Array(31), msg, sig)).toBe(false);
    expect(nobleEd25519Verify(pk, msg, sig.slice(0, 63))).toBe(false);
  });
});

describe('property tests', () => {
  const name = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 16 }).filter(isValidKeyName);
  const textLine = fc.string({ unit: 'grapheme', maxLength: 30 }).map((s) => s.replace(/[\u0000-\u001f]/g, ''));
  const signature = fc
    .tuple(name, fc.nat({ max: 0xffffffff }), fc.uint8Array({ minLength: 1, maxLength: 80 }))
    .map(([n, h, b]) => noteSignature(n, h, b));
  const validNote = fc
    .tuple(fc.array(textLine, { minLength: 1, maxLength: 6 }), fc.array(signature, { minLength: 1, maxLength: 5 }))
    .map(([lines, signatures]) => formatNote({ text: lines.join('\n') + '\n', signatures }));

  /** Either a NoteError, or a note that re-encodes to exactly the input. */
  const parsesCanonicallyOrNoteError = (b: Uint8Array): void => {
    let n;
    try {
      n = parseNote(b);
    } catch (e) {
      expect(e).toBeInstanceOf(NoteError);
      return;
    }
    expect(formatNote(n)).toEqual(b);
  };

  it('formatNote(parseNote(x)) === x for valid notes, and parse(format(n)) === n', () => {
    fc.assert(
      fc.property(validNote, (msg) => {
        const n = parseNote(msg);
        expect(formatNote(n)).toEqual(msg);
        expect(parseNote(formatNote(n))).toEqual(n);
      }),
    );
  });

  it('random bytes give a NoteError or a canonical note', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), parsesCanonicallyOrNoteError));
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) =>
        parsesCanonicallyOrNoteError(enc(s.replace(/[\ud800-\udfff]/g, ''))),
      ),
    );
  });

  it('mutated valid notes give a NoteError or a canonical note; opened ones never change the text', () => {
    const signer = newSigner(peter.skey!);
    const verifier = newVerifier(peter.vkey);
    const signedNote = fc.array(textLine, { minLength: 1, maxLength: 4 }).map((lines) => {
      const text = lines.join('\n') + '\n';
      return { text, msg: signNote(text, [signer]) };
    });
    const mutation = fc.array(
      fc.tuple(fc.constantFrom('set', 'insert', 'delete'), fc.nat(), fc.integer({ min: 0, max: 255 })),
      { minLength: 1, maxLength: 3 },
    );
    fc.assert(
      fc.property(fc.oneof(validNote.map((msg) => ({ text: '', msg })), signedNote), mutation, ({ text, msg }, muts) => {
        let b = Array.from(msg);
        for (const [op, pos, byte] of muts) {
          const i = pos % (b.length + 1);
          if (op === 'set' && i < b.length) b[i] = byte;
          else if (op === 'insert') b.splice(i, 0, byte);
          else if (op === 'delete' && i < b.length) b.splice(i, 1);
        }
        const m = Uint8Array.from(b);
        parsesCanonicallyOrNoteError(m);
        if (text !== '') {
          try {
            expect(openNote(m, [verifier]).text).toBe(text);
          } catch (e) {
            expect(e).toBeInstanceOf(NoteError);
          }
        }
      }),
    );
  });

  it('signature lines carry exactly their fields', () => {
    fc.assert(
      fc.property(signature, (s: NoteSignature) => {
        const parsed = parseNote(formatNote({ text: 'x\n', signatures: [s] })).signatures[0]!;
        expect(parsed).toEqual(s);
        expect(fromBase64(s.line.split(' ')[2]!)).toEqual(concatBytes(
          Uint8Array.of(s.keyHash >>> 24, (s.keyHash >>> 16) & 255, (s.keyHash >>> 8) & 255, s.keyHash & 255),
          s.signature,
        ));
      }),
    );
  });
});
