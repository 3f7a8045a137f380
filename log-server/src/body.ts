// Request bodies with their size caps enforced while reading: a body announced (Content-Length)
// above its cap is refused before a byte is read, and a body streamed without a length is
// refused the moment it passes the cap, so an oversized upload costs at most cap + one chunk.

import { ServerError } from './http-errors.js';

/** A Content-Length value this server accepts: canonical decimal (no sign, no leading zero). */
export const CANONICAL_LENGTH = /^(0|[1-9][0-9]{0,15})$/;

/** The announced Content-Length, or null when absent; a malformed value is a 400. */
export function contentLength(req: Request): number | null {
  const v = req.headers.get('content-length');
  if (v === null) return null;
  if (!CANONICAL_LENGTH.test(v) || !Number.isSafeInteger(Number(v))) throw new ServerError('bad-request', 'malformed Content-Length');
  return Number(v);
}

function tooLarge(max: number): ServerError {
  return new ServerError('too-large', `request body exceeds ${max} bytes`);
}

/** Reads a whole body of at most `max` bytes into memory (small bodies only: entries, JSON). */
export async function readBody(req: Request, max: number): Promise<Uint8Array> {
  const announced = contentLength(req);
  if (announced !== null && announced > max) throw tooLarge(max);
  if (announced !== null) {
    // The HTTP parser delivers exactly Content-Length bytes, so this read is bounded. (Reading
    // through arrayBuffer() also lets the Node adapter skip building a web stream.)
    const b = new Uint8Array(await req.arrayBuffer());
    if (b.length > max) throw tooLarge(max);
    return b;
  }
  if (req.body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const chunk of limitBody(req.body, max)) {
    chunks.push(chunk);
    n += chunk.length;
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * The chunks of a body stream, throwing ServerError('too-large') (and cancelling the stream)
 * as soon as more than `max` bytes have arrived.
 */
export async function* limitBody(body: ReadableStream<Uint8Array>, max: number): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      n += value.length;
      if (n > max) throw tooLarge(max);
      yield value;
    }
  } finally {
    reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}
