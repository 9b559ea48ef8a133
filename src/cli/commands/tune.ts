// `hlgfa tune`: measures each performance-critical kernel family's variants on this adapter
// (bench/tune.ts) and caches the winners keyed by adapter identity; every later `hlgfa` command
// (and `initRuntime` after `useTuningCache()`) applies them.
import { readTuningCache, saveTuning, tuningFilePath } from '../../io/tuning-node.js';
import { adapterKey, type FullTuning, type TuningRecord } from '../../ops/tuning.js';
import { parseArgs, UsageError } from '../args.js';
import { TUNABLE_FAMILIES, runTuning } from '../../../bench/tune.js';
import { benchRuntime } from './bench.js';

export const help = `Usage: hlgfa tune [--quick] [--family NAMES] [--dry-run] [--wall]

Measures the kernel variants of each performance-critical family on this machine's WebGPU adapter
(matmul vec4/scalar/tiled, conv2d pixels per thread, depthwise rolling/blocks, norm, gate, cosine
and Adam workgroup sizes and vec4 paths, blur span), validating every candidate against the CPU
reference, and caches the fastest as JSON keyed by the adapter's vendor, architecture, device and
description. Commands apply the cached record when they start (HLGFA_TUNING=off disables that).

  --quick         fewer samples and only the main knob of each family
  --family NAMES  comma-separated subset of: ${TUNABLE_FAMILIES.join(', ')}
  --dry-run       measure and print, but do not write the cache
  --wall          time by wall clock even when the adapter has timestamp queries

Cache file: $HLGFA_TUNING_FILE, else $XDG_CACHE_HOME/hlgfa/tuning.json, else ~/.cache/hlgfa/tuning.json
(now: ${tuningFilePath()}).`;

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['family'], flags: ['quick', 'dry-run', 'wall'] });
  const families = args.values.family?.split(',').map((s) => s.trim()).filter(Boolean) as Array<keyof FullTuning> | undefined;
  for (const f of families ?? []) {
    if (!TUNABLE_FAMILIES.includes(f)) throw new UsageError(`--family: unknown family "${f}", expected one of ${TUNABLE_FAMILIES.join(', ')}`);
  }
  const { rt } = await benchRuntime();
  const info = rt.gpu.info;
  console.log(`tuning for ${adapterKey(info)}`);
  const started = performance.now();
  const result = await runTuning(rt, {
    quick: args.flags.has('quick'),
    families,
    timestamps: !args.flags.has('wall'),
    log: (line) => console.log(line),
  });
  const tuned = families ?? TUNABLE_FAMILIES;
  // Families not tuned now keep what the cache already holds for this adapter.
  const path = tuningFilePath();
  let previous: TuningRecord = {};
  try {
    previous = readTuningCache(path).adapters[adapterKey(info)]?.record ?? {};
  } catch {
    previous = {};
  }
  const record: TuningRecord = { ...previous };
  for (const f of tuned) (record as Record<string, unknown>)[f] = result.record[f];
  console.log(`\nchanged from the defaults: ${result.changed.length ? result.changed.join(', ') : 'nothing'}`);
  console.log(JSON.stringify(record, null, 2));
  console.log(`(${((performance.now() - started) / 1e3).toFixed(0)} s)`);
  if (args.flags.has('dry-run')) return 0;
  saveTuning(info, record, result.measurements, path);
  console.log(`wrote ${path}`);
  return 0;
}
