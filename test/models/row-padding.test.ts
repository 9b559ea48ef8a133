// MobileNetV2 with maps whose width is not a multiple of 4 stored on rows padded to one
// (src/models/row-padding.ts) against the same network running every map as stored: the padded
// rows must change no value a caller sees, and must take the aligned kernels they exist for.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { expectClose, randn, useGpu } from '../helpers.js';
import { parseSafetensors } from '../../src/io/safetensors.js';
import { MobileNetV2, type PaddingMode } from '../../src/models/mobilenet-v2.js';
import { WeightReader } from '../../src/models/weights.js';
import { runRowLayer, plainMap, type ConvLayer } from '../../src/models/row-padding.js';
import { runtime } from '../../src/gpu/runtime.js';
import { traceLaunches } from '../../src/ops/util.js';
import { tensor, type Tensor } from '../../src/tensor/tensor.js';

useGpu();

const WEIGHTS = new Uint8Array(readFileSync(new URL('../../weights/mobilenet_v2_imagenet.safetensors', import.meta.url)));
const nets = new Map<PaddingMode, MobileNetV2>();
const net = (mode: PaddingMode) => {
  if (!nets.has(mode)) nets.set(mode, new MobileNetV2(new WeightReader(parseSafetensors(WEIGHTS, 'mobilenet_v2_imagenet.safetensors')), mode));
  return nets.get(mode)!;
};
afterAll(() => {
  for (const n of nets.values()) n.dispose();
});

const sg = () => runtime().gpu.subgroups;
const subgroupKernel = () => {
  const s = sg();
  return s !== null && s.min >= 4 && s.max <= 64;
};

/** The taps of one forward, read back, and the kernels it launched. */
async function run(m: MobileNetV2, x: Tensor, taps: string[], rowPadding: boolean) {
  m.rowPadding = rowPadding;
  const { result, launches } = traceLaunches(() => m.features(x, taps));
  const out: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
  for (const t of taps) {
    out[t] = { shape: result[t].shape, data: await result[t].read() };
    result[t].dispose();
  }
  return { out, kernels: launches.map((l) => `${l.shader}.${l.entry}`) };
}

// Values are f32 sums of the same terms per output (the pad columns only add outputs), in the same
// order unless split-K splits the padded product otherwise (its tiles differ: 5×5 maps, 1.6e-5 at
// most): equal to rounding, exactly at 200² and 224².
const SAME = { atol: 1e-5, rtol: 1e-5 };

describe('MobileNetV2 on padded rows', () => {
  it.each([
    ['symmetric', 200, 2], // maps 50×50, 25×25, 13×13 and 7×7: four padded stages, a batch of 2
    ['tf-same', 224, 1], // MobileNetV2's 14×14 and 7×7 stages, TF's asymmetric padding
  ] as const)('%s padding at %i², batch %i: every tap (block outputs, expanded maps, logits) as without', async (mode, size, batch) => {
    const m = net(mode);
    const x = tensor(randn(batch * 3 * size * size, size), [batch, 3, size, size]);
    const taps = [...m.taps.filter((t) => /^features\.(4|5|8|13|14|16|17|18)(\.expand)?$/.test(t)), 'logits'];
    const plain = await run(m, x, taps, false);
    const padded = await run(m, x, taps, true);
    for (const t of taps) {
      expect(padded.out[t].shape, t).toEqual(plain.out[t].shape);
      expectClose(padded.out[t].data, plain.out[t].data, SAME, t);
    }
    expect(plain.kernels.some((k) => k.endsWith('fwd_subgroup_ragged'))).toBe(subgroupKernel());
    // Padded, no 1×1 convolution takes the ragged kernel nor a depthwise one the scalar blocked
    // kernel, and the maps leave the padded form once per tap in a padded stage and once for the
    // head (narrow: the concat shader's copies).
    expect(padded.kernels.filter((k) => k.endsWith('fwd_subgroup_ragged'))).toEqual([]);
    if (subgroupKernel()) expect(padded.kernels.filter((k) => k === 'depthwise.fwd')).toEqual([]);
    expect(plain.kernels.filter((k) => k === 'depthwise.fwd').length).toBeGreaterThan(0);
    if (subgroupKernel()) expect(padded.kernels.filter((k) => k.startsWith('concat.')).length).toBeGreaterThan(0);
    x.dispose();
  });

  it('at 240² the 15-wide stage (stored 16 wide) halves to 8 wide: its stride-2 depthwise reads the padded rows as they are, no copy', async () => {
    const m = net('symmetric');
    const x = tensor(randn(3 * 240 * 240, 6), [1, 3, 240, 240]);
    const taps = ['features.18', 'logits'];
    const plain = await run(m, x, taps, false);
    const padded = await run(m, x, taps, true);
    for (const t of taps) expectClose(padded.out[t].data, plain.out[t].data, SAME, t);
    expect(padded.kernels.filter((k) => k.startsWith('concat.'))).toEqual([]);
    if (subgroupKernel()) expect(padded.kernels.filter((k) => k === 'depthwise.fwd')).toEqual([]);
    x.dispose();
  });

  it('at 256² the rows of every map are a multiple of 4 wide: the same kernels either way', async () => {
    const m = net('symmetric');
    const x = tensor(randn(3 * 256 * 256, 5), [1, 3, 256, 256]);
    const taps = ['features.6', 'features.18'];
    const plain = await run(m, x, taps, false);
    const padded = await run(m, x, taps, true);
    expect(padded.kernels).toEqual(plain.kernels);
    for (const t of taps) expectClose(padded.out[t].data, plain.out[t].data, { atol: 0, rtol: 0 }, t);
    x.dispose();
  });

  it('a depthwise layer given garbage pad columns runs on a plain copy, and so does a 1×1 conv feeding one when its product is not aligned', async () => {
    const c = 8;
    const dw: ConvLayer = { weight: tensor(randn(c * 9, 1), [c, 1, 3, 3]), bias: tensor(randn(c, 2), [c]), stride: 1, k: 3, depthwise: true, relu6: true };
    const data = randn(c * 7 * 8, 3);
    const stored = tensor(data, [1, c, 7, 8]);
    const valid = tensor(Float32Array.from({ length: c * 49 }, (_, i) => data[Math.floor(i / 7) * 8 + (i % 7)]), [1, c, 7, 7]);
    const pad: [number, number, number, number] = [1, 1, 1, 1];
    const viaCopy = runRowLayer(dw, { t: stored, w: 7, zeroPad: false }, pad, { feedsDepthwise: false, rowPadding: true });
    const direct = runRowLayer(dw, plainMap(valid), pad, { feedsDepthwise: false, rowPadding: true });
    // The padded map's garbage column (its data) must not reach the valid outputs.
    expect(viaCopy.t.shape).toEqual([1, c, 7, 7]);
    expect(direct.t.shape).toEqual(subgroupKernel() ? [1, c, 7, 8] : [1, c, 7, 7]);
    const want = await viaCopy.t.read();
    const got = await direct.t.read();
    const w = direct.t.shape[3];
    expectClose(Float32Array.from({ length: c * 49 }, (_, i) => got[Math.floor(i / 7) * w + (i % 7)]), want, SAME, 'valid outputs');
    // Cin = 6 (not a multiple of 4): the 1×1 product is not aligned, so it runs on the valid columns.
    const proj: ConvLayer = { weight: tensor(randn(4 * 6, 4), [4, 6, 1, 1]), bias: tensor(randn(4, 5), [4]), stride: 1, k: 1, depthwise: false, relu6: false };
    const six = tensor(randn(6 * 7 * 8, 6), [1, 6, 7, 8]);
    const y = runRowLayer(proj, { t: six, w: 7, zeroPad: false }, [0, 0, 0, 0], { feedsDepthwise: true, rowPadding: true });
    expect(y.t.shape).toEqual([1, 4, 7, 7]);
    for (const t of [dw.weight, dw.bias, stored, valid, viaCopy.t, direct.t, proj.weight, proj.bias, six, y.t]) t.dispose();
  });
});
