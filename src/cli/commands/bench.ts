// `hlgfa bench`: the per-kernel microbenchmark suite (src/tune/), with roofline calibration,
// validation against the CPU references and the tfjs-webgpu peer on the same device.
import { NoAdapterError } from '../../gpu/device.js';
import { initRuntime, type Runtime } from '../../gpu/runtime.js';
import { tuningStatus, useTuningCache } from '../../io/tuning-node.js';
import { writeFileAtomic } from '../../io/node-fs.js';
import { resetTuning } from '../../ops/tuning.js';
import { parseArgs, UsageError } from '../args.js';
import { cliRuntime } from '../gpu-setup.js';
import { checkOutput } from '../output-guard.js';
import { DEFAULT_BACKBONE } from '../paths.js';
import { benchGpu } from '../../tune/gpu-node.js';
import { formatReport } from '../../tune/report.js';
import { allCases, runBench, selectCases } from '../../tune/suite.js';
import { e2eProblems, runE2E } from '../../tune/e2e.js';
import type { E2EReport } from '../../tune/schema.js';

export const help = `Usage: hlgfa bench [--filter NAME[,NAME…]] [--json FILE] [--quick] [--no-peer] [--defaults] [--wall] [--list]
                   [--e2e | --e2e-only]

Runs the per-kernel microbenchmarks on this machine's WebGPU adapter: matmul, conv2d (3x3, 1x1),
depthwise 3/5/7 and the fused multi-scale kernel, modulation, gated residual, resize, cosine,
blur, reductions, Adam and the backward passes, on the shapes HLGFA and MobileNetV2 use. Each
case is validated once against its CPU reference (a wrong result is reported as WRONG, not
timed), then timed; throughput is compared with the device roofline measured at start-up and
with @tensorflow/tfjs-backend-webgpu on the same device where it has the same op.

  --filter NAMES  only cases whose id contains one of the comma-separated NAMES (e.g. matmul,cosine)
  --json FILE     also write the full report as JSON (schema: bench/README.md)
  --quick         few samples, a small calibration, and only the quick subset unless --filter
  --no-peer       skip the tfjs-webgpu peer
  --defaults      ignore this adapter's tuning cache (hlgfa tune) and bench the built-in defaults
  --wall          time by wall clock even when the adapter has timestamp queries
  --list          print the case ids and exit
  --e2e           also run the end-to-end section (first, before the kernel cases): HLGFA inference
                  (S=256, batch 1 and 8) and training images/s, first call vs warm, peak GPU pool
                  bytes, and fresh processes with the driver's shader cache empty, then warm
  --e2e-only      only the end-to-end section (the header's roofline is still calibrated, ~3 s)

Exit status 1 when a case is WRONG or fails, or the end-to-end section fails.`;

export function describeTuning(): string {
  const t = tuningStatus();
  if (t.source === 'cache') return `cache ${t.path}`;
  if (t.source === 'disabled') return 'defaults (HLGFA_TUNING=off)';
  if (t.source === 'error') return `defaults (cache unreadable: ${t.message})`;
  return `defaults (no entry for this adapter in ${t.path})`;
}

/** The runtime the bench measures on: dawn.node without timestamp quantisation when possible. */
export async function benchRuntime(): Promise<{ rt: Runtime; gpu: GPU | null }> {
  const gpu = (await benchGpu()) ?? null;
  if (gpu) {
    try {
      return { rt: await initRuntime({ gpu }), gpu };
    } catch (e) {
      if (!(e instanceof NoAdapterError)) throw e;
    }
  }
  return { rt: await cliRuntime(), gpu: null };
}

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['filter', 'json'], flags: ['quick', 'no-peer', 'defaults', 'wall', 'list', 'e2e', 'e2e-only'] });
  const quick = args.flags.has('quick');
  const e2eOnly = args.flags.has('e2e-only');
  const e2e = e2eOnly || args.flags.has('e2e');
  if (e2eOnly && args.values.filter !== undefined) throw new UsageError('--e2e-only runs no kernel case; drop --filter, or use --e2e to run both');
  const filter = args.values.filter?.split(',').map((s) => s.trim()).filter(Boolean);
  // An empty list would select every case: a full run nobody asked for.
  if (filter?.length === 0) throw new UsageError(`--filter needs at least one case name, got "${args.values.filter}"`);
  // Before any work: --json may not replace the backbone or a file that is not JSON.
  if (args.values.json !== undefined) checkOutput(args.values.json, 'json', { files: [DEFAULT_BACKBONE] }, { option: '--json' });
  const selected = e2eOnly ? [] : selectCases(allCases(), filter, quick);
  if (args.flags.has('list')) {
    for (const c of selected) console.log(c.id);
    return 0;
  }
  if (selected.length === 0 && !e2eOnly) {
    const families = [...new Set(allCases().map((c) => c.family))].join(', ');
    throw new UsageError(`--filter ${args.values.filter}: no case id contains it (families: ${families}; see --list)`);
  }
  const defaults = args.flags.has('defaults');
  if (!defaults) useTuningCache();
  const { rt, gpu } = await benchRuntime();
  if (defaults) resetTuning(); // the CLI's setup path may have applied the cache
  const tuningSource = defaults ? 'defaults (--defaults)' : describeTuning();
  const log = (line: string) => process.stderr.write(`${line}\n`);
  // First, so that its first calls include the pipeline creation the kernel cases would otherwise do.
  let e2eReport: E2EReport | undefined;
  const problems: string[] = [];
  if (e2e) {
    try {
      e2eReport = await runE2E(rt, { quick, log, backbonePath: DEFAULT_BACKBONE });
      problems.push(...e2eProblems(e2eReport));
    } catch (e) {
      problems.push(`end-to-end section failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const report = await runBench(rt, {
    cases: e2eOnly ? [] : undefined,
    quick,
    filter,
    peer: !args.flags.has('no-peer'),
    timestamps: !args.flags.has('wall'),
    tuningSource,
    gpu,
    log,
  });
  if (e2eReport) {
    report.e2e = e2eReport;
    report.durationS += e2eReport.durationS;
  }
  console.log(formatReport(report));
  for (const p of problems) console.error(`hlgfa bench: ${p}`);
  if (args.values.json) {
    writeFileAtomic(args.values.json, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`wrote ${args.values.json}`);
  }
  return report.failures > 0 || problems.length > 0 ? 1 : 0;
}
