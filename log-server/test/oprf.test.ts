// POST /oprf/evaluate and GET /oprf/stats (log-server/src/routes/oprf.ts) on a real log (SQLite,
// worker threads): Concord-Note authorisation (missing, malformed, stale, wrong path/body/origin,
// replayed, a key that is no requester), strict bodies (≤ 1,000 elements), the per-key daily
// quota with exact counts (refused whole, nothing charged for refusals, a new UTC day resets it,
// the operator not metered), the proof checked by the client's verifyAndUnblind against the
// policy's blinding-key and the unblinded elements cross-checked against k·H(x) computed from the
// key file, 503 without a blinding key or with a full queue, and an event loop that keeps serving
// while a batch is evaluated.
import { randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64, utf8 } from '@concord/client-sdk/bytes';
import { authorizationHeader } from '@concord/client-sdk/entries';
import { generateKey, newSigner } from '@concord/client-sdk/note';
import type { Signer } from '@concord/client-sdk/note';
import {
  blind,
  blindingInput,
  evaluate,
  formatEvaluateRequest,
  generateKeyPair,
  parseEvaluateResponse,
  verifyAndUnblind,
} from '@concord/client-sdk/oprf';
import type { Blinded } from '@concord/client-sdk/oprf';
import { sha256 } from '@concord/client-sdk/sha256';
import { readBlindingKeyFile, readSignerKeyFile } from '@concord/log-server/keys';
import type { OpenLog } from '@concord/log-server/log';
import { OprfPool } from '@concord/log-server/oprf-pool';
import { setOprfPoolOptions } from '@concord/log-server/routes/oprf';
import { createTestLog, makeFixture, ORIGIN } from './helpers.js';
import type { TestLog } from './helpers.js';

const DAY = 86_400;
const LIMIT = 10;

interface Stats {
  reportedBy: string;
  note: string;
  operatorMetered: boolean;
  day: number;
  date: string;
  limit: number;
  blindingKey: string;
  keys: { role: string | null; name: string | null; vkey: string; used: number; remaining: number | null }[];
}

function inputs(n: number, tag = randomBytes(4)): { raw: Uint8Array[]; blinded: Blinded[] } {
  const raw = Array.from({ length: n }, (_, i) => {
    const h = new Uint8Array(32);
    h.set(tag, 0);
    h[28] = i >> 8;
    h[29] = i & 255;
    return h;
  });
  return { raw, blinded: raw.map((h) => blind(blindingInput('pdq-256', h))) };
}

function body(n: number): Uint8Array {
  return utf8(formatEvaluateRequest(inputs(n).blinded.map((b) => b.blinded)));
}

interface ReqOpts {
  time?: number;
  nonce?: Uint8Array;
  path?: string;
  origin?: string;
  method?: string;
  digestOf?: Uint8Array;
  url?: string;
}

describe('POST /oprf/evaluate', () => {
  let t: TestLog;
  let log: OpenLog;
  let now = 1_900_000_000 - (1_900_000_000 % DAY) + 3_600; // 01:00 UTC
  beforeAll(async () => {
    t = await createTestLog(makeFixture({ 'oprf-limit': LIMIT }));
    log = await t.open({ now: () => now });
  });
  afterAll(async () => {
    await log?.close();
    t?.cleanup();
  });

  const auth = (signer: Signer, b: Uint8Array, o: ReqOpts = {}): string =>
    authorizationHeader(
      {
        origin: o.origin ?? ORIGIN,
        method: o.method ?? 'POST',
        path: o.path ?? '/oprf/evaluate',
        bodySha256: sha256(o.digestOf ?? b),
        time: o.time ?? now,
        nonce: o.nonce ?? new Uint8Array(randomBytes(16)),
      },
      signer,
    );
  const post = (signer: Signer | null, b: Uint8Array, o: ReqOpts = {}, header?: string): Promise<Response> => {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    const h = header ?? (signer === null ? undefined : auth(signer, b, o));
    if (h !== undefined) headers.Authorization = h;
    return Promise.resolve(log.app.request(o.url ?? '/oprf/evaluate', { method: 'POST', body: b, headers }));
  };
  const code = async (r: Response): Promise<string> => ((await r.json()) as { error: { code: string } }).error.code;
  const stats = async (): Promise<Stats> => {
    const r = await log.app.request('/oprf/stats');
    expect(r.status).toBe(200);
    return (await r.json()) as Stats;
  };
  const used = async (name: string): Promise<number | undefined> => (await stats()).keys.find((k) => k.name === name)?.used;

  it('evaluates with one DLEQ proof that the client verifies against the policy blinding-key, giving k·H(x)', async () => {
    const org = t.fixture.orgs[0]!;
    const { raw, blinded } = inputs(3);
    const b = utf8(formatEvaluateRequest(blinded.map((x) => x.blinded)));
    const r = await post(org.signer, b);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(r.headers.get('access-control-allow-origin')).toBe('*');
    const ev = parseEvaluateResponse(new Uint8Array(await r.arrayBuffer()), 3);
    const pk = fromBase64(t.init.blindingKey, 32);
    const elements = verifyAndUnblind(
      pk,
      blinded.map((x) => x.blind),
      blinded.map((x) => x.blinded),
      ev,
    );
    // Independent: k·H(input) straight from the secret key file.
    const k = readBlindingKeyFile(path.join(t.dir, 'blinding.key'));
    expect(elements.map(toBase64)).toEqual(raw.map((h) => toBase64(evaluate(k.scalar, blindingInput('pdq-256', h)))));
    // Against another key the same proof fails.
    const { publicKey: stranger } = generateKeyPair();
    expect(() => verifyAndUnblind(stranger, blinded.map((x) => x.blind), blinded.map((x) => x.blinded), ev)).toThrow(/DLEQ/);
    expect(await used(org.name)).toBe(3);
  });

  it('answers 401 for missing, malformed, mismatched or stale authorisations, and charges nothing', async () => {
    const org = t.fixture.orgs[1]!;
    const b = body(1);
    const cases: [Promise<Response>, string][] = [
      [post(null, b), 'unauthenticated'],
      [post(null, b, {}, 'Bearer abc'), 'bad-authorization'],
      [post(null, b, {}, 'Concord-Note !!!'), 'bad-authorization'],
      [post(org.signer, b, { path: '/oprf/stats' }), 'request-mismatch'],
      [post(org.signer, b, { method: 'PUT' }), 'request-mismatch'],
      [post(org.signer, b, { origin: 'other.example/log' }), 'request-mismatch'],
      [post(org.signer, b, { digestOf: body(1) }), 'request-mismatch'],
      [post(org.signer, b, { time: now - 301 }), 'stale-request'],
      [post(org.signer, b, { time: now + 301 }), 'stale-request'],
    ];
    for (const [p, want] of cases) {
      const r = await p;
      expect(r.status).toBe(401);
      expect(await code(r)).toBe(want);
    }
    // ±300 s is still fine.
    expect((await post(org.signer, b, { time: now - 300 })).status).toBe(200);
    expect(await used(org.name)).toBe(1);
  });

  it('refuses keys that are no org, auditor or operator of the policy, and forged signatures (401)', async () => {
    const b = body(1);
    const logSigner = newSigner(readSignerKeyFile(path.join(t.dir, 'log.key')));
    const stranger = newSigner(generateKey('stranger').skey);
    // A key named like an org but not the org's key.
    const impostor = newSigner(generateKey(t.fixture.orgs[0]!.name).skey);
    for (const s of [logSigner, stranger, impostor]) {
      const r = await post(s, b);
      expect(r.status).toBe(401);
      expect(await code(r)).toBe('unknown-requester');
    }
    // The org's own key line, a signature that does not verify.
    const org = t.fixture.orgs[2]!;
    const h = auth(org.signer, b);
    const note = Buffer.from(h.slice('Concord-Note '.length), 'base64').toString('utf8');
    const forged = note.replace(/(— \S+ )(\S+)\n$/, (_m, pre: string, sig: string) => {
      const raw = Buffer.from(sig, 'base64');
      raw[raw.length - 1]! ^= 1;
      return `${pre}${raw.toString('base64')}\n`;
    });
    expect(forged).not.toBe(note);
    const r = await post(null, b, {}, `Concord-Note ${Buffer.from(forged).toString('base64')}`);
    expect(r.status).toBe(401);
    expect(await code(r)).toBe('invalid-signature');
    expect(await used(org.name)).toBe(0);
  });

  it('refuses a replayed request note (401 replayed-request), charging only the first', async () => {
    const org = t.fixture.orgs[2]!;
    const b = body(2);
    const h = auth(org.signer, b);
    expect((await post(null, b, {}, h)).status).toBe(200);
    const again = await post(null, b, {}, h);
    expect(again.status).toBe(401);
    expect(await code(again)).toBe('replayed-request');
    expect(await used(org.name)).toBe(2);
  });

  it('parses strictly: 400 for malformed bodies, 0 or more than 1,000 elements; 413 above the body cap', async () => {
    const org = t.fixture.orgs[2]!;
    const before = await used(org.name);
    const good = toBase64(inputs(1).blinded[0]!.blinded);
    const bad: [string, string][] = [
      ['not json', 'bad-json'],
      ['[]', 'bad-json'],
      ['{"blinded":[]}', 'bad-batch'],
      [`{"blinded":["${good}"],"x":1}`, 'bad-json'],
      [`{"blinded":"${good}"}`, 'bad-json'],
      [`{"blinded":[1]}`, 'bad-json'],
      ['{"blinded":["AAAA"]}', 'bad-element'],
      // 31 bytes whose last character carries bits the padding drops ('B' = 000001): never
      // canonical (a random element's own character is canonical there one time in 16).
      [`{"blinded":["${good.slice(0, -3)}B=="]}`, 'bad-base64'],
      [`{"blinded":["${toBase64(new Uint8Array(32).fill(0xff))}"]}`, 'bad-element'], // not canonical
      [`{"blinded":["${toBase64(new Uint8Array(32))}"]}`, 'bad-element'], // the identity
    ];
    for (const [text, want] of bad) {
      const r = await post(org.signer, utf8(text));
      expect(r.status, text).toBe(400);
      expect(await code(r), text).toBe(want);
    }
    // 1,001 elements: within the body cap (1,001 × 47 bytes), refused by count.
    const many = `{"blinded":[${Array.from({ length: 1001 }, () => `"${good}"`).join(',')}]}`;
    expect(many.length).toBeLessThan(65_536);
    const r = await post(org.signer, utf8(many));
    expect(r.status).toBe(400);
    expect(await code(r)).toBe('bad-batch');
    const huge = await post(org.signer, new Uint8Array(65_537).fill(0x20));
    expect(huge.status).toBe(413);
    expect(await used(org.name)).toBe(before);
  });

  it('charges the daily quota per key before evaluating: exact counts, 429 refuses whole, resets each UTC day', async () => {
    const [a, b] = [t.fixture.orgs[0]!, t.fixture.orgs[1]!];
    const base = (await used(a.name))!; // 3 from the first test
    expect(base).toBe(3);
    expect((await post(a.signer, body(4))).status).toBe(200); // 7
    let r = await post(a.signer, body(4)); // 11 > 10
    expect(r.status).toBe(429);
    expect(await code(r)).toBe('rate-limited');
    expect(r.headers.get('retry-after')).toBe(String(DAY - (now % DAY)));
    expect(await used(a.name)).toBe(7);
    expect((await post(a.signer, body(3))).status).toBe(200); // exactly 10
    r = await post(a.signer, body(1));
    expect(r.status).toBe(429);
    let s = await stats();
    const row = s.keys.find((k) => k.name === a.name)!;
    expect(row).toEqual({ role: 'org', name: a.name, vkey: a.vkey, used: 10, remaining: 0 });
    // Another key has its own quota (b used 1 in the auth test).
    expect(s.keys.find((k) => k.name === b.name)!.used).toBe(1);
    expect((await post(b.signer, body(9))).status).toBe(200);
    expect((await post(b.signer, body(1))).status).toBe(429);
    // The auditor may ask too, and is metered.
    const aud = t.fixture.auditor;
    expect((await post(aud.signer, body(5))).status).toBe(200);
    // The operator may ask and is not metered (nor listed).
    for (let i = 0; i < 2; i++) expect((await post(t.operator, body(8))).status).toBe(200);
    s = await stats();
    expect(s.keys.map((k) => [k.role, k.name, k.used])).toEqual([
      ['org', 'org-de', 2],
      ['org', 'org-fr', 10],
      ['org', 'org-us', 10],
      ['auditor', 'press', 5],
    ]);
    expect(s.limit).toBe(LIMIT);
    expect(s.reportedBy).toBe('operator');
    expect(s.operatorMetered).toBe(false);
    expect(s.note).toMatch(/operator/);
    expect(s.blindingKey).toBe(t.init.blindingKey);
    expect(s.day).toBe(Math.floor(now / DAY));
    expect(s.date).toBe(new Date(now * 1000).toISOString().slice(0, 10));
    // A new UTC day: everything back to zero, a already allowed again.
    now += DAY;
    s = await stats();
    expect(s.keys.map((k) => k.used)).toEqual([0, 0, 0, 0]);
    expect(s.keys.map((k) => k.remaining)).toEqual([LIMIT, LIMIT, LIMIT, LIMIT]);
    expect((await post(a.signer, body(10))).status).toBe(200);
    expect(await used(a.name)).toBe(10);
  });

  it('keeps serving other requests while a 1,000-element batch is evaluated in a worker', async () => {
    now += DAY;
    const b = body(1000);
    let evalDone = 0;
    const evaluating = post(t.operator, b).then((r) => {
      evalDone = performance.now();
      return r;
    });
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    const cp = await log.app.request('/checkpoint');
    const t1 = performance.now();
    expect(cp.status).toBe(200);
    expect(evalDone).toBe(0); // the batch is still being evaluated …
    // … and the checkpoint did not wait for it (evaluating on the event loop would take seconds).
    expect(t1 - t0).toBeLessThan(500);
    const r = await evaluating;
    expect(r.status).toBe(200);
    const ev = parseEvaluateResponse(new Uint8Array(await r.arrayBuffer()), 1000);
    expect(ev.evaluated.length).toBe(1000);
    // The operator (LIMIT is 10 for everyone else) was not metered.
    expect((await stats()).keys.every((k) => k.used === 0)).toBe(true);
  });
});

describe('OPRF availability', () => {
  it('answers 503 on a server without the blinding key', async () => {
    const t = await createTestLog();
    try {
      unlinkSync(path.join(t.dir, 'blinding.key'));
      const log = await t.open();
      try {
        const b = body(1);
        const h = authorizationHeader(
          { origin: ORIGIN, method: 'POST', path: '/oprf/evaluate', bodySha256: sha256(b), time: Math.floor(Date.now() / 1000), nonce: new Uint8Array(randomBytes(16)) },
          t.fixture.orgs[0]!.signer,
        );
        const r = await log.app.request('/oprf/evaluate', { method: 'POST', body: b, headers: { Authorization: h } });
        expect(r.status).toBe(503);
        expect(((await r.json()) as { error: { code: string } }).error.code).toBe('unavailable');
      } finally {
        await log.close();
      }
    } finally {
      t.cleanup();
    }
  });

  it('answers 503 with Retry-After when the evaluation queue is full', async () => {
    setOprfPoolOptions({ threads: 1, maxQueue: 0 });
    const t = await createTestLog();
    try {
      const log = await t.open();
      setOprfPoolOptions({});
      try {
        const send = (n: number): Promise<Response> => {
          const b = body(n);
          const h = authorizationHeader(
            { origin: ORIGIN, method: 'POST', path: '/oprf/evaluate', bodySha256: sha256(b), time: Math.floor(Date.now() / 1000), nonce: new Uint8Array(randomBytes(16)) },
            t.operator,
          );
          return Promise.resolve(log.app.request('/oprf/evaluate', { method: 'POST', body: b, headers: { Authorization: h } }));
        };
        const first = send(300);
        await new Promise((r) => setTimeout(r, 50));
        const second = await send(1);
        expect(second.status).toBe(503);
        expect(((await second.json()) as { error: { code: string } }).error.code).toBe('unavailable');
        expect(Number(second.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect((await first).status).toBe(200);
        // The place is given back: the next request is served.
        expect((await send(1)).status).toBe(200);
      } finally {
        await log.close();
      }
    } finally {
      t.cleanup();
    }
  });
});

describe('OprfPool', () => {
  it('bounds reservations at threads + maxQueue and gives places back', async () => {
    const t = await createTestLog();
    const pool = new OprfPool(readBlindingKeyFile(path.join(t.dir, 'blinding.key')), { threads: 1, maxQueue: 2 });
    try {
      const rs = [pool.reserve(), pool.reserve(), pool.reserve()];
      expect(rs.every((r) => r !== null)).toBe(true);
      expect(pool.reserve()).toBeNull();
      expect(pool.pending).toBe(3);
      rs[0]!.release();
      rs[0]!.release(); // idempotent
      expect(pool.pending).toBe(2);
      const again = pool.reserve()!;
      expect(again).not.toBeNull();
      // Tasks of several reservations run FIFO on the one worker, errors keep their codes.
      const [ok, bad] = await Promise.allSettled([again.parse(body(2)), rs[1]!.parse(utf8('{"blinded":[]}'))]);
      expect(ok.status === 'fulfilled' && ok.value.length).toBe(2);
      expect(bad.status === 'rejected' && (bad.reason as { code: string }).code).toBe('bad-batch');
      expect(pool.workers).toBe(1);
      const json = await again.evaluate(ok.status === 'fulfilled' ? ok.value : []);
      expect(parseEvaluateResponse(json, 2).evaluated.length).toBe(2);
    } finally {
      await pool.close();
      t.cleanup();
    }
  });
});
