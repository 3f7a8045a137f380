// `concord org …` argument and input-file errors, checked before the network is touched (the
// fetch given to the CLI records every call and must see none), plus the contribute building
// blocks: the hashes-file parser and batched blinding with proof checks.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '@concord/client-sdk/bytes';
import type { Fetch } from '@concord/client-sdk/client';
import { generateCosignatureKey } from '@concord/client-sdk/cosignature';
import { signEntry } from '@concord/client-sdk/entries';
import type { PolicyEntry } from '@concord/client-sdk/entries';
import { generateKey, newSigner } from '@concord/client-sdk/note';
import {
  blindEvaluateBatch,
  blindingInput,
  evaluate,
  formatEvaluateResponse,
  generateKeyPair,
  parseEvaluateRequest,
} from '@concord/client-sdk/oprf';
import { main } from '@concord/verifier/cli';
import type { CliIO } from '@concord/verifier/cli-common';
import { ContributeError, blindHashes, parseHashList, uniqueHashes } from '@concord/verifier/contribute';

const ORIGIN = 'cli.example/concord';
let dir: string;
let trustFile: string;
let orgKeyFile: string;

/** A valid policy 1 built with client-sdk alone (verifier tests do not import log-server). */
function anchor(): Uint8Array {
  const operator = generateKey(`${ORIGIN}/operator`);
  const orgs = ['org-a', 'org-b', 'org-c'].map((n) => generateKey(n));
  writeFileSync((orgKeyFile = path.join(dir, 'org-a.key')), orgs[0]!.skey + '\n', { mode: 0o600 });
  const witnesses = [1, 2, 3, 4].map((i) => generateCosignatureKey(`w${i}.example`));
  const p: PolicyEntry = {
    type: 'policy',
    sequence: 1,
    previous: null,
    log: generateKey(ORIGIN).vkey,
    operator: operator.vkey,
    hashAlgorithm: 'pdq-256',
    blindingKey: generateKeyPair().publicKey,
    minOrgs: 2,
    minJurisdictions: 2,
    endorsementQuorum: { orgs: 2, jurisdictions: 2 },
    noticePeriod: 86_400,
    maxCheckpointAge: 86_400,
    maxReleaseAge: 86_400 * 30,
    maxEntries: 1000,
    maxAdded: 100,
    oprfLimit: 10_000,
    orgs: [
      { name: 'org-a', jurisdiction: 'US', vkey: orgs[0]!.vkey },
      { name: 'org-b', jurisdiction: 'FR', vkey: orgs[1]!.vkey },
      { name: 'org-c', jurisdiction: 'DE', vkey: orgs[2]!.vkey },
    ],
    auditors: [],
    witnesses: witnesses.map((w, i) => ({ vkey: w.vkey, url: `https://w${i}.example/` })).sort((a, b) => (a.vkey < b.vkey ? -1 : 1)),
    witnessQuorum: 3,
  };
  return signEntry(p, newSigner(operator.skey));
}

async function run(argv: string[]): Promise<{ code: number; out: string; err: string; calls: number }> {
  let out = '';
  let err = '';
  let calls = 0;
  const fetch: Fetch = async () => {
    calls++;
    throw new Error('no network in this test');
  };
  const io: CliIO = { stdout: (s) => void (out += s), stderr: (s) => void (err += s), env: {}, fetch, now: () => 1_700_000_000, isTTY: false, cwd: dir };
  const code = await main(argv, io);
  return { code, out, err, calls };
}

function file(name: string, text: string): string {
  const f = path.join(dir, name);
  writeFileSync(f, text);
  return name; // relative: resolved against io.cwd
}

const hex32 = (i: number): string => toHex(new Uint8Array(32).fill(i));

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'concord-org-cli-'));
  trustFile = path.join(dir, 'anchor.entry');
  writeFileSync(trustFile, anchor());
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const LOG = ['--log', 'http://127.0.0.1:9', '--trust', 'anchor.entry'];

describe('concord org: usage errors (exit 2)', () => {
  const cases: [string, string[], RegExp][] = [
    ['contribute without --org', ['org', 'contribute', '--key', 'k', '--hashes', 'h', ...LOG], /--org is required/],
    ['contribute without --hashes', ['org', 'contribute', '--org', 'org-a', '--key', 'k', ...LOG], /--hashes is required/],
    ['contribute without --log', ['org', 'contribute', '--org', 'org-a', '--key', 'k', '--hashes', 'h', '--trust', 't'], /--log is required/],
    ['contribute with an unknown option', ['org', 'contribute', '--org', 'org-a', '--bogus', 'x'], /bogus/],
    ['contribute with a positional', ['org', 'contribute', 'extra', '--org', 'org-a'], /unexpected argument "extra"/],
    ['--expires-in not a number', ['org', 'contribute', '--org', 'org-a', '--key', 'k', '--hashes', 'h', ...LOG, '--expires-in', '1e6'], /--expires-in "1e6"/],
    ['--expires-in zero', ['org', 'contribute', '--org', 'org-a', '--key', 'k', '--hashes', 'h', ...LOG, '--expires-in', '0'], /at least 1 second/],
    ['--expires-in non-canonical', ['org', 'contribute', '--org', 'org-a', '--key', 'k', '--hashes', 'h', ...LOG, '--expires-in', '007'], /--expires-in "007"/],
    ['audit-release without N', ['org', 'audit-release', ...LOG], /release number N is required/],
    ['audit-release with N = 0', ['org', 'audit-release', '0', ...LOG], /start at 1/],
    ['audit-release with N = 01', ['org', 'audit-release', '01', ...LOG], /not a canonical decimal/],
    ['audit-release with N = -1', ['org', 'audit-release', '-1', ...LOG], /./],
    ['audit-release with two N', ['org', 'audit-release', '1', '2', ...LOG], /unexpected argument "2"/],
    ['audit-release without --trust', ['org', 'audit-release', '1', '--log', 'http://x'], /--trust is required/],
    ['endorse without --key', ['org', 'endorse', '1', '--org', 'org-a', ...LOG], /--key is required/],
    ['endorse without N', ['org', 'endorse', '--org', 'org-a', '--key', 'k', ...LOG], /release number N is required/],
  ];
  for (const [name, argv, msg] of cases) {
    it(name, async () => {
      const r = await run(argv);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(msg);
      expect(r.err).toMatch(/usage: concord org/);
      expect(r.calls).toBe(0);
      expect(r.out).toBe('');
    });
  }

  it('--help prints each command\'s usage and exits 0', async () => {
    for (const c of ['contribute', 'audit-release', 'endorse']) {
      const r = await run(['org', c, '--help']);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(new RegExp(`usage: concord org ${c}`));
    }
  });
});

describe('concord org: input-file errors (exit 1, nothing sent)', () => {
  const contribute = (key: string, hashes: string, org = 'org-a'): string[] => ['org', 'contribute', '--org', org, '--key', key, '--hashes', hashes, ...LOG];

  it('a missing key file', async () => {
    const r = await run(contribute('missing.key', file('h1.hex', hex32(1) + '\n')));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cannot read key file missing\.key: ENOENT/);
    expect(r.calls).toBe(0);
  });

  it('a key file that is not a signer key, and one of another org', async () => {
    const bad = await run(contribute(file('bad.key', 'hello\n'), file('h2.hex', hex32(1) + '\n')));
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/not a signer key/);
    const other = await run(contribute(path.basename(orgKeyFile), file('h3.hex', hex32(1) + '\n'), 'org-b'));
    expect(other.code).toBe(1);
    expect(other.err).toMatch(/"org-a"'s key, not "org-b"'s/);
    expect(bad.calls + other.calls).toBe(0);
  });

  it('a missing or invalid trust file', async () => {
    const missing = await run(['org', 'audit-release', '1', '--log', 'http://127.0.0.1:9', '--trust', 'nope.entry']);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/\[bad-trust\].*cannot read trust file/);
    const junk = await run(['org', 'audit-release', '1', '--log', 'http://127.0.0.1:9', '--trust', file('junk.entry', 'concord/policy/v1\n')]);
    expect(junk.code).toBe(1);
    expect(junk.err).toMatch(/\[bad-trust\]/);
    expect(missing.calls + junk.calls).toBe(0);
  });

  const key = (): string => path.basename(orgKeyFile);

  it('a hash of the wrong length names its line', async () => {
    const r = await run(contribute(key(), file('short.hex', [hex32(1), hex32(2), hex32(3).slice(2), hex32(4)].join('\n') + '\n')));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/short\.hex: line 3: 62 hex digits; pdq-256 hashes are 32 bytes \(64 hex digits\)/);
    expect(r.calls).toBe(0);
  });

  it('a non-hex line names its line', async () => {
    const r = await run(contribute(key(), file('nonhex.hex', [hex32(1), '', hex32(2).slice(0, 63) + 'g'].join('\n') + '\n')));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/nonhex\.hex: line 3: not hex/);
    expect(r.calls).toBe(0);
  });

  it('a hash with surrounding spaces is not hex either', async () => {
    const r = await run(contribute(key(), file('spaces.hex', ` ${hex32(1)}\n`)));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/line 1: not hex/);
  });

  it('an empty hashes file, and a missing one', async () => {
    const empty = await run(contribute(key(), file('empty.hex', '\n\n')));
    expect(empty.code).toBe(1);
    expect(empty.err).toMatch(/holds no hash/);
    const missing = await run(contribute(key(), 'nothing.hex'));
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/cannot read hashes file nothing\.hex/);
    expect(empty.calls + missing.calls).toBe(0);
  });

  it('a valid file gets as far as the network (and fails there, with exit 1)', async () => {
    const r = await run(contribute(key(), file('ok.hex', hex32(1) + '\n')));
    expect(r.code).toBe(1);
    // GET /checkpoint, repeated once: a read whose connection failed is tried again (client.ts).
    expect(r.calls).toBe(2);
    expect(r.err).toMatch(/\[network\]/);
  });
});

describe('parseHashList', () => {
  it('reads one hash per line: CRLF, upper case and blank lines are fine, order and duplicates kept', () => {
    const text = `${hex32(2).toUpperCase()}\r\n\n${hex32(1)}\n${hex32(2)}`;
    const h = parseHashList(text, 'pdq-256');
    expect(h.map(toHex)).toEqual([hex32(2), hex32(1), hex32(2)]);
    expect(uniqueHashes(h).map(toHex)).toEqual([hex32(2), hex32(1)]);
  });

  it('uses the algorithm\'s length: neuralhash-96 is 24 hex digits, photodna-1152 is 288', () => {
    expect(parseHashList('00112233445566778899aabb\n', 'neuralhash-96')[0]!.length).toBe(12);
    expect(() => parseHashList(hex32(1), 'neuralhash-96')).toThrow(/line 1: 64 hex digits; neuralhash-96 hashes are 12 bytes/);
    expect(parseHashList('ab'.repeat(144), 'photodna-1152')[0]!.length).toBe(144);
    expect(() => parseHashList('ab'.repeat(143), 'photodna-1152')).toThrow(ContributeError);
  });
});

describe('blindHashes', () => {
  const key = generateKeyPair();
  const raw = Array.from({ length: 25 }, (_, i) => new Uint8Array(32).fill(i + 1));

  it('evaluates in batches of at most batchSize, verifies each proof, returns k·H(x) in input order', async () => {
    const sizes: number[] = [];
    const out = await blindHashes({
      alg: 'pdq-256',
      publicKey: key.publicKey,
      raw,
      batchSize: 10,
      evaluate: async (body) => {
        const blinded = parseEvaluateRequest(body);
        sizes.push(blinded.length);
        return new TextEncoder().encode(formatEvaluateResponse(blindEvaluateBatch(key.secretKey, key.publicKey, blinded)));
      },
    });
    expect(sizes.sort((a, b) => a - b)).toEqual([5, 10, 10]);
    // Cross-check: each element is k·H(x) computed directly from the secret key, in input order.
    expect(out.map(toHex)).toEqual(raw.map((h) => toHex(evaluate(key.secretKey, blindingInput('pdq-256', h)))));
  });

  it('stops at the first batch whose proof fails, and starts no batch after it', async () => {
    let calls = 0;
    const run = blindHashes({
      alg: 'pdq-256',
      publicKey: key.publicKey,
      raw,
      batchSize: 10,
      concurrency: 1,
      evaluate: async (body) => {
        calls++;
        const ev = blindEvaluateBatch(key.secretKey, key.publicKey, parseEvaluateRequest(body));
        if (calls === 2) ev.proof[0]! ^= 1;
        return new TextEncoder().encode(formatEvaluateResponse(ev));
      },
    });
    await expect(run).rejects.toMatchObject({ code: 'oprf' });
    await expect(run).rejects.toThrow(/elements 11–20.*nothing was submitted/);
    expect(calls).toBe(2);
  });

  it('refuses a response with the wrong number of elements, and batch sizes above 1,000', async () => {
    const wrong = blindHashes({
      alg: 'pdq-256',
      publicKey: key.publicKey,
      raw: raw.slice(0, 3),
      evaluate: async (body) => {
        const blinded = parseEvaluateRequest(body).slice(0, 2);
        return new TextEncoder().encode(formatEvaluateResponse(blindEvaluateBatch(key.secretKey, key.publicKey, blinded)));
      },
    });
    await expect(wrong).rejects.toMatchObject({ code: 'oprf' });
    await expect(blindHashes({ alg: 'pdq-256', publicKey: key.publicKey, raw, batchSize: 1001, evaluate: async () => new Uint8Array() })).rejects.toMatchObject({ code: 'bad-input' });
  });
});
