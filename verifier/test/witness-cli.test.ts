// `concord keygen`, `concord witness serve` and `concord policy export`, run in-process through
// the CLI dispatcher with a fake io (real files, a real listening socket, real fetch).
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ristretto255 } from '@noble/curves/ed25519.js';
import { afterEach, describe, expect, it } from 'vitest';
import { concatBytes, utf8 } from '@concord/client-sdk/bytes';
import { formatCheckpoint } from '@concord/client-sdk/checkpoint';
import type { Fetch } from '@concord/client-sdk/client';
import { generateCosignatureKey, newCosignatureVerifier, verifyCosignatures } from '@concord/client-sdk/cosignature';
import { signEntry } from '@concord/client-sdk/entries';
import type { ConcordEntry, PolicyEntry } from '@concord/client-sdk/entries';
import { EMPTY_ROOT, leafHash } from '@concord/client-sdk/merkle';
import {
  KEY_TYPE_COSIGNATURE_V1,
  KEY_TYPE_ED25519,
  formatVerifierKey,
  generateKey,
  newSigner,
  newVerifier,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
} from '@concord/client-sdk/note';
import { formatAddCheckpointRequest, parseCosignatureResponse, parseTreeSizeBody } from '@concord/client-sdk/witness';
import { main } from '../src/cli.js';
import type { CliIO } from '../src/cli-common.js';

const NOW = 1_850_000_000;

interface Run {
  code: number;
  out: string;
  err: string;
}

function fakeIO(cwd: string, env: Record<string, string> = {}, signal?: AbortSignal): { io: CliIO; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const io: CliIO = {
    stdout: (s) => void (out += s),
    stderr: (s) => void (err += s),
    env,
    fetch: globalThis.fetch as unknown as Fetch,
    now: () => NOW,
    isTTY: false,
    cwd,
    ...(signal !== undefined ? { signal } : {}),
  };
  return { io, out: () => out, err: () => err };
}

async function run(cwd: string, argv: string[]): Promise<Run> {
  const f = fakeIO(cwd);
  const code = await main(argv, f.io);
  return { code, out: f.out(), err: f.err() };
}

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'concord-cli-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('concord keygen', () => {
  it('writes a 0600 note signer key and prints its verifier key', async () => {
    const d = tmp();
    const r = await run(d, ['keygen', '--name', 'org-us', '--out', 'org.key']);
    expect(r.code).toBe(0);
    const file = join(d, 'org.key');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const k = parseSignerKey(text.slice(0, -1));
    expect(k.name).toBe('org-us');
    expect(k.type).toBe(KEY_TYPE_ED25519);
    expect(r.out).toBe(formatVerifierKey('org-us', KEY_TYPE_ED25519, k.publicKey) + '\n');
    // The printed verifier key checks signatures made with the written key.
    const note = signNote('hello\n', [newSigner(text.slice(0, -1))]);
    expect(openNote(note, [newVerifier(r.out.trim())]).text).toBe('hello\n');
    expect(parseVerifierKey(r.out.trim()).publicKey).toEqual(k.publicKey);
  });

  it('--witness makes a cosignature/v1 (type 0x04) key; --json describes it', async () => {
    const d = tmp();
    const r = await run(d, ['keygen', '--name', 'witness.example/w1', '--witness', '--out', join(d, 'w.key'), '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { name: string; type: string; vkey: string; out: string };
    expect(j).toMatchObject({ name: 'witness.example/w1', type: 'cosignature/v1', out: join(d, 'w.key') });
    const k = parseSignerKey(readFileSync(join(d, 'w.key'), 'utf8').trim());
    expect(k.type).toBe(KEY_TYPE_COSIGNATURE_V1);
    expect(j.vkey).toBe(formatVerifierKey(k.name, KEY_TYPE_COSIGNATURE_V1, k.publicKey));
    expect(() => newCosignatureVerifier(j.vkey)).not.toThrow();
  });

  it('never overwrites an existing file', async () => {
    const d = tmp();
    writeFileSync(join(d, 'k'), 'precious\n', { mode: 0o600 });
    const r = await run(d, ['keygen', '--name', 'x', '--out', 'k']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/already exists/);
    expect(readFileSync(join(d, 'k'), 'utf8')).toBe('precious\n');
  });

  it('usage errors exit 2', async () => {
    const d = tmp();
    expect((await run(d, ['keygen', '--out', 'k'])).code).toBe(2);
    expect((await run(d, ['keygen', '--name', 'a b', '--out', 'k'])).code).toBe(2);
    expect((await run(d, ['keygen', '--name', 'a+b', '--out', 'k'])).code).toBe(2);
    expect((await run(d, ['keygen', '--name', 'a', '--out', 'k', '--bogus'])).code).toBe(2);
  });
});

describe('concord witness serve', () => {
  const ORIGIN = 'example.org/concord';
  const logKey = generateKey(ORIGIN, new Uint8Array(32).fill(7));
  const logSigner = newSigner(logKey.skey);
  const leaves = Array.from({ length: 8 }, (_, i) => leafHash(utf8(`e${i}`)));

  async function start(d: string, argv: string[]): Promise<{ url: string; vkey: string; stop(): Promise<number>; err: () => string }> {
    const ac = new AbortController();
    const f = fakeIO(d, { PORT: '0', HOST: '127.0.0.1' }, ac.signal);
    const done = main(['witness', 'serve', ...argv, '--json'], f.io);
    for (let i = 0; i < 500 && f.out() === ''; i++) {
      const early = await Promise.race([done, new Promise((r) => setTimeout(() => r(undefined), 10))]);
      if (early !== undefined) throw new Error(`witness serve exited ${String(early)}: ${f.err()}`);
    }
    const j = JSON.parse(f.out()) as { url: string; vkey: string; logs: string[] };
    expect(j.logs).toEqual([ORIGIN]);
    return {
      ...j,
      err: f.err,
      stop: async () => {
        ac.abort();
        return done;
      },
    };
  }

  async function post(url: string, old: number, size: number): Promise<Response> {
    const { rootFromLeafHashes } = await import('@concord/client-sdk/merkle');
    const root = size === 0 ? EMPTY_ROOT : rootFromLeafHashes(leaves.slice(0, size));
    const note = signNote(formatCheckpoint({ origin: ORIGIN, size, root, extensions: [] }), [logSigner]);
    return fetch(`${url}add-checkpoint`, { method: 'POST', body: formatAddCheckpointRequest({ oldSize: old, proof: [], checkpoint: note }) }).then(async (res) => {
      (res as Response & { note?: Uint8Array }).note = note;
      return res;
    });
  }

  it('serves tlog-witness on a real port with the key file, keeps its state in the database across restarts', async () => {
    const d = tmp();
    const kg = await run(d, ['keygen', '--name', 'witness.example/w1', '--witness', '--out', 'w.key']);
    expect(kg.code).toBe(0);
    const vkey = kg.out.trim();
    const w = await start(d, ['--key', 'w.key', '--db', 'w.db', '--log-key', logKey.vkey]);
    expect(w.vkey).toBe(vkey);
    expect(w.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);

    const res = await post(w.url, 0, 3);
    expect(res.status).toBe(200);
    const sigs = parseCosignatureResponse(new Uint8Array(await res.arrayBuffer()));
    const note = (res as Response & { note: Uint8Array }).note;
    const cos = verifyCosignatures(concatBytes(note, utf8(`${sigs[0]!.line}\n`)), [newCosignatureVerifier(vkey)], NOW);
    expect(cos).toEqual([{ witness: vkey, time: NOW }]);

    const other = signNote(formatCheckpoint({ origin: 'example.org/other', size: 1, root: leaves[0]!, extensions: [] }), [newSigner(generateKey('example.org/other').skey)]);
    const r404 = await fetch(`${w.url}add-checkpoint`, { method: 'POST', body: formatAddCheckpointRequest({ oldSize: 0, proof: [], checkpoint: other }) });
    expect(r404.status).toBe(404);
    expect(await w.stop()).toBe(0);

    // Restarted on the same database, it remembers size 3.
    const w2 = await start(d, ['--key', 'w.key', '--db', 'w.db', '--log-key', logKey.vkey]);
    const r409 = await post(w2.url, 0, 5);
    expect(r409.status).toBe(409);
    expect(r409.headers.get('content-type')).toBe('text/x.tlog.size');
    expect(parseTreeSizeBody(new Uint8Array(await r409.arrayBuffer()))).toBe(3);
    expect(await w2.stop()).toBe(0);
  });

  it('refuses a key file others can read, a note key, and a bad --log-key', async () => {
    const d = tmp();
    expect((await run(d, ['keygen', '--name', 'w', '--witness', '--out', 'w.key'])).code).toBe(0);
    expect((await run(d, ['keygen', '--name', 'n', '--out', 'n.key'])).code).toBe(0);
    chmodSync(join(d, 'w.key'), 0o644);
    const env = { PORT: '0' };
    const f1 = fakeIO(d, env);
    expect(await main(['witness', 'serve', '--key', 'w.key', '--db', 'w.db', '--log-key', logKey.vkey], f1.io)).toBe(1);
    expect(f1.err()).toMatch(/group or others/);
    const f2 = fakeIO(d, env);
    expect(await main(['witness', 'serve', '--key', 'n.key', '--db', 'w.db', '--log-key', logKey.vkey], f2.io)).toBe(1);
    expect(f2.err()).toMatch(/not a witness key/);
    const f3 = fakeIO(d, env);
    expect(await main(['witness', 'serve', '--key', 'n.key', '--db', 'w.db', '--log-key', 'nonsense'], f3.io)).toBe(2);
    const f4 = fakeIO(d, env);
    expect(await main(['witness', 'serve', '--key', 'n.key', '--db', 'w.db'], f4.io)).toBe(2);
  });
});

describe('concord policy export', () => {
  const ORIGIN = 'example.org/concord';
  const seed = (n: number): Uint8Array => new Uint8Array(32).fill(n);
  const op = generateKey(`${ORIGIN}/operator`, seed(2));
  const orgs = ['org-de', 'org-fr', 'org-us'].map((n, i) => ({ name: n, jurisdiction: ['DE', 'FR', 'US'][i]!, ...generateKey(n, seed(10 + i)) }));
  const witnesses = [1, 2, 3, 4].map((i) => ({ ...generateCosignatureKey(`w${i}.example`, seed(20 + i)), url: `https://w${i}.example/` }));
  const policy: PolicyEntry = {
    type: 'policy',
    sequence: 1,
    previous: null,
    log: generateKey(ORIGIN, seed(1)).vkey,
    operator: op.vkey,
    hashAlgorithm: 'pdq-256',
    blindingKey: ristretto255.Point.BASE.multiply(1234n).toBytes(),
    minOrgs: 2,
    minJurisdictions: 2,
    endorsementQuorum: { orgs: 2, jurisdictions: 2 },
    noticePeriod: 86400,
    maxCheckpointAge: 3600,
    maxReleaseAge: 604800,
    maxEntries: 1000,
    maxAdded: 100,
    oprfLimit: 10000,
    orgs: orgs.map((o) => ({ name: o.name, jurisdiction: o.jurisdiction, vkey: o.vkey })),
    auditors: [],
    witnesses: witnesses.map((w) => ({ vkey: w.vkey, url: w.url })).sort((a, b) => (a.vkey < b.vkey ? -1 : 1)),
    witnessQuorum: 3,
  };

  function expected(p: PolicyEntry): string {
    const names = p.witnesses.map((w) => w.vkey.split('+')[0]!);
    return [
      `# c2sp.org/tlog-policy: Concord policy ${p.sequence} of ${ORIGIN}`,
      `log ${p.log}`,
      '',
      ...p.witnesses.map((w, i) => `witness ${names[i]} ${w.vkey} ${w.url}`),
      `group concord-quorum ${p.witnessQuorum} ${names.join(' ')}`,
      'quorum concord-quorum',
      '',
    ].join('\n');
  }

  it('writes the trust anchor as tlog-policy text', async () => {
    const d = tmp();
    writeFileSync(join(d, 'anchor.entry'), signEntry(policy, newSigner(op.skey)));
    const r = await run(d, ['policy', 'export', '--trust', 'anchor.entry']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toBe(expected(policy));
    const j = await run(d, ['policy', 'export', '--trust', 'anchor.entry', '--json']);
    expect(JSON.parse(j.out)).toEqual({ origin: ORIGIN, sequence: 1, policy: expected(policy) });
  });

  it('a later policy entry, signed by its predecessor\'s operator, exports with a note', async () => {
    const d = tmp();
    const p2: PolicyEntry = { ...policy, sequence: 2, previous: new Uint8Array(32).fill(9), operator: generateKey(`${ORIGIN}/operator`, seed(3)).vkey, witnessQuorum: 3 };
    writeFileSync(join(d, 'p2.entry'), signEntry(p2, newSigner(op.skey)));
    const r = await run(d, ['policy', 'export', '--policy-entry', 'p2.entry']);
    expect(r.code).toBe(0);
    expect(r.out).toBe(expected(p2));
    expect(r.err).toMatch(/checked only with the policy chain/);
    // As a trust anchor it is refused: an anchor is policy 1.
    expect((await run(d, ['policy', 'export', '--trust', 'p2.entry'])).code).toBe(1);
  });

  it('refuses a forged anchor, a non-policy entry and a bad invocation', async () => {
    const d = tmp();
    const forged = signEntry(policy, newSigner(generateKey(`${ORIGIN}/operator`, seed(99)).skey));
    writeFileSync(join(d, 'forged.entry'), forged);
    const r = await run(d, ['policy', 'export', '--trust', 'forged.entry']);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    const e: ConcordEntry = { type: 'endorsement', org: 'org-us', subject: { kind: 'release', sequence: 1, leaf: new Uint8Array(32) } };
    writeFileSync(join(d, 'end.entry'), signEntry(e, newSigner(orgs[2]!.skey)));
    expect((await run(d, ['policy', 'export', '--policy-entry', 'end.entry'])).code).toBe(1);
    // Flipping one byte of the signature breaks it.
    const bytes = signEntry(policy, newSigner(op.skey));
    bytes[bytes.length - 5]! ^= 1;
    writeFileSync(join(d, 'flip.entry'), bytes);
    expect((await run(d, ['policy', 'export', '--trust', 'flip.entry'])).code).toBe(1);
    expect((await run(d, ['policy', 'export'])).code).toBe(2);
    expect((await run(d, ['policy', 'export', '--trust', 'a', '--policy-entry', 'b'])).code).toBe(2);
  });
});
