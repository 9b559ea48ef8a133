// Per-adapter kernel tuning: one portable record of every family's variant knobs, applied to the
// tuning hooks the op modules export. `hlgfa tune` measures the variants on the current adapter and
// caches the winners keyed by adapter identity (src/io/tuning-node.ts reads that cache in Node);
// a browser page can hand a record or a whole cache object to `applyTuning` / `useTuning`.
// Browser-safe: no file system here.
import { addRuntimeInitHook, type Runtime } from '../gpu/runtime.js';
import type { AdapterSummary } from '../gpu/device.js';
import { adamTuning } from '../nn/adam.js';
import { conv2dTuning } from './conv2d.js';
import { cosineTuning } from './cosine.js';
import { getDepthwiseTuning, setDepthwiseTuning, type DepthwiseTuning } from './depthwise.js';
import { gateTuning } from './gate.js';
import { MATMUL_VARIANTS, getMatmulVariant, setMatmulVariant, subgroupTuning, type MatmulVariant } from './matmul.js';
import { normTuning } from './norm.js';

/** Every knob, by family. All fields are optional in a record: absent ones keep their defaults. */
export interface TuningRecord {
  matmul?: { variant?: MatmulVariant | 'auto'; rowGroups?: number; groupLanes?: 0 | 4 | 8 };
  conv2d?: Partial<typeof conv2dTuning>;
  depthwise?: Partial<DepthwiseTuning>;
  norm?: Partial<typeof normTuning>;
  gate?: Partial<typeof gateTuning>;
  cosine?: Partial<typeof cosineTuning>;
  adam?: Partial<typeof adamTuning>;
  /** Gaussian blur outputs per thread (4 * span); read by callers as `blurTuning.span`. */
  blur?: { span?: 1 | 2 };
  /** Workgroups a few long reductions are split over; read by src/ops/reduce.ts. */
  reduce?: { splitTarget?: number };
}

export type FullTuning = {
  [K in keyof TuningRecord]-?: { [F in keyof NonNullable<TuningRecord[K]>]-?: NonNullable<NonNullable<TuningRecord[K]>[F]> };
};

/** The adapter fields a cached record is keyed by. */
export type AdapterIdentity = Pick<AdapterSummary, 'vendor' | 'architecture' | 'device' | 'description'>;

/** One adapter's entry in a tuning cache (the JSON `hlgfa tune` writes). */
export interface TuningEntry {
  adapter: AdapterIdentity;
  createdAt: string;
  record: TuningRecord;
  /** Free-form measurements behind the choice (median ms per candidate), for people. */
  measurements?: unknown;
}

export interface TuningCache {
  version: 1;
  adapters: Record<string, TuningEntry>;
}

/** Blur outputs per thread; `gaussianBlur` reads it unless a call passes `span`. */
export const blurTuning: { span: 1 | 2 } = { span: 2 };

/**
 * Split reductions aim for this many workgroups. Lavapipe (2 cores, a barrier tree per workgroup):
 * 4 → mean of 256² in 0.15 ms, 16 → 0.18 ms, 128 → 0.45 ms; a big GPU wants far more (`hlgfa tune`).
 */
export const reduceTuning: { splitTarget: number } = { splitTarget: 16 };

// The op modules' defaults, captured before anything is applied.
const DEFAULTS: FullTuning = currentTuning();

export function defaultTuning(): FullTuning {
  return structuredClone(DEFAULTS);
}

/** The knobs in force now. */
export function currentTuning(): FullTuning {
  return {
    matmul: { variant: getMatmulVariant(), rowGroups: subgroupTuning.rowGroups, groupLanes: subgroupTuning.groupLanes },
    conv2d: { ...conv2dTuning },
    depthwise: getDepthwiseTuning(),
    norm: { ...normTuning },
    gate: { ...gateTuning },
    cosine: { ...cosineTuning },
    adam: { ...adamTuning },
    blur: { ...blurTuning },
    reduce: { ...reduceTuning },
  };
}

const isPow2 = (v: unknown, lo: number, hi: number) => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi && ((v as number) & ((v as number) - 1)) === 0;
const isInt = (v: unknown, lo: number, hi: number) => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;
const isBool = (v: unknown) => typeof v === 'boolean';

type Check = (v: unknown) => boolean;
const block: Check = (v) => !!v && typeof v === 'object' && isInt((v as { bw: unknown }).bw, 1, 64) && isInt((v as { bh: unknown }).bh, 1, 32);

/** Allowed values per knob ("what" is the message shown when one is out of range). */
const RULES: { [K in keyof FullTuning]: Record<keyof FullTuning[K], [Check, string]> } = {
  matmul: {
    variant: [(v) => v === 'auto' || MATMUL_VARIANTS.includes(v as MatmulVariant), `one of auto, ${MATMUL_VARIANTS.join(', ')}`],
    rowGroups: [(v) => isInt(v, 1, 4), 'an integer in 1..4'],
    groupLanes: [(v) => v === 0 || v === 4 || v === 8, '0 (auto), 4 or 8'],
  },
  conv2d: { pixelsPerThread: [(v) => isInt(v, 1, 16), 'an integer in 1..16'], vec4Loads: [isBool, 'a boolean'], subgroupWeights: [isBool, 'a boolean'] },
  depthwise: {
    rolling: [isBool, 'a boolean'],
    vec4Loads: [isBool, 'a boolean'],
    subgroupWeights: [isBool, 'a boolean'],
    rollingBw: [(v) => isInt(v, 1, 64), 'an integer in 1..64'],
    rollingRows: [(v) => isInt(v, 1, 4096), 'an integer in 1..4096'],
    forward: [block, '{ bw: 1..64, bh: 1..32 }'],
    backwardInput: [block, '{ bw: 1..64, bh: 1..32 }'],
    backwardWeight: [(v) => !!v && typeof v === 'object' && isInt((v as { bw: unknown }).bw, 1, 64), '{ bw: 1..64 }'],
  },
  norm: {
    wg: [(v) => isPow2(v, 1, 256), 'a power of two in 1..256'],
    narrowBelow: [(v) => isInt(v, 0, 2 ** 31), 'an integer >= 0'],
    narrowWg: [(v) => isInt(v, 1, 256), 'an integer in 1..256'],
    vec4: [isBool, 'a boolean'],
  },
  gate: { wg: [(v) => isPow2(v, 1, 256), 'a power of two in 1..256'], unroll: [(v) => isInt(v, 1, 16), 'an integer in 1..16'], vec4: [isBool, 'a boolean'] },
  cosine: { wg: [(v) => isInt(v, 1, 256), 'an integer in 1..256'], vec4: [isBool, 'a boolean'] },
  adam: { wg: [(v) => isInt(v, 1, 256), 'an integer in 1..256'], vec4: [isBool, 'a boolean'] },
  blur: { span: [(v) => v === 1 || v === 2, '1 or 2'] },
  reduce: { splitTarget: [(v) => isInt(v, 1, 4096), 'an integer in 1..4096'] },
};

/**
 * Validates a record (throws naming the first bad field) and returns the unknown family / field
 * names it holds, which `applyTuning` ignores (records from a newer version stay usable).
 */
export function checkTuning(record: unknown): string[] {
  if (!record || typeof record !== 'object' || Array.isArray(record)) {
    throw new Error(`applyTuning: expected a tuning record object, got ${JSON.stringify(record)}`);
  }
  const unknown: string[] = [];
  for (const [family, fields] of Object.entries(record as Record<string, unknown>)) {
    const rules = (RULES as Record<string, Record<string, [Check, string]>>)[family];
    if (!rules) {
      unknown.push(family);
      continue;
    }
    if (!fields || typeof fields !== 'object') throw new Error(`applyTuning: ${family} must be an object, got ${JSON.stringify(fields)}`);
    for (const [name, value] of Object.entries(fields as Record<string, unknown>)) {
      const rule = rules[name];
      if (!rule) {
        unknown.push(`${family}.${name}`);
        continue;
      }
      if (!rule[0](value)) throw new Error(`applyTuning: ${family}.${name} must be ${rule[1]}, got ${JSON.stringify(value)}`);
    }
  }
  return unknown;
}

/**
 * Sets the knobs a record holds (others keep their current values); throws on an invalid value
 * before changing anything. Returns the ignored unknown names.
 */
export function applyTuning(record: TuningRecord): string[] {
  const unknown = checkTuning(record);
  const r = record;
  if (r.matmul?.variant !== undefined) setMatmulVariant(r.matmul.variant);
  if (r.matmul?.rowGroups !== undefined) subgroupTuning.rowGroups = r.matmul.rowGroups;
  if (r.matmul?.groupLanes !== undefined) subgroupTuning.groupLanes = r.matmul.groupLanes;
  if (r.conv2d) Object.assign(conv2dTuning, pick(r.conv2d, RULES.conv2d));
  if (r.depthwise) setDepthwiseTuning(structuredClone(pick(r.depthwise, RULES.depthwise)));
  if (r.norm) Object.assign(normTuning, pick(r.norm, RULES.norm));
  if (r.gate) Object.assign(gateTuning, pick(r.gate, RULES.gate));
  if (r.cosine) Object.assign(cosineTuning, pick(r.cosine, RULES.cosine));
  if (r.adam) Object.assign(adamTuning, pick(r.adam, RULES.adam));
  if (r.blur) Object.assign(blurTuning, pick(r.blur, RULES.blur));
  if (r.reduce) Object.assign(reduceTuning, pick(r.reduce, RULES.reduce));
  return unknown;
}

function pick<T extends object>(fields: T, rules: object): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([k, v]) => k in rules && v !== undefined)) as Partial<T>;
}

/** Restores every knob to the op modules' defaults. */
export function resetTuning(): void {
  applyTuning(defaultTuning());
}

export function adapterKey(a: AdapterIdentity): string {
  return [a.vendor, a.architecture, a.device, a.description].map((s) => s || '?').join(' | ');
}

/** This adapter's record in a cache, or null. */
export function tuningFor(cache: TuningCache, adapter: AdapterIdentity): TuningRecord | null {
  return cache.adapters?.[adapterKey(adapter)]?.record ?? null;
}

function isCache(v: TuningRecord | TuningCache): v is TuningCache {
  return typeof (v as TuningCache).adapters === 'object' && (v as TuningCache).version !== undefined;
}

/**
 * Applies `source` to every runtime `initRuntime` creates from now on: a record as is, a cache
 * through this adapter's entry (defaults when it has none). For the browser, e.g. with a cache
 * fetched as JSON. Returns the hook's remover.
 */
export function useTuning(source: TuningRecord | TuningCache): () => void {
  return addRuntimeInitHook((rt: Runtime) => {
    const record = isCache(source) ? tuningFor(source, rt.gpu.info) : source;
    if (record) applyTuning(record);
  });
}
