// MobileNetV2 (Sandler et al. 2018) as a frozen feature extractor, torchvision module names.
// Weights come from safetensors: our converted TFLite model (8-bit, BN folded, TF "SAME" padding),
// the nsfwjs TF.js conversion (BN folded, TF padding) or a torchvision state dict (BN folded here).
import { Tensor, scope, tensor } from '../tensor/tensor.js';
import { add, relu6 } from '../ops/elementwise.js';
import { conv2d, type Padding4 } from '../ops/conv2d.js';
import { depthwiseConv2d } from '../ops/depthwise.js';
import { globalAvgPool } from '../ops/pool.js';
import { matmul } from '../ops/matmul.js';
import { noGrad } from '../autograd/tape.js';
import { WeightReader } from './weights.js';

/** (expansion t, output channels c, repeats n, first stride s) — the paper's Table 2. */
const SETTINGS: ReadonlyArray<readonly [number, number, number, number]> = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

interface ConvLayer {
  weight: Tensor;
  bias: Tensor;
  stride: number;
  k: number;
  depthwise: boolean;
  relu6: boolean;
}

interface Block {
  /** `features.i` */
  name: string;
  layers: ConvLayer[];
  residual: boolean;
}

export type PaddingMode = 'tf-same' | 'symmetric';

/** Padding [top, bottom, left, right] for a k×k kernel at stride s on an h×w input. */
export function padFor(mode: PaddingMode, k: number, s: number, h: number, w: number): Padding4 {
  if (mode === 'symmetric') {
    const p = (k - 1) >> 1;
    return [p, p, p, p];
  }
  const total = (n: number) => Math.max((Math.ceil(n / s) - 1) * s + k - n, 0);
  const th = total(h);
  const tw = total(w);
  return [th >> 1, th - (th >> 1), tw >> 1, tw - (tw >> 1)];
}

export class MobileNetV2 {
  readonly blocks: Block[];
  readonly classifier: { weight: Tensor; bias: Tensor } | null;

  constructor(
    reader: WeightReader,
    readonly padding: PaddingMode,
  ) {
    const layer = (conv: string, bn: string | null, shape: number[], stride: number, act: boolean, depthwise = false): ConvLayer => {
      const { weight, bias } = reader.convBn(conv, bn, shape);
      return { weight: tensor(weight, shape), bias: tensor(bias, [shape[0]]), stride, k: shape[2], depthwise, relu6: act };
    };
    const blocks: Block[] = [];
    blocks.push({ name: 'features.0', layers: [layer('features.0.0', 'features.0.1', [32, 3, 3, 3], 2, true)], residual: false });
    let cin = 32;
    let index = 1;
    for (const [t, c, n, s] of SETTINGS) {
      for (let r = 0; r < n; r++) {
        const stride = r === 0 ? s : 1;
        const hidden = cin * t;
        const p = `features.${index}.conv`;
        // torchvision numbering: [expand (t != 1)], depthwise, project conv, project BN.
        const at = t !== 1 ? 1 : 0;
        const layers: ConvLayer[] = [];
        if (t !== 1) layers.push(layer(`${p}.0.0`, `${p}.0.1`, [hidden, cin, 1, 1], 1, true));
        layers.push(layer(`${p}.${at}.0`, `${p}.${at}.1`, [hidden, 1, 3, 3], stride, true, true));
        layers.push(layer(`${p}.${at + 1}`, `${p}.${at + 2}`, [c, hidden, 1, 1], 1, false));
        blocks.push({ name: `features.${index}`, layers, residual: stride === 1 && cin === c });
        cin = c;
        index++;
      }
    }
    blocks.push({ name: 'features.18', layers: [layer('features.18.0', 'features.18.1', [1280, cin, 1, 1], 1, true)], residual: false });
    this.blocks = blocks;
    if (reader.has('classifier.1.weight')) {
      const [classes] = reader.shape('classifier.1.weight');
      const { weight, bias } = reader.convBn('classifier.1', null, [classes, 1280]);
      this.classifier = { weight: tensor(weight, [classes, 1280]), bias: tensor(bias, [1, classes]) };
    } else {
      this.classifier = null;
    }
  }

  /** Tap names in network order: block outputs, `features.i.expand` (expanded activations), `logits`. */
  get taps(): string[] {
    const out: string[] = [];
    for (const b of this.blocks) {
      if (b.layers.length === 3) out.push(`${b.name}.expand`);
      out.push(b.name);
    }
    if (this.classifier) out.push('logits');
    return out;
  }

  private runLayer(l: ConvLayer, x: Tensor): Tensor {
    const [, , h, w] = x.shape;
    const padding = padFor(this.padding, l.k, l.stride, h, w);
    const y = l.depthwise
      ? depthwiseConv2d(x, l.weight, l.bias, { stride: l.stride, padding })
      : conv2d(x, l.weight, l.bias, { stride: l.stride, padding });
    return l.relu6 ? relu6(y) : y;
  }

  /**
   * Runs the network on normalised images [N,3,H,W] up to the deepest requested tap and returns
   * those taps. Intermediate activations are disposed as soon as they are consumed.
   */
  features(x: Tensor, taps: readonly string[]): Record<string, Tensor> {
    const known = new Set(this.taps);
    for (const t of taps) {
      if (!known.has(t)) throw new Error(`MobileNetV2.features: unknown tap "${t}"; available: ${this.taps.join(', ')}`);
    }
    const want = new Set(taps);
    // Everything made inside the scope except the returned taps is released when it closes.
    return noGrad(() =>
      scope(() => {
        const out: Record<string, Tensor> = {};
        let cur = x;
        for (const b of this.blocks) {
          if (Object.keys(out).length === want.size) break;
          let h = cur;
          b.layers.forEach((l, i) => {
            h = this.runLayer(l, h);
            if (i === 0 && b.layers.length === 3 && want.has(`${b.name}.expand`)) out[`${b.name}.expand`] = h;
          });
          cur = b.residual ? add(h, cur) : h;
          if (want.has(b.name)) out[b.name] = cur;
        }
        if (want.has('logits') && this.classifier) {
          const pooled = globalAvgPool(cur).reshape([cur.shape[0], 1280]);
          out.logits = add(matmul(pooled, this.classifier.weight, { transB: true }), this.classifier.bias);
        }
        return out;
      }),
    );
  }

  dispose(): void {
    for (const b of this.blocks) for (const l of b.layers) {
      l.weight.dispose();
      l.bias.dispose();
    }
    this.classifier?.weight.dispose();
    this.classifier?.bias.dispose();
  }
}
