// dawn.node's busy polling (src/gpu/dawn-ticks.ts): on a CPU adapter its ticks run at once for the
// first millisecond of a wait and then on 1 ms timers; anything else handed to setImmediate is untouched.
import { describe, expect, it } from 'vitest';
import { isDawnTick, throttleDawnTicks, tickDelay } from '../../src/gpu/dawn-ticks.js';
import { runtime } from '../../src/gpu/runtime.js';
import { matmul } from '../../src/ops/index.js';
import { scope, tensor } from '../../src/tensor/tensor.js';
import { randn, useGpu } from '../helpers.js';

useGpu();

describe('dawn tick throttling', () => {
  it('recognises only anonymous native functions as dawn ticks', () => {
    expect(isDawnTick(Function.prototype)).toBe(true); // native, no name: what dawn.node passes
    expect(isDawnTick(() => 1)).toBe(false);
    expect(isDawnTick(function named() {})).toBe(false);
    expect(isDawnTick(Math.max)).toBe(false); // native but named
    expect(isDawnTick((() => 1).bind(null))).toBe(false); // bound: named "bound "
    expect(isDawnTick('x')).toBe(false);
  });

  it('ticks at once for the first millisecond of a wait, then every millisecond; a pause starts a new wait', () => {
    const state = { waitStart: -Infinity, lastTick: -Infinity };
    expect([0, 0.4, 0.9, 1.1, 2.3, 3.4].map((t) => tickDelay(100 + t, state))).toEqual([0, 0, 0, 1, 1, 1]);
    expect(tickDelay(120, state)).toBe(0); // 16.6 ms after the last tick: a new wait spins again
    expect(tickDelay(121.5, state)).toBe(1);
  });

  it('routes dawn ticks past the spin window to timers and everything else to the original setImmediate', () => {
    const calls: string[] = [];
    const target = {
      setImmediate: (cb: () => void) => calls.push(cb === Function.prototype ? 'immediate:dawn' : 'immediate:other'),
      setTimeout: (_cb: () => void, ms: number) => calls.push(`timeout:${ms}`),
    };
    throttleDawnTicks(target);
    throttleDawnTicks(target); // idempotent: not wrapped twice
    const other = () => {};
    target.setImmediate(Function.prototype as () => void); // a wait starts: at once
    target.setImmediate(other);
    const until = performance.now() + 1.5;
    while (performance.now() < until) { /* past the spin window */ }
    target.setImmediate(Function.prototype as () => void);
    target.setImmediate(other);
    expect(calls).toEqual(['immediate:dawn', 'immediate:other', 'timeout:1', 'immediate:other']);
  });

  it('on a CPU adapter a long GPU wait ticks about once a millisecond, not in a busy loop', async (ctx) => {
    if (!runtime().gpu.info.isFallbackAdapter) ctx.skip(); // on a GPU dawn keeps its busy loop (lowest latency)
    // Count dawn's ticks through a wrapper over the (already throttled) global setImmediate.
    const g = globalThis as unknown as { setImmediate: (cb: () => void, ...a: unknown[]) => unknown };
    const throttled = g.setImmediate;
    let ticks = 0;
    g.setImmediate = (cb, ...a) => {
      if (isDawnTick(cb)) ticks++;
      return throttled(cb, ...a);
    };
    try {
      const n = 512;
      const a = tensor(randn(n * n, 1), [n, n]);
      const b = tensor(randn(n * n, 2), [n, n]);
      // A wait of at least 30 ms however fast this machine's CPU adapter is: more products until then.
      let ms = 0;
      for (let products = 2; ms < 30 && products <= 512; products *= 4) {
        await runtime().sync();
        ticks = 0;
        const t0 = performance.now();
        const c = scope(() => {
          let y = matmul(a, b);
          for (let i = 1; i < products; i++) y = matmul(y, b);
          return y;
        });
        await c.read();
        ms = performance.now() - t0;
        c.dispose();
      }
      a.dispose();
      b.dispose();
      // Measured here: a busy loop ticks 20-70 times a millisecond; throttled about once (0.2-1.1),
      // the first millisecond's spin included, and up to 6 with other test files loading both cores
      // (a late timer reads as a pause, and a new wait spins its first millisecond again).
      expect(ms).toBeGreaterThanOrEqual(30);
      expect(ticks / ms).toBeLessThan(10);
    } finally {
      g.setImmediate = throttled;
    }
  });
});
