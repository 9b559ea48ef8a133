// HLGFA checkpoints: safetensors with the module weights, normal-image statistics, the decision
// threshold and how it was calibrated, the config, the backbone's identity and (for resumable
// runs) the optimiser state. Parsing checks everything before any of it reaches the GPU or a
// verdict — every metadata field, every tensor's dtype, shape and values — and names the file and
// the field that is wrong. A checkpoint from an unfinished run (no threshold yet) can be resumed
// but never judges an image. Portable (no I/O).
import { parseSafetensors, readF32, SafeTensorsError, type SafeTensorsFile } from '../io/safetensors.js';
import { keep, tensor } from '../tensor/tensor.js';
import type { Calibration } from '../eval/calibration.js';
import type { Backbone } from './backbone.js';
import { resolveConfig, type HlgfaConfig } from './hlgfa-config.js';
import { levelShapes, PARAM_NAMES, type LevelParams } from './hlgfa.js';
import { CHECKPOINT_FORMAT, Detector, sha256Hex, type BackboneIdentity } from './detector.js';
import { initRuntime } from '../gpu/runtime.js';
import { loadBackbone } from './backbone.js';

export interface ParsedCheckpoint {
  config: HlgfaConfig;
  channels: number[];
  /** The decision threshold; null for a checkpoint written before calibration (epoch checkpoints). */
  threshold: number | null;
  calibration: Calibration | null;
  backbone: BackboneIdentity;
  /** Epochs completed, when recorded (training checkpoints). */
  epoch: number | null;
  metadata: Record<string, string>;
  file: SafeTensorsFile;
}

/** The tensors a checkpoint must hold for `config` and `channels`, with their shapes. */
export function checkpointTensors(config: HlgfaConfig, channels: readonly number[], calibrated: boolean): Array<[string, number[]]> {
  const out: Array<[string, number[]]> = [];
  channels.forEach((c, l) => {
    const shapes = levelShapes(c, config);
    for (const n of PARAM_NAMES) out.push([`level${l}.${n}.weight`, shapes[`${n}.weight`]], [`level${l}.${n}.bias`, shapes[`${n}.bias`]]);
    if (config.norm === 'running') out.push([`level${l}.norm.mean`, [1, c, 1, 1]], [`level${l}.norm.inv_std`, [1, c, 1, 1]]);
  });
  const S = config.size;
  if (calibrated && config.mapNorm !== 'none') out.push(['stats.mean_map', [1, 1, S, S]]);
  if (calibrated && config.mapNorm === 'zscore') out.push(['stats.inv_std_map', [1, 1, S, S]]);
  if (calibrated && config.normality === 'knn') out.push(['stats.term_norm', [4]]);
  if (config.inputNorm === 'image') out.push(['stats.exposure', [2]]);
  return out;
}

/** Features per memory-bank row: the channels of the kNN taps. */
export function memoryBankWidth(config: HlgfaConfig, channels: readonly number[]): number {
  return config.knnTaps.reduce((a, t) => a + channels[config.taps.indexOf(t)], 0);
}

/** The memory bank [K, D] of a calibrated normality 'knn' checkpoint: 1 <= K <= knnBankSize. */
function memoryBankShape(file: SafeTensorsFile, config: HlgfaConfig, channels: readonly number[]): number[] {
  const d = memoryBankWidth(config, channels);
  const e = file.tensors.get('stats.memory_bank');
  if (!e) throw new SafeTensorsError(file.source, 'missing tensor "stats.memory_bank" (the memory bank of normality \'knn\')');
  const [k] = e.shape;
  if (e.shape.length !== 2 || e.shape[1] !== d || !(k >= 1 && k <= config.knnBankSize)) {
    throw new SafeTensorsError(file.source, `tensor "stats.memory_bank" has shape [${e.shape.join(', ')}], expected [K, ${d}] with 1 <= K <= ${config.knnBankSize}`);
  }
  return [k, d];
}

/**
 * A float32 tensor that must be stored as F32 with `shape` and hold only finite values (a NaN
 * weight would turn every score into NaN).
 */
export function readFiniteF32(file: SafeTensorsFile, name: string, shape: readonly number[]): Float32Array {
  const entry = file.tensors.get(name);
  if (entry && entry.dtype !== 'F32') throw new SafeTensorsError(file.source, `tensor "${name}" has dtype ${entry.dtype}, expected F32`);
  const data = readF32(file, name, shape);
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) throw new SafeTensorsError(file.source, `tensor "${name}" holds ${data[i]} at element ${i}; a checkpoint must hold finite values`);
  }
  return data;
}

/** Parses a metadata number written by `String(number)`; anything else is an error naming the field. */
function finiteField(source: string, key: string, raw: string): number {
  const v = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!Number.isFinite(v)) throw new SafeTensorsError(source, `metadata "${key}" is ${JSON.stringify(raw)}, expected a finite number`);
  return v;
}

export function parseCheckpoint(bytes: Uint8Array, source: string): ParsedCheckpoint {
  const file = parseSafetensors(bytes, source);
  const m = file.metadata;
  const fail = (msg: string): never => {
    throw new SafeTensorsError(source, msg);
  };
  if (m.format !== CHECKPOINT_FORMAT) fail(`not an HLGFA checkpoint (metadata format is ${JSON.stringify(m.format)}, expected "${CHECKPOINT_FORMAT}")`);
  const json = (key: string): unknown => {
    if (m[key] === undefined) fail(`checkpoint metadata "${key}" is missing`);
    try {
      return JSON.parse(m[key]);
    } catch {
      return fail(`checkpoint metadata "${key}" is not valid JSON`);
    }
  };

  let config: HlgfaConfig;
  try {
    config = resolveConfig(json('config') as Partial<HlgfaConfig>);
  } catch (e) {
    return fail(`metadata "config": ${(e as Error).message.replace(/^HLGFA config: /, '')}`);
  }
  if (config.inputNorm === 'auto') fail(`metadata "config": inputNorm is "auto", which training resolves; a checkpoint holds "image" or "none"`);
  const channels = json('channels');
  if (!Array.isArray(channels) || !channels.every((c) => Number.isInteger(c) && c >= 1 && c <= 65536)) {
    fail(`metadata "channels" must be a list of positive integers, got ${m.channels}`);
  }
  if ((channels as number[]).length !== config.taps.length) {
    fail(`metadata "channels" has ${(channels as number[]).length} entries but the config has ${config.taps.length} taps (${config.taps.join(', ')})`);
  }
  const bb = json('backbone') as Partial<BackboneIdentity> | null;
  if (!bb || typeof bb !== 'object' || typeof bb.architecture !== 'string' || !bb.architecture || typeof bb.source !== 'string') {
    fail(`metadata "backbone" must name the backbone (architecture, source, sha256), got ${m.backbone}`);
  }
  if (typeof bb!.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(bb!.sha256)) {
    fail(`metadata "backbone" has sha256 ${JSON.stringify(bb!.sha256)}, expected 64 hex digits identifying the backbone weights`);
  }

  const threshold = m.threshold === undefined ? null : finiteField(source, 'threshold', m.threshold);
  let calibration: Calibration | null = null;
  if (m.calibration !== undefined) {
    const c = json('calibration') as Partial<Calibration> | null;
    const numbers = ['fpr', 'n', 'location', 'scale', 'maxScore', 'threshold'] as const;
    if (!c || c.rule !== 'gumbel-fpr' || !numbers.every((k) => Number.isFinite(c[k])) || (c.source !== 'held-out' && c.source !== 'training')) {
      fail(`metadata "calibration" is malformed (${m.calibration})`);
    }
    if (threshold === null || c!.threshold !== threshold) fail(`metadata "calibration" gives threshold ${c!.threshold} but "threshold" is ${m.threshold}`);
    calibration = c as Calibration;
  }
  const epoch = m.epoch === undefined ? null : finiteField(source, 'epoch', m.epoch);
  if (epoch !== null && (!Number.isInteger(epoch) || epoch < 0)) fail(`metadata "epoch" is ${m.epoch}, expected an integer >= 0`);

  for (const [name, shape] of checkpointTensors(config, channels as number[], threshold !== null)) readFiniteF32(file, name, shape);
  if (threshold !== null && config.normality === 'knn') {
    readFiniteF32(file, 'stats.memory_bank', memoryBankShape(file, config, channels as number[]));
    const norm = readFiniteF32(file, 'stats.term_norm', [4]);
    if (!(norm[1] > 0 && norm[3] > 0)) fail(`tensor "stats.term_norm" holds standard deviations ${norm[1]} and ${norm[3]}, expected both > 0`);
  }
  return { config, channels: channels as number[], threshold, calibration, backbone: bb as BackboneIdentity, epoch, metadata: m, file };
}

/**
 * Rebuilds a detector from a parsed checkpoint and the backbone it was trained with. The
 * backbone's taps must include the config's; `requireThreshold` (the default) refuses checkpoints
 * of unfinished runs, which can only be resumed.
 */
export function detectorFromCheckpoint(ck: ParsedCheckpoint, backbone: Backbone, backboneSha256: string, opts: { requireThreshold?: boolean } = {}): Detector {
  const source = ck.file.source;
  if (backboneSha256 !== ck.backbone.sha256) {
    throw new SafeTensorsError(
      source,
      `was trained with backbone ${ck.backbone.source} (sha256 ${ck.backbone.sha256.slice(0, 12)}…) but the given backbone has sha256 ${backboneSha256.slice(0, 12)}…`,
    );
  }
  const missing = ck.config.taps.filter((t) => !backbone.taps.includes(t));
  if (missing.length) throw new SafeTensorsError(source, `config taps ${missing.join(', ')} are not taps of backbone ${backbone.architecture}`);
  if ((opts.requireThreshold ?? true) && ck.threshold === null) {
    throw new SafeTensorsError(
      source,
      `metadata "threshold" is missing: the checkpoint is from a training run that stopped${ck.epoch !== null ? ` after epoch ${ck.epoch} of ${ck.config.epochs}` : ''} before calibration; finish it with \`hlgfa train --resume\``,
    );
  }
  const get = (name: string, shape: number[]) => keep(tensor(readFiniteF32(ck.file, name, shape), shape));
  const levels = ck.channels.map((c, l) => {
    const shapes = levelShapes(c, ck.config);
    const conv = (n: string) => ({ w: get(`level${l}.${n}.weight`, shapes[`${n}.weight`]), b: get(`level${l}.${n}.bias`, shapes[`${n}.bias`]) });
    return {
      channels: c,
      detailChannels: shapes['detail.weight'][0],
      dw3: conv('dw3'), dw5: conv('dw5'), dw7: conv('dw7'), structure: conv('structure'), detailDw: conv('detailDw'),
      detail: conv('detail'), modulation: conv('modulation'), gate: conv('gate'), residual: conv('residual'),
      norm: ck.config.norm === 'running' ? { mean: get(`level${l}.norm.mean`, [1, c, 1, 1]), invStd: get(`level${l}.norm.inv_std`, [1, c, 1, 1]) } : undefined,
    } satisfies LevelParams;
  });
  const S = ck.config.size;
  const stat = (name: string) => (ck.file.tensors.has(name) ? get(name, [1, 1, S, S]) : null);
  const det = new Detector(backbone, ck.config, levels, ck.backbone, stat('stats.mean_map'), stat('stats.inv_std_map'));
  if (ck.config.inputNorm === 'image') {
    const e = readFiniteF32(ck.file, 'stats.exposure', [2]);
    det.exposure = { mean: e[0], std: e[1] };
  }
  if (ck.threshold !== null && ck.config.normality === 'knn') {
    det.memoryBank = get('stats.memory_bank', memoryBankShape(ck.file, ck.config, ck.channels));
    const n = readFiniteF32(ck.file, 'stats.term_norm', [4]);
    det.termNorm = { alignment: { mean: n[0], std: n[1] }, normality: { mean: n[2], std: n[3] } };
  }
  if (ck.threshold !== null) det.setThreshold(ck.threshold, ck.calibration);
  return det;
}

/**
 * The app-facing entry point: a ready detector from checkpoint and backbone bytes (Node or
 * browser). Initialises the WebGPU runtime if needed and creates the scoring pipelines in parallel
 * (Detector.preparePipelines). Then `await detector.score([rgba])`.
 */
export async function loadDetector(
  checkpoint: Uint8Array,
  backboneBytes: Uint8Array,
  names: { checkpoint?: string; backbone?: string } = {},
): Promise<Detector> {
  await initRuntime();
  const ck = parseCheckpoint(checkpoint, names.checkpoint ?? 'checkpoint');
  const backbone = loadBackbone(backboneBytes, names.backbone ?? 'backbone');
  const detector = detectorFromCheckpoint(ck, backbone, await sha256Hex(backboneBytes));
  await detector.preparePipelines(); // in parallel, where the driver compiles at creation
  return detector;
}
