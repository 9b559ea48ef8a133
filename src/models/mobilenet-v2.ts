// MobileNetV2 (Sandler et al. 2018) as a frozen feature extractor, torchvision module names.
// Weights come from safetensors: our converted TFLite model (8-bit, BN folded, TF "SAME" padding),
// the nsfwjs TF.js conversion (BN folded, TF padding) or a torchvision state dict (BN folded here).
import { Tensor, keep, scope, shapeStr, tensor } from '../tensor/tensor.js';
import { add, relu } from '../ops/elementwise.js';
import { conv2d, type Padding4 } from '../ops/conv2d.js';
import { depthwiseConv2d } from '../ops/depthwise.js';
import { globalAvgPool } from '../ops/pool.js';
import { matmul } from '../ops/matmul.js';
import { noGrad } from '../autograd/tape.js';
import { WeightReader } from './weights.js';
import { SafeTensorsError } from '../io/safetensors.js';
import { profileLayer } from '../gpu/profiler.js';
import { plainMap, runRowLayer, unpadded, type ConvLayer, type RowMap } from './row-padding.js';

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

/** One convolution of the network with its (optional, folded-at-load) batch norm. */
export interface LayerSpec {
  /** Module path of the conv (tensors `${conv}.weight`, optional `${conv}.bias`). */
  conv: string;
  /** Module path of the batch norm that follows (absent in BN-folded files). */
  bn: string;
  /** Weight shape: [O, I, k, k] for convs, [C, 1, k, k] for depthwise. */
  shape: [number, number, number, number];
  stride: number;
  depthwise: boolean;
  relu6: boolean;
}

export interface BlockSpec {
  /** `features.i` */
  name: string;
  layers: LayerSpec[];
  /** The block adds its input to its output. */
  residual: boolean;
}

/** The MobileNetV2 1.0 layout with torchvision names, shared with the converters. */
export function mobilenetV2Spec(): BlockSpec[] {
  const conv = (c: string, bn: string, shape: LayerSpec['shape'], stride: number, relu: boolean, depthwise = false): LayerSpec => ({
    conv: c,
    bn,
    shape,
    stride,
    depthwise,
    relu6: relu,
  });
  const blocks: BlockSpec[] = [{ name: 'features.0', layers: [conv('features.0.0', 'features.0.1', [32, 3, 3, 3], 2, true)], residual: false }];
  let cin = 32;
  let index = 1;
  for (const [t, c, n, s] of SETTINGS) {
    for (let r = 0; r < n; r++) {
      const stride = r === 0 ? s : 1;
      const hidden = cin * t;
      const p = `features.${index}.conv`;
      // torchvision numbering: [expand (t != 1)], depthwise, project conv, project BN.
      const at = t !== 1 ? 1 : 0;
      const layers: LayerSpec[] = [];
      if (t !== 1) layers.push(conv(`${p}.0.0`, `${p}.0.1`, [hidden, cin, 1, 1], 1, true));
      layers.push(conv(`${p}.${at}.0`, `${p}.${at}.1`, [hidden, 1, 3, 3], stride, true, true));
      layers.push(conv(`${p}.${at + 1}`, `${p}.${at + 2}`, [c, hidden, 1, 1], 1, false));
      blocks.push({ name: `features.${index}`, layers, residual: stride === 1 && cin === c });
      cin = c;
      index++;
    }
  }
  blocks.push({ name: 'features.18', layers: [conv('features.18.0', 'features.18.1', [1280, cin, 1, 1], 1, true)], residual: false });
  return blocks;
}

interface Block {
  name: string;
  layers: ConvLayer[];
  residual: boolean;
}

interface Linear {
  /** [out, in] */
  weight: Tensor;
  /** [1, out] */
  bias: Tensor;
}

/**
 * The classifier head: every `classifier.<i>.weight` [out, in] in index order, a ReLU between
 * consecutive linear layers. torchvision has one (`classifier.1`, after dropout); the nsfwjs Keras
 * head is 1280→256→128→5 (`classifier.1`, `classifier.4`, `classifier.7`, as an nn.Sequential of
 * Linear, ReLU, Dropout would number them).
 */
function classifierNames(reader: WeightReader): string[] {
  const found: Array<[number, string]> = [];
  for (const name of reader.file.tensors.keys()) {
    const m = /^classifier\.(\d+)\.weight$/.exec(name);
    if (m) found.push([Number(m[1]), `classifier.${m[1]}`]);
  }
  return found.sort((a, b) => a[0] - b[0]).map(([, n]) => n);
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
  /** Linear layers of the head (empty when the file has none). */
  readonly classifier: Linear[];

  constructor(
    reader: WeightReader,
    readonly padding: PaddingMode,
  ) {
    // The head's shapes are checked before anything is uploaded to the GPU.
    let features = 1280;
    const head = classifierNames(reader).map((name) => {
      const [out, inputs] = reader.shape(`${name}.weight`);
      if (inputs !== features) {
        throw new SafeTensorsError(reader.file.source, `tensor "${name}.weight" has shape [${out}, ${inputs}], expected [*, ${features}] (its input is ${features} wide)`);
      }
      features = out;
      return { name, shape: [out, inputs] };
    });
    // Every tensor is read and checked on the CPU first, so a bad file leaves nothing on the GPU;
    // the uploads are kept, so loading inside a caller's scope() does not free them.
    const upload = (data: Float32Array, shape: number[]) => keep(tensor(data, shape));
    const blocks = mobilenetV2Spec().map((b) => ({
      b,
      layers: b.layers.map((l) => ({ l, ...reader.convBn(l.conv, l.bn, l.shape) })),
    }));
    const heads = head.map(({ name, shape }) => ({ shape, ...reader.convBn(name, null, shape) }));
    this.blocks = blocks.map(({ b, layers }) => ({
      name: b.name,
      residual: b.residual,
      layers: layers.map(({ l, weight, bias }): ConvLayer => ({
        weight: upload(weight, l.shape),
        bias: upload(bias, [l.shape[0]]),
        stride: l.stride,
        k: l.shape[2],
        depthwise: l.depthwise,
        relu6: l.relu6,
      })),
    }));
    this.classifier = heads.map(({ shape, weight, bias }) => ({ weight: upload(weight, shape), bias: upload(bias, [1, shape[0]]) }));
  }

  /** Tap names in network order: block outputs, `features.i.expand` (expanded activations), `logits`. */
  get taps(): string[] {
    const out: string[] = [];
    for (const b of this.blocks) {
      if (b.layers.length === 3) out.push(`${b.name}.expand`);
      out.push(b.name);
    }
    if (this.classifier.length) out.push('logits');
    return out;
  }

  /**
   * Whether maps whose width is not a multiple of 4 (14×14 and 7×7 at 224²) are stored on rows
   * padded to one (src/models/row-padding.ts): on by default; off runs every map as it is.
   */
  rowPadding = true;

  /**
   * One layer on a map that may have padded rows; `residual` (a residual block's input, given to
   * its project conv) is added to the output. ReLU6 and the residual add run in the convolution's
   * stores (a pass fewer each; same values).
   */
  private runLayer(l: ConvLayer, x: RowMap, next: ConvLayer | undefined, residual?: RowMap): RowMap {
    if (l.depthwise && residual) throw new Error(`MobileNetV2: a residual on a depthwise layer (${shapeStr(l.weight.shape)})`);
    const padding = padFor(this.padding, l.k, l.stride, x.t.shape[2], x.w);
    return runRowLayer(l, x, padding, { residual, feedsDepthwise: next?.depthwise === true, rowPadding: this.rowPadding });
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
    // Each activation is released right after its last reader is recorded (the scope would only
    // free them at the end, holding the whole network's activations at once); taps and the input
    // survive. The scope still catches anything left on an exception.
    return noGrad(() =>
      scope(() => {
        const out: Record<string, Tensor> = {};
        const kept = new Set<Tensor>([x]);
        const release = (m: RowMap) => {
          if (!kept.has(m.t)) m.t.dispose();
        };
        // Taps and the head read plain maps: padded rows are copied out once (the padded map
        // lives on in the network).
        const copies = new Map<Tensor, Tensor>();
        const plain = (m: RowMap) => {
          if (!copies.has(m.t)) copies.set(m.t, unpadded(m));
          return copies.get(m.t)!;
        };
        const tap = (name: string, m: RowMap) => {
          const t = plain(m);
          out[name] = t;
          kept.add(t);
        };
        let cur = plainMap(x);
        for (const b of this.blocks) {
          if (Object.keys(out).length === want.size) break;
          let h = cur;
          const next = profileLayer(b.name, () => {
            b.layers.forEach((l, i) => {
              const y = this.runLayer(l, h, b.layers[i + 1], b.residual && i === b.layers.length - 1 ? cur : undefined);
              if (h !== cur) release(h);
              h = y;
              if (i === 0 && b.layers.length === 3 && want.has(`${b.name}.expand`)) tap(`${b.name}.expand`, h);
            });
            return h;
          });
          release(cur);
          cur = next;
          if (want.has(b.name)) tap(b.name, cur);
        }
        if (want.has('logits') && this.classifier.length) {
          const last = plain(cur);
          let h = globalAvgPool(last).reshape([last.shape[0], 1280]);
          this.classifier.forEach((l, i) => {
            h = add(matmul(h, l.weight, { transB: true }), l.bias);
            if (i < this.classifier.length - 1) h = relu(h);
          });
          out.logits = h;
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
    for (const l of this.classifier) {
      l.weight.dispose();
      l.bias.dispose();
    }
  }
}
