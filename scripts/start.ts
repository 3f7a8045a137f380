// `npm start`: a complete local Concord network on the embedded default (SQLite under ./data/),
// and one full governance round through the same commands and HTTP APIs a real deployment uses
// (scripts/demo/network.ts; test/npm-start.test.ts runs the same round).
//
//   npm start               create ./data if absent, start everything, run what is left of the round
//   npm start -- --fresh    delete ./data first and start over
//   PORT=9090 npm start     the log on another port (default 8080); witnesses on PORT+1 … PORT+4
//   CONCORD_DATA=dir        another data directory
//
// Ctrl-C stops every process it started.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { DemoNetwork, repoRoot } from './demo/network.js';

const dataDir = path.resolve(process.env.CONCORD_DATA ?? path.join(repoRoot, 'data'));
const port = Number(process.env.PORT ?? 8080);
if (!Number.isInteger(port) || port < 1 || port > 65530) {
  console.error('PORT must be an integer in 1..65530');
  process.exit(2);
}

const net = new DemoNetwork({ dataDir, port });
let stopping = false;
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    await net.stop();
  }
  process.exit(code);
}
net.onChildExit = () => void stop(1);

async function main(): Promise<void> {
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));
  if (process.argv.includes('--fresh')) {
    rmSync(dataDir, { recursive: true, force: true });
    console.log(`--fresh: removed ${dataDir}`);
  }
  if (!net.exists) await net.create();
  else console.log(`Continuing with the existing network in ${dataDir} (npm start -- --fresh starts over).`);
  await net.start();
  await net.round();
  console.log('');
  console.log('The network keeps running (Ctrl-C stops every process):');
  console.log(`  dashboard    ${net.url}/`);
  console.log(`  checkpoint   ${net.url}/checkpoint`);
  console.log(`  bundle       ${net.url}/release/latest/bundle`);
  for (const w of net.witnessUrls()) console.log(`  witness      ${w.url}add-checkpoint   (${w.name})`);
}

main().catch(async (err: unknown) => {
  console.error(`npm start failed: ${err instanceof Error ? err.message : String(err)}`);
  await stop(1);
});
