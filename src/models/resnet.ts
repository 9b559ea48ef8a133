// ResNet (He et al. 2016, torchvision's v1.5: stride on the 3×3 conv of bottlenecks) and
// Wide-ResNet as frozen feature extractors, from torchvision state dicts in safetensors. Batch
// norm is folded into the convolutions at load. Block type (BasicBlock / Bottleneck), blocks per
// stage and every width come from the tensor shapes, so resnet18…152, wide_resnet50_2/101_2 and
// small or width-multiplied variants all load; named architectures are checked against the file.
import { SafeTensorsError } from '../io/safetensors.js';
import { Tensor, keep, scope, tensor } from '../tensor/tensor.js';
import { add } from '../ops/elementwise.js';
import { conv2d } from '../ops/conv2d.js';
import type { Activation } from '../ops/util.js';
import { globalAvgPool, maxPool2d } from '../ops/pool.js';
import { matmul } from '../ops/matmul.js';
import { noGrad } from '../autograd/tape.js';
import { WeightReader } from './weights.js';

export type ResNetBlock = 'basic' | 'bottleneck';

/** torchvision's named ResNets: block type and blocks per stage. */
export const RESNET_ARCHITECTURES: Readonly<Record<string, { block: ResNetBlock; layers: readonly number[] }>> = {
  resnet18: { block: 'basic', layers: [2, 2, 2, 2] },
  resnet34: { block: 'basic', layers: [3, 4, 6, 3] },
  resnet50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
  resnet101: { block: 'bottleneck', layers: [3, 4, 23, 3] },
  resnet152: { block: 'bottleneck', layers: [3, 8, 36, 3] },
  wide_resnet50_2: { block: 'bottleneck', layers: [3, 4, 6, 3] },
  wide_resnet101_2: { block: 'bottleneck', layers: [3, 4, 23, 3] },
};

/** `resnet` (structure from the tensors) or one of RESNET_ARCHITECTURES. */
export function isResNetArchitecture(arch: string): boolean {
  return arch === 'resnet' || arch in RESNET_ARCHITECTURES;
}

/** Eps of torchvision's BatchNorm2d. */
const BN_EPS = 1e-5;
/** Stride of each stage's first block. */
const STAGE_STRIDES = [1, 2, 2, 2];

interface ConvSpec {
  weight: Float32Array;
  bias: Float32Array;
  shape: number[];
  stride: number;
  pad: number;
}

interface ConvLayer {
  weight: Tensor;
  bias: Tensor;
  stride: number;
  pad: number;
}

interface Block<C> {
  /** `layerK.i` */
  name: string;
  /** conv1..conv2 (basic) or conv1..conv3 (bottleneck); ReLU after all but the last. */
  convs: C[];
  downsample: C | null;
}

export class ResNet {
  readonly block: ResNetBlock;
  /** Blocks per stage. */
  readonly layers: number[];
  /** Output channels of conv1 and of each stage. */
  readonly widths: number[];
  private readonly stem: ConvLayer;
  private readonly stages: Block<ConvLayer>[][];
  private readonly fc: { weight: Tensor; bias: Tensor } | null;

  /** Reads and validates every weight on the CPU first, so a bad file allocates nothing on the GPU. */
  constructor(reader: WeightReader, readonly architecture = 'resnet') {
    const source = reader.file.source;
    const fail = (m: string): never => {
      throw new SafeTensorsError(source, m);
    };
    const names = [...reader.file.tensors.keys()];
    this.block = names.some((n) => /^layer[1-4]\.\d+\.(conv3|bn3)\./.test(n)) ? 'bottleneck' : 'basic';
    this.layers = [1, 2, 3, 4].map((k) => {
      let count = 0;
      const re = new RegExp(`^layer${k}\\.(\\d+)\\.`);
      for (const n of names) {
        const m = re.exec(n);
        if (m) count = Math.max(count, Number(m[1]) + 1);
      }
      if (count === 0) fail(`missing tensor "layer${k}.0.conv1.weight" (no block of stage layer${k} in the file)`);
      return count;
    });
    const known = RESNET_ARCHITECTURES[architecture];
    if (known && (known.block !== this.block || known.layers.some((d, i) => d !== this.layers[i]))) {
      fail(
        `metadata architecture "${architecture}" has ${known.block} blocks [${known.layers.join(', ')}] ` +
          `but the tensors hold ${this.block} blocks [${this.layers.join(', ')}]`,
      );
    }

    /** Conv `${conv}` (k×k, cin inputs; Cout from the file) with BN `${bn}` folded in. */
    const conv = (name: string, bn: string, cin: number, k: number, stride: number): ConvSpec => {
      const shape = reader.shape(`${name}.weight`);
      if (shape.length !== 4) fail(`tensor "${name}.weight" has shape [${shape.join(', ')}], expected rank 4 [Cout, ${cin}, ${k}, ${k}]`);
      const expected = [shape[0], cin, k, k];
      // torchvision's BatchNorm2d has all four tensors; a file without any of them must hold
      // already folded convolutions (with a bias).
      const bnParts = ['weight', 'bias', 'running_mean', 'running_var'].map((t) => `${bn}.${t}`);
      if (bnParts.some((t) => reader.has(t)) || !reader.has(`${name}.bias`)) {
        for (const t of bnParts) if (!reader.has(t)) fail(`missing tensor "${t}" (batch norm of ${name})`);
      }
      const { weight, bias } = reader.convBn(name, bn, expected, BN_EPS);
      return { weight, bias, shape: expected, stride, pad: (k - 1) >> 1 };
    };

    const stem = conv('conv1', 'bn1', 3, 7, 2);
    const widths = [stem.shape[0]];
    let cin = stem.shape[0];
    const stages: Block<ConvSpec>[][] = this.layers.map((count, s) => {
      const blocks: Block<ConvSpec>[] = [];
      for (let i = 0; i < count; i++) {
        const p = `layer${s + 1}.${i}`;
        const stride = i === 0 ? STAGE_STRIDES[s] : 1;
        const convs: ConvSpec[] = [];
        if (this.block === 'basic') {
          convs.push(conv(`${p}.conv1`, `${p}.bn1`, cin, 3, stride));
          convs.push(conv(`${p}.conv2`, `${p}.bn2`, convs[0].shape[0], 3, 1));
        } else {
          convs.push(conv(`${p}.conv1`, `${p}.bn1`, cin, 1, 1));
          convs.push(conv(`${p}.conv2`, `${p}.bn2`, convs[0].shape[0], 3, stride));
          convs.push(conv(`${p}.conv3`, `${p}.bn3`, convs[1].shape[0], 1, 1));
        }
        const cout = convs[convs.length - 1].shape[0];
        let downsample: ConvSpec | null = null;
        if (reader.has(`${p}.downsample.0.weight`)) {
          downsample = conv(`${p}.downsample.0`, `${p}.downsample.1`, cin, 1, stride);
          if (downsample.shape[0] !== cout) {
            fail(`tensor "${p}.downsample.0.weight" has ${downsample.shape[0]} output channels, expected ${cout} (those of the block)`);
          }
        } else if (cin !== cout || stride !== 1) {
          fail(`missing tensor "${p}.downsample.0.weight" (block ${p} maps ${cin} → ${cout} channels at stride ${stride})`);
        }
        blocks.push({ name: p, convs, downsample });
        cin = cout;
      }
      widths.push(cin);
      return blocks;
    });
    this.widths = widths;

    let fc: { weight: Float32Array; bias: Float32Array; classes: number } | null = null;
    if (reader.has('fc.weight')) {
      const [classes] = reader.shape('fc.weight');
      fc = { ...reader.convBn('fc', null, [classes, cin]), classes };
    }

    // Everything is valid: upload. Kept, so a caller's scope() never frees the weights.
    const upload = (c: ConvSpec): ConvLayer => ({
      weight: keep(tensor(c.weight, c.shape)),
      bias: keep(tensor(c.bias, [c.shape[0]])),
      stride: c.stride,
      pad: c.pad,
    });
    this.stem = upload(stem);
    this.stages = stages.map((blocks) =>
      blocks.map((b) => ({ name: b.name, convs: b.convs.map(upload), downsample: b.downsample ? upload(b.downsample) : null })),
    );
    this.fc = fc ? { weight: keep(tensor(fc.weight, [fc.classes, cin])), bias: keep(tensor(fc.bias, [1, fc.classes])) } : null;
  }

  /** Tap names in network order: `conv1` (stem after ReLU, before the max pool), `layer1`..`layer4`, `logits`. */
  get taps(): string[] {
    return ['conv1', 'layer1', 'layer2', 'layer3', 'layer4', ...(this.fc ? ['logits'] : [])];
  }

  /** One conv (BN folded); the activation and a residual run in its stores where they can (see conv2d). */
  private static run(l: ConvLayer, x: Tensor, activation: Activation = 'none', residual?: Tensor): Tensor {
    return conv2d(x, l.weight, l.bias, { stride: l.stride, padding: l.pad, activation, residual });
  }

  /**
   * Runs the network on normalised images [N,3,H,W] up to the deepest requested tap and returns
   * those taps. Intermediate activations are disposed as soon as the scope closes.
   */
  features(x: Tensor, taps: readonly string[]): Record<string, Tensor> {
    const all = this.taps;
    for (const t of taps) {
      if (!all.includes(t)) throw new Error(`ResNet.features: unknown tap "${t}"; available: ${all.join(', ')}`);
    }
    if (x.shape.length !== 4 || x.shape[1] !== 3) {
      throw new Error(`ResNet.features: images have shape [${x.shape.join(', ')}], expected [N, 3, H, W]`);
    }
    const want = new Set(taps);
    return noGrad(() =>
      scope(() => {
        const out: Record<string, Tensor> = {};
        const done = () => Object.keys(out).length === want.size;
        let cur = ResNet.run(this.stem, x, 'relu');
        if (want.has('conv1')) out.conv1 = cur;
        if (done()) return out;
        cur = maxPool2d(cur, { kernel: 3, stride: 2, padding: 1 });
        for (let s = 0; s < this.stages.length; s++) {
          for (const b of this.stages[s]) {
            // relu(conv(h) + identity) at the block's last conv; relu after the others.
            const identity = b.downsample ? ResNet.run(b.downsample, cur) : cur;
            let h = cur;
            b.convs.forEach((c, i) => {
              h = ResNet.run(c, h, 'relu', i === b.convs.length - 1 ? identity : undefined);
            });
            cur = h;
          }
          if (want.has(`layer${s + 1}`)) out[`layer${s + 1}`] = cur;
          if (done()) return out;
        }
        if (this.fc) {
          const pooled = globalAvgPool(cur).reshape([cur.shape[0], cur.shape[1]]);
          out.logits = add(matmul(pooled, this.fc.weight, { transB: true }), this.fc.bias);
        }
        return out;
      }),
    );
  }

  dispose(): void {
    const layers = [this.stem, ...this.stages.flat().flatMap((b) => [...b.convs, ...(b.downsample ? [b.downsample] : [])])];
    for (const l of layers) {
      l.weight.dispose();
      l.bias.dispose();
    }
    this.fc?.weight.dispose();
    this.fc?.bias.dispose();
  }
}
