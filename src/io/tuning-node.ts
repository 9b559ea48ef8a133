// Node adapter for the per-adapter tuning cache written by `hlgfa tune`: where the file lives,
// reading and writing it, and the runtime init hook that applies this adapter's record.
//   location: $HLGFA_TUNING_FILE, else $XDG_CACHE_HOME/hlgfa/tuning.json, else ~/.cache/hlgfa/tuning.json
//   HLGFA_TUNING=off disables applying it.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { addRuntimeInitHook, type Runtime } from '../gpu/runtime.js';
import { adapterKey, applyTuning, tuningFor, type AdapterIdentity, type TuningCache, type TuningRecord } from '../ops/tuning.js';
import { writeFileAtomic } from './node-fs.js';

export function tuningFilePath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HLGFA_TUNING_FILE) return env.HLGFA_TUNING_FILE;
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'hlgfa', 'tuning.json');
}

/** The cache at `path` (an empty one when the file does not exist); throws naming the file when corrupt. */
export function readTuningCache(path = tuningFilePath()): TuningCache {
  if (!existsSync(path)) return { version: 1, adapters: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: cannot read the tuning cache (${(e as Error).message})`);
  }
  const c = parsed as TuningCache;
  if (!c || typeof c !== 'object' || c.version !== 1 || typeof c.adapters !== 'object' || c.adapters === null) {
    throw new Error(`${path}: not a tuning cache (expected { "version": 1, "adapters": { … } })`);
  }
  return c;
}

/** Stores `record` as the entry of `adapter`, keeping other adapters' entries; returns the path. */
export function saveTuning(adapter: AdapterIdentity, record: TuningRecord, measurements?: unknown, path = tuningFilePath()): string {
  let cache: TuningCache;
  try {
    cache = readTuningCache(path);
  } catch {
    cache = { version: 1, adapters: {} }; // a corrupt cache is replaced
  }
  const { vendor, architecture, device, description } = adapter;
  cache.adapters[adapterKey(adapter)] = {
    adapter: { vendor, architecture, device, description },
    createdAt: new Date().toISOString(),
    record,
    measurements,
  };
  writeFileAtomic(path, `${JSON.stringify(cache, null, 2)}\n`);
  return path;
}

/** What the init hook did for the last runtime (for `hlgfa bench` / `info` output). */
export interface TuningStatus {
  source: 'defaults' | 'cache' | 'disabled' | 'error';
  path: string;
  message?: string;
}

let status: TuningStatus = { source: 'defaults', path: tuningFilePath() };
let removeHook: (() => void) | null = null;

export function tuningStatus(): TuningStatus {
  return { ...status };
}

/**
 * Makes every runtime created from now on apply this adapter's cached record (idempotent). A
 * missing entry keeps the defaults; a broken cache prints one warning and keeps them too.
 */
export function useTuningCache(path?: string): void {
  removeHook?.();
  removeHook = addRuntimeInitHook((rt: Runtime) => {
    const file = path ?? tuningFilePath();
    if (process.env.HLGFA_TUNING === 'off') {
      status = { source: 'disabled', path: file };
      return;
    }
    try {
      const record = tuningFor(readTuningCache(file), rt.gpu.info);
      if (!record) {
        status = { source: 'defaults', path: file };
        return;
      }
      applyTuning(record);
      status = { source: 'cache', path: file };
    } catch (e) {
      status = { source: 'error', path: file, message: (e as Error).message };
      process.stderr.write(`hlgfa: ignoring the tuning cache: ${(e as Error).message}\n`);
    }
  });
}

/** Stops applying the cache to runtimes created later. */
export function stopTuningCache(): void {
  removeHook?.();
  removeHook = null;
  status = { source: 'defaults', path: tuningFilePath() };
}
