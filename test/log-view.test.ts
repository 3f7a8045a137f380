// openLogView against a real served log: the checkpoint is verified under the anchor's log
// key and witness quorum, entries are authenticated, and a missing quorum or a foreign
// anchor is refused with its code.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSignedEntry } from '@concord/client-sdk/entries';
import { openLogView, parseTrust, LogViewError } from '@concord/verifier/log-view';
import { endorsement } from '../log-server/test/helpers.js';
import { startLiveLog } from './live-log.js';
import type { LiveLog } from './live-log.js';
import { createTestLog } from '../log-server/test/helpers.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';

let live: LiveLog;

beforeAll(async () => {
  live = await startLiveLog();
  for (let i = 0; i < 300; i++) await live.log.sequencer!.submit(await live.log.state.precheck(parseSignedEntry(endorsement(live.t.fixture.orgs[i % 3]!))));
});
afterAll(async () => {
  await live?.close();
});

describe('openLogView', () => {
  it('refuses a checkpoint without the witness quorum, then accepts it once 3 of 4 cosign', async () => {
    const trust = parseTrust(live.anchor);
    const now = Math.floor(Date.now() / 1000);
    await live.cosignLatest({ count: 2 });
    await expect(openLogView({ url: live.url, trust, now })).rejects.toMatchObject({ code: 'witness-quorum' });
    const size = await live.cosignLatest({ count: 3 });
    const view = await openLogView({ url: live.url, trust, now });
    expect(view.head.tree.size).toBe(size);
    expect(view.entries.length).toBe(size);
    expect(view.entries[0]).toEqual(live.anchor);
    expect(view.policy.entry.sequence).toBe(1);
    expect(new Set(view.head.cosignatures.map((c) => c.witness)).size).toBe(3);
  });

  it('refuses a log whose entry 0 is another anchor', async () => {
    const other = await createTestLog();
    try {
      const trust = parseTrust(new Uint8Array(readFileSync(path.join(other.dir, 'anchor.entry'))));
      await expect(openLogView({ url: live.url, trust, now: Math.floor(Date.now() / 1000) })).rejects.toBeInstanceOf(LogViewError);
    } finally {
      other.cleanup();
    }
  });
});
