// Float64 CPU reference of a torchvision ResNet forward, straight from the state dict: unfolded
// batch norm (running statistics), ReLU, 3×3/2 max pool, residual adds, average pool and fc.
// Used by the tests to check src/models/resnet.ts (which folds the norms and runs on the GPU).
import { conv2dRef } from '../ops/conv2d.ref.js';
import { maxPool2dRef } from '../ops/pool.js';

export interface RefTensor {
  shape: readonly number[];
  data: ArrayLike<number>;
}

export interface RefActivation {
  data: Float64Array;
  shape: number[];
}

export interface ResNetRefConfig {
  block: 'basic' | 'bottleneck';
  /** Blocks per stage. */
  layers: readonly number[];
  eps?: number;
}

/** All taps (`conv1`, `layer1`..`layer4`, `logits` when `fc.weight` exists) for images x. */
export function resnetRef(t: Record<string, RefTensor>, cfg: ResNetRefConfig, x: ArrayLike<number>, xShape: readonly number[]): Record<string, RefActivation> {
  const eps = cfg.eps ?? 1e-5;
  const get = (name: string): RefTensor => {
    const v = t[name];
    if (!v) throw new Error(`resnetRef: missing tensor "${name}"`);
    return v;
  };
  const conv = (a: RefActivation, name: string, stride: number): RefActivation => {
    const w = get(`${name}.weight`);
    const k = w.shape[2];
    return conv2dRef(a.data, a.shape, w.data, w.shape, t[`${name}.bias`]?.data ?? null, { stride, padding: (k - 1) >> 1 });
  };
  const bn = (a: RefActivation, name: string): RefActivation => {
    const [n, c, h, w] = a.shape;
    const g = get(`${name}.weight`).data;
    const b = get(`${name}.bias`).data;
    const mu = get(`${name}.running_mean`).data;
    const v = get(`${name}.running_var`).data;
    const out = new Float64Array(a.data.length);
    for (let i = 0; i < n * c; i++) {
      const ch = i % c;
      for (let j = 0; j < h * w; j++) {
        out[i * h * w + j] = ((a.data[i * h * w + j] - mu[ch]) / Math.sqrt(v[ch] + eps)) * g[ch] + b[ch];
      }
    }
    return { data: out, shape: a.shape };
  };
  const relu = (a: RefActivation): RefActivation => ({ data: a.data.map((v) => Math.max(v, 0)), shape: a.shape });
  const add = (a: RefActivation, b: RefActivation): RefActivation => ({ data: a.data.map((v, i) => v + b.data[i]), shape: a.shape });

  const out: Record<string, RefActivation> = {};
  let cur = relu(bn(conv({ data: Float64Array.from(x), shape: [...xShape] }, 'conv1', 2), 'bn1'));
  out.conv1 = cur;
  const [n, c, h, w] = cur.shape;
  const pool = { kernel: 3, stride: 2, padding: 1 };
  cur = { data: maxPool2dRef(cur.data, cur.shape, pool), shape: [n, c, Math.floor((h - 1) / 2) + 1, Math.floor((w - 1) / 2) + 1] };
  cfg.layers.forEach((count, s) => {
    for (let i = 0; i < count; i++) {
      const p = `layer${s + 1}.${i}`;
      const stride = i === 0 && s > 0 ? 2 : 1;
      let y: RefActivation;
      if (cfg.block === 'basic') {
        y = relu(bn(conv(cur, `${p}.conv1`, stride), `${p}.bn1`));
        y = bn(conv(y, `${p}.conv2`, 1), `${p}.bn2`);
      } else {
        y = relu(bn(conv(cur, `${p}.conv1`, 1), `${p}.bn1`));
        y = relu(bn(conv(y, `${p}.conv2`, stride), `${p}.bn2`));
        y = bn(conv(y, `${p}.conv3`, 1), `${p}.bn3`);
      }
      const identity = t[`${p}.downsample.0.weight`] ? bn(conv(cur, `${p}.downsample.0`, stride), `${p}.downsample.1`) : cur;
      cur = relu(add(y, identity));
    }
    out[`layer${s + 1}`] = cur;
  });
  if (t['fc.weight']) {
    const [bn_, ch, hh, ww] = cur.shape;
    const fw = get('fc.weight');
    const fb = get('fc.bias').data;
    const classes = fw.shape[0];
    const logits = new Float64Array(bn_ * classes);
    for (let b = 0; b < bn_; b++) {
      const pooled = new Float64Array(ch);
      for (let k = 0; k < ch; k++) {
        let s = 0;
        for (let j = 0; j < hh * ww; j++) s += cur.data[(b * ch + k) * hh * ww + j];
        pooled[k] = s / (hh * ww);
      }
      for (let o = 0; o < classes; o++) {
        let s = fb[o];
        for (let k = 0; k < ch; k++) s += fw.data[o * ch + k] * pooled[k];
        logits[b * classes + o] = s;
      }
    }
    out.logits = { data: logits, shape: [bn_, classes] };
  }
  return out;
}
