// @concord/client-sdk — the trusted verification base. Import modules by
// subpath (e.g. "@concord/client-sdk/merkle") to keep bundles small.
export * from './errors.js';
export * from './bytes.js';
