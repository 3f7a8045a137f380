// `concord-log` as an operator runs it (in-process through cli(), and as child processes from
// the sources where a server must listen or hold the lock): init creates a log —
// keys in mode-0600 files, policy 1 from the policy file as entry 0, a signed checkpoint — and
// refuses to create over one; serve refuses a missing log, a second server on the same data
// refuses to sequence (or serves reads with --read-only), and SIGTERM releases the log.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { toBase64 } from '@concord/client-sdk/bytes';
import { openCheckpoint } from '@concord/client-sdk/checkpoint';
import { parseSignedEntry, verifyEntrySignature } from '@concord/client-sdk/entries';
import type { PolicyEntry } from '@concord/client-sdk/entries';
import { leafHash } from '@concord/client-sdk/merkle';
import { newVerifier, parseSignerKey } from '@concord/client-sdk/note';
import { validatePolicy } from '@concord/client-sdk/policy';
import { cli } from '@concord/log-server/cli';
import { readBlindingKeyFile } from '@concord/log-server/keys';
import { openLog } from '@concord/log-server/log';
import { openStore } from '@concord/log-server/storage/index';
import { makeFixture, ORIGIN } from './helpers.js';
import { kill, startServerChild } from './server-child.js';

// These tests exercise the SQLite default; CI exports DATABASE_URL for the PostgreSQL suites,
// and the in-process cli() reads the environment like a real run does.
delete process.env.DATABASE_URL;

const root = mkdtempSync(path.join(tmpdir(), 'concord-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const newDir = (): string => path.join(root, `d${n++}`);

function writePolicy(overrides: Record<string, unknown> = {}): string {
  const f = path.join(root, `policy-${n++}.json`);
  writeFileSync(f, makeFixture(overrides).policyText);
  return f;
}

const mode = (f: string): number => statSync(f).mode & 0o777;

/** Runs the CLI in this process, capturing what it prints. */
async function runCli(args: string[]): Promise<{ code: number; output: string }> {
  let output = '';
  const capture = (...a: unknown[]): void => {
    output += a.map(String).join(' ') + '\n';
  };
  const log = vi.spyOn(console, 'log').mockImplementation(capture);
  const err = vi.spyOn(console, 'error').mockImplementation(capture);
  try {
    return { code: await cli(args), output };
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
}

describe('concord-log init', () => {
  it('creates keys, policy 1 as entry 0 and a signed checkpoint', async () => {
    const dir = newDir();
    const policy = writePolicy();
    const r = await runCli(['init', '--policy', policy, '--data', dir]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(`created log ${ORIGIN}`);
    for (const f of ['log.key', 'operator.key', 'blinding.key']) expect(mode(path.join(dir, f)), f).toBe(0o600);
    for (const f of ['log.vkey', 'operator.vkey', 'blinding.pub', 'anchor.entry']) expect(mode(path.join(dir, f)), f).toBe(0o644);
    const logKey = parseSignerKey(readFileSync(path.join(dir, 'log.key'), 'utf8').trim());
    const operatorKey = parseSignerKey(readFileSync(path.join(dir, 'operator.key'), 'utf8').trim());
    expect(logKey.name).toBe(ORIGIN);
    expect(operatorKey.name).toBe(`${ORIGIN}/operator`);
    const logVkey = readFileSync(path.join(dir, 'log.vkey'), 'utf8').trim();
    const operatorVkey = readFileSync(path.join(dir, 'operator.vkey'), 'utf8').trim();
    const blinding = readBlindingKeyFile(path.join(dir, 'blinding.key'));
    expect(toBase64(blinding.publicKey)).toBe(readFileSync(path.join(dir, 'blinding.pub'), 'utf8').trim());

    const store = await openStore(`sqlite:${path.join(dir, 'log.db')}`);
    try {
      expect(await store.size()).toBe(1);
      const [entry0] = await store.readEntries(0, 1);
      expect(Buffer.from(entry0!).equals(readFileSync(path.join(dir, 'anchor.entry')))).toBe(true);
      const se = parseSignedEntry(entry0!);
      const p = se.entry as PolicyEntry;
      expect(p.type).toBe('policy');
      expect([p.sequence, p.previous]).toEqual([1, null]);
      expect([p.log, p.operator]).toEqual([logVkey, operatorVkey]);
      expect(toBase64(p.blindingKey)).toBe(toBase64(blinding.publicKey));
      expect(p.orgs.map((o) => o.name)).toEqual(['org-de', 'org-fr', 'org-us']); // sorted by init
      expect(p.witnessQuorum).toBe(3);
      validatePolicy(p, ORIGIN);
      verifyEntrySignature(se, operatorVkey);
      const cp = await store.latestCheckpoint();
      const opened = openCheckpoint(cp!.note, newVerifier(logVkey), ORIGIN).checkpoint;
      expect(opened.size).toBe(1);
      expect(toBase64(opened.root)).toBe(toBase64(leafHash(entry0!)));
    } finally {
      await store.close();
    }
    // Again over the same directory: refused, nothing replaced.
    const before = readFileSync(path.join(dir, 'log.key'), 'utf8');
    const again = await runCli(['init', '--policy', policy, '--data', dir]);
    expect(again.code).toBe(1);
    expect(again.output).toMatch(/exists/);
    expect(readFileSync(path.join(dir, 'log.key'), 'utf8')).toBe(before);
  });

  it('refuses an invalid policy or origin, creating nothing', async () => {
    const cases: [string[], RegExp][] = [
      [['--policy', writePolicy({ 'witness-quorum': 4 })], /witness quorum 4 of 4/],
      [['--policy', writePolicy({ 'min-orgs': 1 })], /min-orgs 1 < 2/],
      [['--policy', writePolicy({ extra: 1 })], /unknown field "extra"/],
      [['--policy', writePolicy({ 'max-entries': -1 })], /max-entries must be an integer/],
      [['--policy', writePolicy({ origin: 'has space' })], /not a valid key name/],
      [['--policy', writePolicy(), '--origin', 'other.example/log'], /differs/],
      [['--policy', path.join(root, 'missing.json')], /ENOENT/],
    ];
    for (const [args, want] of cases) {
      const dir = newDir();
      const r = await runCli(['init', ...args, '--data', dir]);
      expect(r.code, r.output).toBe(1);
      expect(r.output).toMatch(want);
      expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
    }
    expect((await runCli(['init', '--data', newDir()])).code).toBe(2);
    expect((await runCli(['frobnicate'])).code).toBe(2);
    expect((await runCli(['serve', '--bogus'])).code).toBe(2);
  });
});

describe('concord-log serve', () => {
  it('refuses to serve a missing log, creating nothing', async () => {
    const dir = newDir();
    const r = await runCli(['serve', '--data', dir]);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/no log here.*concord-log init/);
    expect(existsSync(dir)).toBe(false);
  });

  it('lets one server sequence; a second refuses, or serves reads with --read-only; SIGTERM frees the log', async () => {
    const dir = newDir();
    expect((await runCli(['init', '--policy', writePolicy(), '--data', dir])).code).toBe(0);
    const first = await startServerChild(['--data', dir]);
    try {
      expect(first.output()).toMatch(/: sequencing, Ed25519 by libsodium, listening on http/);
      const second = await runCli(['serve', '--data', dir]);
      expect(second.code).toBe(1);
      expect(second.output).toMatch(/another server is sequencing this log/);
      const ro = await startServerChild(['--data', dir, '--read-only']);
      try {
        expect(ro.output()).toMatch(/read-only, listening/);
        const cp = await fetch(`http://127.0.0.1:${ro.port}/checkpoint`);
        expect(cp.status).toBe(200);
        expect((await cp.text()).split('\n')[0]).toBe(ORIGIN);
        const add = await fetch(`http://127.0.0.1:${ro.port}/add`, { method: 'POST', body: 'x' });
        expect(add.status).toBe(503);
      } finally {
        await kill(ro, 'SIGTERM');
      }
    } finally {
      expect(await kill(first, 'SIGTERM')).toBe(0);
    }
    // SIGTERM released the lock: a new server sequences.
    const next = await openLog({ dataDir: dir });
    expect(next.sequencer).toBeDefined();
    await next.close();
  }, 60_000);
});
