// Recorded replay (src/gpu/capture.ts, src/tensor/replay.ts): a recording issues the same commands
// again without running the ops, so every replay is checked against the CPU reference on new input
// values, and every way a recording can go stale — a weight released and its buffer handed out
// again, a cached weight layout whose source was written — must make it refuse to replay.
import { describe, expect, it } from 'vitest';
import { runtime } from '../../src/gpu/runtime.js';
import { DispatchProfiler } from '../../src/gpu/profiler.js';
import { conv2d } from '../../src/ops/conv2d.js';
import { conv2dRef } from '../../src/ops/conv2d.ref.js';
import { add, affine, concat, mul, relu, sum } from '../../src/ops/index.js';
import { backward, parameter } from '../../src/autograd/tape.js';
import { RecordedForward, ReplayCache, ReplayedStep } from '../../src/tensor/replay.js';
import { keep, scope, tensor, zeros, type Tensor } from '../../src/tensor/tensor.js';
import { Adam, adamRef } from '../../src/nn/adam.js';
import { expectClose, randn, useGpu } from '../helpers.js';

useGpu();

const N = 37; // not a multiple of 4, nor of a workgroup

/** relu(2x + 1) + b, then [that, 0, x] concatenated: dispatches, a clear, an upload, copies. */
function chain(x: Tensor, b: Tensor): Tensor {
  const y = add(relu(affine(x, 2, 1)), b);
  return concat([y, zeros([N]), x], 0);
}

function chainRef(x: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(3 * N);
  for (let i = 0; i < N; i++) {
    out[i] = Math.max(2 * x[i] + 1, 0) + b[i];
    out[2 * N + i] = x[i];
  }
  return out;
}

describe('Runtime.record and Recording.replay', () => {
  it('replays dispatches, clears, copies and uploads on new input values, exactly as recorded work computes them', async () => {
    const rt = runtime();
    const bValues = randn(N, 2);
    const b = keep(tensor(bValues));
    const x0 = randn(N, 1);
    const { output, recorded } = RecordedForward.record([N], x0, (x) => {
      const c = tensor(Float32Array.from({ length: N }, (_, i) => i)); // an upload inside the recording
      return add(chain(x, b), concat([c, c, c], 0));
    });
    const withIndices = (v: Float32Array) => v.map((e, i) => e + (i % N));
    expectClose(await output.read(), withIndices(chainRef(x0, bValues)), { atol: 1e-6 }, 'recorded run');
    output.dispose();
    expect(recorded.dispatches).toBeGreaterThan(3);
    for (let seed = 3; seed < 6; seed++) {
      const x = randn(N, seed);
      const before = rt.stats();
      const out = recorded.run(x)!;
      expect(out).not.toBeNull();
      expect(rt.stats().bindGroupsCreated).toBe(before.bindGroupsCreated); // nothing looked up or made
      expectClose(await out.read(), withIndices(chainRef(x, bValues)), { atol: 1e-6 }, `replay ${seed}`);
      out.dispose();
    }
    recorded.dispose();
    b.dispose();
  });

  it('owns its intermediates until disposed, and holds steady memory over many replays', async () => {
    const rt = runtime();
    await rt.sync();
    const live0 = rt.pool.getStats().liveBytes;
    const b = keep(tensor(randn(N, 2)));
    const { output, recorded } = RecordedForward.record([N], randn(N, 1), (x) => chain(x, b));
    output.dispose();
    await rt.sync();
    const held = rt.pool.getStats();
    expect(held.liveBytes).toBeGreaterThan(live0); // input, output, intermediates, uniforms
    // Work outside the recording cannot be handed its buffers.
    const other = scope(() => chain(tensor(randn(N, 9)), b));
    const replayed = recorded.run(randn(N, 1))!;
    expectClose(await other.read(), chainRef(randn(N, 9), await b.read()), { atol: 1e-6 }, 'work beside the recording');
    expectClose(await replayed.read(), chainRef(randn(N, 1), await b.read()), { atol: 1e-6 }, 'replay beside other work');
    other.dispose();
    replayed.dispose();
    await rt.sync();
    const steady = rt.pool.getStats();
    for (let i = 0; i < 50; i++) recorded.run(randn(N, i))!.dispose();
    await rt.sync();
    expect(rt.pool.getStats().allocatedBytes).toBe(steady.allocatedBytes);
    expect(rt.pool.getStats().liveBytes).toBe(steady.liveBytes);
    recorded.dispose();
    b.dispose();
    await rt.sync();
    expect(rt.pool.getStats().liveBytes).toBe(live0);
  });

  it('refuses to replay once a tensor it reads was released (its buffer may serve another tensor)', async () => {
    const b = keep(tensor(randn(N, 2)));
    const { output, recorded } = RecordedForward.record([N], randn(N, 1), (x) => chain(x, b));
    output.dispose();
    const again = recorded.run(randn(N, 4));
    expect(again).not.toBeNull();
    again!.dispose();
    b.dispose();
    const reuse = tensor(randn(N, 7)); // likely the same pooled buffer, handed out again
    expect(recorded.run(randn(N, 4))).toBeNull();
    reuse.dispose();
    recorded.dispose();
  });

  it('can never replay work that read a buffer filled before it and released during it (an evicted cache)', async () => {
    const rt = runtime();
    const a = keep(tensor(randn(N, 2)));
    const { result, recording } = rt.record(() => {
      const y = affine(a, 2, 0);
      a.dispose(); // its contents are gone; its buffer may go to the next tensor of its size
      return keep(add(y, affine(y, 1, 1)));
    });
    expect(recording.unreplayable).toMatch(/a buffer filled before the recording was released during it/);
    expect(recording.valid()).toBe(false);
    expectClose(await result.read(), Array.from(randn(N, 2), (v) => 4 * v + 1), { atol: 1e-5 }, 'the recorded run itself');
    result.dispose();
    recording.dispose();
  });

  it('a replay bumps the version of every tensor it writes, as running the ops does', async () => {
    const rt = runtime();
    const w = keep(tensor(randn(N, 2)));
    const { result, recording } = rt.record(() => {
      rt.write(w.bufferFor('test'), 0, randn(N, 3)); // an in-place write of a tensor that outlives the work
      return keep(affine(w, 1, 0));
    });
    const [wv, rv] = [w.version, result.version];
    recording.replay();
    expect([w.version - wv, result.version - rv]).toEqual([1, 1]);
    expectClose(await result.read(), randn(N, 3), { atol: 0 }, 'replayed');
    for (const t of [w, result]) t.dispose();
    recording.dispose();
  });

  it("refuses to replay once a cached weight layout's source was written (Tensor.derive), and runs afresh right", async () => {
    const xs = [1, 3, 6, 5];
    const ws = [4, 3, 3, 3];
    const w = keep(tensor(randn(4 * 3 * 9, 2), ws));
    const conv = (x: Tensor) => conv2d(x, w, null, { padding: 1 });
    const cache = new ReplayCache(1);
    const x = randn(3 * 30, 1);
    for (let i = 0; i < 3; i++) cache.run('conv', xs, x, conv).dispose(); // plain, recorded, replayed
    const w2 = randn(4 * 3 * 9, 3);
    runtime().write(w.bufferFor('test'), 0, w2); // an in-place update, as Adam's
    const y = cache.run('conv', xs, x, conv);
    expectClose(await y.read(), conv2dRef(x, xs, w2, ws, null, { padding: 1 }).data, { atol: 1e-5 }, 'after the weight changed');
    y.dispose();
    cache.clear();
    w.dispose();
  });

  it('is refused inside a dry run, another recording or while profiling, and a failing function leaks nothing', async () => {
    const rt = runtime();
    await rt.sync();
    const live0 = rt.pool.getStats().liveBytes;
    expect(() => rt.dryRun(() => rt.record(() => undefined))).toThrow(/record: not inside a dry run/);
    expect(() => rt.record(() => rt.record(() => undefined))).toThrow(/another recording/);
    const t = keep(tensor([1, 2, 3]));
    let read: Promise<unknown> | null = null;
    rt.record(() => void (read = t.read())).recording.dispose();
    await expect(read).rejects.toThrow(/read: nothing can be read back while recording/);
    t.dispose();
    const profiler = new DispatchProfiler(rt.device);
    rt.setProfiler(profiler);
    try {
      expect(() => rt.record(() => undefined)).toThrow(/while profiling/);
    } finally {
      rt.setProfiler(null);
    }
    const b = keep(tensor(randn(N, 2)));
    const { output, recorded } = RecordedForward.record([N], randn(N, 1), (x) => chain(x, b));
    output.dispose();
    expect(() => rt.dryRun(() => recorded.run(randn(N, 1)))).toThrow(/replay: not inside a dry run/);
    recorded.dispose();
    expect(() => RecordedForward.record([N], randn(N, 1), (x) => add(chain(x, b), tensor([1, 2])))).toThrow(/shape/);
    b.dispose();
    await rt.sync();
    expect(rt.pool.getStats().liveBytes).toBe(live0);
    expect(rt.recording).toBe(false);
    const ok = scope(() => chain(tensor(randn(N, 1)), tensor(randn(N, 2))));
    expectClose(await ok.read(), chainRef(randn(N, 1), randn(N, 2)), { atol: 1e-6 }, 'the runtime after a failed recording');
    ok.dispose();
  });
});

describe('ReplayCache', () => {
  it("runs a key's first call plainly, records its second, replays later ones, and keeps the most recent keys", async () => {
    const cache = new ReplayCache(2);
    const b = keep(tensor(randn(N, 2)));
    let ran = 0;
    const fn = (x: Tensor) => {
      ran++;
      return chain(x, b);
    };
    const call = async (key: string, seed: number) => {
      const y = cache.run(key, [N], randn(N, seed), fn);
      expectClose(await y.read(), chainRef(randn(N, seed), await b.read()), { atol: 1e-6 }, `${key} ${seed}`);
      y.dispose();
    };
    await call('a', 1);
    await call('a', 2);
    expect([ran, cache.size]).toEqual([2, 1]);
    await call('a', 3);
    await call('a', 4);
    expect(ran).toBe(2); // replayed
    await call('b', 5);
    await call('b', 6);
    await call('c', 7);
    await call('c', 8); // records c: a, the least recently used, goes
    expect([ran, cache.size]).toEqual([6, 2]);
    await call('a', 9); // a again: recorded anew (it was seen)
    expect(ran).toBe(7);
    cache.clear();
    expect(cache.size).toBe(0);
    b.dispose();
  });

  it('remakes at each replay a weight layout first made while recording, from the source as it is then (a trained weight)', async () => {
    const xs = [1, 3, 6, 5];
    const ws = [4, 3, 3, 3];
    const w = keep(tensor(randn(4 * 3 * 9, 2), ws));
    const x = randn(3 * 30, 1);
    // Recorded at the first call: the layout conv2d derives from w is made inside the recording.
    const { output, recorded } = RecordedForward.record(xs, x, (t) => conv2d(t, w, null, { padding: 1 }));
    output.dispose();
    for (let seed = 3; seed < 5; seed++) {
      const w2 = randn(4 * 3 * 9, seed);
      runtime().write(w.bufferFor('test'), 0, w2); // an in-place update, as Adam's
      const y = recorded.run(x);
      expect(y, 'replayed').not.toBeNull();
      expectClose(await y!.read(), conv2dRef(x, xs, w2, ws, null, { padding: 1 }).data, { atol: 1e-5 }, `weights ${seed}`);
      y!.dispose();
    }
    recorded.dispose();
    w.dispose();
  });

  it('an optimiser step replays with its step count moving on (Runtime.each, live uniforms), as stepping afresh does', async () => {
    const [p0, g] = [randn(N, 7), randn(N, 8)];
    const parameter = () => {
      const p = keep(tensor(p0));
      p.requiresGrad = true;
      p.grad = keep(tensor(g));
      return p;
    };
    const [pa, pb] = [parameter(), parameter()];
    const [a, b] = [new Adam([pa], { lr: 0.05 }), new Adam([pb], { lr: 0.05 })];
    for (let i = 0; i < 4; i++) b.step();
    a.step(); // step 1, run
    const { recording } = runtime().record(() => a.step()); // step 2, recorded
    recording.replay(); // steps 3 and 4: the bias corrections move on with the count
    recording.replay();
    expect(a.state().step).toBe(4);
    expect(a.state().steps).toEqual([4]);
    expect(await pa.read()).toEqual(await pb.read());
    expectClose(await pa.read(), adamRef(p0, [g, g, g, g], { lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8 }).param, { atol: 1e-6 }, 'against the reference');
    recording.dispose();
    for (const t of [pa, pb, pa.grad!, pb.grad!]) t.dispose();
    a.dispose();
    b.dispose();
  });

  it('replays a training step (a weight used twice, its layout remade in the step, Adam writing it) as running it does', async () => {
    const xs = [1, 3, 6, 5];
    const ws = [3, 3, 3, 3];
    const w0 = randn(3 * 3 * 9, 4);
    const x = tensor(randn(3 * 30, 5), xs);
    const train = () => {
      const w = parameter(keep(tensor(w0, ws)));
      const adam = new Adam([w], { lr: 0.01 });
      const step = () => {
        adam.zeroGrad();
        const y = conv2d(conv2d(x, w, null, { padding: 1 }), w, null, { padding: 1 }); // two lookups of one layout
        const loss = sum(mul(y, y));
        backward(loss);
        adam.step();
        return loss;
      };
      return { w, adam, step };
    };
    const [plain, replayed] = [train(), train()];
    const stepper = new ReplayedStep(replayed.step);
    for (let i = 0; i < 5; i++) {
      const a = scope(plain.step);
      const b = stepper.run();
      expect(await b.read(), `step ${i + 1}`).toEqual(await a.read());
      a.dispose();
      b.dispose();
    }
    expect(stepper.replays).toBe(3); // plain, recorded, then replayed
    expect(await replayed.w.read()).toEqual(await plain.w.read());

    // A bad setting between replays: the replay is refused, and the step run afresh says why.
    replayed.adam.lr = Number.NaN;
    expect(() => stepper.run()).toThrow(/^Adam: lr must be a finite number >= 0, got NaN/);
    expect(stepper.replays).toBe(3);
    stepper.release();
    for (const t of [plain, replayed]) {
      t.adam.zeroGrad();
      t.adam.dispose();
      t.w.dispose();
    }
    x.dispose();
  });

  it('rejects input values of another size than recorded', () => {
    const b = keep(tensor(randn(N, 2)));
    const { output, recorded } = RecordedForward.record([N], randn(N, 1), (x) => chain(x, b));
    output.dispose();
    expect(() => recorded.run(randn(N + 1, 1))).toThrow(/replay: 38 input values for a recording of \[37\] \(37 expected\)/);
    recorded.dispose();
    b.dispose();
  });
});
