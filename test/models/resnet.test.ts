// Proof 3: a torchvision-named ResNet state dict (BasicBlock and wide Bottleneck variants, random
// weights and BN statistics) loaded through loadBackbone matches a float64 CPU forward with the
// batch norms unfolded, at every tap. Tolerance: relative L2 <= 1e-4 (f32 accumulation over
// ~15 conv layers with folded BN is ~1e-6 in practice; the printed errors show the margin).
import { describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { loadBackbone } from '../../src/models/backbone.js';
import { resnetRef, type RefTensor } from '../../src/models/resnet.ref.js';
import { runtime } from '../../src/gpu/runtime.js';
import { scope, tensor } from '../../src/tensor/tensor.js';
import { numel, randn, relL2, useGpu } from '../helpers.js';
import { SMALL_BASIC, SMALL_BOTTLENECK, smallResNet, toSafetensors, type SmallResNetOptions } from './small-resnet.js';

useGpu();

const CASES: Array<{ label: string; o: SmallResNetOptions; meta: Record<string, string>; tracked: boolean; input: number[]; arch: string }> = [
  { label: 'BasicBlock [2, 1, 1, 2], widths 8/16/32/64, architecture inferred', o: SMALL_BASIC, meta: {}, tracked: false, input: [1, 3, 40, 40], arch: 'resnet' },
  {
    label: 'wide Bottleneck [2, 1, 2, 1], expansion 4, width x2, with num_batches_tracked',
    o: SMALL_BOTTLENECK,
    meta: { architecture: 'resnet', source: 'test' },
    tracked: true,
    input: [2, 3, 36, 44],
    arch: 'resnet',
  },
];

describe('ResNet from a torchvision state dict', () => {
  for (const c of CASES) {
    it(`${c.label}: every tap matches the float64 reference`, async () => {
      const sd = smallResNet(c.o);
      const bytes = toSafetensors(sd, c.meta, c.tracked);
      await runtime().sync();
      const liveBeforeNet = runtime().pool.getStats().liveBytes;
      const net = loadBackbone(bytes, 'small-resnet.safetensors');
      expect(net.architecture).toBe(c.arch);
      expect(net.taps).toEqual(['conv1', 'layer1', 'layer2', 'layer3', 'layer4', 'logits']);
      expect(net.preprocessing.mean).toEqual([0.485, 0.456, 0.406]);
      expect(net.preprocessing.size).toBe(224);

      const xs = randn(numel(c.input), 99, -2, 2);
      const x = tensor(xs, c.input);
      const live = runtime().pool.getStats().liveBytes;
      const got = net.features(x, net.taps);
      const ref = resnetRef(sd as Record<string, RefTensor>, c.o, xs, c.input);
      const errors: string[] = [];
      for (const tap of net.taps) {
        expect(got[tap].shape, tap).toEqual(ref[tap].shape);
        const e = relL2(await got[tap].read(), ref[tap].data);
        errors.push(`${tap} ${JSON.stringify(ref[tap].shape)} relL2 ${e.toExponential(2)}`);
        expect(e, `${tap}: relative L2 error`).toBeLessThanOrEqual(1e-4);
      }
      console.log(`${c.label}\n  ${errors.join('\n  ')}`);
      // A single deep tap gives the same values; only the returned taps stay allocated.
      const only = net.features(x, ['layer3']);
      expect(Object.keys(only)).toEqual(['layer3']);
      expect(relL2(await only.layer3.read(), ref.layer3.data)).toBeLessThanOrEqual(1e-4);
      for (const t of [...Object.values(got), only.layer3]) t.dispose();
      // Besides the taps, only the weights' kernel layouts (Tensor.derive, one per weight) remain:
      // another pass allocates nothing that stays, and they go with the network.
      const withLayouts = runtime().pool.getStats().liveBytes;
      expect(withLayouts).toBeGreaterThanOrEqual(live);
      for (const t of Object.values(net.features(x, net.taps))) t.dispose();
      await runtime().sync(); // the pass's uniform chunk goes back at the submit
      expect(runtime().pool.getStats().liveBytes).toBe(withLayouts);
      x.dispose();
      net.dispose();
      expect(runtime().pool.getStats().liveBytes).toBe(liveBeforeNet);
    });
  }

  it('named architectures load with the stem tap only; weights survive the caller\'s scope', async () => {
    const sd = smallResNet({ ...SMALL_BASIC, classes: 0 });
    const net = scope(() => loadBackbone(toSafetensors(sd, { architecture: 'resnet' }), 'headless.safetensors'));
    expect(net.taps).toEqual(['conv1', 'layer1', 'layer2', 'layer3', 'layer4']);
    const xs = randn(3 * 21 * 17, 3);
    const x = tensor(xs, [1, 3, 21, 17]);
    const { conv1 } = net.features(x, ['conv1']);
    const ref = resnetRef(sd as Record<string, RefTensor>, SMALL_BASIC, xs, [1, 3, 21, 17]);
    expect(conv1.shape).toEqual([1, 8, 11, 9]);
    expect(relL2(await conv1.read(), ref.conv1.data)).toBeLessThanOrEqual(1e-4);
    expect(() => net.features(x, ['logits'])).toThrow(/^ResNet.features: unknown tap "logits"; available: conv1, layer1, layer2, layer3, layer4$/);
    expect(() => net.features(tensor(randn(4 * 64), [1, 4, 8, 8]), ['conv1'])).toThrow(/^ResNet.features: images have shape \[1, 4, 8, 8\], expected \[N, 3, H, W\]/);
    for (const t of [x, conv1]) t.dispose();
    net.dispose();
  });
});
