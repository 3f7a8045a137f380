// `npm run bench`: every benchmark, each printing ratios against baselines
// measured in the same run. BENCH_RUNS sets the runs per case (median shown);
// pass names to run a subset: `npm run bench -- tree verify`.
const all: Record<string, () => Promise<{ main(): Promise<void> }>> = {
  tree: () => import('./tree.js'),
  verify: () => import('./verify.js'),
  sequencer: () => import('./sequencer.js'),
  oprf: () => import('./oprf.js'),
  intersection: () => import('./intersection.js'),
  device: () => import('./device.js'),
  audit: () => import('./audit.js'),
};

const wanted = process.argv.slice(2);
for (const name of wanted.length ? wanted : Object.keys(all)) {
  const load = all[name];
  if (!load) {
    console.error(`unknown benchmark ${name}; have: ${Object.keys(all).join(', ')}`);
    process.exit(2);
  }
  await (await load()).main();
}
