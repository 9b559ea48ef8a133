// A kernel family's tuning knobs, declared once: each knob's default, its allowed values, the
// candidates `hlgfa tune` tries and the bench cases it times them on. The family's launcher reads
// `values`; the registry (./tuning.ts: records, validation, apply/reset) and the tuner
// (src/tune/tuner.ts) only loop over these declarations, so a new knob is one entry here plus
// the line of the family's plan() that reads it.
//
// How a default is chosen: the candidate `hlgfa tune` finds fastest on lavapipe (the adapter the
// project is tested on; a tuned record replaces the defaults on any other); where candidates are
// within 10 % of each other (this machine's noise), the one that creates fewer or smaller
// pipelines, since each costs 0.1-0.5 s of a cold start there.

/** An allowed-values rule: a predicate and how to say it in an error ("an integer in 1..16"). */
export type Allowed = readonly [(v: unknown) => boolean, string];

export interface KnobSpec<V> {
  default: V;
  allowed: Allowed;
  /** Values `hlgfa tune` tries (absent: the knob is not tuned). */
  candidates?: readonly V[];
  /** Ids of the bench cases (src/tune/cases) the candidates are timed on. */
  cases?: readonly string[];
  /** Also tuned by `hlgfa tune --quick`. */
  quick?: boolean;
}

export type KnobSpecs<T> = { readonly [K in keyof T]: KnobSpec<T[K]> };

export interface Tunable<T extends object = Record<string, unknown>> {
  /** The record key ("norm" in `{ norm: { wg: 64 } }`). */
  readonly family: string;
  readonly knobs: KnobSpecs<T>;
  /** The values in force: the family's plan() reads them, `applyTuning` writes them. */
  readonly values: T;
}

/** Declares a family's knobs; `values` starts at the defaults. */
export function tunable<T extends object>(family: string, knobs: KnobSpecs<T>): Tunable<T> {
  return { family, knobs, values: defaultsOf({ family, knobs } as Tunable<T>) };
}

/** A fresh copy of a family's defaults. */
export function defaultsOf<T extends object>(t: Pick<Tunable<T>, 'knobs'>): T {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(t.knobs) as Array<[string, KnobSpec<unknown>]>) out[name] = structuredClone(spec.default);
  return out as T;
}

const isInt = (v: unknown, lo: number, hi: number): v is number => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;

/** Allowed-value rules for knob declarations. */
export const allow = {
  int: (lo: number, hi: number): Allowed => [(v) => isInt(v, lo, hi), hi >= 2 ** 31 ? `an integer >= ${lo}` : `an integer in ${lo}..${hi}`],
  pow2: (lo: number, hi: number): Allowed => [(v) => isInt(v, lo, hi) && (v & (v - 1)) === 0, `a power of two in ${lo}..${hi}`],
  bool: [(v) => typeof v === 'boolean', 'a boolean'] as Allowed,
  oneOf: <V>(values: readonly V[], what = values.map(String).join(', ')): Allowed => [(v) => values.includes(v as V), what],
  /** An object whose fields each satisfy their rule: `{ bw: 1..64, bh: 1..32 }`. */
  fields: (rules: Record<string, readonly [number, number]>): Allowed => [
    (v) => !!v && typeof v === 'object' && Object.entries(rules).every(([k, [lo, hi]]) => isInt((v as Record<string, unknown>)[k], lo, hi)),
    `{ ${Object.entries(rules).map(([k, [lo, hi]]) => `${k}: ${lo}..${hi}`).join(', ')} }`,
  ],
};
