// A file-backed client-sdk DeviceStore (device.ts): what a device accepted last, kept in a
// directory so it survives restarts.
//
//   DIR/state.json                  {"version":1,"release":{"sequence","leaf","index"},
//                                    "policy":{"sequence","leaf"},"checkpoint":"<note>",
//                                    "clock":<unix s>,"database":"sha256:<hex>"}
//                                   (leaves in base64)
//   DIR/database-<hex>.bin          the accepted database blob, named by its SHA-256
//
// put() is atomic and durable: the database file is written first (temporary file, fsync,
// rename), then state.json the same way, then the directory is fsynced and older database
// files removed. A crash leaves either the old state or the new one, never a state naming a
// database that is not fully on disk. get() checks the database file against the digest that
// state.json names (and refuses anything malformed), so a damaged or tampered directory makes
// the device fail closed (DeviceStoreError) rather than accept a database it never verified.

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fromBase64, toBase64, parseDecimal } from '@concord/client-sdk/bytes';
import type { DeviceState, DeviceStore } from '@concord/client-sdk/device';
import { ConcordError } from '@concord/client-sdk/errors';
import { MAX_NOTE_SIZE, parseNote } from '@concord/client-sdk/note';

export type DeviceStoreErrorCode = 'corrupt-state';

/** state.json or the database file is unreadable, malformed, or does not match. */
export class DeviceStoreError extends ConcordError<DeviceStoreErrorCode> {
  override readonly name = 'DeviceStoreError';
}

const STATE = 'state.json';
const DB_PREFIX = 'database-';
const DB_SUFFIX = '.bin';

function corrupt(message: string, cause?: unknown): never {
  throw new DeviceStoreError('corrupt-state', message, cause === undefined ? undefined : { cause });
}

async function writeDurably(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

async function syncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Some platforms cannot fsync a directory; the renames are still atomic.
  } finally {
    await fh?.close();
  }
}

function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

export class FileDeviceStore implements DeviceStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  async get(): Promise<DeviceState | undefined> {
    let text: string;
    try {
      text = await readFile(path.join(this.dir, STATE), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    if (text.length > 2 * MAX_NOTE_SIZE) corrupt('state.json is too large');
    let j: Record<string, any>;
    try {
      j = JSON.parse(text) as Record<string, any>;
    } catch (e) {
      corrupt('state.json is not JSON', e);
    }
    try {
      if (j.version !== 1) corrupt('unknown state.json version');
      const uint = (x: unknown): number => {
        if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) corrupt('a number in state.json is not a non-negative integer');
        return parseDecimal(String(x));
      };
      const digest = typeof j.database === 'string' && /^sha256:[0-9a-f]{64}$/.test(j.database) ? j.database.slice(7) : corrupt('bad database digest');
      const checkpoint = new TextEncoder().encode(typeof j.checkpoint === 'string' ? j.checkpoint : corrupt('bad checkpoint'));
      parseNote(checkpoint);
      const database = new Uint8Array(await readFile(path.join(this.dir, DB_PREFIX + digest + DB_SUFFIX)));
      if (sha256Hex(database) !== digest) corrupt('the database file does not match state.json');
      return {
        release: { sequence: uint(j.release?.sequence), leaf: fromBase64(j.release?.leaf, 32), index: uint(j.release?.index) },
        policy: { sequence: uint(j.policy?.sequence), leaf: fromBase64(j.policy?.leaf, 32) },
        checkpoint,
        clock: uint(j.clock),
        database,
      };
    } catch (e) {
      if (e instanceof DeviceStoreError) throw e;
      corrupt(`state.json: ${e instanceof Error ? e.message : String(e)}`, e);
    }
  }

  async put(s: DeviceState): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const digest = sha256Hex(s.database);
    const dbName = DB_PREFIX + digest + DB_SUFFIX;
    await writeDurably(path.join(this.dir, dbName), s.database);
    const state = {
      version: 1,
      release: { sequence: s.release.sequence, leaf: toBase64(s.release.leaf), index: s.release.index },
      policy: { sequence: s.policy.sequence, leaf: toBase64(s.policy.leaf) },
      checkpoint: new TextDecoder('utf-8', { fatal: true }).decode(s.checkpoint),
      clock: s.clock,
      database: `sha256:${digest}`,
    };
    await writeDurably(path.join(this.dir, STATE), JSON.stringify(state) + '\n');
    await syncDir(this.dir);
    for (const name of await readdir(this.dir)) {
      if ((name.startsWith(DB_PREFIX) && name !== dbName) || name.endsWith('.tmp')) {
        await rm(path.join(this.dir, name), { force: true });
      }
    }
  }
}
