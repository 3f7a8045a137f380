// Content-addressed blob bytes (contribution sets, exclusions, databases), kept out of the
// database: a blob may be hundreds of MiB, streamed in and out, never held whole in memory.
// Their metadata (digest, size, created) is in the LogStore (putBlobMeta), recorded after put().
//
// Layout of the directory (default <data>/blobs):
//
//   sha256/<hex[0:2]>/<hex>     a blob whose SHA-256 is <hex>, immutable once there
//   tmp/<hex>.<random>          an upload in progress
//
// put() streams the body into a fresh temporary file while hashing and counting it, refuses it
// the moment it passes maxBytes, and on the end of the stream checks the digest; only then does
// it fsync the file, rename it into place (atomic: a reader sees the whole blob or none) and
// fsync the directory, so a blob that put() acknowledged survives a crash. Any failure deletes
// the temporary file. Identical concurrent uploads each write their own temporary file and the
// renames replace identical content, so no locking is needed.

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import { ConcordError } from '@concord/client-sdk/errors';

export type BlobErrorCode =
  /** The body's SHA-256 is not the digest it was uploaded under. */
  | 'digest-mismatch'
  /** The body is longer than the size cap. */
  | 'too-large'
  /** A digest that is not 32 bytes, a bad size cap. */
  | 'bad-input'
  /** The blob directory does not exist (open without create). */
  | 'not-found';

export class BlobError extends ConcordError<BlobErrorCode> {
  override readonly name = 'BlobError';
}

export interface StoredBlob {
  readonly size: number;
  /** A fresh stream of the blob's bytes. */
  stream(): ReadableStream<Uint8Array>;
}

export interface BlobStore {
  /**
   * Stores the bytes of `body` under `digest` (SHA-256, 32 bytes) if they hash to it and are at
   * most maxBytes long, else throws BlobError and stores nothing. Consumes `body` only as far as
   * needed: reading stops as soon as the cap is passed. Errors from `body` propagate unchanged.
   */
  put(digest: Uint8Array, body: AsyncIterable<Uint8Array>, options: { maxBytes: number }): Promise<{ size: number }>;
  /** The stored blob with this digest, or null. */
  get(digest: Uint8Array): Promise<StoredBlob | null>;
  has(digest: Uint8Array): Promise<boolean>;
}

/** Temporary files older than this are leftovers of a crash, deleted when a store opens. */
const STALE_TMP_MS = 60 * 60 * 1000;

function hexOf(digest: Uint8Array): string {
  if (!(digest instanceof Uint8Array) || digest.length !== 32) throw new BlobError('bad-input', 'a blob digest is 32 bytes (SHA-256)');
  return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength).toString('hex');
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function writeAll(fh: FileHandle, chunk: Uint8Array): Promise<void> {
  for (let at = 0; at < chunk.length; ) {
    const { bytesWritten } = await fh.write(chunk, at, chunk.length - at);
    at += bytesWritten;
  }
}

export class FsBlobStore implements BlobStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Where the blob with this digest lives (whether or not it is there). */
  pathOf(digest: Uint8Array): string {
    const hex = hexOf(digest);
    return path.join(this.dir, 'sha256', hex.slice(0, 2), hex);
  }

  async put(digest: Uint8Array, body: AsyncIterable<Uint8Array>, options: { maxBytes: number }): Promise<{ size: number }> {
    const hex = hexOf(digest);
    const maxBytes = options?.maxBytes;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new BlobError('bad-input', 'maxBytes must be a non-negative integer');
    const tmp = path.join(this.dir, 'tmp', `${hex}.${randomBytes(8).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    let fh: FileHandle | null = await open(tmp, 'wx', 0o644);
    try {
      for await (const chunk of body) {
        if (!(chunk instanceof Uint8Array)) throw new TypeError('blob body chunks must be Uint8Arrays');
        size += chunk.length;
        // Leaving the loop (throw) returns the iterator: a web ReadableStream is cancelled.
        if (size > maxBytes) throw new BlobError('too-large', `blob is larger than ${maxBytes} bytes`);
        hash.update(chunk);
        await writeAll(fh, chunk);
      }
      const got = hash.digest('hex');
      if (got !== hex) throw new BlobError('digest-mismatch', `body has SHA-256 ${got}, not ${hex}`);
      await fh.sync();
      await fh.close();
      fh = null;
      const final = this.pathOf(digest);
      await mkdir(path.dirname(final), { recursive: true });
      await rename(tmp, final);
      await fsyncDir(path.dirname(final));
      return { size };
    } catch (err) {
      if (fh !== null) await fh.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      throw err;
    }
  }

  async get(digest: Uint8Array): Promise<StoredBlob | null> {
    const file = this.pathOf(digest);
    let size: number;
    try {
      const st = await stat(file);
      if (!st.isFile()) return null;
      size = st.size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    return {
      size,
      stream: () => Readable.toWeb(createReadStream(file)) as ReadableStream<Uint8Array>,
    };
  }

  async has(digest: Uint8Array): Promise<boolean> {
    return (await this.get(digest)) !== null;
  }
}

/**
 * Opens the blob directory `dir`, or with `create` makes it (and any missing parents). Opening
 * deletes temporary files left by crashed uploads (older than an hour, so that uploads still
 * running in another process are left alone).
 */
export async function openBlobStore(dir: string, options: { create?: boolean } = {}): Promise<FsBlobStore> {
  if (options.create === true) {
    await mkdir(dir, { recursive: true });
  } else {
    try {
      if (!(await stat(dir)).isDirectory()) throw new BlobError('not-found', `${dir} is not a directory`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobError('not-found', `no blob directory at ${dir}`);
      throw err;
    }
  }
  await mkdir(path.join(dir, 'sha256'), { recursive: true });
  const tmpDir = path.join(dir, 'tmp');
  await mkdir(tmpDir, { recursive: true });
  const now = Date.now();
  for (const name of await readdir(tmpDir)) {
    const f = path.join(tmpDir, name);
    try {
      if (now - (await stat(f)).mtimeMs > STALE_TMP_MS) await unlink(f);
    } catch {
      // raced with its own upload finishing or failing
    }
  }
  return new FsBlobStore(dir);
}
