// Per-adapter kernel tuning: one portable record of every family's knobs, validated and applied
// through the families' own declarations (./tunable.ts). `hlgfa tune` measures the candidates on
// the current adapter and caches the winners keyed by adapter identity (src/io/tuning-node.ts reads
// that cache in Node); a browser page can hand a record or a whole cache object to `applyTuning` /
// `useTuning`. Browser-safe: no file system here. Nothing below names a knob: a family's knobs are
// declared in its op file only.
import { addRuntimeInitHook, type Runtime } from '../gpu/runtime.js';
import type { AdapterSummary } from '../gpu/device.js';
import { adamTuning } from './adam.js';
import { blurTuning } from './blur.js';
import { conv2dTuning } from './conv2d.js';
import { cosineTuning } from './cosine.js';
import { depthwiseTuning } from './depthwise.js';
import { gateTuning } from './gate.js';
import { matmulTuning } from './matmul.js';
import { normTuning } from './norm.js';
import { reduceTuning } from './reduce.js';
import { defaultsOf, type KnobSpec, type Tunable } from './tunable.js';

/** Every tunable family by record key, in tuning order. */
export const TUNABLES = {
  matmul: matmulTuning,
  conv2d: conv2dTuning,
  depthwise: depthwiseTuning,
  norm: normTuning,
  gate: gateTuning,
  cosine: cosineTuning,
  adam: adamTuning,
  blur: blurTuning,
  reduce: reduceTuning,
};

export type TunableFamily = keyof typeof TUNABLES;
type ValuesOf<X> = X extends Tunable<infer T> ? T : never;

/** Every knob's value, by family. */
export type FullTuning = { [F in TunableFamily]: ValuesOf<(typeof TUNABLES)[F]> };
/** A record as cached and applied: every family and field optional (absent ones keep their values). */
export type TuningRecord = { [F in TunableFamily]?: Partial<FullTuning[F]> };

for (const [key, t] of Object.entries(TUNABLES)) {
  if (t.family !== key) throw new Error(`tuning: family "${t.family}" registered as "${key}"`);
}

/** The registry without its types, for the loops below. */
const BY_NAME = TUNABLES as unknown as Record<string, Tunable>;
const families = (): Array<[string, Tunable]> => Object.entries(BY_NAME);

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

export function defaultTuning(): FullTuning {
  return Object.fromEntries(families().map(([f, t]) => [f, defaultsOf(t)])) as unknown as FullTuning;
}

/** The knobs in force now as a string, equal exactly when they are (what work recorded under them depends on). */
export function tuningFingerprint(): string {
  return JSON.stringify(families().map(([, t]) => t.values));
}

/** The knobs in force now. */
export function currentTuning(): FullTuning {
  return Object.fromEntries(families().map(([f, t]) => [f, structuredClone(t.values)])) as unknown as FullTuning;
}

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
    const t = BY_NAME[family];
    if (!t) {
      unknown.push(family);
      continue;
    }
    if (!fields || typeof fields !== 'object') throw new Error(`applyTuning: ${family} must be an object, got ${JSON.stringify(fields)}`);
    for (const [name, value] of Object.entries(fields as Record<string, unknown>)) {
      const spec = (t.knobs as Record<string, KnobSpec<unknown>>)[name];
      if (!spec) {
        unknown.push(`${family}.${name}`);
        continue;
      }
      if (!spec.allowed[0](value)) throw new Error(`applyTuning: ${family}.${name} must be ${spec.allowed[1]}, got ${JSON.stringify(value)}`);
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
  for (const [family, fields] of Object.entries(record)) {
    const t = BY_NAME[family];
    if (!t) continue;
    const values = t.values as Record<string, unknown>;
    for (const [name, value] of Object.entries(fields as Record<string, unknown>)) {
      if (name in t.knobs && value !== undefined) values[name] = structuredClone(value);
    }
  }
  return unknown;
}

/** Restores every knob to its family's default. */
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

/**
 * Runs `fn` with the knobs of `record` in force and restores the previous values afterwards (also
 * when `fn` throws or its promise rejects): for tests, sweeps and one-off measurements.
 */
export function withTuning<R>(record: TuningRecord, fn: () => R): R {
  const saved = currentTuning();
  applyTuning(record);
  let result: R;
  try {
    result = fn();
  } catch (e) {
    applyTuning(saved);
    throw e;
  }
  if (result instanceof Promise) return result.finally(() => applyTuning(saved)) as R;
  applyTuning(saved);
  return result;
}
