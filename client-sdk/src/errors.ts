// Base class for every typed error the SDK throws.
//
// Each concern (merkle, tiles, note, checkpoint, ...) declares its own subclass
// with a literal-union `code`, so programs switch on codes, not on messages.
// A broken internal invariant is not one of these: it is thrown as a plain
// Error whose message starts with "bad math:" and is never reported as an
// invalid proof or input.

export abstract class ConcordError<C extends string = string> extends Error {
  readonly code: C;
  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** An internal invariant failed: a bug, never a property of the input. */
export function badMath(what: string): never {
  throw new Error(`bad math: ${what}`);
}
