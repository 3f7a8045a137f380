// concord keygen: a signed-note key pair for an organisation, an auditor or a witness.
//
//   concord keygen --name NAME [--witness] --out FILE [--json]
//
// Writes the signer key (DESIGN.md "Keys", c2sp.org/signed-note) to FILE, created with mode
// 0600 and O_EXCL — an existing file is never overwritten — and fsynced:
//
//   PRIVATE+KEY+<name>+<hex8>+<base64(type ‖ 32-byte seed)>\n
//
// and prints the verifier key (what goes in a policy's `org`, `auditor` or `witness` line):
//
//   <name>+<hex8>+<base64(type ‖ 32-byte public key)>\n
//
// type 0x01 (Ed25519 note signatures: orgs, auditors) by default; --witness makes a type 0x04
// c2sp.org/tlog-cosignature key (cosignature/v1) for `concord witness serve`.
// With --json: {"name", "type", "vkey", "out"}.

import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { generateCosignatureKey } from '@concord/client-sdk/cosignature';
import { generateKey, isValidKeyName } from '@concord/client-sdk/note';
import { UsageError, parseArgs, required } from '../cli-common.js';
import type { CliIO, Command } from '../cli-common.js';

const USAGE = `usage: concord keygen --name NAME [--witness] --out FILE [--json]

  --name NAME   the key's name: an org's or auditor's name, or a witness name (witness.example/w1)
  --witness     a witness cosigning key (type 0x04, tlog-cosignature) instead of a note key (0x01)
  --out FILE    where to write the secret key (mode 0600; never overwrites)
  --json        print {"name","type","vkey","out"} instead of the verifier key`;

/** Creates `file` with `content`, mode 0600, failing if it exists. */
export function writeSecretKeyFile(file: string, content: string): void {
  const fd = openSync(file, 'wx', 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

async function run(args: readonly string[], io: CliIO): Promise<number> {
  const p = parseArgs(args, { values: ['name', 'out'], flags: ['witness', 'json'] });
  const name = required(p, 'name');
  const out = path.resolve(io.cwd, required(p, 'out'));
  if (!isValidKeyName(name)) throw new UsageError(`--name ${JSON.stringify(name)} is not a valid key name (no spaces, no "+", printable)`);
  const witness = p.flags.witness === true;
  const { skey, vkey } = witness ? generateCosignatureKey(name) : generateKey(name);
  try {
    writeSecretKeyFile(out, skey + '\n');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      io.stderr(`concord keygen: ${out} already exists; not overwriting it\n`);
      return 1;
    }
    throw err;
  }
  if (p.flags.json === true) io.stdout(JSON.stringify({ name, type: witness ? 'cosignature/v1' : 'ed25519', vkey, out }) + '\n');
  else io.stdout(vkey + '\n');
  return 0;
}

export const commands: Record<string, Command> = {
  keygen: { summary: 'a signed-note key pair (org, auditor, or --witness)', usage: USAGE, run },
};
