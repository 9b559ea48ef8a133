// Tensor.derive: what a kernel derives from a weight (conv2d's wt layout) is made once and reused
// until the weight is written — by a kernel (Adam), an upload, a clear, through any view — or
// released. A stale layout would silently give wrong outputs, so every way of writing is checked
// against the CPU reference, and the cache's memory must come back with the weight. And `constant`:
// fixed tables (resize taps, blur weights) made once per runtime, bounded.
import { describe, expect, it, vi } from 'vitest';
import { backward, parameter } from '../../src/autograd/tape.js';
import { runtime } from '../../src/gpu/runtime.js';
import { Adam } from '../../src/nn/adam.js';
import { conv2d } from '../../src/ops/conv2d.js';
import { conv2dRef } from '../../src/ops/conv2d.ref.js';
import { gaussianBlur, resizeBilinear, sum } from '../../src/ops/index.js';
import { traceLaunches } from '../../src/ops/util.js';
import { constant, empty, scope, tensor, type Tensor } from '../../src/tensor/tensor.js';
import { expectClose, randn, useGpu } from '../helpers.js';

useGpu();

const X_SHAPE = [2, 5, 11, 13];
const W_SHAPE = [7, 5, 3, 3];

/** conv2d(x, w) on the GPU, the wprep launches it recorded, and the CPU reference for w's current values. */
async function convAndCheck(x: Tensor, w: Tensor, label: string): Promise<number> {
  const { result: y, launches } = traceLaunches(() => conv2d(x, w, null, { padding: 1 }));
  const ref = conv2dRef(await x.read(), X_SHAPE, await w.read(), W_SHAPE, null, { padding: 1 });
  expectClose(await y.read(), ref.data, { atol: 1e-4, rtol: 1e-4 }, label);
  y.dispose();
  return launches.filter((l) => l.entry === 'wprep').length;
}

describe('Tensor.derive (conv2d weight layouts)', () => {
  it('lays a weight out once, then reuses it while the weight is unchanged', async () => {
    const x = tensor(randn(2 * 5 * 11 * 13, 1), X_SHAPE);
    const w = tensor(randn(7 * 5 * 9, 2), W_SHAPE);
    expect(await convAndCheck(x, w, 'first call')).toBe(1);
    expect(await convAndCheck(x, w, 'second call')).toBe(0);
    expect(await convAndCheck(x, w.reshape(W_SHAPE), 'through a view')).toBe(0);
    x.dispose();
    w.dispose();
  });

  it('lays it out again after an upload, a clear or a kernel wrote the weight, through any view', async () => {
    const x = tensor(randn(2 * 5 * 11 * 13, 3), X_SHAPE);
    const w = tensor(randn(7 * 5 * 9, 4), W_SHAPE);
    const view = w.reshape([7 * 5 * 9]);
    await convAndCheck(x, w, 'before');

    runtime().write(view.bufferFor('test'), 0, randn(7 * 5 * 9, 5));
    expect(await convAndCheck(x, w, 'after an upload through a view')).toBe(1);

    runtime().clear(w.bufferFor('test'));
    expect(await convAndCheck(x, w, 'after a clear')).toBe(1);

    // A kernel writing the weight (the Adam step of training) invalidates it too.
    runtime().write(w.bufferFor('test'), 0, randn(7 * 5 * 9, 6));
    const p = parameter(w);
    const opt = new Adam([p], { lr: 0.05 });
    for (let step = 0; step < 3; step++) {
      scope(() => {
        opt.zeroGrad();
        backward(sum(conv2d(x, p, null, { padding: 1 })));
      });
      const before = w.version;
      opt.step();
      expect(w.version, 'Adam wrote the weight').toBeGreaterThan(before);
      expect(await convAndCheck(x, w, `after Adam step ${step + 1}`)).toBe(1);
    }
    opt.dispose();
    p.grad?.dispose();
    view.dispose();
    x.dispose();
    w.dispose();
  });

  it('the flipped layout of the input gradient follows the same rule', async () => {
    const x = parameter(tensor(randn(2 * 5 * 11 * 13, 7), X_SHAPE));
    const w = tensor(randn(7 * 5 * 9, 8), W_SHAPE);
    const flips = () => traceLaunches(() => scope(() => backward(sum(conv2d(x, w, null, { padding: 1 }))))).launches.filter((l) => l.entry === 'wprep').length;
    expect(flips()).toBe(2); // the forward's layout and the input gradient's flipped one
    expect(flips()).toBe(0);
    runtime().clear(w.bufferFor('test'));
    expect(flips()).toBe(2);
    x.grad?.dispose();
    x.dispose();
    w.dispose();
  });

  it('returns its memory with the weight, and caches nothing in a dry run', async () => {
    const rt = runtime();
    await rt.sync();
    const live0 = rt.pool.getStats().liveBytes;
    const x = tensor(randn(2 * 5 * 11 * 13, 9), X_SHAPE);
    const w = tensor(randn(7 * 5 * 9, 10), W_SHAPE);
    await convAndCheck(x, w, 'cached');
    await rt.sync();
    expect(rt.pool.getStats().liveBytes).toBeGreaterThan(live0);
    w.dispose();
    x.dispose();
    await rt.sync();
    expect(rt.pool.getStats().liveBytes).toBe(live0);

    const w2 = tensor(randn(7 * 5 * 9, 11), W_SHAPE);
    rt.dryRun(() => scope(() => conv2d(empty(X_SHAPE), w2, null, { padding: 1 })));
    expect(await convAndCheck(tensor(randn(2 * 5 * 11 * 13, 12), X_SHAPE), w2, 'after a dry run')).toBe(1);
    w2.dispose();
  });
});

describe('constant (lookup tables, filter taps)', () => {
  it('is made once per key and shared by every call; a view per call, disposable; bounded', async () => {
    let made = 0;
    const make = (v: number) => () => {
      made++;
      return tensor([v, v + 1, v + 2]);
    };
    const a = constant('test.table 1', make(1));
    const b = constant('test.table 1', make(1));
    expect(made).toBe(1);
    expect(a.binding('test').buffer).toBe(b.binding('test').buffer);
    a.dispose();
    b.dispose();
    // The cache keeps its own reference: the contents survive the callers' views.
    const c = constant('test.table 1', make(1));
    expect([...(await c.read())]).toEqual([1, 2, 3]);
    c.dispose();
    expect(made).toBe(1);
    // Many keys: the oldest are released, so memory stays bounded.
    const live = runtime().stats().liveBytes;
    for (let i = 0; i < 300; i++) constant(`test.many ${i}`, make(i)).dispose();
    expect(made).toBe(301);
    expect(runtime().stats().liveBytes - live).toBeLessThanOrEqual(64 * 256);
    const first = constant('test.many 0', make(0));
    expect(made).toBe(302); // evicted, made again
    expect([...(await first.read())]).toEqual([0, 1, 2]);
    first.dispose();
  });

  it('is not cached in a dry run', () => {
    let made = 0;
    runtime().dryRun(() => {
      constant('test.dry', () => (made++, tensor([1]))).dispose();
      constant('test.dry', () => (made++, tensor([1]))).dispose();
    });
    expect(made).toBe(2);
  });

  it('resize and blur reuse their tables: no upload after the first call', async () => {
    const x = tensor(randn(2 * 3 * 8 * 8, 9), [2, 3, 8, 8]);
    const run = () => scope(() => {
      resizeBilinear(x, [16, 16], { alignCorners: false });
      resizeBilinear(x, [8, 20], { alignCorners: true });
      gaussianBlur(x, 1.5);
    });
    const writes = vi.spyOn(runtime(), 'write');
    try {
      run();
      expect(writes).toHaveBeenCalledTimes(3);
      run();
      expect(writes).toHaveBeenCalledTimes(3);
    } finally {
      writes.mockRestore();
    }
    await runtime().sync();
    x.dispose();
  });
});
