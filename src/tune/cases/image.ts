// Map-level kernels: bilinear resize / area downsampling (aligning HLGFA's scales and the anomaly
// map to the image), separable Gaussian blur of the 256² map, reductions, and Adam.
// Work models:
//   bilinear: flops = 9 per output (3 lerps), bytes = 4·(in + out); backward: same, reversed
//   area f×f: flops = f² per output, bytes = 4·(in + out)
//   blur σ, radius r: flops = 2 passes · 2·(2r + 1) per element, bytes = 4·4n (x, tmp twice, y)
//   sum / mean / max: flops = 1 per input element, bytes = 4·(in + out)
//   Adam: flops ≈ 14 per element, bytes = 4·(param, grad, m, v read + param, m, v written) = 28n
import { adamPlan, adamRef, adamStep } from '../../ops/adam.js';
import { blurPlan, blurTuning, defaultBlurRadius, gaussianBlur, gaussianBlurRef } from '../../ops/blur.js';
import { max, mean, reducePlan, reduceRef, sum } from '../../ops/reduce.js';
import { areaDownsample, bilinearVariant, resizeBilinear, resizeRef } from '../../ops/resize.js';
import { runtime } from '../../gpu/runtime.js';
import { tensor, type Tensor } from '../../tensor/tensor.js';
import type { BenchCase, CaseInstance } from '../harness.js';
import type * as TF from '@tensorflow/tfjs-core';
import { F32, backwardInstance, dims, forwardInstance, input, model, numel, rand } from './common.js';

function resizeCases(): BenchCase[] {
  const specs: Array<{ c: number; from: number; to: number; tag: string; quick?: boolean }> = [
    { c: 96, from: 16, to: 64, tag: 'align HLGFA 16² features to 64²', quick: true },
    { c: 32, from: 32, to: 64, tag: 'align HLGFA 32² features to 64²' },
    { c: 1, from: 64, to: 256, tag: 'anomaly map to the 256² image' },
  ];
  const out: BenchCase[] = specs.map((s) => {
    const xs = [1, s.c, s.from, s.from];
    const nOut = s.c * s.to * s.to;
    return {
      id: `resize/bilinear ${s.c}ch ${s.from}²→${s.to}²`,
      family: 'resize',
      op: 'resizeBilinear',
      shape: `${dims(xs)} → ${dims([1, s.c, s.to, s.to])} (${s.tag})`,
      variant: () => bilinearVariant(s.from, s.to, false),
      model: model(9 * nOut, F32 * (numel(xs) + nOut), 'flops = 9 per output; bytes = 4·(in + out)'),
      quick: s.quick,
      setup: () => {
        const X = input(xs, 160);
        return forwardInstance([X], ([x]) => resizeBilinear(x, [s.to, s.to], { alignCorners: false }), () => [
          { values: resizeRef.bilinear(X.data, xs, s.to, s.to, false) },
        ]);
      },
      peer: {
        op: 'tf.image.resizeBilinear (NHWC, half-pixel)',
        setup: (peer) => {
          const { tf } = peer;
          const x = tf.randomUniform([1, s.from, s.from, s.c], -1, 1) as TF.Tensor4D;
          return {
            run: () => tf.tidy(() => void tf.image.resizeBilinear(x, [s.to, s.to], false, true)),
            sync: () => peer.sync(),
            dispose: () => x.dispose(),
          };
        },
      },
    };
  });
  const b = { c: 96, from: 16, to: 64 };
  const xs = [1, b.c, b.from, b.from];
  const gys = [1, b.c, b.to, b.to];
  out.push({
    id: `resize/backward bilinear ${b.c}ch ${b.from}²→${b.to}²`,
    family: 'resize',
    op: 'resizeBilinear backward',
    shape: `${dims(xs)} → ${dims(gys)}`,
    variant: () => 'two gathers, VEC=4',
    model: model(9 * numel(gys), F32 * (numel(xs) + numel(gys)), 'flops = 9 per gy element; bytes = 4·(gy + gx)'),
    setup: () => {
      const X = input(xs, 170);
      const G = input(gys, 171);
      return backwardInstance([X], ([x]) => resizeBilinear(x, [b.to, b.to], { alignCorners: false }), G.data, () => [
        { values: resizeRef.bilinearBackward(G.data, xs, b.to, b.to, false) },
      ]);
    },
  });
  const as = [1, 1, 256, 256];
  out.push({
    id: 'resize/area 4x 256²→64²',
    family: 'resize',
    op: 'areaDownsample',
    shape: `${dims(as)} → ${dims([1, 1, 64, 64])}`,
    variant: () => 'default',
    model: model(numel(as), F32 * (numel(as) + numel(as) / 16), 'flops = f² per output; bytes = 4·(in + out)'),
    setup: () => {
      const X = input(as, 180);
      return forwardInstance([X], ([x]) => areaDownsample(x, 4), () => [{ values: resizeRef.area(X.data, as, 4) }]);
    },
  });
  return out;
}

function blurCases(): BenchCase[] {
  const sigma = 4;
  const r = defaultBlurRadius(sigma);
  const mk = (shape: number[], span: 1 | 2 | null, quick = false): BenchCase => ({
    id: `blur/σ=${sigma} ${dims(shape)}${span ? ` span ${span}` : ''}`,
    family: 'blur',
    op: 'gaussianBlur',
    shape: `${dims(shape)} σ=${sigma} radius ${r} (HLGFA anomaly map)`,
    variant: () => blurPlan(span ?? undefined).label,
    model: model(2 * 2 * (2 * r + 1) * numel(shape), F32 * 4 * numel(shape), 'flops = 2 passes · 2·(2r + 1) per element; bytes = 4·(x + 2·tmp + y)'),
    quick,
    setup: () => {
      const X = input(shape, 190);
      return forwardInstance([X], ([x]) => gaussianBlur(x, sigma, { span: span ?? blurTuning.values.span }), () => [
        { values: gaussianBlurRef(X.data, shape, sigma) },
      ]);
    },
  });
  return [mk([1, 1, 256, 256], null, true), mk([1, 1, 256, 256], 1), mk([1, 1, 256, 256], 2), mk([8, 1, 256, 256], null)];
}

function reduceCases(): BenchCase[] {
  const specs: Array<{ kind: 'sum' | 'mean' | 'max'; shape: number[]; axes?: number[]; quick?: boolean; tag: string }> = [
    { kind: 'mean', shape: [1, 1, 256, 256], tag: 'loss / map mean', quick: true },
    { kind: 'max', shape: [1, 1, 256, 256], tag: 'image score = max of the map' },
    { kind: 'sum', shape: [1, 96, 64, 64], axes: [2, 3], tag: 'per-channel spatial sum' },
    { kind: 'mean', shape: [1, 96, 64, 64], axes: [1], tag: 'channel mean' },
  ];
  const ops = { sum, mean, max };
  return specs.map((s) => {
    const n = numel(s.shape);
    const outN = s.axes ? n / s.axes.reduce((p, a) => p * s.shape[a], 1) : 1;
    return {
      id: `reduce/${s.kind} ${dims(s.shape)}${s.axes ? ` axes ${s.axes.join(',')}` : ''}`,
      family: 'reduce',
      op: s.kind,
      shape: `${dims(s.shape)} (${s.tag})`,
      variant: () => reducePlan(s.shape, s.axes ?? s.shape.map((_, i) => i)).label,
      model: model(n, F32 * (n + outN), 'flops = 1 per input element; bytes = 4·(in + out)'),
      quick: s.quick,
      tol: 1e-4,
      setup: () => {
        const X = input(s.shape, 200);
        return forwardInstance([X], ([x]) => ops[s.kind](x, s.axes), () => [{ values: reduceRef(s.kind, X.data, s.shape, s.axes) }]);
      },
    };
  });
}

/** One in-place Adam step per run; validated as (param update, m, v) after the first step. */
function adamInstance(n: number): CaseInstance {
  const h = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-4 };
  const p0 = rand(n, 210);
  const g = rand(n, 211);
  const [param, grad, m, v] = [p0, g, new Float32Array(n), new Float32Array(n)].map((d) => tensor(d));
  const step = () => adamStep(param, grad, m, v, { ...h, step: 1 });
  return {
    run: step,
    async outputs() {
      // From the initial state every time (the tuner validates several variants on one instance).
      const rt = runtime();
      rt.flush();
      rt.write(param.bufferFor('bench'), 0, p0);
      rt.clear(m.bufferFor('bench'));
      rt.clear(v.bufferFor('bench'));
      step();
      const p = await param.read();
      return [p.map((x, i) => x - p0[i]), await m.read(), await v.read()];
    },
    expected() {
      const r = adamRef(p0, [g], h);
      return [{ values: r.param.map((x, i) => x - p0[i]) }, { values: r.m }, { values: r.v }];
    },
    dispose: () => [param, grad, m, v].forEach((t: Tensor) => t.dispose()),
  };
}

function adamCases(): BenchCase[] {
  return [
    { n: 96 * 192 * 9, tag: 'conv3x3 96→192 weights', quick: true },
    { n: 1 << 20, tag: '1M parameters' },
    { n: 10007, tag: 'odd size (scalar path)' },
  ].map((s) => ({
    id: `adam/${s.n}`,
    family: 'adam',
    op: 'adamStep',
    shape: `${s.n} parameters (${s.tag})`,
    variant: () => adamPlan(s.n).label,
    model: model(14 * s.n, F32 * 7 * s.n, 'flops ≈ 14 per element; bytes = 4·(4 read + 3 written) per element'),
    quick: s.quick,
    setup: () => adamInstance(s.n),
  }));
}

export function imageCases(): BenchCase[] {
  return [...resizeCases(), ...blurCases(), ...reduceCases(), ...adamCases()];
}
