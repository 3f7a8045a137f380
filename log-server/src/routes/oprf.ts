// POST /oprf/evaluate and GET /oprf/stats (DESIGN.md "Blinding", "Requests that need authority",
// "Server surface"; the protocol and wire bodies are client-sdk/src/oprf.ts):
//
//   POST /oprf/evaluate
//   Authorization: Concord-Note <base64 of a concord/request/v1 note for POST /oprf/evaluate>
//   {"blinded":["<b64 32 bytes>",…]}                       1 … 1,000 ristretto255 elements
//   → 200 {"evaluated":["<b64 32 bytes>",…],"proof":"<b64 64 bytes>"}   one batch DLEQ proof
//
//   GET /oprf/stats
//   → 200 {"reportedBy":"operator","note":"<the caveat below>","operatorMetered":false,
//          "day":<UTC day number>,"date":"YYYY-MM-DD","limit":<oprf-limit>,"blindingKey":"<b64>",
//          "keys":[{"role":"org"|"auditor","name","vkey","used","remaining"},…]}
//   one line per org and auditor of the policy in force (used 0 if none), then keys charged today
//   that the policy no longer lists (role, name and remaining null); the operator is not listed.
//
// Order of checks, each answering before anything after it happens:
//   503 unavailable   no blinding key on this server (a read-only replica never holds it)
//   413 too-large     a body above oprf.MAX_BODY_SIZE (1,000 elements fit with room to spare)
//   401 …             the request note (app.ts authorize: a key of the policy in force, this
//                     origin, method, path and body digest, ±300 s, nonce unseen for 600 s)
//   503 unavailable   the evaluation queue is full (Retry-After: its expected drain time)
//   400 bad-json, bad-base64, bad-element, bad-batch (0 or > 1,000 elements)
//                     oprf.parseEvaluateRequest, strict
//   429 rate-limited  the key's daily quota (policy `oprf-limit` elements per key per UTC day)
//                     cannot take this request's elements; nothing is charged, Retry-After is
//                     the seconds until the UTC day ends
//   200               evaluated with the blinding key
//
// Who may ask: an `org` (contributions) or `auditor` (check-image) key of the policy in force,
// and the operator key. The operator is accepted because it holds the blinding key anyway — it
// can compute k·H(x) for any input offline (oprf.evaluate), so refusing it protects nothing —
// and it is NOT metered: a quota the operator enforces on itself would be a promise, not a
// limit, and the stats say so instead of pretending otherwise.
//
// The quota is charged for the whole request before it is evaluated (store.chargeQuota, scope
// 'oprf', key = the requester's verifier key, period = utcDay(now)), atomically in storage, so
// concurrent requests, several processes and restarts can never together exceed it; a request
// that does not fit is refused whole. It is charged after strict parsing, so a malformed request
// costs its sender nothing but its nonce. A request that fails after the charge (a worker crash:
// 500) keeps its charge — the conservative side.
//
// The stats are operator-reported: the operator runs this server and holds the blinding key, so
// nothing here proves that the numbers are complete. They show what this server charged.

import type { Hono } from 'hono';
import { toBase64 } from '@concord/client-sdk/bytes';
import { MAX_BODY_SIZE } from '@concord/client-sdk/oprf';
import { requestKeysFor } from '@concord/client-sdk/policy';
import { sha256 } from '@concord/client-sdk/sha256';
import type { Env, RouteContext } from '../app.js';
import { readBody } from '../body.js';
import { errorBody, ServerError } from '../http-errors.js';
import { OprfPool } from '../oprf-pool.js';
import type { OprfPoolOptions } from '../oprf-pool.js';
import { utcDay } from '../storage/types.js';

/** Quota counters' scope in storage. */
export const OPRF_QUOTA_SCOPE = 'oprf';

const STATS_NOTE =
  'These counts are reported by the log operator, who runs this server and holds the blinding key. ' +
  'They show the elements this server evaluated per requester key today (UTC), against the policy\'s oprf-limit. ' +
  'Nothing here proves they are complete: the operator can evaluate any input with the key itself, ' +
  'without limit and without a trace here, so the operator\'s own use is not metered and not listed.';

/** Pool settings for tests and benchmarks; the app uses the defaults. */
let poolOptions: OprfPoolOptions = {};

/** Sets the pool options of apps created after this call (tests). */
export function setOprfPoolOptions(o: OprfPoolOptions): void {
  poolOptions = o;
}

function isoDate(day: number): string {
  return new Date(day * 86_400_000).toISOString().slice(0, 10);
}

export function registerOprfRoutes(app: Hono<Env>, ctx: RouteContext): void {
  const { deps } = ctx;
  const opts = poolOptions;
  // Started on first use: a server whose OPRF is never asked spawns no threads.
  let pool: OprfPool | undefined;
  const getPool = (): OprfPool => (pool ??= new OprfPool(deps.blindingKey!, opts));

  app.post('/oprf/evaluate', async (c) => {
    ctx.strictPath(c);
    if (deps.blindingKey === undefined) {
      throw new ServerError('unavailable', 'this server does not hold the blinding key; ask the sequencing server');
    }
    const body = await readBody(c.req.raw, MAX_BODY_SIZE);
    const { who, policy } = await ctx.authorize(c, 'POST', sha256(body));
    const slot = getPool().reserve();
    if (slot === null) {
      const e = new ServerError('unavailable', 'the OPRF evaluation queue is full; retry later');
      return new Response(errorBody({ status: 503, code: e.code, message: e.message }), {
        status: 503,
        headers: { 'Access-Control-Allow-Origin': '*', 'Content-Type': 'application/json', 'Retry-After': String(getPool().retryAfterSeconds()) },
      });
    }
    try {
      const blinded = await slot.parse(body);
      if (who.role !== 'operator') {
        const now = deps.now();
        const limit = policy.entry.oprfLimit;
        const r = await deps.store.chargeQuota({ scope: OPRF_QUOTA_SCOPE, key: who.vkey, period: utcDay(now), amount: blinded.length, limit });
        if (!r.allowed) {
          const left = Math.max(0, limit - r.used);
          return ctx.json(
            {
              error: {
                code: 'rate-limited',
                message: `${who.name}: ${blinded.length} elements asked, ${left} of today's ${limit} left (oprf-limit, per key per UTC day)`,
              },
            },
            429,
            { 'Retry-After': String(86_400 - (now % 86_400)) },
          );
        }
      }
      const json = await slot.evaluate(blinded);
      return new Response(json, { headers: { 'Access-Control-Allow-Origin': '*', 'Content-Type': 'application/json', 'Cache-Control': 'no-store' } });
    } finally {
      slot.release();
    }
  });

  app.get('/oprf/stats', async (c) => {
    ctx.strictPath(c);
    const policy = deps.state.current();
    if (policy === undefined) throw new ServerError('unavailable', 'no policy in force');
    const now = deps.now();
    const day = utcDay(now);
    const limit = policy.entry.oprfLimit;
    const counted = new Map((await deps.store.readQuotas(OPRF_QUOTA_SCOPE, day)).map((q) => [q.key, q.used]));
    const keys: { role: string | null; name: string | null; vkey: string; used: number; remaining: number | null }[] = [];
    for (const k of requestKeysFor(policy.entry)) {
      if (k.role === 'operator') continue; // not metered (see the header)
      const used = counted.get(k.vkey) ?? 0;
      counted.delete(k.vkey);
      keys.push({ role: k.role, name: k.name, vkey: k.vkey, used, remaining: Math.max(0, limit - used) });
    }
    // Keys charged today that the policy in force no longer lists (a policy changed today).
    for (const [vkey, used] of [...counted].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      keys.push({ role: null, name: null, vkey, used, remaining: null });
    }
    return ctx.json(
      {
        reportedBy: 'operator',
        note: STATS_NOTE,
        operatorMetered: false,
        day,
        date: isoDate(day),
        limit,
        blindingKey: toBase64(policy.entry.blindingKey),
        keys,
      },
      200,
      { 'Cache-Control': 'no-store' },
    );
  });
}
