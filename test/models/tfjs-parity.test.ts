// Proof 1: our MobileNetV2 running the nsfwjs weights (converted by tools/convert/tfjs-layers.ts:
// uint8 dequantised, BN folded, HWIO → OIHW) against TF.js (CPU backend) running the very same
// layers model, on the same image, at four taps and at the logits.
//
// Taps: features.k is the output of torchvision block k = Keras block_{k-1}; out_relu = features.18.
// The Keras head ends in Dense(5, softmax); our `logits` tap is the pre-softmax output, so the TF.js
// side computes dense_3's pre-activation from dense_2's output with dense_3's own kernel and bias
// (tf.matMul + tf.add on the CPU backend), and the probabilities are compared as well.
//
// Tolerance: relative L2 ≤ 1e-3 at every tap. Both sides are f32 with the same dequantised weights;
// the differences are BN folding (done in float64 at conversion vs. f32 at run time in TF.js) and
// summation order, ~1e-6 relative per layer.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import '../../src/ops/index.js';
import { relL2, rng, useGpu } from '../helpers.js';
import { serializeSafetensors } from '../../src/io/safetensors.js';
import { readImage } from '../../src/io/image-node.js';
import { imageToTensor, loadBackbone, type Backbone } from '../../src/models/backbone.js';
import { convertKerasMobilenetV2 } from '../../tools/convert/tfjs-layers.js';
import { decodeTfjsWeights, readTfjsModel, type TfjsModelFiles } from '../../tools/convert/tfjs-weights.js';
import type { Tensor } from '../../src/tensor/tensor.js';

const MODEL = fileURLToPath(new URL('../../node_modules/nsfwjs/dist/models/mobilenet_v2/model.min.js', import.meta.url));
const CAT = fileURLToPath(new URL('../../../shared/data/imagenet-check/cat.png', import.meta.url));
const TAPS: Array<[string, string]> = [
  ['features.3', 'block_2_add'],
  ['features.6', 'block_5_add'],
  ['features.13', 'block_12_add'],
  ['features.18', 'out_relu'],
];

useGpu();

let files: TfjsModelFiles;
let converted: ReturnType<typeof convertKerasMobilenetV2>;
let backbone: Backbone;

beforeAll(async () => {
  await tf.setBackend('cpu');
  files = readTfjsModel(MODEL);
  const weights = decodeTfjsWeights(files.json.weightsManifest, files.groups, MODEL);
  converted = convertKerasMobilenetV2(files.json.modelTopology, weights, { source: 'nsfwjs 4.4.0 (test)', licence: 'MIT (nsfwjs 4.4.0)' });
  backbone = loadBackbone(serializeSafetensors(converted.tensors, converted.metadata), 'nsfwjs.safetensors');
});

afterAll(() => {
  backbone?.dispose();
});

/** Max abs error, max relative error over elements with |ref| ≥ 1% of max |ref|, relative L2. */
function compare(ours: Float32Array, ref: Float32Array): { maxAbs: number; maxRel: number; relL2: number; refMax: number } {
  let maxAbs = 0;
  let refMax = 0;
  for (let i = 0; i < ref.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(ours[i] - ref[i]));
    refMax = Math.max(refMax, Math.abs(ref[i]));
  }
  let maxRel = 0;
  for (let i = 0; i < ref.length; i++) {
    if (Math.abs(ref[i]) >= 0.01 * refMax) maxRel = Math.max(maxRel, Math.abs(ours[i] - ref[i]) / Math.abs(ref[i]));
  }
  return { maxAbs, maxRel, relL2: relL2(ours, ref), refMax };
}

/** NHWC → NCHW. */
function toNchw(x: Float32Array, [n, h, w, c]: number[]): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++)
        for (let ch = 0; ch < c; ch++) out[((b * c + ch) * h + y) * w + xx] = x[((b * h + y) * w + xx) * c + ch];
  return out;
}

describe('nsfwjs MobileNetV2: converter', () => {
  it('maps every Keras layer to torchvision names, folds BN and keeps the 5-class MLP head', () => {
    const meta = converted.metadata;
    expect(meta.architecture).toBe('mobilenet_v2');
    expect(meta.padding).toBe('tf-same');
    expect(JSON.parse(meta.preprocessing)).toEqual({ size: 224, mean: [0, 0, 0], std: [1, 1, 1], scale: 1 });
    expect(meta.licence).toMatch(/MIT/);
    expect(converted.tensors['features.0.0.weight'].shape).toEqual([32, 3, 3, 3]);
    expect(converted.tensors['features.2.conv.1.0.weight'].shape).toEqual([96, 1, 3, 3]);
    expect(converted.tensors['features.18.0.weight'].shape).toEqual([1280, 320, 1, 1]);
    expect(converted.tensors['classifier.1.weight'].shape).toEqual([256, 1280]);
    expect(converted.tensors['classifier.4.weight'].shape).toEqual([128, 256]);
    expect(converted.tensors['classifier.7.weight'].shape).toEqual([5, 128]);
    expect(Object.keys(converted.tensors).filter((k) => /running|bn|gamma/.test(k))).toEqual([]);
    expect(backbone.taps).toContain('logits');
    const layers = JSON.parse(meta.layers) as Array<{ keras: string; bn_epsilon?: number }>;
    expect(layers.filter((l) => l.bn_epsilon !== undefined).every((l) => l.bn_epsilon === 1e-3)).toBe(true);
  });

  it('dequantises uint8 shards exactly like TF.js (q·scale + min)', () => {
    const specs = files.json.weightsManifest.flatMap((g) => g.weights);
    const buf = files.groups[0];
    const theirs = tf.io.decodeWeights(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer, specs as tf.io.WeightsManifestEntry[]);
    const ours = decodeTfjsWeights(files.json.weightsManifest, files.groups, MODEL);
    for (const name of ['Conv1/kernel', 'block_10_depthwise_BN/moving_mean', 'dense_3/bias']) {
      const t = theirs[name].dataSync() as Float32Array;
      expect(Array.from(ours.get(name)!.values)).toEqual(Array.from(t));
    }
    for (const t of Object.values(theirs)) t.dispose();
  });

  it('refuses padding other than TF SAME and unknown layers, naming the layer', () => {
    const topo = () => JSON.parse(JSON.stringify(files.json.modelTopology)) as { model_config: { config: { layers: Array<{ name: string; class_name: string; config: Record<string, unknown> }> } } };
    const weights = decodeTfjsWeights(files.json.weightsManifest, files.groups, MODEL);
    const opts = { source: 's', licence: 'l' };
    const sym = topo();
    sym.model_config.config.layers.find((l) => l.name === 'block_1_pad')!.config.padding = [[1, 1], [1, 1]];
    expect(() => convertKerasMobilenetV2(sym, weights, opts)).toThrow(/layer "block_1_depthwise": padding \[top, bottom, left, right\] = \[1, 1, 1, 1\].*differs from TensorFlow SAME \[0, 1, 0, 1\]/);
    const valid = topo();
    valid.model_config.config.layers.find((l) => l.name === 'block_4_depthwise')!.config.padding = 'valid';
    expect(() => convertKerasMobilenetV2(valid, weights, opts)).toThrow(/block_4_depthwise.*= \[0, 0, 0, 0\].*\(padding "valid"\)/);
    const odd = topo();
    odd.model_config.config.layers.find((l) => l.name === 'dropout_2')!.class_name = 'GaussianNoise';
    expect(() => convertKerasMobilenetV2(odd, weights, opts)).toThrow(/layer "dropout_2" \(GaussianNoise\): layer class not supported/);
    const leaky = topo();
    leaky.model_config.config.layers.find((l) => l.name === 'block_4_expand_relu')!.config.max_value = null;
    expect(() => convertKerasMobilenetV2(leaky, weights, opts)).toThrow(/block_4_expand_relu.*expected ReLU6/);
  });
});

describe('nsfwjs MobileNetV2: ours vs TF.js (CPU backend)', () => {
  it('agrees at features.3/6/13/18 and the logits (relative L2 ≤ 1e-3)', async () => {
    // A real photo when the shared data is present, a seeded random image otherwise; [0,1] RGB.
    const img = existsSync(CAT)
      ? await readImage(CAT)
      : (() => {
          const r = rng(3);
          return { width: 224, height: 224, data: Uint8Array.from({ length: 224 * 224 * 4 }, () => Math.floor(256 * r())) };
        })();
    const x = imageToTensor(img, backbone.preprocessing, 224);
    const xData = await x.read();
    const taps = [...TAPS.map(([ours]) => ours), 'logits'];
    const out = backbone.features(x, taps);
    const ours: Record<string, { data: Float32Array; shape: readonly number[] }> = {};
    for (const t of taps) ours[t] = { data: await (out[t] as Tensor).read(), shape: out[t].shape };
    for (const t of Object.values(out)) t.dispose();
    x.dispose();

    const model = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: files.json.modelTopology as object,
        weightSpecs: files.json.weightsManifest.flatMap((g) => g.weights) as tf.io.WeightsManifestEntry[],
        weightData: files.groups[0].buffer.slice(files.groups[0].byteOffset, files.groups[0].byteOffset + files.groups[0].byteLength) as ArrayBuffer,
      }),
    );
    const names = [...TAPS.map(([, keras]) => keras), 'dense_2', 'dense_3'];
    const probe = tf.model({ inputs: model.inputs, outputs: names.map((n) => model.getLayer(n).output as tf.SymbolicTensor) });
    // Same pixels: our NCHW input transposed to NHWC.
    const input = tf.tidy(() => tf.tensor4d(xData, [1, 3, 224, 224]).transpose([0, 2, 3, 1]));
    const results = probe.predict(input) as tf.Tensor[];
    const [w3, b3] = model.getLayer('dense_3').getWeights();
    const logitsTf = tf.tidy(() => tf.add(tf.matMul(results[4] as tf.Tensor2D, w3 as tf.Tensor2D), b3));

    const rows: Array<Record<string, string | number>> = [];
    const check = (label: string, a: Float32Array, b: Float32Array) => {
      const r = compare(a, b);
      rows.push({ tap: label, elements: b.length, 'max |ref|': r.refMax.toPrecision(4), 'max abs err': r.maxAbs.toExponential(2), 'max rel err': r.maxRel.toExponential(2), 'rel L2': r.relL2.toExponential(2) });
      expect(r.relL2, `${label}: relative L2`).toBeLessThanOrEqual(1e-3);
    };
    TAPS.forEach(([ourName, keras], i) => {
      const t = results[i];
      expect([t.shape[0], t.shape[3], t.shape[1], t.shape[2]], `${ourName} shape`).toEqual([...ours[ourName].shape]);
      check(`${ourName} ↔ ${keras}`, ours[ourName].data, toNchw(t.dataSync() as Float32Array, t.shape));
    });
    check('logits ↔ dense_3 pre-softmax', ours.logits.data, logitsTf.dataSync() as Float32Array);
    const probs = tf.tidy(() => tf.softmax(tf.tensor2d(ours.logits.data, [1, 5])).dataSync() as Float32Array);
    check('softmax ↔ dense_3 output', probs, results[5].dataSync() as Float32Array);
    console.log(`nsfwjs MobileNetV2 parity (${existsSync(CAT) ? 'cat.png' : 'random image'}, 224×224):`);
    console.table(rows);
    tf.dispose([input, ...results, logitsTf]);
    model.dispose();
  });
});
