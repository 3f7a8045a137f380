import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EncodingError, fromBase64, fromHex, parseDecimal, readU64be, toBase64, toHex, u64be } from '@concord/client-sdk/bytes';

describe('bytes', () => {
  it('base64 round-trips and matches node', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
        const s = toBase64(b);
        expect(s).toBe(Buffer.from(b).toString('base64'));
        expect(fromBase64(s)).toEqual(b);
      }),
    );
  });
  it('rejects non-canonical base64', () => {
    for (const s of ['QQ', 'QR==', 'QQ=', 'Q===', ' QQ==', 'QQ==\n', 'QUJD\nRA==', '-_8=']) {
      expect(() => fromBase64(s), s).toThrow(EncodingError);
    }
  });
  it('hex is lowercase only', () => {
    expect(toHex(new Uint8Array([0, 171, 255]))).toBe('00abff');
    expect(fromHex('00abff')).toEqual(new Uint8Array([0, 171, 255]));
    expect(() => fromHex('00ABff')).toThrow(EncodingError);
    expect(() => fromHex('0')).toThrow(EncodingError);
    expect(() => fromHex('00', 2)).toThrow(EncodingError);
  });
  it('decimals are canonical and safe', () => {
    expect(parseDecimal('0')).toBe(0);
    expect(parseDecimal('9007199254740991')).toBe(2 ** 53 - 1);
    for (const s of ['', '01', '+1', '-1', '1.0', '9007199254740992', '1e3', ' 1', '１']) {
      expect(() => parseDecimal(s), s).toThrow(EncodingError);
    }
  });
  it('u64 big-endian', () => {
    expect(toHex(u64be(1679315147))).toBe('0000000064185 0cb'.replace(' ', ''));
    expect(readU64be(u64be(2 ** 53 - 1))).toBe(2 ** 53 - 1);
    expect(() => readU64be(fromHex('0020000000000000'))).toThrow(EncodingError);
  });
});
