// Hostile input against a real listening server (raw HTTP, so request targets reach the server
// exactly as sent: dot segments, percent-encoding) and through the app: oversized bodies (with
// and without Content-Length), bad signatures, wrong types and authors, request notes posted as
// entries, random mutations of a valid entry, path traversal and non-canonical tile paths,
// concurrent duplicates. Nothing a refused request sends may change anything stored: every
// table is fingerprinted before and after.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64, utf8 } from '@concord/client-sdk/bytes';
import { parseSignedEntry, signEntry, signRequest } from '@concord/client-sdk/entries';
import { leafHash } from '@concord/client-sdk/merkle';
import { formatSignatureLine, generateKey, newSigner, signNote } from '@concord/client-sdk/note';
import type { OpenLog } from '@concord/log-server/log';
import type { SqliteStore } from '@concord/log-server/storage/sqlite';
import { createTestLog, endorsement, ORIGIN } from './helpers.js';
import type { TestLog } from './helpers.js';

let t: TestLog;
let log: OpenLog;
let server: ServerType;
let port: number;

beforeAll(async () => {
  t = await createTestLog();
  log = await t.open();
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: log.app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  port = (server.address() as AddressInfo).port;
  // Some entries, so that tiles exist.
  for (let i = 0; i < 20; i++) expect((await raw('POST', '/add', endorsement(t.fixture.orgs[i % 3]!))).status).toBe(200);
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await log?.close();
  t?.cleanup();
});

/** One HTTP request with the target exactly as given; `chunked` sends the body without Content-Length. */
function raw(method: string, target: string, body?: Uint8Array, opts: { chunked?: boolean; headers?: Record<string, string> } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...opts.headers };
    if (body !== undefined && !opts.chunked) headers['content-length'] = body.length;
    const req = http.request({ host: '127.0.0.1', port, method, path: target, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      // The server may close the connection after refusing a body it did not read.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') resolve({ status: -1, body: '' });
      else reject(err);
    });
    if (body !== undefined && opts.chunked) {
      for (let i = 0; i < body.length; i += 8192) req.write(body.subarray(i, i + 8192));
      req.end();
    } else req.end(body);
  });
}

/** Row counts and contents digests of every table: what "nothing stored changed" compares. */
function fingerprint(): string {
  const db = (log.store as SqliteStore).connection;
  const tables = ['entries', 'tiles', 'checkpoints', 'cosignatures', 'nonces', 'quotas', 'witness_state', 'blobs', 'meta'];
  return tables
    .map((tb) => {
      const rows = db.prepare(`SELECT * FROM ${tb}`).raw().all() as unknown[][];
      return `${tb}:${rows.length}:${JSON.stringify(rows, (_, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v))}`;
    })
    .join('\n');
}

function code(body: string): string {
  return (JSON.parse(body) as { error: { code: string } }).error.code;
}

describe('hostile input changes nothing stored', () => {
  it('refuses oversized bodies while reading them', async () => {
    const before = fingerprint();
    const big = new Uint8Array(65_536).fill(0x61);
    const a = await raw('POST', '/add', big);
    expect(a.status).toBe(413); // announced: refused before reading
    expect(code(a.body)).toBe('too-large');
    const b = await raw('POST', '/add', new Uint8Array(1 << 20).fill(0x61), { chunked: true });
    expect([413, -1]).toContain(b.status);
    // A valid entry padded past the limit is still refused.
    const e = endorsement(t.fixture.orgs[0]!);
    const padded = new Uint8Array(65_536);
    padded.set(e);
    expect([413, -1]).toContain((await raw('POST', '/add', padded)).status);
    expect(fingerprint()).toBe(before);
  });

  it('refuses bad signatures, wrong types and wrong authors', async () => {
    const before = fingerprint();
    const org = t.fixture.orgs[0]!;
    const good = endorsement(org);
    const se = parseSignedEntry(good);
    const flipped = se.signature.signature.slice();
    flipped[10]! ^= 0x04;
    const requestNote = Buffer.from(
      signRequest(
        { origin: ORIGIN, method: 'POST', path: '/add', bodySha256: new Uint8Array(32), time: Math.floor(Date.now() / 1000), nonce: new Uint8Array(16) },
        org.signer,
      ),
      'base64',
    );
    const checkpointNote = new Uint8Array(Buffer.from(await (await log.app.request('/checkpoint')).arrayBuffer()));
    const cases: [string, Uint8Array, number, string][] = [
      ['flipped signature bit', utf8(`${se.text}\n${formatSignatureLine(se.signature.name, se.signature.keyHash, flipped)}\n`), 403, 'invalid-signature'],
      ['signed by another org', signNote(se.text, [t.fixture.orgs[1]!.signer]), 403, 'wrong-author'],
      ['org entry signed by the operator', signNote(se.text, [t.operator]), 403, 'wrong-author'],
      ['two signatures', signNote(se.text, [org.signer, t.fixture.orgs[1]!.signer]), 400, 'bad-signature-count'],
      ['a request note', new Uint8Array(requestNote), 400, 'unknown-type'],
      ['a checkpoint', checkpointNote, 400, 'unknown-type'],
      ['unknown type', signNote('concord/unknown/v1\norg x\n', [org.signer]), 400, 'unknown-type'],
      ['trailing space', signNote(se.text.replace('\norg ', '\norg  '), [org.signer]), 400, 'malformed-entry'],
      ['not UTF-8', new Uint8Array([0xff, 0xfe, 0x0a, 0x0a]), 400, 'malformed-entry'],
      ['empty', new Uint8Array(0), 400, 'malformed-entry'],
      ['unknown org', signEntry({ type: 'endorsement', org: 'org-xx', subject: { kind: 'release', sequence: 1, leaf: new Uint8Array(32) } }, newSigner(generateKey('org-xx').skey)), 403, 'unknown-org'],
    ];
    for (const [name, body, status, want] of cases) {
      const r = await raw('POST', '/add', body);
      expect(r.status, name).toBe(status);
      expect(code(r.body), name).toBe(want);
    }
    expect(fingerprint()).toBe(before);
  });

  it('never fails with a 5xx, and stores only what it acknowledges, under random mutations', async () => {
    const good = endorsement(t.fixture.orgs[2]!);
    let accepted = 0;
    const sizeBefore = log.sequencer!.size;
    for (let i = 0; i < 300; i++) {
      const m = Buffer.from(good);
      const kind = i % 4;
      let body: Uint8Array;
      if (kind === 0) {
        m[Math.floor(Math.random() * m.length)]! ^= 1 << Math.floor(Math.random() * 8);
        body = m;
      } else if (kind === 1) body = m.subarray(0, Math.floor(Math.random() * m.length));
      else if (kind === 2) {
        const at = Math.floor(Math.random() * m.length);
        body = Buffer.concat([m.subarray(0, at), randomBytes(1 + Math.floor(Math.random() * 4)), m.subarray(at)]);
      } else body = randomBytes(Math.floor(Math.random() * 300));
      const r = await log.app.request('/add', { method: 'POST', body });
      expect(r.status, `mutation ${i}`).toBeLessThan(500);
      if (r.status === 200) {
        const { index } = (await r.json()) as { index: number };
        const [stored] = await log.store.readEntries(index, index + 1);
        expect(Buffer.from(stored!).equals(Buffer.from(body))).toBe(true);
        if (index >= sizeBefore) accepted++;
      } else {
        expect(code(await r.text())).not.toBe('internal');
      }
    }
    expect(log.sequencer!.size).toBe(sizeBefore + accepted);
  });

  it('refuses traversal, encoded and non-canonical paths, and never serves anything outside the log', async () => {
    const before = fingerprint();
    const bad = [
      '/tile/0/1',
      '/tile/0/01',
      '/tile/0/0000',
      '/tile/00/000',
      '/tile/0/x000/000',
      '/tile/0/x001/../000',
      '/tile/0/x001/%2e%2e/000',
      '/tile/0/x001/%2E%2E/000',
      '/tile/0/%30%30%30',
      '/tile/0/./000',
      '/tile//0/000',
      '/tile/0/000/',
      '/tile/0/000.p/0',
      '/tile/0/000.p/256',
      '/tile/0/000.p/007',
      '/tile/0/000.p/',
      '/tile/entries/000.p/01',
      '/tile/64/000',
      '/tile/-1/000',
      '/tile/0/000%00',
      '/tile/0/000\\..\\..\\log.key',
      '/tile/0/../../log.key',
      '/tile/../log.db',
      '/tile/entries/../../log.db',
      '/blob/sha256/../../log.key',
      '/blob/sha256/%2e%2e%2flog.key',
      '/entry/1/../0',
      '/checkpoint/..',
      '/%2e%2e/log.key',
    ];
    for (const p of bad) {
      const r = await raw('GET', p);
      expect([400, 404], p).toContain(r.status);
      expect(r.body, p).not.toContain('PRIVATE');
      expect(r.body, p).not.toContain('SQLite');
      expect(r.status, p).toBe(400);
    }
    // The canonical spellings work.
    for (const p of ['/tile/0/000.p/21', '/tile/entries/000.p/21', '/checkpoint', '/entry/1']) expect((await raw('GET', p)).status, p).toBe(200);
    // Through the app (no raw target), the same non-canonical tile paths are refused.
    for (const p of ['/tile/0/1', '/tile/0/000.p/007', '/tile/0/x000/000', '/tile/0/000.p/256']) {
      const r = await log.app.request(p);
      expect(r.status, p).toBe(400);
      expect(code(await r.text())).toBe('bad-path');
    }
    expect(fingerprint()).toBe(before);
  });

  it('gives concurrent identical submissions over HTTP one index', async () => {
    const e = endorsement(t.fixture.orgs[1]!);
    const before = log.sequencer!.size;
    const rs = await Promise.all(Array.from({ length: 40 }, () => raw('POST', '/add', e)));
    const indexes = new Set(rs.map((r) => (JSON.parse(r.body) as { index: number }).index));
    expect(rs.every((r) => r.status === 200)).toBe(true);
    expect(indexes.size).toBe(1);
    expect(log.sequencer!.size).toBe(before + 1);
    expect((JSON.parse(rs[0]!.body) as { leafHash: string }).leafHash).toBe(toBase64(leafHash(e)));
  });
});
