import { describe, expect, it } from 'vitest';
import { bucketSize } from '../../src/gpu/pool.js';
import { dispatchesPerSubmit, grid1d, runtime } from '../../src/gpu/runtime.js';
import { empty, keep, scope, tensor, zeros } from '../../src/tensor/tensor.js';
import { add, affine, relu, sum } from '../../src/ops/index.js';
import { randn, useGpu } from '../helpers.js';

useGpu();

describe('buffer pool', () => {
  it('buckets sizes with at most 25 % slack and 256-byte granularity', () => {
    for (const n of [1, 4, 255, 256, 257, 1000, 1025, 4096, 5000, 123_457, 10_000_000]) {
      const b = bucketSize(n);
      expect(b).toBeGreaterThanOrEqual(n);
      expect(b % 256).toBe(0);
      if (n > 1024) expect(b / n).toBeLessThanOrEqual(1.25);
    }
    expect(bucketSize(5000)).toBe(bucketSize(4999));
  });

  it('recycles a released buffer for uploads only once the work that used it was submitted', async () => {
    const pool = runtime().pool;
    await runtime().sync();
    const before = pool.getStats();
    const x = tensor(Float32Array.from({ length: 1000 }, (_, i) => i));
    const a = affine(x, 1, 0); // recorded, not submitted
    const buf = a.bufferFor('test');
    const y = affine(a, 2, 0); // reads a
    a.dispose();
    expect(pool.getStats().pendingBytes).toBeGreaterThan(0);
    // An upload runs ahead of the unsubmitted encoder, which still reads a: it must not get a's buffer.
    const u = tensor(new Float32Array(1000).fill(-1));
    expect(u.bufferFor('test')).not.toBe(buf);
    u.dispose();
    runtime().flush();
    // Submitted (maybe still running): an upload now runs after the reads, so it may take the buffer.
    expect(pool.getStats().pendingBytes).toBe(0);
    const created = pool.getStats().buffersCreated;
    const uploads = [0, 1].map(() => tensor(new Float32Array(1000).fill(7)));
    expect(uploads.map((t) => t.bufferFor('test'))).toContain(buf);
    expect(pool.getStats().buffersCreated).toBe(created);
    // … and what y read was the old contents, not the upload's sevens.
    const got = await y.read();
    for (let i = 0; i < 1000; i++) expect(got[i]).toBe(2 * i);
    for (const t of [x, y, ...uploads]) t.dispose();
    await runtime().sync();
    expect(pool.getStats().liveBytes).toBe(before.liveBytes);
  });

  it('lets a kernel output reuse a buffer released into the encoder being recorded, with correct results', async () => {
    const pool = runtime().pool;
    await runtime().sync();
    const x = tensor(Float32Array.from({ length: 1000 }, (_, i) => i - 500));
    const y = relu(x); // recorded, not submitted
    const yBuf = y.bufferFor('test');
    const z = affine(y, 2, 1); // reads y
    y.dispose(); // y's buffer goes back into the current encoder
    const w = affine(z, 1, -1); // output may take y's buffer: it runs after z read y
    expect(w.bufferFor('test')).toBe(yBuf);
    const got = await w.read();
    for (let i = 0; i < 1000; i++) expect(got[i]).toBe(2 * Math.max(0, i - 500));
    for (const t of [x, z, w]) t.dispose();
    await runtime().sync();
    expect(pool.getStats().pendingBytes).toBe(0);
  });

  it('submits long recordings in batches, and kernel outputs reuse buffers across them with exact results', async () => {
    const rt = runtime();
    const steps = 4 * rt.dispatchesPerSubmit + 3;
    const chain = (length: number) => {
      let x = tensor(Float32Array.from({ length }, (_, i) => i));
      for (let step = 0; step < steps; step++) {
        const y = affine(x, 1, 1); // a chain of dispatches, each output freed by the next
        x.dispose();
        x = y;
      }
      return x;
    };
    // A first chain of other-sized tensors makes the uniform buffers a submission's dispatches need.
    chain(64).dispose();
    await rt.sync();
    const before = rt.stats();
    const x = chain(1000);
    const after = rt.stats();
    expect(after.submits - before.submits).toBe(4); // submitted while recording, every dispatchesPerSubmit
    // Two buffers ping-pong through the chain; the old pool needed a new one after every submission.
    expect(after.buffersCreated - before.buffersCreated).toBeLessThanOrEqual(3);
    const got = await x.read();
    for (let i = 0; i < 1000; i++) expect(got[i]).toBe(i + steps);
    x.dispose();
    await rt.sync();
    expect(rt.pool.getStats().liveBytes).toBe(before.liveBytes);
  });

  it('submits every few dispatches on a GPU, and a whole inference at once on a software adapter', () => {
    const adapter = (vendor: string, architecture: string, description: string, isFallbackAdapter = false) =>
      ({ vendor, architecture, device: '', description, isFallbackAdapter, features: [], limits: {} });
    expect(dispatchesPerSubmit(adapter('nvidia', 'hopper', 'NVIDIA H200'))).toBe(16);
    expect(dispatchesPerSubmit(adapter('apple', 'metal-3', 'Apple M2'))).toBe(16);
    expect(dispatchesPerSubmit(adapter('mesa', 'llvmpipe', 'llvmpipe (LLVM 15.0.6, 256 bits)'))).toBe(1024);
    expect(dispatchesPerSubmit(adapter('google', 'swiftshader', ''))).toBe(1024);
    expect(dispatchesPerSubmit(adapter('', '', '', true))).toBe(1024);
    // An inference (136 dispatches at S=256) is one submission here (lavapipe).
    expect(runtime().dispatchesPerSubmit).toBe(dispatchesPerSubmit(runtime().gpu.info));
  });

  it('without submit batching (timed bench samples), a long recording is one submission at sync', async () => {
    const rt = runtime();
    await rt.sync();
    const steps = rt.dispatchesPerSubmit + 5;
    const chain = async () => {
      const before = rt.stats().submits;
      let x = tensor(Float32Array.from({ length: 64 }, (_, i) => i));
      for (let step = 0; step < steps; step++) {
        const y = affine(x, 1, 1);
        x.dispose();
        x = y;
      }
      const recorded = rt.stats().submits - before;
      const got = await x.read();
      x.dispose();
      expect(got[63]).toBe(63 + steps);
      return recorded;
    };
    rt.setSubmitBatching(false);
    try {
      expect(await chain()).toBe(0);
    } finally {
      rt.setSubmitBatching(true);
    }
    expect(await chain()).toBe(1);
  });

  it('splits huge 1-D dispatches over two grid dimensions', () => {
    expect(grid1d(10)).toEqual([10, 1]);
    const [x, y] = grid1d(200_000);
    expect(x).toBeLessThanOrEqual(65535);
    expect(x * y).toBeGreaterThanOrEqual(200_000);
  });
});

describe('tensors', () => {
  it('round-trips data and zero-fills', async () => {
    const d = randn(1001, 3);
    const t = tensor(d, [7, 11, 13]);
    expect(Array.from(await t.read())).toEqual(Array.from(d));
    const z = zeros([5, 3]);
    expect(Array.from(await z.read())).toEqual(new Array(15).fill(0));
    t.dispose();
    z.dispose();
  });

  it('reshape views share storage until the last view is disposed', async () => {
    const t = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const v = t.reshape([3, 2]);
    t.dispose();
    expect(Array.from(await v.read())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(() => t.reshape([6])).toThrow(/used after dispose/);
    expect(() => v.reshape([4])).toThrow(/reshape: cannot view \[3, 2\] \(6 elements\) as \[4\]/);
    v.dispose();
  });

  it('scope disposes everything it created except returned and kept tensors', async () => {
    await runtime().sync();
    const live0 = runtime().pool.getStats().liveBytes;
    let inner!: ReturnType<typeof tensor>;
    const kept = scope(() => keep(tensor([1, 2, 3])));
    const out = scope(() => {
      inner = tensor([1, 2, 3]);
      const a = relu(inner);
      return add(a, a);
    });
    expect(inner.disposed).toBe(true);
    expect(out.disposed).toBe(false);
    expect(Array.from(await out.read())).toEqual([2, 4, 6]);
    out.dispose();
    kept.dispose();
    await runtime().sync();
    expect(runtime().pool.getStats().liveBytes).toBe(live0);
  });

  it('scope disposes what it created when its function throws (no leak from failing calls)', async () => {
    await runtime().sync();
    const live0 = runtime().pool.getStats().liveBytes;
    const kept = keep(tensor([5]));
    const limit = runtime().limits.maxStorageBufferBindingSize;
    let made: ReturnType<typeof tensor>[] = [];
    for (let i = 0; i < 8; i++) {
      made = [];
      expect(() =>
        scope(() => {
          made.push(tensor(new Float32Array(1 << 16)), relu(tensor([1, -2])));
          made.push(scope(() => tensor([3]))); // returned by an inner scope: moved to this one
          relu(empty([Math.floor(limit / 4) + 1023])); // over the binding limit: throws
        }),
      ).toThrow(/maxStorageBufferBindingSize/);
      expect(made.every((t) => t.disposed)).toBe(true);
    }
    expect(kept.disposed).toBe(false);
    kept.dispose();
    await runtime().sync();
    expect(runtime().pool.getStats().liveBytes).toBe(live0);
  });

  it('use after dispose names the op and the tensor', () => {
    const t = tensor([1, 2, 3]);
    t.dispose();
    expect(() => relu(t)).toThrow(/^relu: tensor #\d+ \[3\] was used after dispose\(\)/);
    expect(() => sum(t)).toThrow(/^sum: tensor #\d+ \[3\] was used after dispose\(\)/);
  });

  it('rejects a tensor larger than maxStorageBufferBindingSize, naming op, shape and limit', () => {
    const limit = runtime().limits.maxStorageBufferBindingSize;
    const n = Math.floor(limit / 4) + 1023; // odd: the scalar path binds it as "x"
    const big = empty([n]);
    expect(() => relu(big)).toThrow(new RegExp(`relu: tensor "x" \\[${n}\\] is ${n * 4} bytes, over the device's maxStorageBufferBindingSize of ${limit} bytes`));
    big.dispose();
  });

  it('rejects malformed data and shapes', () => {
    expect(() => tensor([1, 2, 3], [2, 2])).toThrow(/tensor: 3 values do not fill shape \[2, 2\] \(4 elements expected\)/);
    expect(() => empty([2, -1])).toThrow(/empty: invalid shape \[2, -1\]/);
    expect(() => empty([2, 1.5])).toThrow(/invalid shape/);
  });
});
