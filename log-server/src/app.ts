// The log server's HTTP surface (DESIGN.md "Server surface"), as a Hono app built from its
// dependencies; nothing here reads configuration, opens storage or listens (see log.ts, main.ts).
//
// Read API — c2sp.org/tlog-tiles, exactly, plus conveniences:
//   GET  /checkpoint                      latest checkpoint note + stored cosignatures   no-store
//   GET  /tile/<L>/<N>[.p/<W>]            hash tile (W·32 bytes)                          immutable
//   GET  /tile/entries/<N>[.p/<W>]        entry bundle (gzip when accepted)               immutable
//   GET  /checkpoint/published?entry=<i>  earliest witness-quorum checkpoint containing i
//   GET  /checkpoint/noticed?policy=<i>   notice checkpoint N of the policy entry at i (the
//                                         index it governs from = N's size; client-sdk policy.ts)
//   GET  /proof/inclusion?index=<i>&size=<s>   {"index","size","proof":[base64…]}          immutable
//   GET  /proof/consistency?old=<m>&new=<n>    {"old","new","proof":[base64…]}             immutable
//   GET  /entry/<i>                       {"index","leafHash","entry"} (entry: the note text)
//   GET  /blob/sha256/<hex>               blob bytes                                      immutable
// Write API:
//   POST /add                             one signed Concord entry → {"index","leafHash"} once
//                                         durably sequenced (identical entries: the same index)
//   PUT  /blob/sha256/<hex>               Authorization: Concord-Note <base64>; streamed, digest
//                                         checked → 201 {"digest","size"} (200 if already stored)
//
// Every answer carries `Access-Control-Allow-Origin: *`; errors are JSON {error:{code,message}}
// with statuses from http-errors.ts. Request targets are checked raw (as the client sent them,
// when the Node adapter exposes them): dot segments, percent-encoding, backslashes and empty
// segments are refused, so a path has one spelling and never reaches storage normalised.

import { Hono } from 'hono';
import type { Context } from 'hono';
import { fromHex, parseDecimal, toBase64, toHex, fromUtf8, equalBytes } from '@concord/client-sdk/bytes';
import {
  EntryError,
  MAX_ENTRY_SIZE,
  parseAuthorizationHeader,
  parseSignedEntry,
  REQUEST_MAX_SKEW,
  REQUEST_NONCE_TTL,
} from '@concord/client-sdk/entries';
import type { RequestAuthorization } from '@concord/client-sdk/entries';
import { proveConsistency, proveInclusion } from '@concord/client-sdk/merkle';
import type { Ed25519Verify } from '@concord/client-sdk/note';
import { PolicyError, verifyRequestAuthor } from '@concord/client-sdk/policy';
import type { ChainPolicy, RequesterRole } from '@concord/client-sdk/policy';
import { parseTilePath } from '@concord/client-sdk/tiles';
import type { TileCoord } from '@concord/client-sdk/tiles';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { CANONICAL_LENGTH, limitBody, contentLength, readBody } from './body.js';
import { errorBody, isServerFault, ServerError, toHttpError } from './http-errors.js';
import type { LogState, Precheck } from './log-state.js';
import type { RateLimiter } from './rate-limit.js';
import type { LogReader } from './reader.js';
import type { Sequencer } from './sequencer.js';
import type { BlobStore } from './storage/blobs.js';
import { leafHashOf } from './storage/common.js';
import type { LogStore } from './storage/types.js';
import type { BlindingKey } from './keys.js';
import { registerOprfRoutes } from './routes/oprf.js';
import { registerReleaseRoutes } from './routes/release.js';
import { registerDashboardRoutes } from './routes/dashboard.js';
import { LogIndex } from './dashboard/log-index.js';

export interface AppDeps {
  /** The log's origin (the log key's name): request notes must name it. */
  readonly origin: string;
  readonly store: LogStore;
  readonly blobs: BlobStore;
  readonly state: LogState;
  readonly reader: LogReader;
  /** The sequencer; absent in a read-only server (writes answer 503 'read-only'). */
  readonly sequencer?: Sequencer;
  /** Per-author-key limit on POST /add. */
  readonly addLimiter: RateLimiter;
  /** Ed25519 for request notes (blob uploads); native in production. */
  readonly verify: Ed25519Verify;
  /** Unix seconds. */
  readonly now: () => number;
  /** Blob size cap in bytes; the policy's 32 × max-entries applies too (default 512 MiB). */
  readonly maxBlobBytes?: number;
  /** Where server faults (5xx) are reported; default console.error. */
  readonly logError?: (message: string, err: unknown) => void;
  /** The operator's blinding key (POST /oprf/evaluate); absent: the OPRF answers 503. */
  readonly blindingKey?: BlindingKey;
}

/** What route modules (routes/*.ts) get: the app's dependencies plus its shared helpers. */
export interface RouteContext {
  readonly deps: AppDeps;
  /** The raw path, refused unless canonical (see strictPath). */
  strictPath(c: Context<Env>): string;
  /** The raw request target (path and query) as the client sent it. */
  rawTarget(c: Context<Env>): string;
  /** A canonical decimal query parameter, or a 400. */
  decimalParam(c: Context<Env>, name: string): number;
  json(body: unknown, status?: number, headers?: Record<string, string>): Response;
  /** Authenticates a Concord-Note request for `method` with this body digest (see createApp). */
  authorize(c: Context<Env>, method: string, bodySha256: Uint8Array): Promise<Authorized>;
  /** The log's releases, contributions, endorsements and policies, following the log (one per app). */
  readonly logIndex: LogIndex;
}

/** Who signed an authenticated request, and the policy in force that lists them. */
export interface Authorized {
  readonly who: { readonly role: RequesterRole; readonly name: string; readonly vkey: string };
  readonly policy: ChainPolicy;
}

export const DEFAULT_MAX_BLOB_BYTES = 512 * 1024 * 1024;

const CORS = { 'Access-Control-Allow-Origin': '*' } as const;
const IMMUTABLE = 'public, max-age=604800, immutable';
const TILE_HEADERS = { ...CORS, 'Content-Type': 'application/octet-stream', 'Cache-Control': IMMUTABLE } as const;
const BUNDLE_GZIP_HEADERS = { ...TILE_HEADERS, 'Content-Encoding': 'gzip', Vary: 'Accept-Encoding' } as const;
const BUNDLE_HEADERS = { ...TILE_HEADERS, Vary: 'Accept-Encoding' } as const;
const NOTE_HEADERS = { ...CORS, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' } as const;
const JSON_HEADERS = { ...CORS, 'Content-Type': 'application/json' } as const;

export type Env = { Bindings: { incoming?: { url?: string } } };

function tileHeaders(t: TileCoord, gzip: boolean): Record<string, string> {
  return t.level !== 'entries' ? TILE_HEADERS : gzip ? BUNDLE_GZIP_HEADERS : BUNDLE_HEADERS;
}

/** The request target as the client sent it (path and query), before any normalisation. */
function rawTarget(c: Context<Env>): string {
  const raw = c.env?.incoming?.url;
  if (typeof raw === 'string' && raw.startsWith('/')) return raw;
  const u = new URL(c.req.url);
  return u.pathname + u.search;
}

// Dot segments (also at the end), empty segments, percent-encoding, backslashes.
const BAD_PATH = /(^|\/)\.\.?(\/|$)|\/\/|%|\\/;

/** The raw path (without query), refused unless it has exactly one spelling. */
function strictPath(c: Context<Env>): string {
  const target = rawTarget(c);
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  if (BAD_PATH.test(path)) throw new ServerError('bad-path', 'request paths may not hold dot or empty segments, percent-encoding or backslashes');
  return path;
}

/** Does Accept-Encoding accept gzip (RFC 9110 §12.5.3: "gzip", "x-gzip" or "*", q > 0)? */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  let star = false;
  for (const part of header.split(',')) {
    const [name = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    let q = 1;
    for (const p of params) if (p.startsWith('q=')) q = Number(p.slice(2));
    if (name === 'gzip' || name === 'x-gzip') return q > 0;
    if (name === '*') star = q > 0;
  }
  return star;
}

/** A query parameter that must be present once, as a canonical decimal. */
function decimalParam(c: Context<Env>, name: string): number {
  const all = c.req.queries(name);
  if (all === undefined || all.length !== 1) throw new ServerError('bad-request', `query parameter ${name} is required, once`);
  try {
    return parseDecimal(all[0]!);
  } catch {
    throw new ServerError('bad-request', `${name} must be a canonical decimal`);
  }
}

function json(body: unknown, status = 200, extra: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...extra } });
}

/** Wraps an authentication failure so that it answers 401 with its own code. */
function unauthenticated(err: unknown): never {
  if (err instanceof EntryError || err instanceof PolicyError) throw new ServerError('unauthenticated', err.message, { cause: err });
  throw err;
}

/**
 * entries.checkRequest without hashing the body in memory: a blob upload's body digest is its
 * URL's, and the blob store refuses a body that does not hash to it while streaming.
 */
function checkRequestHeaders(
  auth: RequestAuthorization,
  want: { origin: string; method: string; target: string; bodySha256: Uint8Array; now: number },
): void {
  const r = auth.request;
  if (r.origin !== want.origin) throw new EntryError('request-mismatch', 'request is for another origin');
  if (r.method !== want.method) throw new EntryError('request-mismatch', 'request is for another method');
  if (r.path !== want.target) throw new EntryError('request-mismatch', 'request is for another path');
  if (!equalBytes(r.bodySha256, want.bodySha256)) throw new EntryError('request-mismatch', 'request is for another body');
  if (Math.abs(r.time - want.now) > REQUEST_MAX_SKEW) {
    throw new EntryError('stale-request', `request time ${r.time} is more than ${REQUEST_MAX_SKEW} s from ${want.now}`);
  }
}

function blobDigest(hex: string): Uint8Array {
  try {
    return fromHex(hex, 32);
  } catch {
    throw new ServerError('bad-request', 'a blob is named by 64 lowercase hex digits');
  }
}

export function createApp(deps: AppDeps): Hono<Env> {
  const { reader, state, store, blobs } = deps;
  const maxBlob = deps.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES;
  const logError = deps.logError ?? ((m, e) => console.error(m, e));
  const app = new Hono<Env>();

  /**
   * Authenticates a write that is not self-authenticating (DESIGN.md "Requests that need
   * authority"): the Authorization: Concord-Note header, signed by an org, auditor or the
   * operator of the policy in force, for this origin, method, raw target and body digest,
   * within 300 s of now, with a nonce not seen in the last 600 s (remembered in storage, so
   * across restarts). Answers 401 'unauthenticated' / 'replayed-request' otherwise.
   */
  const authorize = async (c: Context<Env>, method: string, bodySha256: Uint8Array): Promise<Authorized> => {
    const header = c.req.header('authorization');
    if (header === undefined) throw new ServerError('unauthenticated', 'this request needs Authorization: Concord-Note <base64>');
    const now = deps.now();
    const policy = state.current();
    if (policy === undefined) throw new ServerError('unavailable', 'no policy in force');
    let who: Authorized['who'];
    let nonce: Uint8Array;
    try {
      const auth = parseAuthorizationHeader(header);
      who = verifyRequestAuthor(auth, policy.entry, { ed25519Verify: deps.verify });
      checkRequestHeaders(auth, { origin: deps.origin, method, target: rawTarget(c), bodySha256, now });
      nonce = auth.request.nonce;
    } catch (err) {
      unauthenticated(err);
    }
    if (!(await store.rememberNonce(who.vkey, nonce, now + REQUEST_NONCE_TTL, now))) {
      throw new ServerError('replayed-request', 'this request note was already used');
    }
    return { who, policy };
  };

  app.onError((err, c) => {
    const { status, body, extra } = errorAnswer(err, `${c.req.method} ${c.req.path}`);
    return new Response(body, { status, headers: { ...JSON_HEADERS, ...extra } });
  });
  app.notFound((c) => {
    strictPath(c); // a target normalised away from every route is still refused as such
    throw new ServerError('not-found', 'no such resource');
  });

  // CORS preflight: the read API needs none; writes from browsers send Authorization.
  app.options('*', () => {
    return new Response(null, {
      status: 204,
      headers: {
        ...CORS,
        'Access-Control-Allow-Methods': 'GET, HEAD, POST, PUT',
        'Access-Control-Allow-Headers': 'Authorization, Content-Type',
        'Access-Control-Max-Age': '86400',
      },
    });
  });

  // --- tlog-tiles ---------------------------------------------------------------------------

  app.get('/checkpoint', async (c) => {
    strictPath(c);
    return new Response(await reader.checkpoint(), { headers: NOTE_HEADERS });
  });

  app.get('/tile/*', async (c) => {
    const path = strictPath(c).slice(1);
    const t = parseTilePath(path);
    const gz = t.level === 'entries' && acceptsGzip(c.req.header('accept-encoding'));
    const body = reader.cachedTile(t, path, gz) ?? (await reader.tile(t, gz));
    if (body === null) throw new ServerError('not-found', `${path} is beyond the tree`);
    return new Response(body.data, { headers: tileHeaders(t, body.gzip) });
  });

  // --- conveniences ---------------------------------------------------------------------------

  app.get('/checkpoint/published', async (c) => {
    strictPath(c);
    const index = decimalParam(c, 'entry');
    const note = await reader.published(index);
    if (note === null) throw new ServerError('not-published', `no checkpoint cosigned by a witness quorum contains entry ${index} yet`);
    return new Response(note, { headers: { ...NOTE_HEADERS, 'Cache-Control': 'no-cache' } });
  });

  app.get('/checkpoint/noticed', async (c) => {
    strictPath(c);
    const index = decimalParam(c, 'policy');
    const note = await reader.noticed(index);
    if (note === null) throw new ServerError('not-published', `no notice checkpoint for a policy at entry ${index}`);
    return new Response(note, { headers: { ...NOTE_HEADERS, 'Cache-Control': 'no-cache' } });
  });

  app.get('/proof/inclusion', async (c) => {
    strictPath(c);
    const index = decimalParam(c, 'index');
    const size = decimalParam(c, 'size');
    if (size > (await reader.size())) throw new ServerError('not-found', `size ${size} is beyond the tree`);
    if (index >= size) throw new ServerError('bad-request', `index ${index} is not below size ${size}`);
    const proof = await proveInclusion(size, index, reader.hashReader(size));
    return json({ index, size, proof: proof.map(toBase64) }, 200, { 'Cache-Control': IMMUTABLE });
  });

  app.get('/proof/consistency', async (c) => {
    strictPath(c);
    const oldSize = decimalParam(c, 'old');
    const newSize = decimalParam(c, 'new');
    if (newSize > (await reader.size())) throw new ServerError('not-found', `size ${newSize} is beyond the tree`);
    if (oldSize > newSize) throw new ServerError('bad-request', `old ${oldSize} > new ${newSize}`);
    const proof = await proveConsistency(oldSize, newSize, reader.hashReader(newSize));
    return json({ old: oldSize, new: newSize, proof: proof.map(toBase64) }, 200, { 'Cache-Control': IMMUTABLE });
  });

  app.get('/entry/:index', async (c) => {
    strictPath(c);
    let index: number;
    try {
      index = parseDecimal(c.req.param('index'));
    } catch {
      throw new ServerError('bad-request', 'an entry index is a canonical decimal');
    }
    const data = await reader.entry(index);
    if (data === null) throw new ServerError('not-found', `entry ${index} is beyond the tree`);
    return json({ index, leafHash: toBase64(leafHashOf(data)), entry: fromUtf8(data) }, 200, { 'Cache-Control': IMMUTABLE });
  });

  // --- writes ---------------------------------------------------------------------------------

  /** POST /add once the body is read: the answer's JSON text, or the error to answer with. */
  const add = async (seq: Sequencer, bytes: Uint8Array): Promise<string> => {
    const se = parseSignedEntry(bytes);
    let pre: Precheck;
    try {
      pre = await state.precheck(se);
    } catch (err) {
      // An entry already in the log is answered with its index, whatever the log's state now
      // says of it (a retry whose first answer was lost, after a later release or policy).
      // Entries that pass precheck are deduplicated by the sequencer, one query per batch.
      const existing = await seq.existing(se.leafHash);
      if (existing !== null) return JSON.stringify({ index: existing, leafHash: toBase64(se.leafHash) });
      throw err;
    }
    await deps.addLimiter.take(pre.authorKey);
    const r = await seq.submit(pre);
    return JSON.stringify({ index: r.index, leafHash: toBase64(r.leafHash) });
  };

  /** The status, body and extra headers of an error answer (app.onError, and nodeListener's POST /add). */
  const errorAnswer = (err: unknown, what: string): { status: number; body: string; extra: Record<string, string> } => {
    const e = toHttpError(err);
    if (isServerFault(e) && !(err instanceof ServerError)) logError(`${what}: ${e.status}`, err);
    const extra: Record<string, string> = {};
    if (err instanceof ServerError && err.code === 'rate-limited') extra['Retry-After'] = String(deps.addLimiter.retryAfter());
    if (err instanceof ServerError && err.code === 'unavailable') extra['Retry-After'] = '1';
    return { status: e.status, body: errorBody(e), extra };
  };

  app.post('/add', async (c) => {
    strictPath(c);
    const seq = deps.sequencer;
    if (seq === undefined) throw new ServerError('read-only', 'this server does not sequence; submit to the sequencing server');
    const bytes = await readBody(c.req.raw, MAX_ENTRY_SIZE);
    return new Response(await add(seq, bytes), { headers: JSON_HEADERS });
  });

  // nodeListener's fast path for POST /add (see there): same steps, same answers.
  if (deps.sequencer !== undefined) {
    const seq = deps.sequencer;
    fastAdd.set(app, {
      add: (bytes) => add(seq, bytes),
      error: (err) => errorAnswer(err, 'POST /add'),
    });
  }

  app.put('/blob/sha256/:hex', async (c) => {
    strictPath(c);
    if (deps.sequencer === undefined) throw new ServerError('read-only', 'this server does not accept uploads; use the sequencing server');
    const digest = blobDigest(c.req.param('hex'));
    const { policy } = await authorize(c, 'PUT', digest);
    // DESIGN.md: at most 32 × max-entries bytes (a database of max-entries 32-byte elements).
    const maxBytes = Math.min(maxBlob, 32 * policy.entry.maxEntries);
    const announced = contentLength(c.req.raw);
    if (announced !== null && announced > maxBytes) throw new ServerError('too-large', `blobs are at most ${maxBytes} bytes`);
    const known = await store.getBlobMeta(digest);
    if (known !== null && (await blobs.has(digest))) {
      return json({ digest: `sha256:${toHex(digest)}`, size: known.size }, 200);
    }
    const body = c.req.raw.body;
    const { size } = await blobs.put(digest, body === null ? emptyBody() : limitBody(body, maxBytes), { maxBytes });
    await store.putBlobMeta({ digest, size, createdAt: deps.now() });
    return json({ digest: `sha256:${toHex(digest)}`, size }, 201);
  });

  app.get('/blob/sha256/:hex', async (c) => {
    strictPath(c);
    const digest = blobDigest(c.req.param('hex'));
    const blob = await blobs.get(digest);
    if (blob === null) throw new ServerError('not-found', 'no such blob');
    return new Response(blob.stream() as ReadableStream<Uint8Array>, {
      headers: { ...TILE_HEADERS, 'Content-Length': String(blob.size) },
    });
  });

  // --- OPRF, release bundles, dashboard (one module each) -------------------------------------
  // One index of the log's entries for every route that needs one (bundles, dashboard).
  const logIndex = new LogIndex(store, reader, state, deps.now, deps.verify);
  const ctx: RouteContext = { deps, strictPath, rawTarget, decimalParam, json, authorize, logIndex };
  registerOprfRoutes(app, ctx);
  registerReleaseRoutes(app, ctx);
  registerDashboardRoutes(app, ctx);

  return app;
}

async function* emptyBody(): AsyncGenerator<Uint8Array> {}

/** What createApp leaves for nodeListener's POST /add fast path (only on a sequencing server). */
interface FastAdd {
  /** The route's work after reading the body: the JSON answer, or throws what the route throws. */
  add(bytes: Uint8Array): Promise<string>;
  /** The answer app.onError gives for `err`. */
  error(err: unknown): { status: number; body: string; extra: Record<string, string> };
}

const fastAdd = new WeakMap<Hono<Env>, FastAdd>();


const JSON_RAW_HEADERS: readonly string[] = Object.entries(JSON_HEADERS).flat();

/**
 * The Node request listener for `app`: a GET of a canonical tile path whose bytes are in the
 * reader's cache is answered straight from memory (same headers as the route above), everything
 * else — misses, anything non-canonical, every other route — goes through the app. Full tiles
 * are the hottest, immutable, most cacheable thing a log serves; this keeps the framework's
 * per-request work off that path.
 */
export function nodeListener(app: Hono<Env>, reader: LogReader): (req: IncomingMessage, res: ServerResponse) => void {
  const viaApp = getRequestListener(app.fetch);
  // Parsed canonical tile paths (parseTilePath is a pure function of the string); bounded.
  const parsed = new Map<string, TileCoord>();
  const rawHeaders = (t: TileCoord, gzip: boolean, length: number): string[] => {
    const out: string[] = [];
    for (const [k, v] of Object.entries(tileHeaders(t, gzip))) out.push(k, v);
    out.push('Content-Length', String(length));
    return out;
  };
  const adder = fastAdd.get(app);
  const answer = (res: ServerResponse, status: number, body: string, extra?: Record<string, string>): void => {
    const headers = [...JSON_RAW_HEADERS, 'Content-Length', String(Buffer.byteLength(body))];
    if (extra !== undefined) for (const [k, v] of Object.entries(extra)) headers.push(k, v);
    res.writeHead(status, headers);
    res.end(body);
  };
  const postAdd = (req: IncomingMessage, res: ServerResponse, f: FastAdd, length: number): void => {
    const body = new Uint8Array(length); // its own ArrayBuffer, as the route's arrayBuffer() gives
    let at = 0;
    let failed = false;
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      const e = f.error(err);
      answer(res, e.status, e.body, e.extra);
    };
    req.on('data', (chunk: Buffer) => {
      // The HTTP parser delivers exactly Content-Length bytes; the check is belt and braces.
      if (at + chunk.length > length) return fail(new ServerError('too-large', `request body exceeds ${MAX_ENTRY_SIZE} bytes`));
      body.set(chunk, at);
      at += chunk.length;
    });
    req.on('error', fail);
    req.on('end', () => {
      if (failed) return;
      f.add(at === length ? body : body.subarray(0, at)).then((text) => answer(res, 200, text), fail);
    });
  };
  return (req, res) => {
    const url = req.url;
    if (adder !== undefined && req.method === 'POST' && url === '/add') {
      // POST /add with a canonical Content-Length within the entry limit — every submission
      // from a well-behaved client — skips the framework: the same steps as the route (body
      // read to its announced length, add(), errors answered as app.onError answers them),
      // without building web Request and Response objects. Anything else (no or malformed
      // Content-Length, chunked, oversized) takes the route, which refuses it as it always did.
      const cl = req.headers['content-length'];
      if (cl !== undefined && req.headers['transfer-encoding'] === undefined && CANONICAL_LENGTH.test(cl) && Number(cl) <= MAX_ENTRY_SIZE) {
        postAdd(req, res, adder, Number(cl));
        return;
      }
    }
    if (req.method === 'GET' && url !== undefined && url.startsWith('/tile/')) {
      const path = url.slice(1);
      let t = parsed.get(path);
      if (t === undefined) {
        try {
          t = parseTilePath(path); // canonical or nothing: no query, dot segment or escape gets here
          if (parsed.size >= 4096) parsed.clear();
          parsed.set(path, t);
        } catch {
          t = undefined;
        }
      }
      if (t !== undefined) {
        const hit = reader.cachedTile(t, path, t.level === 'entries' && acceptsGzip(req.headers['accept-encoding']));
        if (hit !== undefined) {
          res.writeHead(200, rawHeaders(t, hit.gzip, hit.data.length));
          res.end(hit.data);
          return;
        }
      }
    }
    void viaApp(req, res);
  };
}
