// concord check-image and verify-proof against audit-fixture.ts logs: real VOPRF evaluations
// (a DLEQ proof per batch), real membership and non-membership proofs; a lying operator, a
// forged proof file and a non-auditor key are refused.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { toBase64, toHex } from '@concord/client-sdk/bytes';
import type { Fetch } from '@concord/client-sdk/client';
import { generateKeyPair } from '@concord/client-sdk/oprf';
import { generateKey } from '@concord/client-sdk/note';
import { main } from '@concord/verifier/cli';
import type { CliIO } from '@concord/verifier/cli-common';
import { DAY, FakeLog, elements, now } from './audit-fixture.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function run(argv: string[], fetch: Fetch, cwd: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIO = { stdout: (s) => void (out += s), stderr: (s) => void (err += s), env: {}, fetch, now, isTTY: false, cwd };
  const code = await main(argv, io);
  return { code, out, err };
}

const raw = (b: number): Uint8Array => new Uint8Array(32).fill(b);

function build(): { log: FakeLog; dir: string; hashes: { inBoth: string; usOnly: string; nowhere: string } } {
  const log = new FakeLog();
  const T = now();
  const shared = [...elements(20), log.elementOf(raw(1))];
  const c = {
    'org-us': log.contribute('org-us', [...shared, log.elementOf(raw(2)), ...elements(3)]),
    'org-fr': log.contribute('org-fr', [...shared, ...elements(3)]),
  };
  const rel = log.release(c);
  log.endorse('org-us', 'release', 1, rel.leaf);
  log.endorse('org-fr', 'release', 1, rel.leaf);
  log.checkpoint({ time: T - 4 * DAY });
  log.checkpoint({ time: T });
  const t = log.trustFile();
  cleanups.push(t.cleanup);
  writeFileSync(path.join(t.dir, 'press.key'), log.auditor.skey + '\n', { mode: 0o600 });
  return { log, dir: t.dir, hashes: { inBoth: toHex(raw(1)), usOnly: toHex(raw(2)), nowhere: toHex(raw(3)) } };
}

describe('concord check-image', () => {
  it('reports in / not in with proofs that verify-proof accepts offline, online and against a bare root', async () => {
    const { log, dir, hashes } = build();
    const r = await run(
      ['check-image', '--log', log.url, '--trust', 'anchor.entry', '--key', 'press.key', '--hash', hashes.inBoth, '--hash', hashes.usOnly, '--hash', hashes.nowhere, '--json'],
      log.fetch,
      dir,
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { release: number; note: string; results: { hash: string; member: boolean; proofFile: string }[] };
    expect(j.release).toBe(1);
    expect(j.note).toContain('exact-hash only');
    expect(j.note).toContain('counted by the operator');
    expect(j.results.map((x) => [x.hash, x.member])).toEqual([
      [hashes.inBoth, true],
      [hashes.usOnly, false], // one org only: below min-orgs
      [hashes.nowhere, false],
    ]);
    expect(log.oprfQueries).toBe(3);

    const human = await run(['check-image', '--log', log.url, '--trust', 'anchor.entry', '--key', 'press.key', '--hash', hashes.nowhere], log.fetch, dir);
    expect(human.code).toBe(0);
    expect(human.out).toContain(`${hashes.nowhere}: NOT in the database`);
    expect(human.out).toContain('exact-hash only');

    const inFile = `${hashes.inBoth}.proof.json`;
    const outFile = `${hashes.nowhere}.proof.json`;
    const off = await run(['verify-proof', '--proof', inFile, '--trust', 'anchor.entry'], log.fetch, dir);
    expect(off.code).toBe(0);
    expect(off.out).toContain('the element is IN release 1');
    const off2 = await run(['verify-proof', '--proof', outFile, '--trust', 'anchor.entry'], log.fetch, dir);
    expect(off2.code).toBe(0);
    expect(off2.out).toContain('NOT in release 1');
    const online = await run(['verify-proof', '--proof', outFile, '--trust', 'anchor.entry', '--log', log.url], log.fetch, dir);
    expect(online.code).toBe(0);
    const rel = JSON.parse(readFileSync(path.join(dir, outFile), 'utf8')) as { release: { entry: string } };
    expect(rel.release.entry.length).toBeGreaterThan(0);
    // Against a bare root and count: the release's database line.
    const entryText = Buffer.from(rel.release.entry, 'base64').toString('utf8');
    const [, root, count] = /database (\S+) (\d+)/.exec(entryText)!;
    expect((await run(['verify-proof', '--proof', outFile, '--root', root!, '--count', count!], log.fetch, dir)).code).toBe(0);
    // (An RFC 9162 inclusion proof does not pin the tree size when the leaf sits in a complete
    // left subtree, so a wrong root is the negative case here, not a wrong count.)
    expect((await run(['verify-proof', '--proof', outFile, '--root', toBase64(raw(5)), '--count', count!], log.fetch, dir)).code).toBe(1);
  });

  it('verify-proof refuses a forged proof file', async () => {
    const { log, dir, hashes } = build();
    expect((await run(['check-image', '--log', log.url, '--trust', 'anchor.entry', '--key', 'press.key', '--hash', hashes.inBoth, '--hash', hashes.usOnly], log.fetch, dir)).code).toBe(0);
    const file = path.join(dir, `${hashes.usOnly}.proof.json`);
    const good = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const write = (v: unknown): void => writeFileSync(file, JSON.stringify(v));
    // Claim membership with a non-membership proof.
    write({ ...good, member: true });
    expect((await run(['verify-proof', '--proof', file, '--trust', 'anchor.entry'], log.fetch, dir)).code).toBe(1);
    // Another element than the one proven.
    write({ ...good, element: toBase64(raw(9)) });
    expect((await run(['verify-proof', '--proof', file, '--trust', 'anchor.entry'], log.fetch, dir)).code).toBe(1);
    // A release entry that is not in the checkpoint (one bit of the entry flipped).
    const rel = good.release as { entry: string };
    const e = Buffer.from(rel.entry, 'base64');
    e[e.length - 2]! ^= 1;
    write({ ...good, release: { ...rel, entry: e.toString('base64') } });
    expect((await run(['verify-proof', '--proof', file, '--trust', 'anchor.entry'], log.fetch, dir)).code).toBe(1);
    write(good);
    expect((await run(['verify-proof', '--proof', file, '--trust', 'anchor.entry'], log.fetch, dir)).code).toBe(0);
  });

  it('an operator evaluating with another key is caught by the DLEQ proof', async () => {
    const { log, dir, hashes } = build();
    log.oprfKeyOverride = generateKeyPair().secretKey;
    const r = await run(['check-image', '--log', log.url, '--trust', 'anchor.entry', '--key', 'press.key', '--hash', hashes.inBoth], log.fetch, dir);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/proof/);
  });

  it('a key that is not an auditor of the policy is refused before any query', async () => {
    const { log, dir, hashes } = build();
    writeFileSync(path.join(dir, 'other.key'), generateKey('stranger').skey + '\n');
    const r = await run(['check-image', '--log', log.url, '--trust', 'anchor.entry', '--key', 'other.key', '--hash', hashes.inBoth], log.fetch, dir);
    expect(r.code).toBe(1);
    expect(log.oprfQueries).toBe(0);
  });

  it('a hash of the wrong length for the algorithm is an error', async () => {
    const { log, dir } = build();
    const r = await run(['check-image', '--log', log.url, '--trust', 'anchor.entry', '--key', 'press.key', '--hash', 'abcd'], log.fetch, dir);
    expect(r.code).toBe(1);
    expect(r.err).toContain('32 bytes');
  });
});
