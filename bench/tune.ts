// The tuner behind `hlgfa tune`: for each performance-critical family, coordinate descent over its
// knobs. Every candidate value is applied (src/ops/tuning.ts), each of the knob's representative
// bench cases is validated against its CPU reference and timed, and the candidate with the lowest
// geometric-mean time wins if it beats the value in force by more than MARGIN (noise guard). A
// candidate that computes a wrong result can never win. Node-free: the browser page runs it too
// (src/web/tune-hook.ts).
import '../src/ops/index.js';
import type { Runtime } from '../src/gpu/runtime.js';
import { applyTuning, currentTuning, resetTuning, type FullTuning, type TuningRecord } from '../src/ops/tuning.js';
import { Timer, compare, stats, type BenchCase, type MeasureOptions } from './harness.js';
import { allCases } from './cases/index.js';

/** A winner must be this much faster than the value in force. */
const MARGIN = 0.05;

/** Sampling per candidate and round. */
export const TUNE_QUICK: MeasureOptions = { sampleMs: 3, minSamples: 3, maxSamples: 3, budgetMs: 0 };
export const TUNE_FULL: MeasureOptions = { sampleMs: 8, minSamples: 3, maxSamples: 5, budgetMs: 300 };

interface Knob {
  name: string;
  /** Candidate values as records to apply (one field each). */
  candidates: TuningRecord[];
  /** Case ids measured for this knob. */
  cases: string[];
  /** Part of --quick (else full only). */
  quick?: boolean;
}

const blocks = [{ bw: 8, bh: 4 }, { bw: 4, bh: 4 }, { bw: 8, bh: 2 }, { bw: 16, bh: 2 }, { bw: 4, bh: 8 }];

/** The knobs per family, in tuning order, with the cases that exercise them. */
export const KNOBS: Record<keyof FullTuning, Knob[]> = {
  matmul: [
    { name: 'variant', quick: true, candidates: (['auto', 'vec4', 'scalar', 'tiled', 'rows'] as const).map((variant) => ({ matmul: { variant } })), cases: ['matmul/512x512x512', 'conv2d/1x1 144→24 @64²'] },
    { name: 'groupLanes', candidates: ([0, 4] as const).map((groupLanes) => ({ matmul: { groupLanes } })), cases: ['matmul/512x512x512', 'conv2d/1x1 144→24 @64²'] },
    { name: 'rowGroups', candidates: [1, 2, 4].map((rowGroups) => ({ matmul: { rowGroups } })), cases: ['matmul/512x512x512', 'conv2d/1x1 144→24 @64²'] },
  ],
  conv2d: [
    { name: 'vec4Loads', quick: true, candidates: [true, false].map((vec4Loads) => ({ conv2d: { vec4Loads } })), cases: ['conv2d/3x3 24→48 @64²', 'conv2d/3x3 96→192 @16²'] },
    { name: 'subgroupWeights', quick: true, candidates: [true, false].map((subgroupWeights) => ({ conv2d: { subgroupWeights } })), cases: ['conv2d/3x3 24→48 @64²', 'conv2d/3x3 96→192 @16²'] },
    { name: 'pixelsPerThread', quick: true, candidates: [2, 4, 8, 16].map((px) => ({ conv2d: { pixelsPerThread: px } })), cases: ['conv2d/3x3 24→48 @64²', 'conv2d/3x3 s2 3→32 @256²'] },
  ],
  depthwise: [
    { name: 'rolling', quick: true, candidates: [true, false].map((rolling) => ({ depthwise: { rolling } })), cases: ['depthwise/3x3 144ch @64²', 'depthwise/multiscale 3+5+7 32ch @32²'] },
    { name: 'rollingBw', candidates: [4, 8, 16].map((rollingBw) => ({ depthwise: { rollingBw } })), cases: ['depthwise/3x3 144ch @64²', 'depthwise/multiscale 3+5+7 32ch @32²'] },
    { name: 'rollingRows', candidates: [16, 32, 64].map((rollingRows) => ({ depthwise: { rollingRows } })), cases: ['depthwise/3x3 144ch @64²', 'depthwise/multiscale 3+5+7 32ch @32²'] },
    { name: 'vec4Loads', quick: true, candidates: [true, false].map((vec4Loads) => ({ depthwise: { vec4Loads } })), cases: ['depthwise/3x3 s2 96ch @64²', 'depthwise/3x3 s2 576ch @16²'] },
    { name: 'subgroupWeights', candidates: [true, false].map((subgroupWeights) => ({ depthwise: { subgroupWeights } })), cases: ['depthwise/3x3 s2 96ch @128²', 'depthwise/3x3 576ch @16²'] },
    { name: 'forward', quick: true, candidates: blocks.map((forward) => ({ depthwise: { forward } })), cases: ['depthwise/3x3 s2 96ch @128²', 'depthwise/3x3 s2 576ch @16²'] },
    { name: 'backwardInput', candidates: blocks.map((backwardInput) => ({ depthwise: { backwardInput } })), cases: ['depthwise/backward 3x3 s2 96ch @128²'] },
    { name: 'backwardWeight', candidates: [4, 8, 16].map((bw) => ({ depthwise: { backwardWeight: { bw } } })), cases: ['depthwise/backward 3x3 s2 96ch @128²'] },
  ],
  norm: [
    { name: 'vec4', quick: true, candidates: [true, false].map((vec4) => ({ norm: { vec4 } })), cases: ['modulate/24ch @64²', 'modulate/96ch @16²'] },
    { name: 'narrowBelow', quick: true, candidates: [0, 2048, 65536].map((narrowBelow) => ({ norm: { narrowBelow } })), cases: ['modulate/24ch @64²', 'modulate/96ch @16²', 'modulate/backward 24ch @64²'] },
    { name: 'wg', candidates: [32, 64, 128, 256].map((wg) => ({ norm: { wg } })), cases: ['modulate/24ch @64²', 'modulate/backward 24ch @64²'] },
    { name: 'narrowWg', candidates: [8, 16, 32, 64].map((narrowWg) => ({ norm: { narrowWg } })), cases: ['modulate/96ch @16²', 'modulate/backward 96ch @16²'] },
  ],
  gate: [
    { name: 'vec4', quick: true, candidates: [true, false].map((vec4) => ({ gate: { vec4 } })), cases: ['gate/24ch @64²', 'gate/backward 24ch @64²'] },
    { name: 'wg', candidates: [64, 128, 256].map((wg) => ({ gate: { wg } })), cases: ['gate/24ch @64²', 'gate/backward 24ch @64²'] },
    { name: 'unroll', candidates: [1, 2, 4].map((unroll) => ({ gate: { unroll } })), cases: ['gate/24ch @64²', 'gate/backward 24ch @64²'] },
  ],
  cosine: [
    { name: 'vec4', quick: true, candidates: [true, false].map((vec4) => ({ cosine: { vec4 } })), cases: ['cosine/24ch @64²', 'cosine/backward 24ch @64²'] },
    { name: 'wg', candidates: [32, 64, 128, 256].map((wg) => ({ cosine: { wg } })), cases: ['cosine/24ch @64²', 'cosine/backward 24ch @64²'] },
  ],
  adam: [
    { name: 'vec4', quick: true, candidates: [true, false].map((vec4) => ({ adam: { vec4 } })), cases: ['adam/165888', 'adam/1048576'] },
    { name: 'wg', candidates: [64, 128, 256].map((wg) => ({ adam: { wg } })), cases: ['adam/165888', 'adam/1048576'] },
  ],
  blur: [{ name: 'span', quick: true, candidates: ([1, 2] as const).map((span) => ({ blur: { span } })), cases: ['blur/σ=4 [1, 1, 256, 256]'] }],
  reduce: [{ name: 'splitTarget', quick: true, candidates: [4, 16, 64, 256].map((splitTarget) => ({ reduce: { splitTarget } })), cases: ['reduce/mean [1, 1, 256, 256]', 'reduce/sum [1, 96, 64, 64] axes 2,3'] }],
};

export const TUNABLE_FAMILIES = Object.keys(KNOBS) as Array<keyof FullTuning>;

export interface TuneOptions {
  quick?: boolean;
  /** Families to tune (default: all); the others keep their current values. */
  families?: ReadonlyArray<keyof FullTuning>;
  /** Only these knobs, as "family.knob" (e.g. "blur.span"); default: every knob of the families. */
  knobs?: readonly string[];
  measure?: MeasureOptions;
  timestamps?: boolean;
  /** Interleaved measuring rounds per candidate (default 2 quick, 3 full). */
  rounds?: number;
  log?: (line: string) => void;
}

/** Per family → knob → candidate label → { geometric-mean ms over the cases, ms per case } (null: wrong or failed). */
export type TuneMeasurements = Record<string, Record<string, Record<string, { ms: number; cases: Record<string, number> } | null>>>;

export interface TuneResult {
  record: FullTuning;
  measurements: TuneMeasurements;
  /** Knobs whose winner differs from the default. */
  changed: string[];
  /** "family.knob" → the winning candidate's label (a key of measurements[family][knob]), for every knob measured. */
  winners: Record<string, string>;
  /** How candidates were timed: GPU timestamps (granularity seen, ns) or wall clock. */
  clock: { kind: 'gpu-timestamp' | 'wall'; resolutionNs: number | null };
}

/** Every knob as "family.knob", in tuning order. */
export const KNOB_NAMES: string[] = TUNABLE_FAMILIES.flatMap((f) => KNOBS[f].map((k) => `${f}.${k.name}`));

/** A knob's value in a record as the tuner labels candidates (JSON), or null when the record lacks it. */
export function knobLabel(record: TuningRecord, family: string, knob: string): string | null {
  const v = (record as Record<string, Record<string, unknown> | undefined>)[family]?.[knob];
  return v === undefined ? null : JSON.stringify(v);
}

/**
 * The record to cache after tuning `families`: `previous` (the cached record) with those families
 * replaced whole by the tuner's result; the others keep what `previous` holds.
 */
export function mergeTuned(previous: TuningRecord, tuned: FullTuning, families: ReadonlyArray<keyof FullTuning>): TuningRecord {
  const record: TuningRecord = { ...previous };
  for (const f of families) (record as Record<string, unknown>)[f] = tuned[f];
  return record;
}

const label = (r: TuningRecord): string => JSON.stringify(Object.values(Object.values(r)[0] as object)[0]);

/**
 * Median ms per candidate on one case: validates every candidate once, then measures them in
 * interleaved rounds (so load drifting on a shared machine hits all candidates alike).
 * null = the candidate computed a wrong result or failed.
 */
async function compareOnCase(
  rt: Runtime, timer: Timer, c: BenchCase, base: TuningRecord, cands: TuningRecord[], measure: MeasureOptions, rounds: number,
): Promise<Array<number | null>> {
  const times: number[][] = cands.map(() => []);
  const ok: boolean[] = [];
  const inst = c.setup();
  try {
    for (const cand of cands) {
      applyTuning(base);
      applyTuning(cand);
      try {
        ok.push(compare(await inst.outputs(), inst.expected(), c.tol ?? 1e-3).ok);
      } catch {
        ok.push(false);
      }
    }
    for (let r = 0; r < rounds; r++) {
      for (const [i, cand] of cands.entries()) {
        if (!ok[i]) continue;
        applyTuning(base);
        applyTuning(cand);
        const m = await timer.measure(inst, measure, c.model.bytes);
        times[i].push((m.gpu ?? m.wall).median);
      }
    }
  } finally {
    applyTuning(base);
    inst.dispose();
    await rt.sync();
    rt.pool.trim();
  }
  return times.map((t, i) => (ok[i] ? stats(t, 1).median : null));
}

export async function runTuning(rt: Runtime, opts: TuneOptions = {}): Promise<TuneResult> {
  const quick = opts.quick ?? false;
  const log = opts.log ?? (() => {});
  const measure = opts.measure ?? (quick ? TUNE_QUICK : TUNE_FULL);
  const rounds = opts.rounds ?? (quick ? 2 : 3);
  const families = opts.families ?? TUNABLE_FAMILIES.filter((f) => !opts.knobs || opts.knobs.some((k) => k.startsWith(`${f}.`)));
  for (const k of opts.knobs ?? []) if (!KNOB_NAMES.includes(k)) throw new Error(`tune: unknown knob "${k}", expected one of ${KNOB_NAMES.join(', ')}`);
  const wanted = (family: string, knob: Knob) => (!quick || knob.quick) && (!opts.knobs || opts.knobs.includes(`${family}.${knob.name}`));
  const byId = new Map(allCases().map((c) => [c.id, c]));
  const caseOf = (id: string): BenchCase => {
    const c = byId.get(id);
    if (!c) throw new Error(`tune: no bench case "${id}"`);
    return c;
  };
  const timer = new Timer(rt, opts.timestamps ?? true);
  const measurements: TuneMeasurements = {};
  const changed: string[] = [];
  const winners: Record<string, string> = {};
  resetTuning();
  const defaults = currentTuning();
  try {
    for (const family of families) {
      measurements[family] = {};
      for (const knob of KNOBS[family].filter((k) => wanted(family, k))) {
        const before = currentTuning();
        const inForce = label({ [family]: { [knob.name]: (before[family] as Record<string, unknown>)[knob.name] } });
        const perCase: Array<Array<number | null>> = [];
        for (const id of knob.cases) perCase.push(await compareOnCase(rt, timer, caseOf(id), before as TuningRecord, knob.candidates, measure, rounds));
        const scores: TuneMeasurements[string][string] = {};
        knob.candidates.forEach((cand, i) => {
          const ms = perCase.map((p) => p[i]);
          scores[label(cand)] = ms.some((v) => v === null)
            ? null
            : { ms: Math.exp(ms.reduce((a: number, v) => a + Math.log(v!), 0) / ms.length), cases: Object.fromEntries(knob.cases.map((id, j) => [id, ms[j]!])) };
        });
        applyTuning(before as TuningRecord);
        const valid = Object.entries(scores).flatMap(([k, v]) => (v ? [[k, v.ms] as const] : []));
        const best = [...valid].sort((a, b) => a[1] - b[1])[0];
        const current = scores[inForce]?.ms ?? null;
        let winner = inForce;
        if (best && (current === null || best[1] < current * (1 - MARGIN))) winner = best[0];
        if (winner !== inForce) {
          applyTuning(knob.candidates.find((c) => label(c) === winner)!);
        }
        measurements[family][knob.name] = scores;
        winners[`${family}.${knob.name}`] = winner;
        const shown = Object.entries(scores).map(([k, v]) => `${k}: ${v === null ? 'WRONG/ERROR' : `${v.ms.toFixed(3)} ms`}`).join(', ');
        log(`${family}.${knob.name} → ${winner}   (${shown})`);
      }
      const now = currentTuning()[family] as Record<string, unknown>;
      const dflt = defaults[family] as Record<string, unknown>;
      for (const k of Object.keys(now)) if (JSON.stringify(now[k]) !== JSON.stringify(dflt[k])) changed.push(`${family}.${k}`);
    }
  } finally {
    timer.destroy();
  }
  const clock = timer.timestamps ? { kind: 'gpu-timestamp' as const, resolutionNs: timer.resolutionNs || null } : { kind: 'wall' as const, resolutionNs: null };
  return { record: currentTuning(), measurements, changed, winners, clock };
}
