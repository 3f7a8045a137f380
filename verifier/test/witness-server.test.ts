// The tlog-witness server (c2sp.org/tlog-witness main text): the conformance sequence,
// durability across app instances, and 50 racing clients that must never make the
// witness roll back or cosign two roots for one size.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { concatBytes, toBase64, utf8 } from '@concord/client-sdk/bytes';
import { formatCheckpoint } from '@concord/client-sdk/checkpoint';
import { generateCosignatureKey, newCosignatureVerifier, verifyCosignatures } from '@concord/client-sdk/cosignature';
import { leafHash, rootFromLeafHashes, verifyConsistency } from '@concord/client-sdk/merkle';
import type { Hash } from '@concord/client-sdk/merkle';
import { generateKey, newSigner, signNote } from '@concord/client-sdk/note';
import {
  formatAddCheckpointRequest,
  parseCosignatureResponse,
  parseTreeSizeBody,
} from '@concord/client-sdk/witness';
import { createWitnessApp } from '../src/witness/app.js';
import type { Hono } from 'hono';

const ORIGIN = 'example.org/concord';
const logKey = generateKey(ORIGIN, new Uint8Array(32).fill(3));
const logSigner = newSigner(logKey.skey);
const impostor = newSigner(generateKey(ORIGIN, new Uint8Array(32).fill(4)).skey); // same name, other key
const otherLog = generateKey('example.org/other', new Uint8Array(32).fill(5));
const wKey = generateCosignatureKey('witness.example/w1', new Uint8Array(32).fill(6));
const wVerifier = newCosignatureVerifier(wKey.vkey);
const NOW = 1_800_000_000;

const honest: Hash[] = Array.from({ length: 64 }, (_, i) => leafHash(utf8(`entry ${i}`)));
// A fork sharing the first 30 leaves.
const forked: Hash[] = honest.map((h, i) => (i < 30 ? h : leafHash(utf8(`evil ${i}`))));

/** RFC 6962 §2.1.2 SUBPROOF, written independently of client-sdk's proveConsistency. */
function subproof(m: number, leaves: Hash[], b: boolean): Hash[] {
  const n = leaves.length;
  if (m === n) return b ? [] : [rootFromLeafHashes(leaves)];
  let k = 1;
  while (k * 2 < n) k *= 2;
  if (m <= k) return [...subproof(m, leaves.slice(0, k), b), rootFromLeafHashes(leaves.slice(k))];
  return [...subproof(m - k, leaves.slice(k), false), rootFromLeafHashes(leaves.slice(0, k))];
}
const proof = (m: number, n: number, leaves: Hash[]): Hash[] => (m === 0 ? [] : subproof(m, leaves.slice(0, n), true));
const root = (n: number, leaves: Hash[]): Hash => rootFromLeafHashes(leaves.slice(0, n));
const checkpoint = (n: number, leaves = honest, signers = [logSigner], origin = ORIGIN): Uint8Array =>
  signNote(formatCheckpoint({ origin, size: n, root: root(n, leaves), extensions: [] }), signers);

const dbs: Database.Database[] = [];
const dirs: string[] = [];
const tempFile = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'witness-'));
  dirs.push(dir);
  return join(dir, 'w.db');
};
afterEach(() => {
  for (const db of dbs.splice(0)) if (db.open) db.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function newApp(db = new Database(':memory:')): { app: Hono; db: Database.Database } {
  dbs.push(db);
  const app = createWitnessApp({ db, skey: wKey.skey, logs: [{ origin: ORIGIN, vkey: logKey.vkey }], now: () => NOW });
  return { app, db };
}

async function post(app: Hono, old: number, prf: Hash[], note: Uint8Array): Promise<Response> {
  const body = formatAddCheckpointRequest({ oldSize: old, proof: prf, checkpoint: note });
  return app.request('/add-checkpoint', { method: 'POST', body });
}

/** Checks a 200 response: one cosignature by this witness over exactly `note`, at NOW. */
async function expectCosigned(res: Response, note: Uint8Array): Promise<void> {
  expect(res.status).toBe(200);
  const sigs = parseCosignatureResponse(new Uint8Array(await res.arrayBuffer()));
  expect(sigs).toHaveLength(1);
  const withCosig = concatBytes(note, utf8(`${sigs[0]!.line}\n`));
  expect(verifyCosignatures(withCosig, [wVerifier], NOW)).toEqual([{ witness: wKey.vkey, time: NOW }]);
}

async function expect409(res: Response, size: number): Promise<void> {
  expect(res.status).toBe(409);
  expect(res.headers.get('Content-Type')).toBe('text/x.tlog.size');
  expect(parseTreeSizeBody(new Uint8Array(await res.arrayBuffer()))).toBe(size);
}

describe('tlog-witness conformance sequence', () => {
  it('404/403/400/409/422/200 in the order of the spec, with evidence', async () => {
    const { app, db } = newApp();
    // old 0, first checkpoint → 200, and the cosignature verifies.
    await expectCosigned(await post(app, 0, [], checkpoint(5)), checkpoint(5));
    // A cosignature on another text does not verify (the check above can fail).
    const sig = parseCosignatureResponse(new Uint8Array(await (await post(app, 5, [], checkpoint(5))).arrayBuffer()))[0]!;
    expect(() => verifyCosignatures(concatBytes(checkpoint(6), utf8(`${sig.line}\n`)), [wVerifier], NOW)).toThrow();

    // Bad log signature: a flipped signature byte, or only an impostor key of the same name → 403.
    const good = checkpoint(10);
    const flipped = good.slice();
    flipped[flipped.length - 3] = flipped[flipped.length - 3] === 0x41 ? 0x42 : 0x41;
    expect((await post(app, 5, proof(5, 10, honest), flipped)).status).toBe(403);
    expect((await post(app, 5, proof(5, 10, honest), checkpoint(10, honest, [impostor]))).status).toBe(403);
    // Unknown origin → 404 (even validly signed by its own key).
    const other = signNote(formatCheckpoint({ origin: 'example.org/other', size: 10, root: root(10, honest), extensions: [] }), [newSigner(otherLog.skey)]);
    expect((await post(app, 0, [], other)).status).toBe(404);
    // Malformed → 400; old > new → 400.
    expect((await app.request('/add-checkpoint', { method: 'POST', body: 'old 5\n\nnot a note\n' })).status).toBe(400);
    expect((await post(app, 5, [], checkpoint(3))).status).toBe(400);
    expect((await app.request('/add-checkpoint', { method: 'POST', body: new Uint8Array(2 << 20).fill(0x41) })).status).toBe(400);
    expect((await app.request('/add-checkpoint', { method: 'GET' })).status).toBe(404);
    // Bad proof → 422 (every single-hash corruption, plus a surplus hash), kept as evidence.
    const p = proof(5, 10, honest);
    expect(p.length).toBeGreaterThan(0);
    for (let i = 0; i < p.length; i++) {
      const bad = p.map((h) => h.slice());
      bad[i]![0]! ^= 1;
      expect((await post(app, 5, bad, good)).status).toBe(422);
    }
    expect((await post(app, 5, [...p, p[0]!], good)).status).toBe(422);
    expect((await post(app, 5, [], good)).status).toBe(422);
    // Valid growth → 200.
    await expectCosigned(await post(app, 5, p, good), good);
    // Stale old → 409 with the size; old 0 at a later size → 409.
    await expect409(await post(app, 5, proof(5, 12, honest), checkpoint(12)), 10);
    await expect409(await post(app, 0, [], checkpoint(12)), 10);
    // Same size, different root → 422, recorded as evidence.
    const fork = checkpoint(10, honest.map((h, i) => (i === 9 ? leafHash(utf8('evil')) : h)));
    expect((await post(app, 10, [], fork)).status).toBe(422);
    expect((await post(app, 10, [], fork)).status).toBe(422);
    // Same size, same root → cosigned again.
    await expectCosigned(await post(app, 10, [], good), good);
    // Growth from 10.
    await expectCosigned(await post(app, 10, proof(10, 12, honest), checkpoint(12)), checkpoint(12));

    const ev = (await (await app.request('/evidence')).json()) as { kind: string; cosigned: { size: number; root: string }; note: string; old: number }[];
    const forks = ev.filter((e) => e.kind === 'fork');
    expect(forks).toHaveLength(1);
    expect(forks[0]!.cosigned).toEqual({ size: 10, root: toBase64(root(10, honest)) });
    expect(forks[0]!.note).toBe(new TextDecoder().decode(fork));
    // Junk proofs for one public checkpoint are kept once (the first), so they cannot flood the table.
    const badProofs = ev.filter((e) => e.kind === 'bad-proof');
    expect(badProofs).toHaveLength(1);
    expect(badProofs[0]!.old).toBe(5);
    expect(badProofs[0]!.cosigned.size).toBe(5);
    // Forged signatures and unknown logs are never evidence.
    expect(ev.every((e) => e.note.startsWith(`${ORIGIN}\n`))).toBe(true);

    // State is durable: a new app over the same database continues from 12.
    const again = createWitnessApp({ db, skey: wKey.skey, logs: [{ origin: ORIGIN, vkey: logKey.vkey }], now: () => NOW });
    await expect409(await post(again, 10, proof(10, 12, honest), checkpoint(12)), 12);
  });

  it('size 0: only the empty root; the log list takes only Ed25519 log keys named after the origin', async () => {
    const { app } = newApp();
    const zero = (r: Uint8Array) => signNote(formatCheckpoint({ origin: ORIGIN, size: 0, root: r, extensions: [] }), [logSigner]);
    expect((await post(app, 0, [], zero(root(1, honest)))).status).toBe(422);
    await expectCosigned(await post(app, 0, [], zero(root(0, honest))), zero(root(0, honest)));
    await expectCosigned(await post(app, 0, [], checkpoint(3)), checkpoint(3));
    const db = new Database(':memory:');
    dbs.push(db);
    expect(() => createWitnessApp({ db, skey: wKey.skey, logs: [{ origin: ORIGIN, vkey: wKey.vkey }] })).toThrow(/type 0x01/);
    expect(() => createWitnessApp({ db, skey: wKey.skey, logs: [{ origin: 'example.org/x', vkey: logKey.vkey }] })).toThrow(/not the origin/);
    expect(() => createWitnessApp({ db, skey: logKey.skey, logs: [] })).toThrow();
  });

  it('state survives closing and reopening the database file', async () => {
    const file = tempFile();
    const first = new Database(file);
    const a = createWitnessApp({ db: first, skey: wKey.skey, logs: [{ origin: ORIGIN, vkey: logKey.vkey }], now: () => NOW });
    await expectCosigned(await post(a, 0, [], checkpoint(7)), checkpoint(7));
    first.close();
    const { app } = newApp(new Database(file));
    await expect409(await post(app, 0, [], checkpoint(9)), 7);
    await expectCosigned(await post(app, 7, proof(7, 9, honest), checkpoint(9)), checkpoint(9));
  });

  it('a fork with a stale old is still kept as evidence, and answered 409', async () => {
    const { app } = newApp();
    await expectCosigned(await post(app, 0, [], checkpoint(40)), checkpoint(40));
    await expectCosigned(await post(app, 40, proof(40, 50, honest), checkpoint(50)), checkpoint(50));
    await expect409(await post(app, 31, proof(31, 40, forked), checkpoint(40, forked)), 50);
    const ev = (await (await app.request('/evidence')).json()) as { kind: string; cosigned: { size: number } }[];
    expect(ev).toEqual([expect.objectContaining({ kind: 'fork', cosigned: expect.objectContaining({ size: 40 }) })]);
  });
});

describe('racing add-checkpoint requests', () => {
  it.each(['one connection', 'two connections to one file'])('50 concurrent clients never roll the witness back nor get two roots cosigned for one size (%s)', async (mode) => {
    let app: Hono;
    let db: Database.Database;
    let app2: Hono;
    if (mode === 'one connection') {
      ({ app, db } = newApp());
      app2 = app;
    } else {
      const file = tempFile();
      ({ app, db } = newApp(new Database(file)));
      ({ app: app2 } = newApp(new Database(file)));
    }
    await expectCosigned(await post(app, 0, [], checkpoint(1)), checkpoint(1));
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const cosigned: { size: number; root: string; old: number }[] = [];
    let conflicts = 0;
    const clients = Array.from({ length: 50 }, (_, i) => {
      const leaves = i % 5 === 0 ? forked : honest;
      const target = 2 + rand(62);
      return async (): Promise<void> => {
        let old = rand(3) === 0 ? 0 : 1 + rand(target); // often stale on purpose
        for (let round = 0; round < 200; round++) {
          const res = await post(i % 2 === 0 ? app : app2, old, proof(old, target, leaves), checkpoint(target, leaves));
          if (res.status === 200) {
            await res.arrayBuffer();
            cosigned.push({ size: target, root: toBase64(root(target, leaves)), old });
            return;
          }
          if (res.status !== 409) {
            expect([400, 422]).toContain(res.status);
            return;
          }
          conflicts++;
          old = parseTreeSizeBody(new Uint8Array(await res.arrayBuffer()));
          if (old > target) return;
        }
        expect.unreachable('client never settled');
      };
    });
    await Promise.all(clients.map((c) => c()));

    // The race is real: many clients were told the witness moved under them.
    expect(conflicts).toBeGreaterThan(20);
    expect(cosigned.length).toBeGreaterThan(5);
    // One root per size among all 200 answers.
    const bySize = new Map<number, string>();
    for (const c of cosigned) {
      expect(bySize.get(c.size) ?? c.root).toBe(c.root);
      bySize.set(c.size, c.root);
    }
    // The accepted transitions form one forward chain from size 1 (no rollback).
    const chain = [...cosigned].sort((a, b) => a.size - b.size || a.old - b.old);
    let at = 1;
    for (const c of chain) {
      expect(c.old).toBe(at);
      at = c.size;
    }
    // The stored history agrees and is pairwise consistent: each step verifies.
    const hist = db.prepare('SELECT size, root FROM cosigned WHERE origin = ? ORDER BY size').all(ORIGIN) as { size: number; root: Buffer }[];
    expect(hist.map((h) => h.size)).toEqual([1, ...new Set(chain.map((c) => c.size))]);
    const leavesOf = (size: number, r: Buffer): Hash[] => (Buffer.compare(Buffer.from(root(size, honest)), r) === 0 ? honest : forked);
    for (let i = 1; i < hist.length; i++) {
      const a = hist[i - 1]!;
      const b = hist[i]!;
      const leaves = leavesOf(b.size, b.root);
      expect(Buffer.compare(Buffer.from(root(b.size, leaves)), b.root)).toBe(0);
      verifyConsistency(a.size, b.size, proof(a.size, b.size, leaves), new Uint8Array(a.root), new Uint8Array(b.root));
    }
    const state = db.prepare('SELECT size FROM witness_state WHERE origin = ?').get(ORIGIN) as { size: number };
    expect(state.size).toBe(hist[hist.length - 1]!.size);
  });
});
