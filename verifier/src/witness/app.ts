// A c2sp.org/tlog-witness server: POST /add-checkpoint (wire format in
// client-sdk/src/witness.ts), plus GET /evidence.
//
//   https://c2sp.org/tlog-witness   (the main text, where same size with a different root is 422)
//
// Status codes, checked in this order:
//   400  malformed body (or over MAX_REQUEST_SIZE)
//   404  the checkpoint's origin is not a log this witness witnesses
//   403  no signature by the log's key, or a failing one
//   400  old size > checkpoint size
//   409  old ≠ the witness's latest size for the log (0 before its first checkpoint);
//        Content-Type text/x.tlog.size, body "<latest size>\n"
//   422  bad consistency proof, or same size with a different root
//   200  text/plain body: this witness's cosignature line
//
// Safety: the 409 check, the proof check against the stored root and the state update
// are one synchronous SQLite transaction with a compare-and-set, so concurrent requests
// serialise and the witness never rolls back nor cosigns a checkpoint inconsistent with
// one it cosigned. The cosignature is made only after the new state is durable.
// A checkpoint validly signed by the log that contradicts a cosigned one (same size,
// other root; or a newer one whose proof fails) is stored as evidence and listed at
// GET /evidence.

import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { equalBytes, toBase64 } from '@concord/client-sdk/bytes';
import { CheckpointError, openCheckpoint } from '@concord/client-sdk/checkpoint';
import { newCosignatureSigner } from '@concord/client-sdk/cosignature';
import { EMPTY_ROOT, MerkleError, verifyConsistency } from '@concord/client-sdk/merkle';
import { KEY_TYPE_ED25519, NoteError, newVerifier, parseVerifierKey } from '@concord/client-sdk/note';
import type { Ed25519Verify, Verifier } from '@concord/client-sdk/note';
import {
  ADD_CHECKPOINT_PATH,
  MAX_REQUEST_SIZE,
  TREE_SIZE_CONTENT_TYPE,
  WitnessError,
  formatCosignatureResponse,
  formatTreeSizeBody,
  parseAddCheckpointRequest,
} from '@concord/client-sdk/witness';
import { WitnessStore } from './store.js';
import type Database from 'better-sqlite3';

export interface WitnessedLog {
  origin: string;
  /** The log's signed-note verifier key (type 0x01), named after the origin. */
  vkey: string;
}

export interface WitnessDeps {
  /** An open better-sqlite3 connection; the caller owns and closes it. */
  db: Database.Database;
  /** This witness's cosigner key, `PRIVATE+KEY+<name>+<hex8>+<base64(0x04‖seed)>`. */
  skey: string;
  logs: readonly WitnessedLog[];
  /** Unix seconds (default: the system clock). */
  now?: () => number;
  ed25519Verify?: Ed25519Verify;
}

type Outcome =
  | { status: 200 }
  | { status: 409; size: number }
  | { status: 422; message: string };

/** Builds the witness app. Side-effect free apart from creating its tables. Throws on a bad key or log list. */
export function createWitnessApp(deps: WitnessDeps): Hono {
  const store = new WitnessStore(deps.db);
  const cosigner = newCosignatureSigner(deps.skey);
  const now = deps.now ?? (() => Math.floor(Date.now() / 1000));
  const logs = new Map<string, Verifier>();
  for (const l of deps.logs) {
    if (logs.has(l.origin)) throw new Error(`log ${l.origin} listed twice`);
    if (parseVerifierKey(l.vkey).type !== KEY_TYPE_ED25519) throw new Error(`log key of ${l.origin} is not an Ed25519 (type 0x01) key`);
    const v = newVerifier(l.vkey, deps.ed25519Verify === undefined ? undefined : { ed25519Verify: deps.ed25519Verify });
    if (v.name !== l.origin) throw new Error(`log key name ${v.name} is not the origin ${l.origin}`);
    logs.set(l.origin, v);
  }

  const text = (status: 400 | 403 | 404 | 422, msg: string): Response =>
    new Response(`${msg}\n`, { status, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });

  const app = new Hono();

  // The cap is enforced while reading (Content-Length or streamed), before parsing.
  const limit = bodyLimit({ maxSize: MAX_REQUEST_SIZE, onError: () => text(400, 'request too large') });

  app.post(ADD_CHECKPOINT_PATH, limit, async (c) => {
    const body = new Uint8Array(await c.req.arrayBuffer());
    let req: ReturnType<typeof parseAddCheckpointRequest>;
    try {
      req = parseAddCheckpointRequest(body);
    } catch (e) {
      if (e instanceof WitnessError) return text(400, e.message);
      throw e;
    }
    const { origin, size, root } = req.parsed;
    const logVerifier = logs.get(origin);
    if (logVerifier === undefined) return text(404, 'unknown log origin');
    let opened: ReturnType<typeof openCheckpoint>;
    try {
      opened = openCheckpoint(req.checkpoint, logVerifier, origin);
    } catch (e) {
      if (e instanceof NoteError) return text(403, `log signature: ${e.message}`);
      if (e instanceof CheckpointError) return text(400, e.message);
      throw e;
    }
    if (req.oldSize > size) return text(400, `old size ${req.oldSize} > checkpoint size ${size}`);
    const time = now();

    const outcome = deps.db
      .transaction((): Outcome => {
        const state = store.state(origin);
        const evidence = (kind: 'fork' | 'bad-proof', cosignedSize: number, cosignedRoot: Uint8Array): void =>
          store.addEvidence({ origin, kind, cosignedSize, cosignedRoot, note: req.checkpoint, oldSize: req.oldSize, proof: req.proof, time });
        // A validly signed checkpoint at a cosigned size with another root is a fork,
        // whatever `old` says: keep it before answering.
        const prior = store.cosignedRoot(origin, size);
        const fork = prior !== undefined && !equalBytes(prior, root);
        if (fork) evidence('fork', size, prior);
        const latest = state?.size ?? 0;
        if (req.oldSize !== latest) return { status: 409, size: latest };
        if (fork) return { status: 422, message: 'same size as a cosigned checkpoint, different root' };
        if (state !== undefined && req.oldSize === size) {
          if (req.proof.length !== 0) return { status: 422, message: 'consistency proof between equal sizes must be empty' };
          if (!equalBytes(state.root, root)) {
            evidence('fork', state.size, state.root);
            return { status: 422, message: 'same size, different root' };
          }
        } else if (state === undefined) {
          // First checkpoint of this log (old 0): trust on first use; nothing to prove.
          if (req.proof.length !== 0) return { status: 422, message: 'consistency proof from size 0 must be empty' };
          if (size === 0 && !equalBytes(root, EMPTY_ROOT)) return { status: 422, message: 'the empty tree has root SHA-256("")' };
        } else {
          try {
            verifyConsistency(state.size, size, req.proof, state.root, root);
          } catch (e) {
            if (!(e instanceof MerkleError)) throw e;
            evidence('bad-proof', state.size, state.root);
            return { status: 422, message: `consistency proof: ${e.message}` };
          }
        }
        if (!store.advance(origin, state, size, root, req.checkpoint, time)) throw new Error('bad math: compare-and-set lost inside a transaction');
        return { status: 200 };
      })
      .immediate();

    if (outcome.status === 409) {
      return new Response(formatTreeSizeBody(outcome.size), { status: 409, headers: { 'Content-Type': TREE_SIZE_CONTENT_TYPE } });
    }
    if (outcome.status === 422) return text(422, outcome.message);
    const sig = cosigner.cosign(opened.opened.text, time);
    return new Response(formatCosignatureResponse([sig]), { status: 200, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
  });

  app.get('/evidence', (c) =>
    c.json(
      store.evidence().map((e) => ({
        id: e.id,
        origin: e.origin,
        kind: e.kind,
        cosigned: { size: e.cosignedSize, root: toBase64(e.cosignedRoot) },
        note: new TextDecoder().decode(e.note),
        old: e.oldSize,
        proof: e.proof.map(toBase64),
        time: e.time,
      })),
    ),
  );

  return app;
}
