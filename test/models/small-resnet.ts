// Small torchvision-style ResNet state dicts with seeded random weights (BN statistics included),
// for the ResNet loader tests and the weight-file error tests.
import { serializeSafetensors, type TensorToWrite } from '../../src/io/safetensors.js';
import { rng } from '../helpers.js';

export interface SmallResNetOptions {
  block: 'basic' | 'bottleneck';
  /** Blocks per stage. */
  layers: [number, number, number, number];
  /** Output channels of conv1. */
  stem: number;
  /** torchvision's `planes` per stage. */
  planes: [number, number, number, number];
  /** Bottleneck: out = planes · expansion (4 in torchvision). */
  expansion?: number;
  /** Bottleneck: hidden width = planes · widthFactor (2 for wide_resnet*_2). */
  widthFactor?: number;
  /** Classes of the fc head; 0 for none. */
  classes?: number;
  seed?: number;
}

export type StateDict = Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }>;

export function smallResNet(o: SmallResNetOptions): StateDict {
  const r = rng(o.seed ?? 1);
  const uni = (n: number, lo: number, hi: number) => Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
  const t: StateDict = {};
  const conv = (name: string, cout: number, cin: number, k: number) => {
    // He-uniform: keeps activations O(1) through the ReLUs.
    const bound = Math.sqrt(6 / (cin * k * k));
    t[`${name}.weight`] = { dtype: 'F32', shape: [cout, cin, k, k], data: uni(cout * cin * k * k, -bound, bound) };
  };
  const bn = (name: string, c: number) => {
    t[`${name}.weight`] = { dtype: 'F32', shape: [c], data: uni(c, 0.5, 1.5) };
    t[`${name}.bias`] = { dtype: 'F32', shape: [c], data: uni(c, -0.2, 0.2) };
    t[`${name}.running_mean`] = { dtype: 'F32', shape: [c], data: uni(c, -0.3, 0.3) };
    t[`${name}.running_var`] = { dtype: 'F32', shape: [c], data: uni(c, 0.5, 2) };
  };
  conv('conv1', o.stem, 3, 7);
  bn('bn1', o.stem);
  let cin = o.stem;
  const exp = o.block === 'bottleneck' ? (o.expansion ?? 4) : 1;
  o.layers.forEach((count, s) => {
    for (let i = 0; i < count; i++) {
      const p = `layer${s + 1}.${i}`;
      const stride = i === 0 && s > 0 ? 2 : 1;
      const out = o.planes[s] * exp;
      if (o.block === 'basic') {
        conv(`${p}.conv1`, out, cin, 3);
        bn(`${p}.bn1`, out);
        conv(`${p}.conv2`, out, out, 3);
        bn(`${p}.bn2`, out);
      } else {
        const mid = o.planes[s] * (o.widthFactor ?? 1);
        conv(`${p}.conv1`, mid, cin, 1);
        bn(`${p}.bn1`, mid);
        conv(`${p}.conv2`, mid, mid, 3);
        bn(`${p}.bn2`, mid);
        conv(`${p}.conv3`, out, mid, 1);
        bn(`${p}.bn3`, out);
      }
      if (stride !== 1 || cin !== out) {
        conv(`${p}.downsample.0`, out, cin, 1);
        bn(`${p}.downsample.1`, out);
      }
      cin = out;
    }
  });
  if (o.classes) {
    const bound = Math.sqrt(3 / cin);
    t['fc.weight'] = { dtype: 'F32', shape: [o.classes, cin], data: uni(o.classes * cin, -bound, bound) };
    t['fc.bias'] = { dtype: 'F32', shape: [o.classes], data: uni(o.classes, -0.1, 0.1) };
  }
  return t;
}

/** The state dict as a safetensors file (optionally with torchvision's num_batches_tracked). */
export function toSafetensors(t: Record<string, TensorToWrite>, metadata: Record<string, string> = {}, batchesTracked = false): Uint8Array {
  const all: Record<string, TensorToWrite> = { ...t };
  if (batchesTracked) {
    for (const name of Object.keys(t)) {
      if (name.endsWith('.running_mean')) all[name.replace(/running_mean$/, 'num_batches_tracked')] = { dtype: 'I64', shape: [], data: [12345] };
    }
  }
  return serializeSafetensors(all, metadata);
}

export const SMALL_BASIC: SmallResNetOptions = { block: 'basic', layers: [2, 1, 1, 2], stem: 8, planes: [8, 16, 32, 64], classes: 10, seed: 11 };
export const SMALL_BOTTLENECK: SmallResNetOptions = {
  block: 'bottleneck',
  layers: [2, 1, 2, 1],
  stem: 8,
  planes: [4, 8, 8, 16],
  expansion: 4,
  widthFactor: 2,
  classes: 7,
  seed: 12,
};
