// Every error the log server answers with, mapped to its HTTP status in this one place.
//
//   HTTP/1.1 <status>
//   Content-Type: application/json
//
//   {"error":{"code":"<code>","message":"<human-readable text>"}}
//
// `code` is the typed `code` of the ConcordError that was thrown (client-sdk's EntryError,
// PolicyError, TilesError, …, or this module's ServerError), so programs switch on it. The
// status follows one rule per kind of failure:
//
//   400  the input is malformed (an entry, a path, a query parameter, an OPRF request body)
//   401  a Concord-Note request authorisation is missing, malformed, stale, replayed, signed by
//        someone who may not make requests, or does not verify (the specific reason is the code)
//   403  a well-formed entry whose author may not write it, or whose signature does not verify
//   404  nothing there (beyond the tree, an unknown blob, no quorum-cosigned checkpoint yet)
//   409  the entry conflicts with the log's state (release or policy succession)
//   413  a body, entry or blob above its size cap
//   422  a well-formed entry that breaks a policy rule (floors, max-entries, …)
//   429  the author key's submission rate, or a requester key's daily OPRF quota, is exhausted
//   500  a bug or an invariant that failed (never the client's fault; details only in the log)
//   503  this server cannot sequence (read-only, stopped, or storage in an unknown state)
//
// Nothing stored changes before a request has passed every check that can answer 4xx.

import { ConcordError } from '@concord/client-sdk/errors';
import { EncodingError } from '@concord/client-sdk/bytes';

export type ServerErrorCode =
  /** No such resource (route, tile beyond the tree, entry, blob, published checkpoint). */
  | 'not-found'
  /** A query parameter or path that is not canonical. */
  | 'bad-request'
  /** A request target with dot segments, percent-encoding, backslashes or empty segments. */
  | 'bad-path'
  /** A body above its size cap (also announced by Content-Length). */
  | 'too-large'
  /** The method is not allowed on this path. */
  | 'method-not-allowed'
  /** The author key used up its submissions for the current window. */
  | 'rate-limited'
  /**
   * A request authorisation failed; `cause` holds the typed error (EntryError, PolicyError)
   * whose code is reported. Without a cause: no Authorization header.
   */
  | 'unauthenticated'
  /** The request note's nonce was seen in the last REQUEST_NONCE_TTL seconds. */
  | 'replayed-request'
  /** No witness-quorum-cosigned checkpoint contains the entry yet. */
  | 'not-published'
  /** This server does not sequence (another holds the sequencer lock). */
  | 'read-only'
  /** The sequencer stopped or cannot tell whether storage committed; retry later. */
  | 'unavailable';

export class ServerError extends ConcordError<ServerErrorCode> {
  override readonly name = 'ServerError';
}

const SERVER_STATUS: Record<ServerErrorCode, number> = {
  'not-found': 404,
  'bad-request': 400,
  'bad-path': 400,
  'too-large': 413,
  'method-not-allowed': 405,
  'rate-limited': 429,
  unauthenticated: 401,
  'replayed-request': 401,
  'not-published': 404,
  'read-only': 503,
  unavailable: 503,
};

/**
 * Status per (error class name, code) for client-sdk's and storage's typed errors. A code not
 * listed here maps to the class default; a class not listed is a 500.
 */
const TABLE: Record<string, { default: number; codes: Record<string, number> }> = {
  EntryError: {
    default: 400, // malformed-entry, unknown-type, not-canonical, bad-field, bad-key, …
    codes: {
      'too-large': 413,
      'wrong-signer': 403,
      'invalid-signature': 403,
      // Request notes (only reached outside an 'unauthenticated' wrapper, i.e. never in
      // practice; kept so that a forgotten wrapper still answers 401, not 400).
      'malformed-request': 401,
      'bad-authorization': 401,
      'request-mismatch': 401,
      'stale-request': 401,
    },
  },
  PolicyError: {
    default: 422, // validatePolicy's codes, too-many-entries, release-expires-too-late, …
    codes: {
      'no-policy': 403,
      'unknown-org': 403,
      'wrong-author': 403,
      'unknown-requester': 401,
      'bad-policy-sequence': 409,
      'bad-previous': 409,
      'bad-release-sequence': 409,
      'wrong-policy': 409,
      'bad-index': 500,
    },
  },
  TilesError: { default: 500, codes: { 'bad-path': 400, 'entry-too-large': 413 } },
  MerkleError: { default: 400, codes: { 'bad-reader': 500 } },
  NoteError: { default: 400, codes: { 'too-large': 413 } },
  CheckpointError: { default: 500, codes: {} },
  BlobError: { default: 500, codes: { 'digest-mismatch': 400, 'too-large': 413, 'bad-input': 400 } },
  StorageError: { default: 500, codes: {} },
  // POST /oprf/evaluate bodies (bad-json, bad-base64, bad-element, bad-batch); a key that does
  // not match is the server's own misconfiguration.
  OprfError: { default: 400, codes: { 'bad-key': 500 } },
};

export interface HttpError {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

/** The HTTP answer for any thrown value. 5xx answers carry no internal details. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof ServerError) {
    if (err.code === 'unauthenticated' && err.cause instanceof ConcordError) {
      return { status: 401, code: err.cause.code, message: err.message };
    }
    return { status: SERVER_STATUS[err.code], code: err.code, message: err.message };
  }
  if (err instanceof ConcordError) {
    const row = TABLE[err.name];
    const status = row === undefined ? 500 : (row.codes[err.code] ?? row.default);
    if (status >= 500) return { status, code: 'internal', message: 'internal error' };
    return { status, code: err.code, message: err.message };
  }
  if (err instanceof EncodingError) return { status: 400, code: err.code, message: err.message };
  return { status: 500, code: 'internal', message: 'internal error' };
}

/** Is this failure the server's (worth logging), not the client's? */
export function isServerFault(e: HttpError): boolean {
  return e.status >= 500;
}

/** The JSON body of an error answer. */
export function errorBody(e: HttpError): string {
  return JSON.stringify({ error: { code: e.code, message: e.message } });
}
