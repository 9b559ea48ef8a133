// Where an HLGFA inference or training step spends its time (`hlgfa profile`): one warm
// `Detector.scoreMaps` call, or one warm step of `trainHlgfa`, with every dispatch timed on the GPU
// (src/gpu/profiler.ts), summed per op, per layer and per kernel, beside the CPU time spent
// recording each dispatch; and the same as a Chrome trace (chrome://tracing, ui.perfetto.dev) with
// a GPU track and a CPU-encode track.
import { adapterLabel } from '../gpu/device.js';
import { DispatchProfiler, type DispatchRecord } from '../gpu/profiler.js';
import type { Runtime } from '../gpu/runtime.js';
import { noiseAugmenter } from '../data/augment.js';
import type { RgbaImage } from '../io/image.js';
import type { Backbone } from '../models/backbone.js';
import type { BackboneIdentity, Detector } from '../models/detector.js';
import type { HlgfaConfig } from '../models/hlgfa-config.js';
import { trainHlgfa } from '../models/hlgfa-train.js';
import { e2eImages, trainImageCount } from './workload.js';

export interface Profile {
  /** What was profiled ("Detector.scoreMaps, 1 image(s) at S=256"). */
  workload: string;
  /** Wall time of the profiled call (recording, GPU work, readback, scoring), ms. */
  wallMs: number;
  /** Wall time of the same work unprofiled (a neighbouring call or step), ms. */
  unprofiledMs: number;
  /**
   * Whether the profiled call was the process's first (`--first`): the first dispatch of each
   * pipeline (`firstUse`) then includes its compile on drivers that compile lazily.
   */
  firstCall: boolean;
  adapter: string;
  /** The adapter's measured ceilings (src/tune/calibrate.ts), for % of roofline; null when not measured. */
  roofline: { peakGflops: number; copyGBps: number } | null;
  dispatches: DispatchRecord[];
}

export interface ProfileRow {
  name: string;
  count: number;
  gpuMs: number;
  /** Share of all dispatches' GPU time. */
  share: number;
  cpuMs: number;
  /** Useful FLOPs of the dispatches that declare them (NaN when none does), and their GFLOP/s over the row's GPU time. */
  flops: number;
  gflops: number;
  /** Bytes the dispatches move at least, and GB/s over the row's GPU time. */
  bytes: number;
  gbps: number;
  /** Time at the roofline (max of FLOPs at peak and bytes at copy bandwidth) / GPU time; NaN without a roofline. */
  roof: number;
  /**
   * Workgroups dispatched, and GPU µs per workgroup: where that is a few µs, the launch of a
   * workgroup, not its work, may be what costs (lavapipe: ~1 µs each).
   */
  workgroups: number;
  usPerWorkgroup: number;
}

/**
 * Profiles `detector.scoreMaps(images)`: a first call compiles pipelines, a second is timed plain, a
 * third profiled. With `firstCall`, the first call is the profiled one and the second the plain one.
 * Every call runs the ops (Detector.replay off): the profile is of the work they issue, and its
 * unprofiled comparison must be the same work.
 */
export async function profileInference(
  rt: Runtime, detector: Detector, images: readonly RgbaImage[], roofline: Profile['roofline'] = null, opts: { firstCall?: boolean } = {},
): Promise<Profile> {
  const replay = detector.replay;
  detector.replay = false;
  try {
    return await profileCalls(rt, detector, images, roofline, opts.firstCall ?? false);
  } finally {
    detector.replay = replay;
  }
}

/** Runs `fn` with a profiler attached: its wall time and every dispatch it issued, GPU-timed. */
export async function profiledCall(rt: Runtime, fn: () => Promise<unknown>): Promise<{ wallMs: number; dispatches: DispatchRecord[] }> {
  const profiler = new DispatchProfiler(rt.device);
  rt.setProfiler(profiler);
  let wallMs: number;
  try {
    const t = performance.now();
    await fn();
    wallMs = performance.now() - t;
  } finally {
    rt.setProfiler(null);
  }
  rt.flush();
  return { wallMs, dispatches: await profiler.collect() };
}

async function profileCalls(rt: Runtime, detector: Detector, images: readonly RgbaImage[], roofline: Profile['roofline'], firstCall: boolean): Promise<Profile> {
  const timePlain = async () => {
    const t = performance.now();
    await detector.scoreMaps(images);
    return performance.now() - t;
  };
  if (!firstCall) await detector.scoreMaps(images);
  let unprofiledMs = firstCall ? NaN : await timePlain();
  const { wallMs, dispatches } = await profiledCall(rt, () => detector.scoreMaps(images));
  if (firstCall) unprofiledMs = await timePlain();
  const workload = `Detector.scoreMaps, ${images.length} image(s) at S=${detector.config.size}${firstCall ? ', the first call' : ''}`;
  return { workload, wallMs, unprofiledMs, firstCall, adapter: adapterLabel(rt.gpu.info), roofline, dispatches };
}

/**
 * Profiles the second step of a one-epoch `trainHlgfa` run on synthetic normal images (three
 * steps: the first compiles the backward pipelines, the third is the unprofiled comparison): the
 * noisy views' backbone passes, each level's forward, the loss, the backward pass and Adam. Every
 * step runs its ops (replay off): a profile times them one by one, and the comparison must be the
 * same work; a replayed step issues the same dispatches.
 */
export async function profileTraining(
  rt: Runtime, backbone: Backbone, backboneId: BackboneIdentity, cfg: HlgfaConfig, roofline: Profile['roofline'] = null, opts: { firstCall?: boolean } = {},
): Promise<Profile> {
  const firstCall = opts.firstCall ?? false;
  const images = e2eImages(cfg.size, trainImageCount(3 * cfg.batchSize, cfg), 'train');
  const profiler = new DispatchProfiler(rt.device);
  const step: { step: number; profiler: DispatchProfiler; wallMs?: number; nextMs?: number } = { step: firstCall ? 0 : 1, profiler };
  const result = await trainHlgfa({ backbone, backboneId, config: { ...cfg, epochs: 1 }, images, augment: noiseAugmenter(), profileStep: step, replay: false });
  result.detector.dispose();
  rt.flush();
  const dispatches = await profiler.collect();
  if (step.wallMs === undefined || step.nextMs === undefined) throw new Error('profile: the training run ended before its second and third steps');
  const workload = `${firstCall ? 'the first' : 'one'} trainHlgfa step, batch ${cfg.batchSize} at S=${cfg.size} (noise '${cfg.noise}', p ${cfg.noiseProbability})`;
  return { workload, wallMs: step.wallMs, unprofiledMs: step.nextMs, firstCall, adapter: adapterLabel(rt.gpu.info), roofline, dispatches };
}

const addKnown = (sum: number, v: number) => (Number.isFinite(v) ? (Number.isNaN(sum) ? v : sum + v) : sum);

/**
 * GPU and CPU-encode time summed by op, layer or kernel, largest GPU time first, with the useful
 * GFLOP/s and minimum GB/s over the row's whole GPU time (dispatches that declare no FLOPs, such as
 * weight layout passes, count in the time but not the work) and, given the adapter's roofline, the
 * share of the time its work would take at the ceilings.
 */
export function summarise(records: readonly DispatchRecord[], by: 'op' | 'layer' | 'kernel' | 'pipeline', roofline: Profile['roofline'] = null): ProfileRow[] {
  const rows = new Map<string, ProfileRow>();
  let total = 0;
  for (const r of records) {
    const name = (by === 'layer' ? r.layer : r[by]) || '(outside layers)';
    const row = rows.get(name) ?? { name, count: 0, gpuMs: 0, share: 0, cpuMs: 0, flops: NaN, gflops: NaN, bytes: NaN, gbps: NaN, roof: NaN, workgroups: 0, usPerWorkgroup: NaN };
    row.count++;
    row.workgroups += r.workgroups[0] * r.workgroups[1] * r.workgroups[2];
    if (Number.isFinite(r.gpuMs)) {
      row.gpuMs += r.gpuMs;
      total += r.gpuMs;
    }
    row.cpuMs += r.cpuMs;
    row.flops = addKnown(row.flops, r.flops);
    row.bytes = addKnown(row.bytes, r.bytes);
    rows.set(name, row);
  }
  for (const row of rows.values()) {
    row.share = total > 0 ? row.gpuMs / total : 0;
    const seconds = row.gpuMs / 1e3;
    if (row.workgroups > 0) row.usPerWorkgroup = (1e3 * row.gpuMs) / row.workgroups;
    if (seconds > 0) {
      row.gflops = row.flops / seconds / 1e9;
      row.gbps = row.bytes / seconds / 1e9;
      if (roofline) row.roof = Math.max((row.flops || 0) / (roofline.peakGflops * 1e9), (row.bytes || 0) / (roofline.copyGBps * 1e9)) / seconds;
    }
  }
  return [...rows.values()].sort((a, b) => b.gpuMs - a.gpuMs || a.name.localeCompare(b.name));
}

/** Sum of the dispatches' GPU and CPU-encode times, ms. */
export function totals(records: readonly DispatchRecord[]): { gpuMs: number; cpuMs: number; timed: number } {
  let gpuMs = 0;
  let cpuMs = 0;
  let timed = 0;
  for (const r of records) {
    if (Number.isFinite(r.gpuMs)) {
      gpuMs += r.gpuMs;
      timed++;
    }
    cpuMs += r.cpuMs;
  }
  return { gpuMs, cpuMs, timed };
}

/** Layer prefixes up to `depth` parts ("backbone HR/features.3" at depth 1 is "backbone HR"). */
export function atDepth(records: readonly DispatchRecord[], depth: number): DispatchRecord[] {
  return records.map((r) => ({ ...r, layer: r.layer.split('/').slice(0, depth).join('/') }));
}

const figure = (v: number, digits: number, width: number) => (Number.isFinite(v) ? v.toFixed(digits) : '—').padStart(width);

function table(title: string, rows: readonly ProfileRow[], limit: number, more: string): string {
  const shown = rows.slice(0, limit);
  const w = Math.max(title.length, ...shown.map((r) => r.name.length));
  const head = ['count'.padStart(5), 'GPU ms'.padStart(8), '%'.padStart(5), 'GFLOP/s'.padStart(8), 'GB/s'.padStart(7), '% roof'.padStart(6), 'CPU enc ms'.padStart(10), 'workgroups'.padStart(10), 'µs/wg'.padStart(7)];
  const lines = [`${title.padEnd(w)}  ${head.join('  ')}`];
  for (const r of shown) {
    const cells = [
      String(r.count).padStart(5), figure(r.gpuMs, 2, 8), figure(100 * r.share, 1, 5), figure(r.gflops, 2, 8), figure(r.gbps, 2, 7),
      figure(100 * r.roof, 1, 6), figure(r.cpuMs, 2, 10), String(r.workgroups).padStart(10), figure(r.usPerWorkgroup, 2, 7),
    ];
    lines.push(`${r.name.padEnd(w)}  ${cells.join('  ')}`);
  }
  if (rows.length > shown.length) lines.push(`… ${rows.length - shown.length} more (${more})`);
  return lines.join('\n');
}

/** The report `hlgfa profile` prints; `more` says where the rows past `limit` are. */
export function formatProfile(p: Profile, limit = 15, more = '--json has all'): string {
  const t = totals(p.dispatches);
  const untimed = p.dispatches.length - t.timed;
  return [
    `${p.adapter}: ${p.workload}`,
    `wall ${p.wallMs.toFixed(1)} ms profiled (${p.unprofiledMs.toFixed(1)} ms unprofiled${p.firstCall ? ', the next call' : ''}); ${p.dispatches.length} dispatches: GPU ${t.gpuMs.toFixed(1)} ms, CPU encode ${t.cpuMs.toFixed(1)} ms` +
      (untimed ? ` (${untimed} without GPU timestamps)` : ''),
    '',
    p.roofline ? `roofline: ${p.roofline.peakGflops.toFixed(1)} GFLOP/s, ${p.roofline.copyGBps.toFixed(1)} GB/s (GFLOP/s where the op declares its work; GB/s: the bytes its tensors hold, a lower bound on traffic)` : 'no roofline measured',
    '',
    table('op', summarise(p.dispatches, 'op', p.roofline), limit, more),
    '',
    table('layer', summarise(atDepth(p.dispatches, 1), 'layer', p.roofline), limit, more),
    '',
    // the nested layers (a backbone view's blocks), where there are any
    ...(p.dispatches.some((r) => r.layer.includes('/')) ? [table('layer (blocks)', summarise(p.dispatches, 'layer', p.roofline), limit, more), ''] : []),
    table('kernel', summarise(p.dispatches, 'kernel', p.roofline), limit, more),
    ...(p.firstCall ? ['', firstUseTable(p, limit, more)] : []),
  ].join('\n');
}

/**
 * The first dispatch of each pipeline in a first-call profile, slowest first, beside the same
 * pipeline's median time in the rest of the call: the excess is its compile where the driver
 * compiles lazily (lavapipe), ~0 where pipelines were compiled at creation or cached.
 */
function firstUseTable(p: Profile, limit: number, more: string): string {
  const later = new Map<string, number[]>();
  for (const r of p.dispatches) {
    if (r.firstUse || !Number.isFinite(r.gpuMs)) continue;
    const times = later.get(r.pipeline);
    if (times) times.push(r.gpuMs);
    else later.set(r.pipeline, [r.gpuMs]);
  }
  const median = (v: number[] | undefined) => (v?.length ? [...v].sort((a, b) => a - b)[v.length >> 1] : NaN);
  const rows = p.dispatches.filter((r) => r.firstUse).map((r) => ({ name: r.pipeline, ms: r.gpuMs, again: median(later.get(r.pipeline)) }));
  rows.sort((a, b) => (Number.isFinite(b.ms) ? b.ms : -1) - (Number.isFinite(a.ms) ? a.ms : -1));
  const total = rows.reduce((s, r) => s + (Number.isFinite(r.ms) ? r.ms : 0), 0);
  const shown = rows.slice(0, limit);
  const w = Math.max(8, ...shown.map((r) => r.name.length));
  const lines = [
    `${rows.length} pipelines dispatched for the first time: ${total.toFixed(0)} ms of GPU time in their first dispatches`,
    `${'pipeline'.padEnd(w)}  ${'first ms'.padStart(9)}  ${'later ms'.padStart(9)}`,
    ...shown.map((r) => `${r.name.padEnd(w)}  ${figure(r.ms, 1, 9)}  ${figure(r.again, 2, 9)}`),
  ];
  if (rows.length > shown.length) lines.push(`… ${rows.length - shown.length} more (${more})`);
  return lines.join('\n');
}

interface TraceEvent {
  name: string;
  cat: string;
  ph: 'X' | 'M';
  ts?: number;
  dur?: number;
  pid: number;
  tid: number;
  args: Record<string, unknown>;
}

/**
 * The profile in the Chrome trace event format (JSON object form): complete ('X') events in µs,
 * thread 1 the GPU (timestamps relative to the first dispatch), thread 2 the CPU recording them
 * (relative to the first recording).
 */
export function chromeTrace(p: Profile): { traceEvents: TraceEvent[]; displayTimeUnit: 'ms'; otherData: Record<string, string> } {
  const cpu0 = p.dispatches.length ? Math.min(...p.dispatches.map((r) => r.cpuStart)) : 0;
  const events: TraceEvent[] = [
    { name: 'thread_name', cat: '__metadata', ph: 'M', pid: 1, tid: 1, args: { name: 'GPU' } },
    { name: 'thread_name', cat: '__metadata', ph: 'M', pid: 1, tid: 2, args: { name: 'CPU encode' } },
  ];
  for (const r of p.dispatches) {
    const args = { kernel: r.kernel, layer: r.layer, workgroups: r.workgroups };
    if (Number.isFinite(r.gpuMs)) events.push({ name: r.op, cat: 'gpu', ph: 'X', ts: r.gpuStart * 1000, dur: r.gpuMs * 1000, pid: 1, tid: 1, args });
    events.push({ name: r.op, cat: 'cpu', ph: 'X', ts: (r.cpuStart - cpu0) * 1000, dur: r.cpuMs * 1000, pid: 1, tid: 2, args });
  }
  return { traceEvents: events, displayTimeUnit: 'ms', otherData: { adapter: p.adapter, workload: p.workload } };
}
