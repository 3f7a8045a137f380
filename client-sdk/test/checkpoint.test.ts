// c2sp.org/tlog-checkpoint: the cosignature vector's checkpoint, the golden log's
// signed checkpoints (written by Go's x/mod tlog), strict parsing and properties.
import { readFileSync, readdirSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64, utf8 } from '@concord/client-sdk/bytes';
import { CheckpointError, formatCheckpoint, openCheckpoint, parseCheckpoint } from '@concord/client-sdk/checkpoint';
import type { Checkpoint, CheckpointErrorCode } from '@concord/client-sdk/checkpoint';
import { NoteError, generateKey, newSigner, newVerifier, signNote } from '@concord/client-sdk/note';
import type { NoteErrorCode } from '@concord/client-sdk/note';

const vectorsDir = new URL('../../../shared/vectors/', import.meta.url);
const cos = (JSON.parse(readFileSync(new URL('note/notes.json', vectorsDir), 'utf8')) as Record<string, Record<string, string>>)[
  'cosignature-v1'
]!;

function codeOf(f: () => unknown): CheckpointErrorCode | NoteErrorCode | 'ok' {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof CheckpointError || e instanceof NoteError) return e.code;
    throw e;
  }
}

const ROOT = 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=';
const EMPTY_ROOT = '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='; // SHA-256("")

describe('parseCheckpoint', () => {
  it('parses the C2SP example body exactly', () => {
    const c = parseCheckpoint(cos.checkpoint_body!);
    expect(c.origin).toBe('example.com/behind-the-sofa');
    expect(c.size).toBe(20852163);
    expect(toBase64(c.root)).toBe(ROOT);
    expect(c.root).toHaveLength(32);
    expect(c.extensions).toEqual([]);
    expect(formatCheckpoint(c)).toBe(cos.checkpoint_body);
  });

  it('accepts size 0, the largest safe size and extension lines', () => {
    expect(parseCheckpoint(`o\n0\n${EMPTY_ROOT}\n`).size).toBe(0);
    expect(parseCheckpoint(`o\n9007199254740991\n${ROOT}\n`).size).toBe(2 ** 53 - 1);
    const c = parseCheckpoint(`o\n5\n${ROOT}\next one\n— looks like a signature\n`);
    expect(c.extensions).toEqual(['ext one', '— looks like a signature']);
    expect(formatCheckpoint(c)).toBe(`o\n5\n${ROOT}\next one\n— looks like a signature\n`);
    // The origin is opaque beyond being non-empty (the spec's form is a SHOULD).
    expect(parseCheckpoint(`has space+plus\n1\n${ROOT}\n`).origin).toBe('has space+plus');
  });

  it('rejects each malformed field with its code', () => {
    const cases: Array<[string, CheckpointErrorCode]> = [
      [`o\n1\n${ROOT}`, 'malformed-checkpoint'], // no final newline
      [`o\n1\n`, 'malformed-checkpoint'],
      [`o\n`, 'malformed-checkpoint'],
      [``, 'malformed-checkpoint'],
      [`o\n1\n${ROOT}\n\n`, 'malformed-checkpoint'], // empty extension line
      [`o\n1\n${ROOT}\n\next\n`, 'malformed-checkpoint'],
      [`o\r\n1\n${ROOT}\n`, 'malformed-checkpoint'],
      [`o\t\n1\n${ROOT}\n`, 'malformed-checkpoint'],
      [`o\n1\n${ROOT}\u0000\n`, 'malformed-checkpoint'],
      [`\ud800\n1\n${ROOT}\n`, 'malformed-checkpoint'],
      [`\n1\n${ROOT}\n`, 'bad-origin'],
      [`o\n01\n${ROOT}\n`, 'bad-size'],
      [`o\n00\n${ROOT}\n`, 'bad-size'],
      [`o\n-1\n${ROOT}\n`, 'bad-size'],
      [`o\n+1\n${ROOT}\n`, 'bad-size'],
      [`o\n1.0\n${ROOT}\n`, 'bad-size'],
      [`o\n1e3\n${ROOT}\n`, 'bad-size'],
      [`o\n 1\n${ROOT}\n`, 'bad-size'],
      [`o\n0x10\n${ROOT}\n`, 'bad-size'],
      [`o\n9007199254740992\n${ROOT}\n`, 'bad-size'],
      [`o\n18446744073709551615\n${ROOT}\n`, 'bad-size'],
      [`o\n\n${ROOT}\n`, 'bad-size'],
      [`o\n1\n\n`, 'bad-root'],
      [`o\n1\n${ROOT.slice(0, -1)}\n`, 'bad-root'], // missing padding
      [`o\n1\n${ROOT.slice(0, -2)}J=\n`, 'bad-root'], // non-zero trailing bits
      [`o\n1\n${toBase64(new Uint8Array(31))}\n`, 'bad-root'],
      [`o\n1\n${toBase64(new Uint8Array(33))}\n`, 'bad-root'],
      [`o\n1\n${ROOT.replace(/\+/g, '-').replace(/\//g, '_')}\n`, 'bad-root'],
      [`o\n1\n${ROOT} \n`, 'bad-root'],
    ];
    for (const [text, code] of cases) expect(codeOf(() => parseCheckpoint(text)), JSON.stringify(text)).toBe(code);
    expect(codeOf(() => parseCheckpoint('o\n1\n' + ROOT + '\n' + 'x'.repeat(1 << 20) + '\n'))).toBe('malformed-checkpoint');
    expect(codeOf(() => parseCheckpoint(7 as unknown as string))).toBe('malformed-checkpoint');
  });
});

describe('formatCheckpoint', () => {
  const base: Checkpoint = { origin: 'o', size: 1, root: fromBase64(ROOT), extensions: [] };
  it('refuses values it could not parse back', () => {
    const cases: Array<[Partial<Checkpoint>, CheckpointErrorCode]> = [
      [{ origin: '' }, 'bad-origin'],
      [{ origin: 'a\nb' }, 'bad-origin'],
      [{ origin: 'a\rb' }, 'bad-origin'],
      [{ origin: '\udc00' }, 'bad-origin'],
      [{ size: -1 }, 'bad-size'],
      [{ size: 1.5 }, 'bad-size'],
      [{ size: 2 ** 53 }, 'bad-size'],
      [{ size: Number.NaN }, 'bad-size'],
      [{ root: new Uint8Array(31) }, 'bad-root'],
      [{ root: new Uint8Array(33) }, 'bad-root'],
      [{ extensions: [''] }, 'malformed-checkpoint'],
      [{ extensions: ['a\nb'] }, 'malformed-checkpoint'],
    ];
    for (const [patch, code] of cases) expect(codeOf(() => formatCheckpoint({ ...base, ...patch })), JSON.stringify(patch)).toBe(code);
    expect(formatCheckpoint(base)).toBe(`o\n1\n${ROOT}\n`);
  });
});

describe('openCheckpoint', () => {
  const logVerifier = newVerifier(cos.log_vkey!);
  const origin = 'example.com/behind-the-sofa';

  it('opens the cosignature vector note with the log key; the cosignature is an unverified line', () => {
    const sc = openCheckpoint(utf8(cos.note!), logVerifier, origin);
    expect(sc.checkpoint.size).toBe(20852163);
    expect(toBase64(sc.checkpoint.root)).toBe(ROOT);
    expect(sc.opened.verified.map((s) => s.name)).toEqual([origin]);
    expect(sc.opened.unverified.map((s) => s.name)).toEqual(['witness.example.com/w1']);
    expect(sc.note).toEqual(utf8(cos.note!));
  });

  it('re-signing the body with the published log skey reproduces the log line', () => {
    const msg = signNote(cos.checkpoint_body!, [newSigner(cos.log_skey!)]);
    const logLine = cos.note!.split('\n').find((l) => l.startsWith(`— ${origin} `))!;
    expect(msg).toEqual(utf8(`${cos.checkpoint_body}\n${logLine}\n`));
  });

  it('requires the key name to equal the origin, and the checkpoint origin to match', () => {
    expect(codeOf(() => openCheckpoint(utf8(cos.note!), logVerifier, 'example.com/other'))).toBe('bad-origin');
    // A log key named a.example/log that signs a checkpoint claiming another origin.
    const k = generateKey('a.example/log', new Uint8Array(32).fill(1));
    const msg = signNote(`b.example/log\n1\n${ROOT}\n`, [newSigner(k.skey)]);
    expect(codeOf(() => openCheckpoint(msg, newVerifier(k.vkey), 'a.example/log'))).toBe('bad-origin');
    expect(codeOf(() => openCheckpoint(msg, newVerifier(k.vkey), 'b.example/log'))).toBe('bad-origin');
  });

  it('note failures surface as NoteError; body failures as CheckpointError', () => {
    const other = generateKey(origin, new Uint8Array(32).fill(2));
    expect(codeOf(() => openCheckpoint(utf8(cos.note!), newVerifier(other.vkey), origin))).toBe('unverified');
    const tampered = cos.note!.replace('20852163', '20852164');
    expect(codeOf(() => openCheckpoint(utf8(tampered), logVerifier, origin))).toBe('invalid-signature');
    expect(codeOf(() => openCheckpoint(utf8('garbage'), logVerifier, origin))).toBe('malformed-note');
    const k = generateKey('a.example/log', new Uint8Array(32).fill(1));
    const badSize = signNote(`a.example/log\n01\n${ROOT}\n`, [newSigner(k.skey)]);
    expect(codeOf(() => openCheckpoint(badSize, newVerifier(k.vkey), 'a.example/log'))).toBe('bad-size');
  });

  it('opens every signed checkpoint of the golden log (written by Go x/mod tlog)', () => {
    const golden = new URL('tiles/golden/', vectorsDir);
    const v = newVerifier('golden.example/log+b3b27a67+AbMzgza+F4bEaRWYq5gUp0gO60ZNlxgGG0xvsh7Qb8Py');
    const sizes = readdirSync(new URL('checkpoints/', golden)).map(Number);
    expect(sizes.length).toBe(14);
    for (const n of sizes) {
      const msg = readFileSync(new URL(`checkpoints/${n}`, golden));
      const sc = openCheckpoint(new Uint8Array(msg), v, 'golden.example/log');
      expect(sc.checkpoint.size).toBe(n);
      expect(formatCheckpoint(sc.checkpoint)).toBe(sc.opened.text);
    }
    const latest = openCheckpoint(new Uint8Array(readFileSync(new URL('checkpoint', golden))), v, 'golden.example/log');
    expect(latest.checkpoint.size).toBe(70000);
  });
});

describe('property tests', () => {
  const line = fc
    .string({ unit: 'grapheme', minLength: 1, maxLength: 30 })
    .map((s) => s.replace(/[\u0000-\u001f]/g, ''))
    .filter((s) => s.length > 0);
  const checkpoint = fc.record({
    origin: line,
    size: fc.maxSafeNat(),
    root: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    extensions: fc.array(line, { maxLength: 3 }),
  });

  it('parse(format(c)) equals c, and format(parse(t)) === t', () => {
    fc.assert(
      fc.property(checkpoint, (c) => {
        const t = formatCheckpoint(c);
        const p = parseCheckpoint(t);
        expect(p).toEqual(c);
        expect(formatCheckpoint(p)).toBe(t);
      }),
    );
  });

  /** Either a CheckpointError, or a checkpoint that re-encodes to exactly the input. */
  const canonicalOrError = (t: string): void => {
    let c;
    try {
      c = parseCheckpoint(t);
    } catch (e) {
      expect(e).toBeInstanceOf(CheckpointError);
      return;
    }
    expect(formatCheckpoint(c)).toBe(t);
  };

  it('random strings give only CheckpointError (or a canonical checkpoint)', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 120 }), canonicalOrError));
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ maxLength: 50 }), fc.constant(ROOT), fc.nat().map(String)), { maxLength: 6 }), (ls) =>
        canonicalOrError(ls.join('\n') + '\n'),
      ),
    );
  });

  it('mutated valid checkpoints give only CheckpointError (or a canonical checkpoint)', () => {
    const mutation = fc.array(
      fc.tuple(fc.constantFrom('set', 'insert', 'delete'), fc.nat(), fc.constantFrom('\n', '0', '1', ' ', '=', '+', 'A', '\r', '-', 'é')),
      { minLength: 1, maxLength: 3 },
    );
    fc.assert(
      fc.property(checkpoint.map(formatCheckpoint), mutation, (t, muts) => {
        const chars = [...t];
        for (const [op, pos, ch] of muts) {
          const i = pos % (chars.length + 1);
          if (op === 'set' && i < chars.length) chars[i] = ch;
          else if (op === 'insert') chars.splice(i, 0, ch);
          else if (op === 'delete' && i < chars.length) chars.splice(i, 1);
        }
        canonicalOrError(chars.join(''));
      }),
    );
  });
});
