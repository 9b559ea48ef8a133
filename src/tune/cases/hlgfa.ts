// The HLGFA module's fused kernels at its three scales (C, H = W) ∈ {(24, 64), (32, 32), (96, 16)}:
// modulation (instance norm · (1 + γ) + β), gated residual z + σ(g)·r, per-position cosine
// similarity; forward and backward. Work models (n = N·C·H·W, p = N·H·W):
//   modulate: flops ≈ 8n, bytes = 4·(x + γ + β + y) = 16n;   backward: flops ≈ 12n, bytes = 4·6n
//   gate:     flops ≈ 6n (σ counted as 3), bytes = 16n;      backward: flops ≈ 8n, bytes = 24n
//   cosine:   flops = 6·C·p, bytes = 4·(2n + p);             backward: flops ≈ 8n, bytes = 4·(4n + 4p)
import { cosinePlan, cosineRef, cosineSimilarity } from '../../ops/cosine.js';
import { gatePlan, gateRef, gatedResidual } from '../../ops/gate.js';
import { modulate, normPlan, normRef } from '../../ops/norm.js';
import type { BenchCase } from '../harness.js';
import { F32, backwardInstance, dims, forwardInstance, input, model } from './common.js';

interface Scale {
  c: number;
  s: number;
  quick?: boolean;
}

export const HLGFA_SCALES: Scale[] = [{ c: 24, s: 64, quick: true }, { c: 32, s: 32 }, { c: 96, s: 16 }];

const shapeOf = (sc: Scale) => [1, sc.c, sc.s, sc.s];
const tag = (sc: Scale) => `${sc.c}ch @${sc.s}²`;

function modulateCases(sc: Scale): BenchCase[] {
  const shape = shapeOf(sc);
  const n = sc.c * sc.s * sc.s;
  const eps = 1e-5;
  const inputs = (seed: number) => [input(shape, seed), input(shape, seed + 1, true, -0.5, 0.5), input(shape, seed + 2, true, -0.5, 0.5)];
  return [
    {
      id: `modulate/${tag(sc)}`,
      family: 'modulate',
      op: 'modulate',
      shape: `x, γ, β ${dims(shape)}`,
      variant: () => normPlan({ rows: sc.c, hw: sc.s * sc.s }).label,
      model: model(8 * n, F32 * 4 * n, 'flops ≈ 8 per element; bytes = 4·(x + γ + β + y)'),
      quick: sc.quick,
      setup: () => {
        const ins = inputs(100);
        return forwardInstance(ins, ([x, g, b]) => modulate(x, g, b, eps), () => [
          { values: normRef.modulate(ins[0].data, ins[1].data, ins[2].data, shape, eps) },
        ]);
      },
    },
    {
      id: `modulate/backward ${tag(sc)}`,
      family: 'modulate',
      op: 'modulate backward',
      shape: `x, γ, β ${dims(shape)}`,
      variant: () => normPlan({ rows: sc.c, hw: sc.s * sc.s }).label,
      model: model(12 * n, F32 * 6 * n, 'flops ≈ 12 per element; bytes = 4·(x + γ + gy + gx + gγ + gβ)'),
      quick: sc.quick,
      setup: () => {
        const ins = inputs(110);
        const G = input(shape, 113);
        return backwardInstance(ins, ([x, g, b]) => modulate(x, g, b, eps), G.data, () => {
          const r = normRef.backward(G.data, ins[0].data, ins[1].data, shape, eps);
          return [{ values: r.gx }, { values: r.ggamma }, { values: r.gbeta }];
        });
      },
    },
  ];
}

function gateCases(sc: Scale): BenchCase[] {
  const shape = shapeOf(sc);
  const n = sc.c * sc.s * sc.s;
  const variant = () => gatePlan(n).label;
  const inputs = (seed: number) => [input(shape, seed), input(shape, seed + 1, true, -3, 3), input(shape, seed + 2)];
  return [
    {
      id: `gate/${tag(sc)}`,
      family: 'gate',
      op: 'gatedResidual',
      shape: `z, g, r ${dims(shape)}`,
      variant,
      model: model(6 * n, F32 * 4 * n, 'flops ≈ 6 per element (sigmoid as 3); bytes = 4·(z + g + r + y)'),
      quick: sc.quick,
      setup: () => {
        const ins = inputs(120);
        return forwardInstance(ins, ([z, g, r]) => gatedResidual(z, g, r), () => [{ values: gateRef.forward(ins[0].data, ins[1].data, ins[2].data) }]);
      },
    },
    {
      id: `gate/backward ${tag(sc)}`,
      family: 'gate',
      op: 'gatedResidual backward',
      shape: `z, g, r ${dims(shape)}`,
      variant,
      model: model(8 * n, F32 * 6 * n, 'flops ≈ 8 per element; bytes = 4·(g + r + gy + gz + gg + gr)'),
      setup: () => {
        const ins = inputs(130);
        const G = input(shape, 133);
        return backwardInstance(ins, ([z, g, r]) => gatedResidual(z, g, r), G.data, () => {
          const r = gateRef.backward(G.data, ins[1].data, ins[2].data);
          return [{ values: r.gz }, { values: r.gg }, { values: r.gr }];
        });
      },
    },
  ];
}

function cosineCases(sc: Scale): BenchCase[] {
  const shape = shapeOf(sc);
  const p = sc.s * sc.s;
  const n = sc.c * p;
  const variant = () => cosinePlan({ n: 1, c: sc.c, hw: p }).label;
  return [
    {
      id: `cosine/${tag(sc)}`,
      family: 'cosine',
      op: 'cosineSimilarity',
      shape: `a, b ${dims(shape)} → ${dims([1, 1, sc.s, sc.s])}`,
      variant,
      model: model(6 * n, F32 * (2 * n + p), 'flops = 6·C per position; bytes = 4·(a + b + y)'),
      quick: sc.quick,
      setup: () => {
        const ins = [input(shape, 140), input(shape, 141)];
        return forwardInstance(ins, ([a, b]) => cosineSimilarity(a, b), () => [{ values: cosineRef.forward(ins[0].data, ins[1].data, shape) }]);
      },
    },
    {
      id: `cosine/backward ${tag(sc)}`,
      family: 'cosine',
      op: 'cosineSimilarity backward',
      shape: `a, b ${dims(shape)}`,
      variant,
      model: model(8 * n, F32 * (4 * n + 4 * p), 'flops ≈ 8 per element; bytes = 4·(a + b + ga + gb + gy + 3 saved per position)'),
      setup: () => {
        const ins = [input(shape, 150), input(shape, 151)];
        const G = input([1, 1, sc.s, sc.s], 152);
        return backwardInstance(ins, ([a, b]) => cosineSimilarity(a, b), G.data, () => {
          const r = cosineRef.backward(G.data, ins[0].data, ins[1].data, shape);
          return [{ values: r.ga }, { values: r.gb }];
        });
      },
    },
  ];
}

export function hlgfaCases(): BenchCase[] {
  return [...HLGFA_SCALES.flatMap(modulateCases), ...HLGFA_SCALES.flatMap(gateCases), ...HLGFA_SCALES.flatMap(cosineCases)];
}
