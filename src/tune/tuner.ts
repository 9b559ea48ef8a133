// The tuner behind `hlgfa tune` and the page's `hlgfaTune.run()`: for each tunable family,
// coordinate descent over its knobs as the family declares them (src/ops/tunable.ts: candidates
// and bench cases). Every candidate value is applied, each of the knob's bench cases is validated
// against its CPU reference and timed, and the candidate with the lowest geometric-mean time wins
// if it beats the value in force by more than MARGIN (noise guard). A candidate that computes a
// wrong result can never win. Node-free: the browser page bundles it.
import '../ops/index.js';
import type { Runtime } from '../gpu/runtime.js';
import { TUNABLES, applyTuning, currentTuning, resetTuning, type FullTuning, type TunableFamily, type TuningRecord } from '../ops/tuning.js';
import type { KnobSpec } from '../ops/tunable.js';
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
  cases: readonly string[];
  /** Part of --quick (else full only). */
  quick?: boolean;
}

export const TUNABLE_FAMILIES = Object.keys(TUNABLES) as TunableFamily[];

/** The tuned knobs per family, in tuning order: the families' declarations with candidates. */
export const KNOBS = Object.fromEntries(
  TUNABLE_FAMILIES.map((family) => [
    family,
    Object.entries(TUNABLES[family].knobs as Record<string, KnobSpec<unknown>>)
      .filter(([, spec]) => spec.candidates?.length)
      .map(([name, spec]): Knob => ({
        name,
        candidates: spec.candidates!.map((v) => ({ [family]: { [name]: v } }) as TuningRecord),
        cases: spec.cases ?? [],
        quick: spec.quick,
      })),
  ]),
) as Record<TunableFamily, Knob[]>;

export interface TuneOptions {
  quick?: boolean;
  /** Families to tune (default: all); the others keep their current values. */
  families?: ReadonlyArray<TunableFamily>;
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
export function mergeTuned(previous: TuningRecord, tuned: FullTuning, families: ReadonlyArray<TunableFamily>): TuningRecord {
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
