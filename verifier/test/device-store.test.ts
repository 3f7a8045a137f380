// verifier/src/device-store.ts: the file-backed DeviceStore round-trips exactly, replaces the
// database atomically (one database file left), refuses a damaged directory (fail closed), and
// backs device.openDatabase across "restarts" (a new store object on the same directory).
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '@concord/client-sdk/device';
import { DeviceStoreError, FileDeviceStore } from '@concord/verifier/device-store';
import { acceptedScenario } from '../../client-sdk/test/fixtures/network.js';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(path.join(tmpdir(), 'concord-device-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('FileDeviceStore', () => {
  it('stores what openDatabase accepted and survives a restart', async () => {
    const s = await acceptedScenario(30, { seed: 'file-store' });
    const dir = path.join(tmp(), 'device');
    expect(await new FileDeviceStore(dir).get()).toBeUndefined();
    await openDatabase({ database: s.database, bundle: s.bundle, trust: s.net.trust, store: new FileDeviceStore(dir), now: s.now });
    const again = new FileDeviceStore(dir);
    const st = (await again.get())!;
    expect(st.release.sequence).toBe(1);
    expect(st.release.index).toBe(4);
    expect(st.database).toEqual(s.database);
    expect(st.clock).toBeGreaterThan(0);
    // Re-opening with the restarted store: same release, accepted.
    const v = await openDatabase({ database: s.database, bundle: s.bundle, trust: s.net.trust, store: again, now: s.now });
    expect(v.sequence).toBe(1);
    // A put replaces the database file: exactly one left, no temporary files.
    await again.put({ ...st, database: s.database.subarray(32) });
    const files = readdirSync(dir).sort();
    expect(files.filter((f) => f.startsWith('database-')).length).toBe(1);
    expect(files.some((f) => f.endsWith('.tmp'))).toBe(false);
    expect((await again.get())!.database).toEqual(s.database.subarray(32));
  });

  it('fails closed on a damaged directory', async () => {
    const s = await acceptedScenario(5, { seed: 'file-store-2' });
    const dir = tmp();
    const store = new FileDeviceStore(dir);
    await openDatabase({ database: s.database, bundle: s.bundle, trust: s.net.trust, store, now: s.now });
    const dbFile = readdirSync(dir).find((f) => f.startsWith('database-'))!;
    const bytes = readFileSync(path.join(dir, dbFile));
    bytes[0]! ^= 1;
    writeFileSync(path.join(dir, dbFile), bytes);
    await expect(store.get()).rejects.toThrow(DeviceStoreError);
    bytes[0]! ^= 1;
    writeFileSync(path.join(dir, dbFile), bytes);
    expect((await store.get())!.release.sequence).toBe(1);
    const state = path.join(dir, 'state.json');
    const good = readFileSync(state, 'utf8');
    for (const bad of ['{', '[]', good.replace('"version":1', '"version":2'), good.replace(/"clock":\d+/, '"clock":-1'), good.replace(/"leaf":"[^"]+"/, '"leaf":"AA=="')]) {
      writeFileSync(state, bad);
      await expect(store.get()).rejects.toThrow(DeviceStoreError);
    }
  });
});
