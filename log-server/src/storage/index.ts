// Opening a log's storage from a URL. Creating a log is an explicit act (`create: true`, used
// by `concord-log init`); opening a log that does not exist is an error, never an implicit create.
//
//   postgres://user:password@host:port/database   PostgreSQL (also postgresql://)
//   sqlite:<path>   or  file:<path>  or  <path>    SQLite database file (embedded default)

import { openPostgresStore } from './postgres.js';
import { openSqliteStore } from './sqlite.js';
import { StorageError } from './types.js';
import type { LogStore } from './types.js';

export * from './types.js';
export { openBlobStore, BlobError } from './blobs.js';
export type { BlobStore, StoredBlob, BlobErrorCode } from './blobs.js';

export interface StoreOptions {
  /** Create a new log (error 'exists' if there is one); default: open an existing one ('not-found' if none). */
  readonly create?: boolean;
}

/** Which backend a storage URL names, and its location (a file path, or the PostgreSQL URL). */
export function parseStoreUrl(url: string): { backend: 'sqlite' | 'postgres'; location: string } {
  if (typeof url !== 'string' || url.length === 0) throw new StorageError('bad-url', 'empty storage URL');
  if (/^postgres(ql)?:\/\//i.test(url)) return { backend: 'postgres', location: url };
  const m = /^(sqlite|file):(.*)$/i.exec(url);
  if (m !== null) {
    let location = m[2]!;
    if (location.startsWith('//')) location = location.slice(2); // sqlite:///abs/path, file:///abs/path
    if (location.length === 0) throw new StorageError('bad-url', `no path in ${url}`);
    return { backend: 'sqlite', location };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) throw new StorageError('bad-url', `unsupported storage URL scheme in ${url}`);
  return { backend: 'sqlite', location: url };
}

/** Opens the log storage named by `url`, or creates it with `{ create: true }`. */
export async function createStore(url: string, options: StoreOptions = {}): Promise<LogStore> {
  const { backend, location } = parseStoreUrl(url);
  return backend === 'postgres' ? openPostgresStore(location, options) : openSqliteStore(location, options);
}

/** Opens an existing log's storage ('not-found' if there is none). */
export function openStore(url: string): Promise<LogStore> {
  return createStore(url, { create: false });
}
