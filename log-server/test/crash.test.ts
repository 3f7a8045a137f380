// Crash test: a `concord-log serve` child process is killed with SIGKILL five times while
// clients submit entries continuously, and restarted each time on the same data. After every
// restart: each acknowledged entry is at its acknowledged index (read back through the served
// entry bundles), every checkpoint ever served is signed by the log key and consistent with the
// latest one (RFC 9162 consistency proofs from the server, verified with client-sdk), and no two
// served checkpoints have one size with different roots.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64 } from '@concord/client-sdk/bytes';
import { openCheckpoint } from '@concord/client-sdk/checkpoint';
import { leafHash, verifyConsistency } from '@concord/client-sdk/merkle';
import { newVerifier } from '@concord/client-sdk/note';
import { decodeEntryBundle, entryBundlesForSize, tilePath } from '@concord/client-sdk/tiles';
import { createTestLog, endorsement } from './helpers.js';
import type { TestLog } from './helpers.js';
import { kill, startServerChild } from './server-child.js';
import type { ServerChild } from './server-child.js';

const KILLS = 5;
const CLIENTS = 8;

let t: TestLog;
beforeAll(async () => {
  t = await createTestLog();
});
afterAll(() => t?.cleanup());

function request(port: number, method: string, path: string, body?: Uint8Array, agent?: http.Agent): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers: body ? { 'content-length': body.length } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface Served {
  size: number;
  root: Uint8Array;
}

describe('crash safety', () => {
  it(`keeps every acknowledged entry and every served checkpoint across ${KILLS} SIGKILLs`, async () => {
    const acks = new Map<number, Uint8Array>(); // index → entry bytes acknowledged there
    const served = new Map<number, Served>(); // size → checkpoint served for it
    const verifier = newVerifier(t.init.logVkey);
    let refused = 0;

    const record = (note: Buffer): void => {
      const cp = openCheckpoint(new Uint8Array(note), verifier, t.init.origin).checkpoint;
      const prior = served.get(cp.size);
      if (prior !== undefined) expect(toBase64(prior.root), `two roots for size ${cp.size}`).toBe(toBase64(cp.root));
      else served.set(cp.size, { size: cp.size, root: cp.root });
    };

    /** Every acknowledged entry at its index; every served checkpoint consistent with the latest. */
    const check = async (port: number): Promise<void> => {
      const cpRes = await request(port, 'GET', '/checkpoint');
      expect(cpRes.status).toBe(200);
      record(cpRes.body);
      const latest = openCheckpoint(new Uint8Array(cpRes.body), verifier, t.init.origin).checkpoint;
      const entries: Uint8Array[] = [];
      for (const b of entryBundlesForSize(latest.size)) {
        const r = await request(port, 'GET', '/' + tilePath(b));
        expect(r.status).toBe(200);
        entries.push(...decodeEntryBundle(new Uint8Array(r.body), b.width));
      }
      for (const [index, bytes] of acks) {
        expect(index).toBeLessThan(latest.size);
        expect(Buffer.from(entries[index]!).equals(Buffer.from(bytes)), `acknowledged entry ${index}`).toBe(true);
      }
      for (const s of served.values()) {
        expect(s.size).toBeLessThanOrEqual(latest.size);
        const r = await request(port, 'GET', `/proof/consistency?old=${s.size}&new=${latest.size}`);
        expect(r.status).toBe(200);
        const proof = (JSON.parse(r.body.toString()) as { proof: string[] }).proof.map((h) => fromBase64(h));
        verifyConsistency(s.size, latest.size, proof, s.root, latest.root);
      }
    };

    let server: ServerChild = await startServerChild(['--data', t.dir], { CONCORD_ADD_PER_MINUTE: '1000000', CONCORD_BATCH_DELAY_MS: '2' });
    for (let round = 0; round <= KILLS; round++) {
      const port = server.port;
      await check(port);
      if (round === KILLS) break;
      // Clients submit until the server dies; a checkpoint poller records what is served.
      let alive = true;
      const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS + 1 });
      const client = async (c: number): Promise<void> => {
        while (alive) {
          const e = endorsement(t.fixture.orgs[c % 3]!);
          try {
            const r = await request(port, 'POST', '/add', e, agent);
            if (r.status !== 200) {
              refused++;
              continue;
            }
            const { index, leafHash: lh } = JSON.parse(r.body.toString()) as { index: number; leafHash: string };
            expect(lh).toBe(toBase64(leafHash(e)));
            expect(acks.has(index), `index ${index} acknowledged twice`).toBe(false);
            acks.set(index, e);
          } catch {
            return; // the server is gone
          }
        }
      };
      const poller = async (): Promise<void> => {
        while (alive) {
          try {
            const r = await request(port, 'GET', '/checkpoint', undefined, agent);
            if (r.status === 200) record(r.body);
          } catch {
            return;
          }
          await new Promise((r) => setTimeout(r, 5));
        }
      };
      const running = [...Array.from({ length: CLIENTS }, (_, c) => client(c)), poller()];
      const before = acks.size;
      // Kill at a random moment once entries are flowing.
      const deadline = Date.now() + 10_000;
      while (acks.size < before + 50 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 150)));
      await kill(server);
      alive = false;
      await Promise.all(running);
      agent.destroy();
      expect(acks.size).toBeGreaterThan(before);
      server = await startServerChild(['--data', t.dir], { CONCORD_ADD_PER_MINUTE: '1000000', CONCORD_BATCH_DELAY_MS: '2' });
    }
    await kill(server, 'SIGTERM');
    expect(acks.size).toBeGreaterThan(KILLS * 50);
    expect(served.size).toBeGreaterThan(KILLS);
    expect(refused).toBe(0);
  }, 60_000);
});
