// Long loops must hold steady memory: a small training step (conv, depthwise, modulation, gated
// residual, cosine loss, backward, Adam) repeated 2 000 times leaves the pool's live bytes where
// they were after the first iteration, and the tape empty.
import { expect, it } from 'vitest';
import { runtime } from '../../src/gpu/runtime.js';
import { backward, parameter, tapeLength } from '../../src/autograd/tape.js';
import { scope, tensor } from '../../src/tensor/tensor.js';
import { affine, mean } from '../../src/ops/index.js';
import { conv2d } from '../../src/ops/conv2d.js';
import { depthwiseConv2d } from '../../src/ops/depthwise.js';
import { modulate } from '../../src/ops/norm.js';
import { gatedResidual } from '../../src/ops/gate.js';
import { cosineSimilarity } from '../../src/ops/cosine.js';
import { Adam } from '../../src/nn/adam.js';
import { randn, useGpu } from '../helpers.js';

useGpu();

it('2 000 forward + backward + Adam steps keep the pool live bytes constant', async () => {
  const C = 8;
  const x = tensor(randn(2 * C * 9 * 9, 1), [2, C, 9, 9]);
  const target = tensor(randn(2 * C * 9 * 9, 2), [2, C, 9, 9]);
  const w = parameter(tensor(randn(C * C * 9, 3, -0.2, 0.2), [C, C, 3, 3]));
  const dw = parameter(tensor(randn(C * 9, 4, -0.3, 0.3), [C, 1, 3, 3]));
  const wg = parameter(tensor(randn(C * C, 5, -0.3, 0.3), [C, C, 1, 1]));
  const params = [w, dw, wg];
  const opt = new Adam(params, { lr: 1e-3 });
  const step = () =>
    scope(() => {
      const s = conv2d(x, w, null, { padding: 1 });
      const z = modulate(x, depthwiseConv2d(s, dw, null, { padding: 1 }), s);
      const f = gatedResidual(z, conv2d(z, wg), s);
      const loss = mean(affine(cosineSimilarity(f, target), -1, 1));
      opt.zeroGrad();
      backward(loss);
      opt.step();
      return loss;
    });
  const losses: number[] = [];
  let liveAfterFirst = 0;
  for (let i = 0; i < 2000; i++) {
    const loss = step();
    // Like a real training loop, read the loss every step (this is also when released buffers
    // become reusable: the pool recycles them once the queue reports the step done).
    const value = await loss.item();
    if (i === 0 || i % 100 === 99) losses.push(value);
    loss.dispose();
    if (i === 0) {
      await runtime().sync();
      liveAfterFirst = runtime().pool.getStats().liveBytes;
    }
  }
  await runtime().sync();
  const stats = runtime().pool.getStats();
  expect(stats.liveBytes).toBe(liveAfterFirst);
  expect(tapeLength()).toBe(0);
  // The optimisation actually ran: the loss went down.
  expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
  // Freed buffers were recycled rather than re-created each step.
  expect(stats.buffersCreated).toBeLessThan(400);
  for (const t of [x, target, ...params]) t.dispose();
  opt.dispose();
});
