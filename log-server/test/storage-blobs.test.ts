// The filesystem BlobStore: content-addressed, streamed, digest-checked, size-capped, and
// leaving nothing behind when an upload fails.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BlobError, openBlobStore } from '@concord/log-server/storage/blobs';
import type { BlobErrorCode, FsBlobStore } from '@concord/log-server/storage/blobs';

const root = mkdtempSync(path.join(tmpdir(), 'concord-blobs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const fresh = () => openBlobStore(path.join(root, `store-${counter++}`), { create: true });

const sha = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest());
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

async function* chunksOf(data: Uint8Array, size: number, delayMs = 0): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.length; at += size) {
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    yield data.subarray(at, at + size);
  }
}

async function readAll(stream: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of stream as AsyncIterable<Uint8Array>) parts.push(c);
  return new Uint8Array(Buffer.concat(parts));
}

async function blobCode(p: Promise<unknown>): Promise<BlobErrorCode | string> {
  try {
    await p;
  } catch (err) {
    return err instanceof BlobError ? err.code : `other: ${(err as Error).message}`;
  }
  return 'no error';
}

/** Every file under the store: stored blobs and temporaries. */
function filesOf(store: FsBlobStore): { blobs: string[]; tmp: string[] } {
  const blobs = readdirSync(path.join(store.dir, 'sha256'), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => d.name)
    .sort();
  return { blobs, tmp: readdirSync(path.join(store.dir, 'tmp')) };
}

describe('FsBlobStore', () => {
  it('stores a blob under its digest and streams it back', async () => {
    const store = await fresh();
    const data = randomBytes(300_000);
    const digest = sha(data);
    expect(await store.get(digest)).toBeNull();
    expect(await store.has(digest)).toBe(false);
    expect(await store.put(digest, chunksOf(data, 7_000), { maxBytes: 300_000 })).toEqual({ size: 300_000 });
    const got = await store.get(digest);
    expect(got?.size).toBe(300_000);
    expect(hex(await readAll(got!.stream()))).toBe(hex(data));
    expect(hex(await readAll(got!.stream()))).toBe(hex(data)); // each stream() is fresh
    expect(await store.has(digest)).toBe(true);
    expect(store.pathOf(digest)).toBe(path.join(store.dir, 'sha256', hex(digest).slice(0, 2), hex(digest)));
    expect(hex(readFileSync(store.pathOf(digest)))).toBe(hex(data));
    expect(filesOf(store)).toEqual({ blobs: [hex(digest)], tmp: [] });
    // The empty blob is a blob too.
    const empty = new Uint8Array(0);
    expect(await store.put(sha(empty), chunksOf(empty, 1), { maxBytes: 0 })).toEqual({ size: 0 });
    expect((await store.get(sha(empty)))?.size).toBe(0);
  });

  it('accepts a web ReadableStream body', async () => {
    const store = await fresh();
    const data = randomBytes(50_000);
    const body = new Blob([data]).stream();
    expect(await store.put(sha(data), body, { maxBytes: 1 << 20 })).toEqual({ size: 50_000 });
    expect(hex(readFileSync(store.pathOf(sha(data))))).toBe(hex(data));
  });

  it('leaves nothing behind when the digest does not match', async () => {
    const store = await fresh();
    const data = randomBytes(100_000);
    const wrong = sha(data);
    wrong[31]! ^= 1;
    expect(await blobCode(store.put(wrong, chunksOf(data, 4096), { maxBytes: 1 << 20 }))).toBe('digest-mismatch');
    // One flipped byte of the body, under the right digest.
    const flipped = Uint8Array.from(data);
    flipped[54_321]! ^= 0x80;
    expect(await blobCode(store.put(sha(data), chunksOf(flipped, 4096), { maxBytes: 1 << 20 }))).toBe('digest-mismatch');
    expect(filesOf(store)).toEqual({ blobs: [], tmp: [] });
    expect(await store.get(sha(data))).toBeNull();
  });

  it('enforces the size cap mid-stream, reading no further', async () => {
    const store = await fresh();
    const chunk = new Uint8Array(1000).fill(7);
    let pulled = 0;
    let finished = false;
    async function* endless(): AsyncGenerator<Uint8Array> {
      try {
        for (;;) {
          pulled++;
          yield chunk;
        }
      } finally {
        finished = true; // the store returned the iterator
      }
    }
    const digest = sha(new Uint8Array(0)); // any digest: the cap fires first
    expect(await blobCode(store.put(digest, endless(), { maxBytes: 10_500 }))).toBe('too-large');
    expect(pulled).toBe(11); // 11,000 > 10,500 bytes: the 11th chunk is the last one read
    expect(finished).toBe(true);
    expect(filesOf(store)).toEqual({ blobs: [], tmp: [] });
    // A web stream is cancelled.
    let cancelled = false;
    const web = new ReadableStream<Uint8Array>({
      pull: (c) => c.enqueue(chunk.slice()),
      cancel: () => {
        cancelled = true;
      },
    });
    expect(await blobCode(store.put(digest, web, { maxBytes: 5_000 }))).toBe('too-large');
    expect(cancelled).toBe(true);
    // Exactly at the cap is fine.
    const exact = randomBytes(10_500);
    expect(await store.put(sha(exact), chunksOf(exact, 1000), { maxBytes: 10_500 })).toEqual({ size: 10_500 });
    expect(await blobCode(store.put(sha(exact), chunksOf(exact, 1000), { maxBytes: 10_499 }))).toBe('too-large');
    expect(filesOf(store).tmp).toEqual([]);
  });

  it('writes each chunk before asking for the next (the body is never held whole)', async () => {
    const store = await fresh();
    // One buffer, rewritten after every yield: a store that kept chunks to write later would
    // write the last contents many times and fail the digest check.
    const buf = new Uint8Array(64 * 1024);
    const total = 8 * 1024 * 1024;
    const expected = createHash('sha256');
    const fill = (i: number) => {
      buf.fill(i & 0xff);
      buf[0] = i >> 8;
    };
    for (let i = 0; i * buf.length < total; i++) {
      fill(i);
      expected.update(buf);
    }
    async function* reused(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i * buf.length < total; i++) {
        fill(i);
        yield buf;
      }
    }
    const digest = new Uint8Array(expected.digest());
    expect(await store.put(digest, reused(), { maxBytes: total })).toEqual({ size: total });
    expect(hex(sha(readFileSync(store.pathOf(digest))))).toBe(hex(digest));
  });

  it('handles concurrent uploads of the same blob, and a corrupt one among them', async () => {
    const store = await fresh();
    const data = randomBytes(200_000);
    const digest = sha(data);
    const corrupt = Uint8Array.from(data);
    corrupt[199_999]! ^= 1;
    const results = await Promise.allSettled([
      ...Array.from({ length: 6 }, (_, i) => store.put(digest, chunksOf(data, 10_000 + i * 777, 1), { maxBytes: 1 << 20 })),
      store.put(digest, chunksOf(corrupt, 9_000, 1), { maxBytes: 1 << 20 }),
    ]);
    expect(results.slice(0, 6).map((r) => r.status)).toEqual(Array(6).fill('fulfilled'));
    expect(results[6]!.status).toBe('rejected');
    expect(((results[6] as PromiseRejectedResult).reason as BlobError).code).toBe('digest-mismatch');
    expect(hex(readFileSync(store.pathOf(digest)))).toBe(hex(data));
    expect(filesOf(store)).toEqual({ blobs: [hex(digest)], tmp: [] });
    // Uploading a blob that is already there is harmless.
    expect(await store.put(digest, chunksOf(data, 50_000), { maxBytes: 1 << 20 })).toEqual({ size: 200_000 });
  });

  it('propagates a failing body (a client that disconnects) and cleans up', async () => {
    const store = await fresh();
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(5000);
      throw new Error('connection reset');
    }
    expect(await blobCode(store.put(sha(new Uint8Array(5000)), broken(), { maxBytes: 1 << 20 }))).toBe('other: connection reset');
    expect(filesOf(store)).toEqual({ blobs: [], tmp: [] });
  });

  it('checks its arguments', async () => {
    const store = await fresh();
    expect(await blobCode(store.put(new Uint8Array(31), chunksOf(new Uint8Array(1), 1), { maxBytes: 10 }))).toBe('bad-input');
    expect(await blobCode(store.put(new Uint8Array(32), chunksOf(new Uint8Array(1), 1), { maxBytes: -1 }))).toBe('bad-input');
    expect(await blobCode(store.get(new Uint8Array(33)))).toBe('bad-input');
  });

  it('opens only an existing directory unless asked to create it, and sweeps stale temporaries', async () => {
    const dir = path.join(root, `store-${counter++}`);
    expect(await blobCode(openBlobStore(dir))).toBe('not-found');
    expect(existsSync(dir)).toBe(false);
    const store = await openBlobStore(dir, { create: true });
    const stale = path.join(store.dir, 'tmp', 'stale');
    const recent = path.join(store.dir, 'tmp', 'recent');
    writeFileSync(stale, 'x');
    writeFileSync(recent, 'y');
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    utimesSync(stale, old, old);
    await openBlobStore(dir);
    expect(readdirSync(path.join(store.dir, 'tmp'))).toEqual(['recent']);
  });
});
