// nodeListener answers POST /add without the framework when the request carries a canonical
// Content-Length within the entry limit (app.ts). These tests hold that path to the route's
// answers: the same request through the fast path (a real listening server, raw HTTP) and
// through the app (app.request) gets the same status, error code and headers; requests the
// fast path does not take (chunked, oversized, malformed length, a read-only server) still go
// through the app, which is checked by counting the app's fetch calls.
import net from 'node:net';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, utf8 } from '@concord/client-sdk/bytes';
import { leafHash } from '@concord/client-sdk/merkle';
import { generateKey, newSigner, signNote } from '@concord/client-sdk/note';
import { nodeListener } from '@concord/log-server/app';
import type { OpenLog } from '@concord/log-server/log';
import { createTestLog, endorsement } from './helpers.js';
import type { TestLog } from './helpers.js';

let t: TestLog;
let log: OpenLog;
let server: Server;
let port: number;
let appCalls = 0;

beforeAll(async () => {
  t = await createTestLog();
  log = await t.open({ addPerMinute: 1000 });
  const fetch = log.app.fetch;
  log.app.fetch = (...args: Parameters<typeof fetch>) => {
    appCalls++;
    return fetch(...args);
  };
  server = createServer(nodeListener(log.app, log.reader));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await log?.close();
  t?.cleanup();
});

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends `head` (request line and headers, without the final CRLF) and `body` on a fresh connection. */
function rawRequest(head: string, body: Uint8Array): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', reject);
    sock.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      const lines = text.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      let rest = text.slice(end + 4);
      if (headers['transfer-encoding'] === 'chunked') {
        let out = '';
        for (;;) {
          const nl = rest.indexOf('\r\n');
          const n = parseInt(rest.slice(0, nl), 16);
          if (!(n > 0)) break;
          out += rest.slice(nl + 2, nl + 2 + n);
          rest = rest.slice(nl + 2 + n + 2);
        }
        rest = out;
      }
      resolve({ status: Number(lines[0]!.slice(9, 12)), headers, body: rest });
    });
    sock.write(Buffer.concat([Buffer.from(`${head}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`), body]));
  });
}

const post = (body: Uint8Array): Promise<Answer> => rawRequest(`POST /add HTTP/1.1\r\nContent-Length: ${body.length}`, body);

async function viaApp(body: Uint8Array): Promise<Answer> {
  const before = appCalls;
  const r = await log.app.request('/add', { method: 'POST', body, headers: { 'content-length': String(body.length) } });
  appCalls = before; // app.request calls fetch too; only the listener's calls are counted
  return { status: r.status, headers: Object.fromEntries(r.headers), body: await r.text() };
}

/** The headers both paths must agree on (the Node adapter adds Date, Connection, …). */
function shape(a: Answer): unknown {
  const { 'content-type': ct, 'access-control-allow-origin': cors, 'retry-after': ra } = a.headers;
  const json = JSON.parse(a.body) as { error?: { code: string }; index?: number; leafHash?: string };
  return { status: a.status, ct, cors, ra, code: json.error?.code, keys: Object.keys(json) };
}

function badSignature(): Uint8Array {
  const e = endorsement(t.fixture.orgs[0]!);
  const text = Buffer.from(e).toString('latin1');
  const at = text.lastIndexOf(' ') + 21; // inside the signature (past the 4-byte key hash)
  const flipped = text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);
  return Buffer.from(flipped, 'latin1');
}

function wrongAuthor(): Uint8Array {
  // An endorsement in the name of a listed org, signed by a key the policy does not list for it.
  const org = t.fixture.orgs[0]!;
  const stranger = generateKey(org.name);
  const text = `concord/endorsement/v1\norg ${org.name}\nsubject release 7 ${Buffer.alloc(32, 7).toString('base64')}\n`;
  return signNote(text, [newSigner(stranger.skey)]);
}

describe('POST /add fast path', () => {
  it('sequences entries without the app, with the answer the app gives', async () => {
    const before = appCalls;
    const a = endorsement(t.fixture.orgs[0]!);
    const b = endorsement(t.fixture.orgs[1]!);
    const fa = await post(a);
    const ab = await viaApp(b);
    expect(appCalls).toBe(before);
    expect(shape(fa)).toEqual(shape(ab));
    expect(fa.status).toBe(200);
    expect(fa.headers['content-length']).toBe(String(Buffer.byteLength(fa.body)));
    const ja = JSON.parse(fa.body) as { index: number; leafHash: string };
    const jb = JSON.parse(ab.body) as { index: number; leafHash: string };
    expect(fromBase64(ja.leafHash)).toEqual(leafHash(a));
    expect(jb.index).toBe(ja.index + 1);
    // A duplicate is answered with the existing index, whichever path it takes.
    expect(JSON.parse((await post(a)).body)).toEqual(ja);
    expect(JSON.parse((await viaApp(a)).body)).toEqual(ja);
    expect(JSON.parse((await post(b)).body)).toEqual(jb);
    // Identical submissions in flight together share one index.
    const c = endorsement(t.fixture.orgs[2]!);
    const same = await Promise.all([post(c), post(c), post(c)]);
    expect(new Set(same.map((r) => r.body)).size).toBe(1);
    expect(appCalls).toBe(before);
    expect(log.sequencer!.size).toBe(ja.index + 3);
  });

  it('refuses bad entries with the codes and headers the app uses', async () => {
    const before = appCalls;
    const cases: [string, Uint8Array, string][] = [
      ['bad signature', badSignature(), 'invalid-signature'],
      ['wrong author', wrongAuthor(), 'wrong-author'],
      ['not an entry', utf8('hello\n'), ''],
      ['empty body', new Uint8Array(0), ''],
      ['unsigned note', utf8('concord/endorsement/v1\norg x\n'), ''],
    ];
    const size = log.sequencer!.size;
    for (const [what, body, code] of cases) {
      const fast = await post(body);
      const slow = await viaApp(body);
      expect(shape(fast), what).toEqual(shape(slow));
      expect(fast.status, what).toBeGreaterThanOrEqual(400);
      expect(fast.status, what).toBeLessThan(500);
      if (code !== '') expect((JSON.parse(fast.body) as { error: { code: string } }).error.code, what).toBe(code);
    }
    expect(appCalls).toBe(before);
    expect(log.sequencer!.size).toBe(size);
  });

  it('leaves every other POST /add to the app, which refuses as before', async () => {
    const e = endorsement(t.fixture.orgs[1]!);
    let before = appCalls;
    const big = await rawRequest('POST /add HTTP/1.1\r\nContent-Length: 65536', new Uint8Array(0));
    expect(big.status).toBe(413);
    expect(appCalls).toBe(before + 1);
    before = appCalls;
    const zeros = await rawRequest(`POST /add HTTP/1.1\r\nContent-Length: 0${e.length}`, e);
    expect(zeros.status).toBe(400); // body.ts refuses a non-canonical Content-Length
    expect(appCalls).toBe(before + 1);
    before = appCalls;
    const hex = e.length.toString(16);
    const chunked = await rawRequest('POST /add HTTP/1.1\r\nTransfer-Encoding: chunked', Buffer.concat([Buffer.from(`${hex}\r\n`), e, Buffer.from('\r\n0\r\n\r\n')]));
    expect(chunked.status).toBe(200);
    expect(appCalls).toBe(before + 1);
    before = appCalls;
    const query = await rawRequest(`POST /add?x=1 HTTP/1.1\r\nContent-Length: ${e.length}`, e);
    expect(query.status).toBe(200);
    expect(JSON.parse(query.body)).toEqual(JSON.parse(chunked.body)); // deduplicated
    expect(appCalls).toBe(before + 1);
  });

  it('is not taken by a read-only server', async () => {
    const ro = await t.open({ readOnly: true });
    try {
      let calls = 0;
      const fetch = ro.app.fetch;
      ro.app.fetch = (...args: Parameters<typeof fetch>) => {
        calls++;
        return fetch(...args);
      };
      const s = createServer(nodeListener(ro.app, ro.reader));
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
      const saved = port;
      port = (s.address() as { port: number }).port;
      try {
        const r = await post(endorsement(t.fixture.orgs[0]!));
        expect(r.status).toBe(503);
        expect((JSON.parse(r.body) as { error: { code: string } }).error.code).toBe('read-only');
        expect(calls).toBe(1);
      } finally {
        port = saved;
        await new Promise((r) => s.close(r));
      }
    } finally {
      await ro.close();
    }
  });
});
