// The kernel tuner in the page: `window.hlgfaTune.run()` measures the variants of each
// performance-critical family on the browser's adapter with the same tuner and bench cases as
// `hlgfa tune` (src/tune/tuner.ts), and keeps the winners in localStorage as a tuning cache keyed by
// adapter identity (adapterKey, as the Node cache file is keyed). At start-up the page applies this
// adapter's stored record (useStoredTuning → useTuning). `hlgfa tune --browser` drives it in headless
// Chromium; a user can call it from the developer console. Small and harmless: a few hundred
// bytes of JSON per adapter; an unreadable or invalid store is dropped, never fatal.
import { runtime } from '../gpu/runtime.js';
import type { AdapterSummary } from '../gpu/device.js';
import { adapterKey, applyTuning, checkTuning, currentTuning, tuningFor, useTuning, type AdapterIdentity, type FullTuning, type TunableFamily, type TuningCache, type TuningRecord } from '../ops/tuning.js';
import { mergeTuned, runTuning, type TuneMeasurements, type TuneResult } from '../tune/tuner.js';

/** The localStorage key of the page's tuning cache ({ version: 1, adapters: { key: entry } }). */
export const TUNING_STORAGE_KEY = 'hlgfa-tuning';

export interface PageTuneOptions {
  quick?: boolean;
  families?: TunableFamily[];
  /** Only these knobs, "family.knob" (e.g. "blur.span"). */
  knobs?: string[];
  timestamps?: boolean;
  rounds?: number;
  /** Keep the winners in localStorage for this adapter (default true). */
  store?: boolean;
}

export interface PageTuneResult {
  adapter: AdapterIdentity & { isFallbackAdapter: boolean };
  key: string;
  userAgent: string;
  mode: 'quick' | 'full';
  clock: TuneResult['clock'];
  /** What a cache keeps for this adapter: the stored record with the tuned families replaced. */
  record: TuningRecord;
  /** The knobs in force at the end of the tuner's run (tuned families; the others at defaults). */
  tuned: FullTuning;
  families: TunableFamily[];
  measurements: TuneMeasurements;
  winners: Record<string, string>;
  changed: string[];
  /** Whether `record` was written to localStorage. */
  stored: boolean;
  seconds: number;
}

export interface TuningStoreStatus {
  key: string;
  /** 'stored': this adapter's stored record was applied at start-up. */
  source: 'stored' | 'defaults' | 'error';
  message?: string;
  stored: TuningRecord | null;
  current: FullTuning;
}

export interface HlgfaTuneHook {
  run(o?: PageTuneOptions): Promise<PageTuneResult>;
  status(): Promise<TuningStoreStatus>;
  /** Forgets every stored record (the knobs in force stay until the page reloads). */
  clear(): void;
}

declare global {
  interface Window {
    hlgfaTune?: HlgfaTuneHook;
  }
}

let startup: { cache: TuningCache | null; error?: string } = { cache: null };

/** The stored cache with invalid entries dropped; null when there is none. Throws when storage is unusable. */
function readStore(): TuningCache | null {
  const raw = localStorage.getItem(TUNING_STORAGE_KEY);
  if (raw === null) return null;
  let cache: TuningCache;
  try {
    cache = JSON.parse(raw) as TuningCache;
    if (!cache || cache.version !== 1 || typeof cache.adapters !== 'object' || cache.adapters === null) throw new Error('not a tuning cache');
  } catch {
    localStorage.removeItem(TUNING_STORAGE_KEY);
    return null;
  }
  for (const [key, entry] of Object.entries(cache.adapters)) {
    try {
      checkTuning(entry?.record);
    } catch {
      delete cache.adapters[key];
    }
  }
  return cache;
}

/** Applies this adapter's stored record to the runtime the page creates; call before initRuntime. */
export function useStoredTuning(): void {
  try {
    startup = { cache: readStore() };
    if (startup.cache) useTuning(startup.cache);
  } catch (e) {
    startup = { cache: null, error: e instanceof Error ? e.message : String(e) };
  }
}

function storeRecord(info: AdapterSummary, record: TuningRecord): boolean {
  try {
    const cache = readStore() ?? { version: 1, adapters: {} };
    const { vendor, architecture, device, description } = info;
    cache.adapters[adapterKey(info)] = { adapter: { vendor, architecture, device, description }, createdAt: new Date().toISOString(), record };
    localStorage.setItem(TUNING_STORAGE_KEY, JSON.stringify(cache));
    return true;
  } catch (e) {
    console.warn(`hlgfa-tune: could not store the tuning record (${e instanceof Error ? e.message : String(e)})`);
    return false;
  }
}

export function installTuneHook(d: { gpuReady: Promise<void>; exclusive: <T>(task: () => Promise<T>) => Promise<T> }): void {
  const storedFor = (info: AdapterIdentity): TuningRecord | null => {
    try {
      const cache = readStore();
      return cache ? tuningFor(cache, info) : null;
    } catch {
      return null;
    }
  };
  window.hlgfaTune = {
    async run(o = {}) {
      await d.gpuReady;
      return d.exclusive(async () => {
        const t0 = performance.now();
        const rt = runtime();
        const info = rt.gpu.info;
        const r = await runTuning(rt, {
          quick: o.quick,
          families: o.families,
          knobs: o.knobs,
          timestamps: o.timestamps,
          rounds: o.rounds,
          log: (line) => console.log(`hlgfa-tune: ${line}`),
        });
        const families = Object.keys(r.measurements) as TunableFamily[];
        const record = mergeTuned(storedFor(info) ?? {}, r.record, families);
        applyTuning(record); // the untuned families go back to this adapter's stored values
        const { vendor, architecture, device, description, isFallbackAdapter } = info;
        return {
          adapter: { vendor, architecture, device, description, isFallbackAdapter },
          key: adapterKey(info),
          userAgent: navigator.userAgent,
          mode: o.quick ? 'quick' : 'full',
          clock: r.clock,
          record,
          tuned: r.record,
          families,
          measurements: r.measurements,
          winners: r.winners,
          changed: r.changed,
          stored: (o.store ?? true) && storeRecord(info, record),
          seconds: (performance.now() - t0) / 1e3,
        };
      });
    },
    async status() {
      await d.gpuReady;
      const info = runtime().gpu.info;
      const applied = startup.cache ? tuningFor(startup.cache, info) : null;
      return {
        key: adapterKey(info),
        source: startup.error ? 'error' : applied ? 'stored' : 'defaults',
        message: startup.error,
        stored: storedFor(info),
        current: currentTuning(),
      };
    },
    clear() {
      try {
        localStorage.removeItem(TUNING_STORAGE_KEY);
      } catch {
        // storage unavailable: nothing stored either
      }
    },
  };
}
