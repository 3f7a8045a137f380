// Witness cosignatures on checkpoints, and the witness clock built from them.
//
//   https://c2sp.org/tlog-cosignature      (cosignature/v1: timestamped Ed25519, key type 0x04)
//
//   signature line   — <witness name> base64(keyID ‖ u64be(time) ‖ Ed25519 signature[64])
//   key ID           SHA-256(name ‖ "\n" ‖ 0x04 ‖ 32-byte Ed25519 public key)[:4]
//   signed message   cosignature/v1\n
//                    time <time>\n             POSIX seconds, decimal, no leading zeros
//                    <checkpoint note text>    every line, extension lines included
//
//   cosignature/v1
//   time 1679315147
//   example.com/behind-the-sofa
//   20852163
//   CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
//
// Times are JavaScript numbers: a cosignature dated after 2^53 − 1 (the spec allows
// up to 2^63 − 1) is treated as not verifying. The Ed25519 message does not commit to
// the witness name, so one public key under two names would count twice: a witness
// list that repeats a public key is refused.
//
// The witness clock (DESIGN.md "Time, notice and freshness"). Each witness key counts
// once; cosignatures dated more than FUTURE_TOLERANCE seconds after the verifier's
// clock are not counted. With quorum k, at most k − 1 witnesses lie:
//   seenBy(C, k)  = k-th smallest of the witnesses' EARLIEST times on C: among any k
//                   witnesses one is honest, so C was public by then (backdating by
//                   k − 1 liars cannot pull it earlier than an honest time);
//   aliveAt(C, k) = k-th largest of the witnesses' LATEST times on C: one honest
//                   witness cosigned C at or after it (k − 1 liars dating forward
//                   cannot push it later than an honest time).
// A checkpoint's observations may come from several cosigned copies of it, so a
// witness may appear with several times; fewer than k witnesses → undefined.

import { ed25519 } from '@noble/curves/ed25519.js';
import { concatBytes, isUint, readU64be, toBase64, u64be, utf8 } from './bytes.js';
import { ConcordError } from './errors.js';
import {
  KEY_TYPE_COSIGNATURE_V1,
  NoteError,
  formatKeyHash,
  generateTypedKey,
  isWellFormedText,
  nobleEd25519Verify,
  noteSignature,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
} from './note.js';
import type { Ed25519Verify, NoteSignature, Verifier } from './note.js';

export type CosignatureErrorCode = 'bad-key' | 'bad-cosignature' | 'malformed-cosignature';

/**
 * A cosigner key, cosignature or cosigned note is unusable.
 * - bad-key: a vkey/skey is invalid or not of type 0x04, or a witness list repeats a
 *   (name, key ID) or a public key;
 * - bad-cosignature: a cosignature line of a known witness does not verify;
 * - malformed-cosignature: a cosignature is not u64 time ‖ 64-byte signature, its time
 *   exceeds 2^53 − 1, a note does not parse, or a text/time cannot be cosigned.
 */
export class CosignatureError extends ConcordError<CosignatureErrorCode> {
  override readonly name = 'CosignatureError';
}

/** Seconds a cosignature may be dated after the verifier's clock and still count. */
export const FUTURE_TOLERANCE = 300;

const HEADER = 'cosignature/v1\n';
const TIMESTAMPED_SIG_SIZE = 8 + 64;

/**
 * A Verifier for one witness key (type 0x04). Its `verify(text, sig)` takes the
 * checkpoint note text and `u64be(time) ‖ signature` (the signature line's bytes
 * after the 4-byte key ID) and checks cosignature/v1 over them.
 */
export interface CosignatureVerifier extends Verifier {
  readonly publicKey: Uint8Array;
}

/** One counted observation: witness (its vkey string) cosigned the checkpoint at `time`. */
export interface WitnessCosignature {
  /** The witness's verifier key, `name+hex8+base64(0x04 ‖ publicKey)`. */
  witness: string;
  time: number;
}

function wrapKey(e: unknown): never {
  if (e instanceof NoteError) throw new CosignatureError('bad-key', e.message, { cause: e });
  throw e;
}

/** The cosigned message as bytes, for a text already encoded. */
function messageBytes(text: Uint8Array, time: number): Uint8Array {
  return concatBytes(utf8(`${HEADER}time ${time}\n`), text);
}

/**
 * `cosignature/v1\ntime <t>\n` ‖ the checkpoint text. The text must end in a newline
 * and the time be an integer in [0, 2^53 − 1]. Throws CosignatureError.
 */
export function cosignedMessage(checkpointText: string, time: number): Uint8Array {
  if (!isWellFormedText(checkpointText) || !checkpointText.endsWith('\n')) {
    throw new CosignatureError('malformed-cosignature', 'checkpoint text must be a string ending in a newline');
  }
  if (!isUint(time)) throw new CosignatureError('malformed-cosignature', 'time must be an integer in [0, 2^53 − 1]');
  return messageBytes(utf8(checkpointText), time);
}

/** A verifier for a witness vkey of type 0x04. Throws CosignatureError('bad-key'). */
export function newCosignatureVerifier(vkey: string, opts?: { ed25519Verify?: Ed25519Verify }): CosignatureVerifier {
  let k: ReturnType<typeof parseVerifierKey>;
  try {
    k = parseVerifierKey(vkey);
  } catch (e) {
    wrapKey(e);
  }
  if (k.type !== KEY_TYPE_COSIGNATURE_V1) throw new CosignatureError('bad-key', 'not a cosignature/v1 (type 0x04) key');
  const publicKey = k.publicKey;
  const verify = opts?.ed25519Verify ?? nobleEd25519Verify;
  return Object.freeze({
    name: k.name,
    keyHash: k.keyHash,
    get publicKey(): Uint8Array {
      return publicKey.slice();
    },
    verify(msg: Uint8Array, sig: Uint8Array): boolean {
      if (!(msg instanceof Uint8Array) || !(sig instanceof Uint8Array) || sig.length !== TIMESTAMPED_SIG_SIZE) return false;
      let time: number;
      try {
        time = readU64be(sig, 0);
      } catch {
        return false; // dated after 2^53 − 1
      }
      try {
        return verify(publicKey, messageBytes(msg, time), sig.subarray(8)) === true;
      } catch {
        return false;
      }
    },
  });
}

/** A cosigner for a type 0x04 skey. Throws CosignatureError('bad-key'). */
export function newCosignatureSigner(skey: string): {
  name: string;
  keyHash: number;
  cosign(checkpointText: string, time: number): NoteSignature;
} {
  let k: ReturnType<typeof parseSignerKey>;
  try {
    k = parseSignerKey(skey);
  } catch (e) {
    wrapKey(e);
  }
  if (k.type !== KEY_TYPE_COSIGNATURE_V1) throw new CosignatureError('bad-key', 'not a cosignature/v1 (type 0x04) key');
  const { name, keyHash, seed } = k;
  return Object.freeze({
    name,
    keyHash,
    cosign(checkpointText: string, time: number): NoteSignature {
      const sig = ed25519.sign(cosignedMessage(checkpointText, time), seed);
      return noteSignature(name, keyHash, concatBytes(u64be(time), sig));
    },
  });
}

/** A cosigner key pair (type 0x04) from a 32-byte seed (default: random). Throws CosignatureError('bad-key'). */
export function generateCosignatureKey(name: string, seed?: Uint8Array): { skey: string; vkey: string } {
  try {
    return generateTypedKey(name, KEY_TYPE_COSIGNATURE_V1, seed);
  } catch (e) {
    return wrapKey(e);
  }
}

/** The time of a cosignature line (not verified). Throws CosignatureError('malformed-cosignature'). */
export function cosignatureTime(sig: NoteSignature): number {
  const b = sig.signature;
  if (!(b instanceof Uint8Array) || b.length !== TIMESTAMPED_SIG_SIZE) {
    throw new CosignatureError('malformed-cosignature', 'cosignature must be a u64 time and a 64-byte signature');
  }
  try {
    return readU64be(b, 0);
  } catch (cause) {
    throw new CosignatureError('malformed-cosignature', 'cosignature time exceeds 2^53 − 1', { cause });
  }
}

function witnessId(w: CosignatureVerifier): string {
  return `${w.name}+${formatKeyHash(w.keyHash)}+${toBase64(concatBytes(Uint8Array.of(KEY_TYPE_COSIGNATURE_V1), w.publicKey))}`;
}

/**
 * The counted cosignatures of the given witnesses on a signed checkpoint note, as
 * (witness vkey, time) pairs, each pair once, sorted by witness then time. Lines by
 * other keys (the log's, unknown witnesses') are ignored. A line of a listed witness
 * that does not verify rejects the note ('bad-cosignature'), as signed-note asks; a
 * valid one dated more than FUTURE_TOLERANCE seconds after `now` is not counted.
 * The note's log signature is NOT checked here: open it with openCheckpoint first.
 * Throws CosignatureError only.
 */
export function verifyCosignatures(note: Uint8Array, witnesses: readonly CosignatureVerifier[], now: number): WitnessCosignature[] {
  if (!isUint(now)) throw new RangeError('now must be an integer number of seconds in [0, 2^53 − 1]');
  const byKeyId = new Map<string, { w: CosignatureVerifier; id: string }>();
  const keys = new Set<string>();
  for (const w of witnesses) {
    const slot = `${w.name}\n${w.keyHash}`;
    const pk = toBase64(w.publicKey);
    if (byKeyId.has(slot) || keys.has(pk)) throw new CosignatureError('bad-key', `witness ${w.name} listed twice`);
    byKeyId.set(slot, { w, id: witnessId(w) });
    keys.add(pk);
  }
  let parsed: ReturnType<typeof parseNote>;
  try {
    parsed = parseNote(note);
  } catch (e) {
    if (e instanceof NoteError) throw new CosignatureError('malformed-cosignature', `cosigned note: ${e.message}`, { cause: e });
    throw e;
  }
  const text = utf8(parsed.text);
  const seen = new Set<string>();
  const out: WitnessCosignature[] = [];
  for (const sig of parsed.signatures) {
    const entry = byKeyId.get(`${sig.name}\n${sig.keyHash}`);
    if (entry === undefined) continue;
    if (!entry.w.verify(text, sig.signature)) {
      throw new CosignatureError('bad-cosignature', `invalid cosignature by ${sig.name}+${formatKeyHash(sig.keyHash)}`);
    }
    const time = cosignatureTime(sig);
    if (time - now > FUTURE_TOLERANCE) continue; // dated in the future: not counted
    const key = `${entry.id} ${time}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ witness: entry.id, time });
  }
  return out.sort((a, b) => (a.witness < b.witness ? -1 : a.witness > b.witness ? 1 : a.time - b.time));
}

/** Each witness's earliest and latest time. */
function spans(cosigs: readonly WitnessCosignature[], k: number): Map<string, { first: number; last: number }> {
  if (!Number.isSafeInteger(k) || k < 1) throw new RangeError('k must be a positive integer');
  const m = new Map<string, { first: number; last: number }>();
  for (const c of cosigs) {
    if (!isUint(c.time)) throw new RangeError('cosignature time must be an integer in [0, 2^53 − 1]');
    const s = m.get(c.witness);
    if (s === undefined) m.set(c.witness, { first: c.time, last: c.time });
    else {
      if (c.time < s.first) s.first = c.time;
      if (c.time > s.last) s.last = c.time;
    }
  }
  return m;
}

/**
 * k-th smallest of each witness's earliest time: C was public no later than this.
 * Undefined when fewer than k distinct witnesses cosigned.
 */
export function seenBy(cosigs: readonly WitnessCosignature[], k: number): number | undefined {
  const firsts = [...spans(cosigs, k).values()].map((s) => s.first).sort((a, b) => a - b);
  return firsts.length < k ? undefined : firsts[k - 1];
}

/**
 * k-th largest of each witness's latest time: the real time is at least this.
 * Undefined when fewer than k distinct witnesses cosigned.
 */
export function aliveAt(cosigs: readonly WitnessCosignature[], k: number): number | undefined {
  const lasts = [...spans(cosigs, k).values()].map((s) => s.last).sort((a, b) => b - a);
  return lasts.length < k ? undefined : lasts[k - 1];
}
