// Per-adapter tuning: the portable record (validation, apply, reset), the Node cache file keyed by
// adapter identity, the runtime init hook that applies it, and one quick tuner run.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { destroyRuntime, initRuntime, runtime } from '../../src/gpu/runtime.js';
import { blurTuning } from '../../src/ops/blur.js';
import { depthwiseTuning } from '../../src/ops/depthwise.js';
import { getMatmulVariant } from '../../src/ops/matmul.js';
import { normTuning } from '../../src/ops/norm.js';
import type { KnobSpec } from '../../src/ops/tunable.js';
import {
  TUNABLES, adapterKey, applyTuning, checkTuning, currentTuning, defaultTuning, resetTuning, tuningFor, useTuning, withTuning, type TuningCache, type TuningRecord,
} from '../../src/ops/tuning.js';
import { allCases } from '../../src/tune/cases/index.js';
import { KNOBS } from '../../src/tune/tuner.js';
import { readTuningCache, saveTuning, stopTuningCache, tuningFilePath, tuningStatus, useTuningCache } from '../../src/io/tuning-node.js';
import { runTuning } from '../../src/tune/tuner.js';

const adapter = { vendor: 'acme', architecture: 'rdna9', device: 'x1', description: 'Acme X1' };

afterEach(() => resetTuning());
afterAll(async () => {
  stopTuningCache();
  try {
    await runtime().sync();
  } catch {
    /* no runtime left */
  }
  destroyRuntime();
});

describe('tuning record', () => {
  it('applies knobs to the op modules and resets to the defaults', () => {
    const before = currentTuning();
    expect(before).toEqual(defaultTuning());
    applyTuning({ matmul: { variant: 'tiled' }, norm: { wg: 128 }, depthwise: { forward: { bw: 4, bh: 8 } }, blur: { span: 1 }, conv2d: { pixelsPerThread: 4 } });
    expect(getMatmulVariant()).toBe('tiled');
    expect(normTuning.values.wg).toBe(128);
    expect(depthwiseTuning.values.forward).toEqual({ bw: 4, bh: 8 });
    expect(blurTuning.values.span).toBe(1);
    expect(currentTuning().conv2d.pixelsPerThread).toBe(4);
    resetTuning();
    expect(currentTuning()).toEqual(before);
  });

  it('rejects bad values before changing anything and ignores unknown names', () => {
    expect(() => applyTuning({ matmul: { variant: 'fast' as never }, norm: { wg: 128 } })).toThrow(/matmul\.variant must be one of auto, vec4, scalar, tiled, rows, subgroup, smallk, got "fast"/);
    expect(normTuning.values.wg).toBe(defaultTuning().norm.wg);
    expect(() => applyTuning({ norm: { wg: 48 } })).toThrow(/norm\.wg must be a power of two/);
    expect(() => applyTuning({ conv2d: { pixelsPerThread: 0 } })).toThrow(/conv2d\.pixelsPerThread/);
    expect(applyTuning({ gate: { wg: 128, turbo: true } as never, future: {} } as never)).toEqual(['gate.turbo', 'future']);
    expect(currentTuning().gate.wg).toBe(128);
  });

  it('keeps reading the records caches hold (every knob as `hlgfa tune` wrote it before the knobs were declared per family)', () => {
    // A whole record as written by the earlier tuner (one explicit interface of every family).
    const cached = {
      matmul: { variant: 'auto', rowGroups: 2, groupLanes: 0 },
      conv2d: { pixelsPerThread: 8, vec4Loads: true, subgroupWeights: true },
      depthwise: { rolling: true, vec4Loads: true, subgroupWeights: true, rollingBw: 8, rollingRows: 32, forward: { bw: 8, bh: 4 }, backwardInput: { bw: 8, bh: 4 }, backwardWeight: { bw: 8 } },
      norm: { wg: 32, narrowBelow: 2048, narrowWg: 16, vec4: true },
      gate: { wg: 64, unroll: 4, vec4: true },
      cosine: { wg: 256, vec4: true },
      adam: { wg: 128, vec4: true },
      blur: { span: 2 },
      reduce: { splitTarget: 16 },
    };
    expect(checkTuning(cached)).toEqual([]);
    // The defaults changed since in two knobs (gate.unroll 4 → 2, norm.narrowBelow 2048 → 8192: see
    // their declarations); knobs declared since take their defaults.
    const added = { depthwise: { rollingLanes: 0 }, conv2d: { tiled: false, weightGrad: 'im2col' }, matmul: { smallK: 32, smallKSpan: 256 } };
    const now = {
      ...cached,
      gate: { ...cached.gate, unroll: 2 },
      norm: { ...cached.norm, narrowBelow: 8192 },
      depthwise: { ...cached.depthwise, ...added.depthwise },
      conv2d: { ...cached.conv2d, ...added.conv2d },
      matmul: { ...cached.matmul, ...added.matmul },
    };
    expect(currentTuning()).toEqual(now);
    const changed = structuredClone(cached) as TuningRecord;
    Object.assign(changed, { norm: { ...cached.norm, wg: 64 }, depthwise: { ...cached.depthwise, forward: { bw: 16, bh: 2 } } });
    withTuning(changed, () =>
      expect(currentTuning()).toEqual({
        ...changed, depthwise: { ...changed.depthwise, ...added.depthwise }, conv2d: { ...changed.conv2d, ...added.conv2d }, matmul: { ...changed.matmul, ...added.matmul },
      }),
    );
    expect(currentTuning()).toEqual(now);
  });

  it('every tuned knob is declared once: its candidates are allowed values and its bench cases exist', () => {
    const ids = new Set(allCases().map((c) => c.id));
    for (const [family, t] of Object.entries(TUNABLES)) {
      for (const [name, spec] of Object.entries(t.knobs as Record<string, KnobSpec<unknown>>)) {
        expect(spec.allowed[0](spec.default), `${family}.${name} default`).toBe(true);
        for (const v of spec.candidates ?? []) expect(spec.allowed[0](v), `${family}.${name} candidate ${JSON.stringify(v)}`).toBe(true);
        for (const id of spec.cases ?? []) expect(ids.has(id), `${family}.${name}: bench case "${id}"`).toBe(true);
        if (spec.candidates) expect(spec.cases?.length, `${family}.${name} has cases`).toBeGreaterThan(0);
      }
      // the tuner's knob list is the family's declaration, in declaration order
      expect(KNOBS[family as keyof typeof KNOBS].map((k) => k.name)).toEqual(Object.keys(t.knobs).filter((k) => (t.knobs as Record<string, KnobSpec<unknown>>)[k].candidates));
    }
  });

  it('picks the record of the matching adapter from a cache', () => {
    const cache: TuningCache = { version: 1, adapters: { [adapterKey(adapter)]: { adapter, createdAt: '', record: { gate: { wg: 256 } } } } };
    expect(tuningFor(cache, adapter)).toEqual({ gate: { wg: 256 } });
    expect(tuningFor(cache, { ...adapter, device: 'x2' })).toBeNull();
  });
});

describe('tuning cache (Node)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hlgfa-tuning-'));

  it('locates the file from the environment', () => {
    expect(tuningFilePath({ HLGFA_TUNING_FILE: '/x/t.json' })).toBe('/x/t.json');
    expect(tuningFilePath({ XDG_CACHE_HOME: '/c' })).toBe('/c/hlgfa/tuning.json');
    expect(tuningFilePath({})).toMatch(/\.cache\/hlgfa\/tuning\.json$/);
  });

  it('saves per adapter and applies this adapter’s record at initRuntime', async () => {
    const file = join(dir, 'tuning.json');
    saveTuning(adapter, { gate: { wg: 32 } }, undefined, file);
    destroyRuntime();
    const probe = await initRuntime();
    const info = probe.gpu.info;
    saveTuning(info, { cosine: { wg: 128 }, blur: { span: 1 } }, { note: 'test' }, file);
    const cache = readTuningCache(file);
    expect(Object.keys(cache.adapters)).toHaveLength(2);
    destroyRuntime();
    useTuningCache(file);
    await initRuntime();
    expect(tuningStatus()).toMatchObject({ source: 'cache', path: file });
    expect(currentTuning().cosine.wg).toBe(128);
    expect(blurTuning.values.span).toBe(1);
    expect(currentTuning().gate.wg).toBe(defaultTuning().gate.wg); // another adapter's entry
  });

  it('keeps the defaults when the cache is corrupt, and a portable record hook applies too', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ not json');
    expect(() => readTuningCache(bad)).toThrow(/bad\.json: cannot read the tuning cache/);
    destroyRuntime();
    useTuningCache(bad);
    const remove = useTuning({ adam: { wg: 128 } });
    await initRuntime();
    expect(tuningStatus().source).toBe('error');
    expect(currentTuning().adam.wg).toBe(128);
    remove();
    stopTuningCache();
  });
});

describe('tuner', () => {
  it('measures candidates, validates them and keeps a valid winner', async () => {
    const rt = await initRuntime();
    const result = await runTuning(rt, { quick: true, families: ['blur'], rounds: 1 });
    expect([1, 2]).toContain(result.record.blur.span);
    const scores = result.measurements.blur.span;
    expect(Object.keys(scores).sort()).toEqual(['1', '2']);
    for (const s of Object.values(scores)) expect(s!.ms).toBeGreaterThan(0);
  });
});
