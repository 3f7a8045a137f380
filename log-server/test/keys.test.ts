// Key files and the policy file: the blinding scalar's encoding and range (RFC 9497
// SerializeScalar for ristretto255), secret files created 0600 and never overwritten, permissions
// checked on reading, and the policy file's strict parsing.
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ristretto255 } from '@noble/curves/ed25519.js';
import { toBase64 } from '@concord/client-sdk/bytes';
import { generateKey } from '@concord/client-sdk/note';
import { formatBlindingKeyFile, generateBlindingKey, KeyFileError, readBlindingKeyFile, readSignerKeyFile, writeSecretFile } from '@concord/log-server/keys';
import { parsePolicyFile, PolicyFileError } from '@concord/log-server/policy-file';
import { makeFixture } from './helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'concord-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ORDER = ristretto255.Point.Fn.ORDER;

function scalarLE(k: bigint): Uint8Array {
  const b = new Uint8Array(32);
  for (let i = 0; i < 32; i++) b[i] = Number((k >> BigInt(8 * i)) & 0xffn);
  return b;
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
  return 'no error';
}

describe('blinding key', () => {
  it('is a uniform non-zero scalar mod the group order, with k·G as its public key', () => {
    // 64 bytes of 0xff reduce to (2^512 − 1) mod order; 64 zero bytes give 0 and are redrawn.
    let calls = 0;
    const k = generateBlindingKey((n) => new Uint8Array(n).fill(calls++ === 0 ? 0 : 0xff));
    expect(calls).toBe(2);
    const want = (2n ** 512n - 1n) % ORDER;
    expect(toBase64(k.scalar)).toBe(toBase64(scalarLE(want)));
    expect(toBase64(k.publicKey)).toBe(toBase64(ristretto255.Point.BASE.multiply(want).toBytes()));
    const f = path.join(dir, 'blinding.key');
    writeSecretFile(f, formatBlindingKeyFile(k));
    expect(readFileSync(f, 'utf8')).toBe(`concord-blinding-key/v1 ristretto255 ${toBase64(k.scalar)}\n`);
    const back = readBlindingKeyFile(f);
    expect(toBase64(back.publicKey)).toBe(toBase64(k.publicKey));
    expect(codeOf(() => writeSecretFile(f, 'x'))).toBe('exists');
  });

  it('refuses scalars out of range and non-canonical files', () => {
    const cases: [string, string][] = [
      ['zero', `concord-blinding-key/v1 ristretto255 ${toBase64(new Uint8Array(32))}\n`],
      ['order', `concord-blinding-key/v1 ristretto255 ${toBase64(scalarLE(ORDER))}\n`],
      ['short', `concord-blinding-key/v1 ristretto255 ${toBase64(new Uint8Array(31).fill(1))}\n`],
      ['no newline', `concord-blinding-key/v1 ristretto255 ${toBase64(scalarLE(5n))}`],
      ['two lines', `concord-blinding-key/v1 ristretto255 ${toBase64(scalarLE(5n))}\n\n`],
      ['other header', `blinding ${toBase64(scalarLE(5n))}\n`],
    ];
    for (const [name, text] of cases) {
      const f = path.join(dir, `bad-${name.replace(' ', '-')}.key`);
      writeSecretFile(f, text);
      expect(codeOf(() => readBlindingKeyFile(f)), name).toBe('bad-key-file');
    }
    const ok = path.join(dir, 'five.key');
    writeSecretFile(ok, `concord-blinding-key/v1 ristretto255 ${toBase64(scalarLE(5n))}\n`);
    expect(toBase64(readBlindingKeyFile(ok).publicKey)).toBe(toBase64(ristretto255.Point.BASE.multiply(5n).toBytes()));
  });

  it('checks secret key files: present, one signer key, not readable by others', () => {
    const f = path.join(dir, 'log.key');
    writeSecretFile(f, generateKey('x.example').skey + '\n');
    expect(readSignerKeyFile(f).startsWith('PRIVATE+KEY+x.example+')).toBe(true);
    chmodSync(f, 0o644);
    expect(codeOf(() => readSignerKeyFile(f))).toBe('insecure-permissions');
    const warnings: string[] = [];
    readSignerKeyFile(f, (m) => warnings.push(m));
    expect(warnings[0]).toMatch(/0600/);
    expect(codeOf(() => readSignerKeyFile(path.join(dir, 'none.key')))).toBe('not-found');
    const vk = path.join(dir, 'vkey.key');
    writeSecretFile(vk, generateKey('x.example').vkey + '\n');
    expect(codeOf(() => readSignerKeyFile(vk))).toBe('bad-key-file');
    expect(new KeyFileError('exists', 'x').name).toBe('KeyFileError');
  });
});

describe('policy file', () => {
  const base = JSON.parse(makeFixture().policyText) as Record<string, unknown>;
  it('parses the documented format, sorting lines as the entry format requires', () => {
    const shuffled = { ...base, orgs: [...(base.orgs as unknown[])].reverse(), witnesses: [...(base.witnesses as unknown[])].reverse() };
    const p = parsePolicyFile(JSON.stringify(shuffled));
    expect(p.orgs.map((o) => o.name)).toEqual(['org-de', 'org-fr', 'org-us']);
    expect(p.witnesses.map((w) => w.vkey)).toEqual([...p.witnesses.map((w) => w.vkey)].sort());
    expect(p.endorsementQuorum).toEqual({ orgs: 2, jurisdictions: 2 });
    const { auditors: _a, origin: _o, ...minimal } = base;
    expect(parsePolicyFile(JSON.stringify(minimal)).auditors).toEqual([]);
  });

  it('refuses anything else', () => {
    const bad: Record<string, unknown>[] = [
      { ...base, extra: true },
      { ...base, 'min-orgs': 2.5 },
      { ...base, 'min-orgs': '2' },
      { ...base, 'max-entries': 2 ** 53 },
      { ...base, 'hash-algorithm': 'md5' },
      { ...base, 'endorsement-quorum': [2, 2] },
      { ...base, 'endorsement-quorum': { orgs: 2 } },
      { ...base, orgs: [{ name: 'a', vkey: 'b' }] },
      { ...base, witnesses: 'none' },
      (() => {
        const { 'witness-quorum': _w, ...rest } = base;
        return rest;
      })(),
    ];
    for (const b of bad) expect(() => parsePolicyFile(JSON.stringify(b)), JSON.stringify(b).slice(0, 80)).toThrow(PolicyFileError);
    expect(() => parsePolicyFile('{')).toThrow(PolicyFileError);
    expect(() => parsePolicyFile('[]')).toThrow(PolicyFileError);
  });
});
