// The OPRF bulk-path backend for Node: libsodium 1.0.22 (libsodium-wrappers-sumo,
// WASM) adapted by client-sdk/src/oprf-libsodium.ts, for RFC 9497 VOPRF
// ristretto255-SHA512 (DESIGN.md "Blinding").
//
//   const backend = await sodiumOprfBackend();
//   oprf.blindEvaluateBatch(sk, pk, blinded, { backend });   // same bytes as the default
//
// Measured reason (scripts/bench/oprf.ts, medians per CPU second): a ristretto255
// scalar multiplication costs ~0.21 ms here against ~1.45 ms in noble; the whole
// contribute path at batch 1,000 runs at 737 elements/s against 151 (4.9×), and
// a 1,000,000-element contribution took 17.5 min on 2 threads (peak RSS 232 MiB)
// where noble needs ~110 CPU minutes. Byte-identical results: the RFC 9497
// vectors and a differential test against noble run through it
// (test/oprf-sodium.test.ts).
// verifier/src/oprf-sodium.ts and log-server/src/oprf-sodium.ts are the same file.
import sodium from 'libsodium-wrappers-sumo';
import type { OprfBackend } from '@concord/client-sdk/oprf';
import { libsodiumBackend } from '@concord/client-sdk/oprf-libsodium';

let loaded: Promise<OprfBackend<Uint8Array>> | undefined;

/** libsodium as an OprfBackend, initialised once per process (or worker thread). */
export function sodiumOprfBackend(): Promise<OprfBackend<Uint8Array>> {
  loaded ??= sodium.ready.then(() => libsodiumBackend(sodium));
  return loaded;
}
