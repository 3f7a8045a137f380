// @concord/log-server: the Concord transparency log server. Nothing imports it but its own
// tests and the cross-package tests; `concord-log` (cli.ts) runs it.
export { createApp, nodeListener, DEFAULT_MAX_BLOB_BYTES } from './app.js';
export type { AppDeps } from './app.js';
export { openLog } from './log.js';
export type { LogConfig, OpenLog } from './log.js';
export { initLog, defaultStoreUrl, InitError } from './init.js';
export type { InitOptions, InitResult } from './init.js';
export { Sequencer } from './sequencer.js';
export type { AddResult, Committed, SequencerOptions } from './sequencer.js';
export { LogState } from './log-state.js';
export { LogReader } from './reader.js';
export { ServerError, toHttpError } from './http-errors.js';
export type { ServerErrorCode } from './http-errors.js';
export { nativeEd25519Backend, nativeEd25519Verify, opensslEd25519Verify, opensslEd25519VerifyAsync, nativeSigner } from './ed25519-native.js';
export type { Ed25519Backend, Ed25519VerifyAsync } from './ed25519-native.js';
export { Ed25519Pool } from './ed25519-pool.js';
export type { Ed25519PoolOptions } from './ed25519-pool.js';
