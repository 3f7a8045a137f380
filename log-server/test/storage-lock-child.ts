// A child process for the sequencer-lock tests: opens the log at argv[2], takes the sequencer
// lock, prints "locked" (or "refused <code>"), then waits to be killed. Run through
// storage-ts-hooks.mjs (see spawnLockHolder in storage-conformance.ts).
import { openStore, StorageError } from '@concord/log-server/storage/index';

const url = process.argv[2];
if (url === undefined) throw new Error('usage: storage-lock-child.ts <store url>');
const store = await openStore(url);
try {
  await store.acquireSequencerLock();
  process.stdout.write('locked\n');
} catch (err) {
  process.stdout.write(`refused ${err instanceof StorageError ? err.code : String(err)}\n`);
}
setInterval(() => {}, 1 << 30);
