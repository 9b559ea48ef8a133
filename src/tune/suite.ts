// The kernel microbenchmark suite: calibrates the device roofline, runs every selected case
// (validate once, then time), optionally the same shapes on the tfjs-webgpu peer, and returns the
// report (src/tune/schema.ts). Driven by `hlgfa bench` (src/cli/commands/bench.ts) and the tests.
import '../ops/index.js'; // configures autograd for the backward cases
import { cpus } from 'node:os';
import type { Runtime } from '../gpu/runtime.js';
import { currentTuning } from '../ops/tuning.js';
import { calibrate } from './calibrate.js';
import { allCases, selectCases } from './cases/index.js';
import { FULL, QUICK, Timer, runCase, type BenchCase, type CaseInstance, type MeasureOptions, type PeerInstance } from './harness.js';
import { createPeer, type Peer } from './peer.js';
import { SCHEMA, type BenchReport, type CaseResult, type PeerInfo, type Roofline } from './schema.js';

export interface BenchOptions {
  /** Fewer samples, smaller calibration, and (without `filter`) only the cases marked quick. */
  quick?: boolean;
  /** Case-insensitive substrings; a case runs when its id contains any of them. */
  filter?: readonly string[];
  /** Measure the tfjs-webgpu peer where a case has one (default true). */
  peer?: boolean;
  /** Use GPU timestamps when the device has them (default true). */
  timestamps?: boolean;
  /** The cases to choose from (default: the whole suite). */
  cases?: BenchCase[];
  /** Roofline to use instead of calibrating (tests). */
  roofline?: Roofline;
  /** Sampling override. */
  measure?: MeasureOptions;
  /** Where the tuning in force came from, for the report. */
  tuningSource?: string;
  /** The GPU instance the runtime came from (lets the peer pass tfjs's navigator.gpu check). */
  gpu?: GPU | null;
  /** Progress lines (one per case). */
  log?: (line: string) => void;
}

// The case list lives in a node-free module (the page's tuner uses it); re-exported for the CLI.
export { allCases, selectCases };

function fmtMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3);
}

export function progressLine(i: number, n: number, r: CaseResult): string {
  const head = `[${String(i).padStart(String(n).length)}/${n}] ${r.id}`;
  if (r.status !== 'ok') return `${head}  ${r.status}${r.error ? `: ${r.error}` : r.validation ? ` (rel err ${r.validation.relErr.toExponential(2)})` : ''}`;
  const peer = r.peer?.ratio != null ? `  peer ×${r.peer.ratio.toFixed(2)}` : '';
  return `${head}  ${fmtMs(r.time!.median)} ms  ${r.throughput!.gflops.toFixed(2)} GFLOP/s  ${r.roofline!.pct.toFixed(1)}% roof${peer}`;
}

export async function runBench(rt: Runtime, opts: BenchOptions = {}): Promise<BenchReport> {
  const started = performance.now();
  const quick = opts.quick ?? false;
  const log = opts.log ?? (() => {});
  const cases = selectCases(opts.cases ?? allCases(), opts.filter, quick);
  const ids = new Set<string>();
  for (const c of cases) {
    if (ids.has(c.id)) throw new Error(`bench: duplicate case id "${c.id}"`);
    ids.add(c.id);
  }
  const timer = new Timer(rt, opts.timestamps ?? true);
  const measure = opts.measure ?? (quick ? QUICK : FULL);
  let peer: Peer | null = null;
  let peerInfo: PeerInfo = { name: '@tensorflow/tfjs-backend-webgpu', version: null, available: false, clock: 'wall', reason: 'not requested' };
  try {
    log(`calibrating the roofline (${timer.timestamps ? 'GPU timestamps' : 'wall clock'})…`);
    const roof = opts.roofline ?? (await calibrate(rt, { quick, timestamps: timer.timestamps }));
    log(`  peak ${roof.peakGflops.toFixed(1)} GFLOP/s, copy ${roof.copyGBps.toFixed(1)} GB/s`);
    if ((opts.peer ?? true) && cases.some((c) => c.peer)) {
      ({ peer, info: peerInfo } = await createPeer(rt, opts.gpu ?? null));
      if (!peer) log(`  ${peerInfo.reason}`);
    }
    const results: CaseResult[] = [];
    for (const [i, c] of cases.entries()) {
      const comparePeer =
        peer && c.peer
          ? async (ours: CaseInstance, r: CaseResult) => {
              const spec = c.peer!;
              let inst: PeerInstance | null = null;
              try {
                inst = spec.setup(peer!);
                const m = await timer.comparePeer(ours, r.wall!.repsPerSample, inst, measure);
                r.peer = { op: spec.op, wall: m.peer, oursWall: m.ours, ratio: m.ours.median / m.peer.median };
              } catch (e) {
                r.peer = { op: spec.op, wall: null, oursWall: null, ratio: null, error: e instanceof Error ? e.message : String(e) };
              } finally {
                inst?.dispose();
                await rt.device.queue.onSubmittedWorkDone();
              }
            }
          : undefined;
      const r = await runCase(timer, rt, c, measure, roof, comparePeer);
      results.push(r);
      log(progressLine(i + 1, cases.length, r));
    }
    const info = rt.gpu.info;
    const cpu = cpus();
    return {
      schema: SCHEMA,
      createdAt: new Date().toISOString(),
      mode: quick ? 'quick' : 'full',
      host: { node: process.versions.node, platform: process.platform, arch: process.arch, cpus: cpu.length, cpuModel: cpu[0]?.model ?? '' },
      adapter: {
        vendor: info.vendor,
        architecture: info.architecture,
        device: info.device,
        description: info.description,
        isFallbackAdapter: info.isFallbackAdapter,
        features: info.features,
      },
      clock: timer.timestamps
        ? {
            kind: 'gpu-timestamp',
            resolutionNs: timer.resolutionNs || null,
            note: 'sum of the compute passes of the measured work (begin/end timestamp writes), divided by repetitions',
          }
        : {
            kind: 'wall',
            resolutionNs: null,
            note: `first record to onSubmittedWorkDone, divided by repetitions (${rt.device.features.has('timestamp-query') ? 'timestamps turned off' : 'the device has no timestamp-query'})`,
          },
      roofline: roof,
      tuning: { source: opts.tuningSource ?? 'current', record: currentTuning() },
      peer: peerInfo,
      cases: results,
      failures: results.filter((r) => r.status !== 'ok').length,
      durationS: (performance.now() - started) / 1e3,
    };
  } finally {
    peer?.dispose();
    timer.destroy();
  }
}
