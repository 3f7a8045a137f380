// A client for a Concord log's HTTP API (DESIGN.md "Server surface"), over an injected
// fetch-like function, so it runs in Node, browsers and on devices alike.
//
//   GET  /checkpoint                        signed checkpoint + cosignatures   (text)
//   GET  /tile/<L>/<N>[.p/<W>]              hash tiles                         (c2sp.org/tlog-tiles)
//   GET  /tile/entries/<N>[.p/<W>]          entry bundles
//   GET  /checkpoint/published?entry=<i>    earliest quorum-cosigned checkpoint containing i
//   GET  /blob/sha256/<hex>                 content-addressed blobs
//   GET  /release/<n|latest>/bundle         device bundles
//   POST /add                               one signed entry → {"index","leafHash"}
//   PUT  /blob/sha256/<hex>                 Authorization: Concord-Note …
//   POST /oprf/evaluate                     Authorization: Concord-Note …; {"blinded":[…]}
//
// Nothing the server says is trusted here beyond what the method's contract states:
// `checkpoint()` returns bytes the caller must open against the log key and witnesses; hash
// tiles are authenticated against a verified tree head by tiles.tileHashReader; entries are
// checked against the tree's leaf hashes; blobs against their SHA-256. Every response body is
// read with a size cap, so a hostile server cannot exhaust memory.

import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes, fromBase64, fromUtf8, toHex, utf8 } from './bytes.js';
import { authorizationHeader } from './entries.js';
import { ConcordError } from './errors.js';
import type { Hash, HashReader } from './merkle.js';
import { leafHash } from './merkle.js';
import type { Signer } from './note.js';
import {
  TILE_WIDTH,
  decodeEntryBundle,
  tileHashReader,
  tilePath,
  verifyEntryBundle,
} from './tiles.js';
import type { EntriesTile, Tile, TileReader, TreeHead } from './tiles.js';

export type ClientErrorCode =
  /** The request failed at the network level (connection refused, timeout, aborted). */
  | 'network'
  /** The server answered with an unexpected status; `status` and the server's error code are kept. */
  | 'http-status'
  /** A response body exceeded its cap. */
  | 'too-large'
  /** A response was malformed (bad JSON, wrong fields, wrong sizes). */
  | 'bad-response'
  /** A blob's bytes do not hash to its name. */
  | 'blob-mismatch'
  /** The caller's arguments are out of range. */
  | 'bad-input';

export class ClientError extends ConcordError<ClientErrorCode> {
  override readonly name = 'ClientError';
  /** The HTTP status, for 'http-status'. */
  readonly status?: number;
  /** The server's JSON error code ({"error":{"code"}}), when it sent one. */
  readonly serverCode?: string;
  /** The raw response body, for 'http-status' (at most 64 KiB). */
  readonly body?: Uint8Array;

  constructor(code: ClientErrorCode, message: string, opts?: { cause?: unknown; status?: number; serverCode?: string; body?: Uint8Array }) {
    super(code, message, opts?.cause === undefined ? undefined : { cause: opts.cause });
    if (opts?.status !== undefined) this.status = opts.status;
    if (opts?.serverCode !== undefined) this.serverCode = opts.serverCode;
    if (opts?.body !== undefined) this.body = opts.body;
  }
}

/** The part of a fetch Response this client uses. */
export interface FetchResponse {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  readonly body?: ReadableStream<Uint8Array> | null;
  arrayBuffer(): Promise<ArrayBuffer>;
}

export interface FetchInit {
  method?: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  signal?: AbortSignal;
}

/** A fetch-like function (globalThis.fetch fits). */
export type Fetch = (url: string, init?: FetchInit) => Promise<FetchResponse>;

/** Response caps (bytes). */
export const MAX_CHECKPOINT_BYTES = 1 << 20;
export const MAX_JSON_BYTES = 1 << 20;
/** A full hash tile is 8 KiB; an entry bundle at most 256 × (2 + 65,535) bytes. */
export const MAX_TILE_BYTES = TILE_WIDTH * 32;
export const MAX_BUNDLE_BYTES = TILE_WIDTH * (2 + 65_535);
/** Release bundles (DESIGN.md "Device acceptance"); bundle.ts enforces its own caps too. */
export const MAX_RELEASE_BUNDLE_BYTES = 16 << 20;

export interface LogClientOptions {
  /** The log's base URL, e.g. "http://127.0.0.1:8080" (a trailing slash is ignored). */
  readonly url: string;
  /** Default: globalThis.fetch. */
  readonly fetch?: Fetch;
  /** Per-request timeout in milliseconds (default 30,000; blobs get 10× that). */
  readonly timeoutMs?: number;
  /** Parallel tile and bundle fetches (default 8). */
  readonly concurrency?: number;
  /** Unix seconds, for request notes (default: the system clock). */
  readonly now?: () => number;
  /** Random bytes, for request nonces (default: crypto.getRandomValues). */
  readonly random?: (n: number) => Uint8Array;
}

/** The answer to POST /add. */
export interface AddResult {
  readonly index: number;
  readonly leafHash: Hash;
}

function defaultRandom(n: number): Uint8Array {
  const b = new Uint8Array(n);
  globalThis.crypto.getRandomValues(b);
  return b;
}

/**
 * Reads a body up to `max` bytes, streaming when the response allows it (a longer body is
 * ClientError 'too-large', detected without reading past the cap).
 */
export async function readCapped(res: FetchResponse, max: number, what: string): Promise<Uint8Array> {
  const announced = res.headers.get('content-length');
  if (announced !== null && /^\d+$/.test(announced) && Number(announced) > max) {
    throw new ClientError('too-large', `${what}: ${announced} bytes announced, at most ${max} accepted`);
  }
  const stream = res.body;
  if (stream !== undefined && stream !== null && typeof stream.getReader === 'function') {
    const reader = stream.getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > max) {
        await reader.cancel().catch(() => {});
        throw new ClientError('too-large', `${what}: more than ${max} bytes`);
      }
      chunks.push(value);
    }
    const out = new Uint8Array(total);
    let off = 0;
    for (const c of chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
  const buf = new Uint8Array(await res.arrayBuffer());
  if (buf.length > max) throw new ClientError('too-large', `${what}: more than ${max} bytes`);
  return buf;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function parseJson(bytes: Uint8Array, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(fromUtf8(bytes));
  } catch (err) {
    throw new ClientError('bad-response', `${what}: not JSON`, { cause: err });
  }
  if (!isRecord(v)) throw new ClientError('bad-response', `${what}: not a JSON object`);
  return v;
}

/** Runs `f` over `items` with at most `n` in flight; results in input order. */
export async function mapConcurrent<T, R>(items: readonly T[], n: number, f: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

export class LogClient {
  readonly url: string;
  private readonly fetchFn: Fetch;
  private readonly timeoutMs: number;
  private readonly concurrency: number;
  private readonly now: () => number;
  private readonly random: (n: number) => Uint8Array;

  constructor(opts: LogClientOptions) {
    if (typeof opts.url !== 'string' || !/^https?:\/\/[^/?#]+(\/[^?#]*)?$/.test(opts.url)) {
      throw new ClientError('bad-input', `log URL must be http(s)://host[/path]: ${JSON.stringify(String(opts.url).slice(0, 100))}`);
    }
    this.url = opts.url.replace(/\/+$/, '');
    // globalThis.fetch must be called with globalThis as `this` (browsers throw "Illegal
    // invocation" otherwise), so it is bound, never stored bare.
    const g = globalThis.fetch as unknown as Fetch | undefined;
    const f = opts.fetch ?? (g === undefined ? undefined : (g.bind(globalThis) as Fetch));
    if (f === undefined) throw new ClientError('bad-input', 'no fetch function');
    this.fetchFn = f;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.concurrency = opts.concurrency ?? 8;
    this.now = opts.now ?? (() => Math.floor(Date.now() / 1000));
    this.random = opts.random ?? defaultRandom;
  }

  /**
   * One request: resolves with the response for an expected status, else throws ClientError
   * 'http-status' carrying the status and the server's error code. Network failures and
   * timeouts are 'network'.
   */
  async request(
    path: string,
    init: FetchInit & { ok?: readonly number[]; timeoutMs?: number } = {},
  ): Promise<FetchResponse> {
    const ok = init.ok ?? [200];
    const controller = typeof AbortController === 'function' ? new AbortController() : undefined;
    const timeout = init.timeoutMs ?? this.timeoutMs;
    const timer = controller === undefined ? undefined : setTimeout(() => controller.abort(), timeout);
    let res: FetchResponse;
    const method = init.method ?? 'GET';
    try {
      const req: FetchInit = { method };
      if (init.headers !== undefined) req.headers = init.headers;
      if (init.body !== undefined) req.body = init.body;
      const signal = init.signal ?? controller?.signal;
      if (signal !== undefined) req.signal = signal;
      try {
        res = await this.fetchFn(this.url + path, req);
      } catch (err) {
        // A connection the server closed while idle can fail the next request on it before
        // anything was sent. Requests that are safe to repeat are tried once more: reads, blob
        // uploads (content-addressed) and entry submissions (the log answers a repeated entry
        // with its index); never OPRF requests, whose note is single-use.
        if (signal?.aborted === true || !(method === 'GET' || method === 'PUT' || path === '/add')) throw err;
        res = await this.fetchFn(this.url + path, req);
      }
    } catch (err) {
      throw new ClientError('network', `${method} ${this.url}${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
    if (!ok.includes(res.status)) {
      let body: Uint8Array | undefined;
      let serverCode: string | undefined;
      let detail = '';
      try {
        body = await readCapped(res, 65_536, 'error body');
        const j = JSON.parse(fromUtf8(body)) as unknown;
        if (isRecord(j) && isRecord(j.error)) {
          if (typeof j.error.code === 'string') serverCode = j.error.code;
          if (typeof j.error.message === 'string') detail = `: ${j.error.message}`;
        }
      } catch {
        // not a JSON error body; keep what was read
      }
      throw new ClientError('http-status', `${init.method ?? 'GET'} ${path}: HTTP ${res.status}${serverCode !== undefined ? ` ${serverCode}` : ''}${detail}`, {
        status: res.status,
        ...(serverCode !== undefined ? { serverCode } : {}),
        ...(body !== undefined ? { body } : {}),
      });
    }
    return res;
  }

  private async getBytes(path: string, max: number, what: string, timeoutMs?: number): Promise<Uint8Array> {
    const res = await this.request(path, timeoutMs === undefined ? {} : { timeoutMs });
    return readCapped(res, max, what);
  }

  private async getJson(path: string, what: string): Promise<Record<string, unknown>> {
    return parseJson(await this.getBytes(path, MAX_JSON_BYTES, what), what);
  }

  // --- read API -----------------------------------------------------------------------------

  /** The latest checkpoint note with its cosignatures: UNVERIFIED bytes. */
  async checkpoint(): Promise<Uint8Array> {
    return this.getBytes('/checkpoint', MAX_CHECKPOINT_BYTES, 'checkpoint');
  }

  /** The earliest quorum-cosigned checkpoint containing entry `index` (UNVERIFIED), or null if none yet. */
  async published(index: number): Promise<Uint8Array | null> {
    checkIndex(index, 'entry index');
    try {
      return await this.getBytes(`/checkpoint/published?entry=${index}`, MAX_CHECKPOINT_BYTES, 'published checkpoint');
    } catch (err) {
      if (err instanceof ClientError && err.status === 404) return null;
      throw err;
    }
  }

  /**
   * The notice checkpoint the log designates for the policy entry at `index` (UNVERIFIED; see
   * notice.ts), or null if it has none (404 not-published).
   */
  async noticed(index: number): Promise<Uint8Array | null> {
    checkIndex(index, 'policy index');
    try {
      return await this.getBytes(`/checkpoint/noticed?policy=${index}`, MAX_CHECKPOINT_BYTES, 'notice checkpoint');
    } catch (err) {
      if (err instanceof ClientError && err.status === 404 && err.serverCode === 'not-published') return null;
      throw err;
    }
  }

  /** Raw tile bytes (UNVERIFIED): use hashReader for authenticated hashes. */
  async tile(t: Tile | EntriesTile): Promise<Uint8Array> {
    const max = t.level === 'entries' ? MAX_BUNDLE_BYTES : MAX_TILE_BYTES;
    return this.getBytes(`/${tilePath(t)}`, max, tilePath(t));
  }

  /**
   * A TileReader fetching tiles concurrently. `cache`, if given, is consulted first and handed
   * only tiles that tileHashReader has authenticated (its saveTiles contract).
   */
  tileReader(cache?: TileCache): TileReader {
    return {
      readTiles: async (tiles) =>
        mapConcurrent(tiles, this.concurrency, async (t) => {
          const hit = cache?.get(tilePath(t));
          if (hit !== undefined) return hit;
          return this.tile(t);
        }),
      saveTiles: (tiles, data) => {
        if (cache === undefined) return;
        tiles.forEach((t, i) => cache.set(tilePath(t), data[i]!));
      },
    };
  }

  /** An authenticating HashReader for a verified tree head (see tiles.tileHashReader). */
  hashReader(tree: TreeHead, cache?: TileCache): HashReader {
    return tileHashReader(tree, this.tileReader(cache));
  }

  /**
   * Entries [start, end) of the verified tree `tree`, each checked against the tree's leaf
   * hashes through `reader` (a hashReader for the same tree). Fetches entry bundles
   * concurrently; the partial bundle at the tree's edge is fetched at the tree's width.
   */
  async entries(tree: TreeHead, start: number, end: number, reader: HashReader = this.hashReader(tree)): Promise<Uint8Array[]> {
    checkIndex(start, 'start');
    checkIndex(end, 'end');
    if (start > end || end > tree.size) throw new ClientError('bad-input', `entries [${start}, ${end}) are not within a tree of size ${tree.size}`);
    if (start === end) return [];
    const first = Math.floor(start / TILE_WIDTH);
    const last = Math.floor((end - 1) / TILE_WIDTH);
    const bundles: EntriesTile[] = [];
    for (let n = first; n <= last; n++) {
      const width = Math.min(TILE_WIDTH, tree.size - n * TILE_WIDTH);
      bundles.push({ level: 'entries', n, width });
    }
    const decoded = await mapConcurrent(bundles, this.concurrency, async (b) => {
      const data = await this.tile(b);
      let entries: Uint8Array[];
      try {
        entries = decodeEntryBundle(data, b.width);
      } catch (err) {
        throw new ClientError('bad-response', `${tilePath(b)}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      await verifyEntryBundle(b, entries, reader);
      return entries;
    });
    const out: Uint8Array[] = [];
    decoded.forEach((entries, i) => {
      const base = bundles[i]!.n * TILE_WIDTH;
      for (let j = 0; j < entries.length; j++) {
        const index = base + j;
        if (index >= start && index < end) out.push(entries[j]!);
      }
    });
    return out;
  }

  /** One entry of the verified tree, checked against its leaf hash. */
  async entry(tree: TreeHead, index: number, reader?: HashReader): Promise<Uint8Array> {
    const [e] = await this.entries(tree, index, index + 1, reader);
    return e!;
  }

  /** A blob by its SHA-256, checked to hash to it. */
  async blob(digest: Uint8Array, maxBytes: number): Promise<Uint8Array> {
    if (!(digest instanceof Uint8Array) || digest.length !== 32) throw new ClientError('bad-input', 'a blob digest is 32 bytes');
    const bytes = await this.getBytes(`/blob/sha256/${toHex(digest)}`, maxBytes, `blob sha256:${toHex(digest)}`, this.timeoutMs * 10);
    if (!equalBytes(sha256(bytes), digest)) throw new ClientError('blob-mismatch', `blob sha256:${toHex(digest)}: the bytes served hash to something else`);
    return bytes;
  }

  /** A release bundle's bytes (UNVERIFIED: bundle.ts / device.ts verify them). */
  async releaseBundle(sequence: number | 'latest'): Promise<Uint8Array> {
    if (sequence !== 'latest') checkIndex(sequence, 'release sequence');
    return this.getBytes(`/release/${sequence}/bundle`, MAX_RELEASE_BUNDLE_BYTES, 'release bundle');
  }

  // --- write API ----------------------------------------------------------------------------

  /** Submits one signed entry; resolves once the log has durably sequenced it. */
  async add(entry: Uint8Array): Promise<AddResult> {
    const res = await this.request('/add', { method: 'POST', body: entry, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, timeoutMs: this.timeoutMs });
    const j = parseJson(await readCapped(res, MAX_JSON_BYTES, 'add'), 'add');
    const index = j.index;
    const leaf = j.leafHash;
    if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0 || typeof leaf !== 'string') {
      throw new ClientError('bad-response', 'add: want {"index","leafHash"}');
    }
    let leafHashBytes: Uint8Array;
    try {
      leafHashBytes = fromBase64(leaf, 32);
    } catch (err) {
      throw new ClientError('bad-response', 'add: leafHash is not base64 of 32 bytes', { cause: err });
    }
    if (!equalBytes(leafHashBytes, leafHash(entry))) throw new ClientError('bad-response', 'add: the leaf hash answered is not the entry\'s');
    return { index, leafHash: leafHashBytes };
  }

  /**
   * The Authorization header for a request to this log: a concord/request/v1 note signed by
   * `signer` for (origin, method, path, SHA-256 of body, now, a fresh nonce).
   */
  authorization(origin: string, method: string, path: string, body: Uint8Array, signer: Signer): string {
    return authorizationHeader({ origin, method, path, bodySha256: sha256(body), time: this.now(), nonce: this.random(16) }, signer);
  }

  /** Uploads a blob (content-addressed); returns its digest. Idempotent. */
  async putBlob(origin: string, bytes: Uint8Array, signer: Signer): Promise<Uint8Array> {
    const digest = sha256(bytes);
    const path = `/blob/sha256/${toHex(digest)}`;
    // The request note names the body by its digest, which is also the URL: no second hash.
    const auth = authorizationHeader({ origin, method: 'PUT', path, bodySha256: digest, time: this.now(), nonce: this.random(16) }, signer);
    await this.request(path, {
      method: 'PUT',
      body: bytes,
      headers: { Authorization: auth, 'Content-Type': 'application/octet-stream' },
      ok: [200, 201],
      timeoutMs: this.timeoutMs * 10,
    });
    return digest;
  }

  /**
   * POST /oprf/evaluate: the operator's evaluation of `blinded` elements (≤ 1,000) with its
   * batch DLEQ proof, UNVERIFIED (oprf.verifyAndUnblind checks the proof against the policy's
   * blinding-key). Returns the raw JSON body for oprf.parseEvaluateResponse.
   */
  async oprfEvaluate(origin: string, body: string, signer: Signer): Promise<Uint8Array> {
    const bytes = utf8(body);
    const auth = this.authorization(origin, 'POST', '/oprf/evaluate', bytes, signer);
    const res = await this.request('/oprf/evaluate', {
      method: 'POST',
      body: bytes,
      headers: { Authorization: auth, 'Content-Type': 'application/json' },
    });
    return readCapped(res, MAX_JSON_BYTES, 'oprf evaluation');
  }

  /** GET /oprf/stats as JSON (operator-reported counts). */
  async oprfStats(): Promise<Record<string, unknown>> {
    return this.getJson('/oprf/stats', 'oprf stats');
  }
}

/** A cache of authenticated tiles by path (e.g. a Map, or a directory on disk). */
export interface TileCache {
  get(path: string): Uint8Array | undefined;
  set(path: string, data: Uint8Array): void;
}

function checkIndex(x: number, what: string): void {
  if (!Number.isSafeInteger(x) || x < 0) throw new ClientError('bad-input', `${what} must be a non-negative safe integer`);
}

