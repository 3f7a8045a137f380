// A real log for cross-package tests: a fresh SQLite log in a temporary directory
// (log-server/test/helpers.ts), served by log-server's own listener on 127.0.0.1, with the
// fixture's witnesses cosigning checkpoints on demand (what the witness pusher does in
// production, without the network). Not a test file itself.

import { serve } from '@hono/node-server';
import type { ServerType } from '@hono/node-server';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Fetch } from '@concord/client-sdk/client';
import { newCosignatureSigner } from '@concord/client-sdk/cosignature';
import { parseNote } from '@concord/client-sdk/note';
import type { LogConfig, OpenLog } from '@concord/log-server/log';
import { createTestLog, makeFixture } from '../log-server/test/helpers.js';
import type { Fixture, TestLog } from '../log-server/test/helpers.js';

export interface LiveLog {
  readonly t: TestLog;
  readonly log: OpenLog;
  readonly url: string;
  /** The trust anchor file's path (<data>/anchor.entry). */
  readonly trustFile: string;
  readonly anchor: Uint8Array;
  /**
   * Cosigns the latest checkpoint by the first `count` fixture witnesses (default: all) at
   * `time` (default: now) through store.addCosignature; returns the checkpoint size.
   */
  cosignLatest(opts?: { time?: number; count?: number }): Promise<number>;
  close(): Promise<void>;
}

export async function startLiveLog(opts: { fixture?: Fixture; config?: Partial<LogConfig> } = {}): Promise<LiveLog> {
  const t = await createTestLog(opts.fixture ?? makeFixture());
  const log = await t.open(opts.config);
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: log.app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  const port = (server.address() as AddressInfo).port;
  const trustFile = path.join(t.dir, 'anchor.entry');
  const cosigners = t.fixture.witnesses.map((w) => ({ vkey: w.vkey, signer: newCosignatureSigner(w.skey) }));
  return {
    t,
    log,
    url: `http://127.0.0.1:${port}`,
    trustFile,
    anchor: new Uint8Array(readFileSync(trustFile)),
    cosignLatest: async ({ time, count } = {}) => {
      const cp = await log.store.latestCheckpoint();
      if (cp === null) throw new Error('no checkpoint yet');
      const text = parseNote(cp.note).text;
      const when = time ?? Math.floor(Date.now() / 1000);
      for (const c of cosigners.slice(0, count ?? cosigners.length)) {
        const sig = c.signer.cosign(text, when);
        await log.store.addCosignature({ size: cp.size, witness: c.vkey, time: when, line: sig.line });
      }
      log.reader.invalidateCheckpoint();
      return cp.size;
    },
    close: async () => {
      await new Promise((r) => server.close(r));
      await log.close();
      t.cleanup();
    },
  };
}

/**
 * fetch over node:http without keep-alive. A served log and a CLI run in-process share one event
 * loop, so a long synchronous computation (blinding 1,000 elements) can hold back the server's
 * idle-socket close until the client reuses that socket ("other side closed"); with a connection
 * per request that race cannot happen. (Separate processes do not share the loop.)
 */
export const httpFetch: Fetch = (url, init) =>
  new Promise((resolve, reject) => {
    const req = http.request(url, { method: init?.method ?? 'GET', headers: init?.headers ?? {}, agent: false, ...(init?.signal ? { signal: init.signal as AbortSignal } : {}) }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers.set(k, v);
        const body = Buffer.concat(parts);
        resolve(new Response(res.statusCode === 204 || res.statusCode === 304 ? null : body, { status: res.statusCode ?? 0, headers }) as never);
      });
    });
    req.on('error', reject);
    if (init?.body !== undefined) req.write(init.body as Uint8Array);
    req.end();
  });
