// Depthwise convolution: MobileNetV2's 3×3 layers (S = 256 and 128, stride 1 and 2 with TF-SAME
// padding), HLGFA's 3/5/7 'same' depthwise and the fused multi-scale kernel at C ∈ {24, 32, 96} on
// 64² / 32² / 16², and backward passes.
// Work model: flops = 2·N·C·Ho·Wo·k²; bytes = 4·(x + w + bias + y). Multi-scale: the fused 7×7 it
// executes, flops = 2·N·C·Ho·Wo·49; bytes = 4·(x + (9 + 25 + 49)·C + 3·C + y).
import { depthwiseConv2d, depthwiseGeometry, depthwisePlan, multiScaleDepthwise, type DepthwiseOptions } from '../../ops/depthwise.js';
import { depthwiseBackwardRef, depthwiseRef, multiScaleDepthwiseRef } from '../../ops/depthwise.ref.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { BenchCase, Expected } from '../harness.js';
import { F32, backwardInstance, dims, forwardInstance, input, model } from './common.js';
import type * as TF from '@tensorflow/tfjs-core';

export interface DwSpec {
  c: number;
  k: number;
  stride: number;
  size: number;
  /** 'same' or TF-SAME at stride 2: [0, 1, 0, 1]. */
  padding: 'same' | readonly [number, number, number, number];
  tag: string;
  quick?: boolean;
}

const outSize = (s: DwSpec) => (s.padding === 'same' ? Math.ceil(s.size / s.stride) : Math.floor((s.size + 1 - s.k) / s.stride) + 1);
const opts = (s: DwSpec): DepthwiseOptions => ({ stride: s.stride, padding: s.padding });
const label = (s: DwSpec) => `${s.k}x${s.k}${s.stride > 1 ? ` s${s.stride}` : ''} ${s.c}ch @${s.size}²`;

/** The kernel label of a spec (the fused multi-scale op runs one 7×7 'same' pass). */
function variantOf(s: { stride: number; size: number; k?: number; c?: number; padding?: DwSpec['padding'] }, backwardPass = false): string {
  const k = s.k ?? 7;
  const c = s.c ?? 1;
  const p = depthwisePlan(depthwiseGeometry([1, c, s.size, s.size], [c, 1, k, k], { stride: s.stride, padding: s.padding ?? 'same' }));
  return backwardPass ? p.backwardLabel : p.label;
}

function tfPeer(s: { c: number; size: number; stride: number }, k: number) {
  return {
    op: 'tf.fused.depthwiseConv2d (NHWC, bias, SAME)',
    setup: (peer: import('../peer.js').Peer) => {
      const { tf } = peer;
      const x = tf.randomUniform([1, s.size, s.size, s.c], -1, 1) as TF.Tensor4D;
      const f = tf.randomUniform([k, k, s.c, 1], -0.5, 0.5) as TF.Tensor4D;
      const bias = tf.randomUniform([s.c], -1, 1);
      return {
        run: () => tf.tidy(() => void tf.fused.depthwiseConv2d({ x, filter: f, bias, strides: s.stride, pad: 'same' })),
        sync: () => peer.sync(),
        dispose: () => tf.dispose([x, f, bias]),
      };
    },
  };
}

function forwardCase(s: DwSpec): BenchCase {
  const o = outSize(s);
  const xs = [1, s.c, s.size, s.size];
  return {
    id: `depthwise/${label(s)}`,
    family: 'depthwise',
    op: 'depthwiseConv2d',
    shape: `x ${dims(xs)} w ${dims([s.c, 1, s.k, s.k])} pad ${JSON.stringify(s.padding)} (${s.tag})`,
    variant: () => variantOf(s),
    model: model(2 * s.c * o * o * s.k * s.k, F32 * (s.c * s.size * s.size + s.c * s.k * s.k + s.c + s.c * o * o), 'flops = 2·N·C·Ho·Wo·k²; bytes = 4·(x + w + bias + y)'),
    quick: s.quick,
    setup: () => {
      const X = input(xs, 51);
      const W = input([s.c, 1, s.k, s.k], 52);
      const B = input([s.c], 53);
      return forwardInstance([X, W, B], ([x, w, b]) => depthwiseConv2d(x, w, b, opts(s)), () => [
        { values: depthwiseRef(X.data, xs, W.data, s.k, B.data, opts(s)) },
      ]);
    },
    peer: tfPeer(s, s.k),
  };
}

function backwardCase(s: DwSpec): BenchCase {
  const o = outSize(s);
  const xs = [1, s.c, s.size, s.size];
  const x = s.c * s.size * s.size;
  return {
    id: `depthwise/backward ${label(s)}`,
    family: 'depthwise',
    op: 'depthwiseConv2d backward',
    shape: `x ${dims(xs)} w ${dims([s.c, 1, s.k, s.k])} pad ${JSON.stringify(s.padding)} (${s.tag})`,
    variant: () => variantOf(s, true),
    model: model(4 * s.c * o * o * s.k * s.k, F32 * (2 * x + 2 * s.c * s.k * s.k + s.c + s.c * o * o), 'flops = 2 × forward (dx and dW); bytes = 4·(x + w + gy + dx + dW + db)'),
    quick: s.quick,
    setup: () => {
      const X = input(xs, 61);
      const W = input([s.c, 1, s.k, s.k], 62);
      const B = input([s.c], 63);
      const G = input([1, s.c, o, o], 64);
      return backwardInstance([X, W, B], ([x, w, b]) => depthwiseConv2d(x, w, b, opts(s)), G.data, () => {
        const r = depthwiseBackwardRef(X.data, xs, W.data, s.k, G.data, opts(s));
        return [{ values: r.dx }, { values: r.dw }, { values: r.db }];
      });
    },
  };
}

interface MsSpec {
  c: number;
  size: number;
  quick?: boolean;
}

function msInputs(s: MsSpec, seed: number) {
  const xs = [1, s.c, s.size, s.size];
  return {
    xs,
    X: input(xs, seed),
    Ws: [3, 5, 7].map((k, i) => input([s.c, 1, k, k], seed + 1 + i, true, -0.3, 0.3)),
    Bs: [0, 1, 2].map((i) => input([s.c], seed + 4 + i)),
  };
}

function msModel(s: MsSpec, backwardPass: boolean) {
  const x = s.c * s.size * s.size;
  const flops = 2 * x * 49 * (backwardPass ? 2 : 1);
  return backwardPass
    ? model(flops, F32 * (3 * x + 2 * 83 * s.c + 3 * s.c), 'flops = 2 × 2·N·C·H·W·49 (dx and dW of the fused 7×7); bytes = 4·(x + gy + dx + 2·83·C + 3·C)')
    : model(flops, F32 * (2 * x + 83 * s.c + 3 * s.c), 'flops = 2·N·C·H·W·49 (the fused 7×7); bytes = 4·(x + (9+25+49)·C + 3·C + y)');
}

function msForward(s: MsSpec): BenchCase {
  return {
    id: `depthwise/multiscale 3+5+7 ${s.c}ch @${s.size}²`,
    family: 'depthwise',
    op: 'multiScaleDepthwise',
    shape: `x ${dims([1, s.c, s.size, s.size])} w 3/5/7 + biases (HLGFA)`,
    variant: () => `fused 7x7, ${variantOf({ stride: 1, size: s.size })}`,
    model: msModel(s, false),
    quick: s.quick,
    setup: () => {
      const { xs, X, Ws, Bs } = msInputs(s, 70);
      const op = (t: Tensor[]) => multiScaleDepthwise(t[0], [t[1], t[2], t[3]], [t[4], t[5], t[6]]);
      return forwardInstance([X, ...Ws, ...Bs], op, (): Expected[] => [
        { values: multiScaleDepthwiseRef(X.data, xs, [Ws[0].data, Ws[1].data, Ws[2].data], [Bs[0].data, Bs[1].data, Bs[2].data]) },
      ]);
    },
  };
}

function msBackward(s: MsSpec): BenchCase {
  return {
    id: `depthwise/backward multiscale 3+5+7 ${s.c}ch @${s.size}²`,
    family: 'depthwise',
    op: 'multiScaleDepthwise backward',
    shape: `x ${dims([1, s.c, s.size, s.size])} w 3/5/7 + biases (HLGFA)`,
    variant: () => `fused 7x7, ${variantOf({ stride: 1, size: s.size }, true)}`,
    model: msModel(s, true),
    quick: s.quick,
    setup: () => {
      const { xs, X, Ws, Bs } = msInputs(s, 80);
      const G = input(xs, 90);
      const op = (t: Tensor[]) => multiScaleDepthwise(t[0], [t[1], t[2], t[3]], [t[4], t[5], t[6]]);
      return backwardInstance([X, ...Ws, ...Bs], op, G.data, (): Expected[] => {
        const rs = [3, 5, 7].map((k, i) => depthwiseBackwardRef(X.data, xs, Ws[i].data, k, G.data, { padding: 'same' }));
        const dx = rs[0].dx.map((v, i) => v + rs[1].dx[i] + rs[2].dx[i]);
        return [{ values: dx }, ...rs.map((r) => ({ values: r.dw })), ...rs.map((r) => ({ values: r.db }))];
      });
    },
  };
}

export function depthwiseCases(): BenchCase[] {
  const tfSame = [0, 1, 0, 1] as const;
  const mb = (c: number, stride: number, size: number, tag: string, quick = false): DwSpec => ({
    c, k: 3, stride, size, padding: stride === 2 ? tfSame : 'same', tag, quick,
  });
  const hlgfa: DwSpec[] = [];
  for (const [c, size] of [[24, 64], [32, 32], [96, 16]]) {
    for (const k of [3, 5, 7]) hlgfa.push({ c, k, stride: 1, size, padding: 'same', tag: 'HLGFA', quick: k === 5 && c === 32 });
  }
  const fwd: DwSpec[] = [
    mb(32, 1, 128, 'MobileNetV2 S=256 block 1'),
    mb(96, 2, 128, 'MobileNetV2 S=256 block 2', true),
    mb(144, 1, 64, 'MobileNetV2 S=256 block 3'),
    mb(144, 2, 64, 'MobileNetV2 S=256 block 4'),
    mb(192, 1, 32, 'MobileNetV2 S=256 192ch'),
    mb(576, 1, 16, 'MobileNetV2 S=256 576ch'),
    mb(576, 2, 16, 'MobileNetV2 S=256 576ch s2'),
    mb(96, 2, 64, 'MobileNetV2 S=128 block 2'),
    mb(144, 1, 32, 'MobileNetV2 S=128 block 3'),
    // rows not vec4 aligned (S = 224): scalar loads and stores
    mb(576, 1, 14, 'MobileNetV2 S=224 576ch'),
    mb(576, 2, 14, 'MobileNetV2 S=224 576ch s2'),
    mb(960, 1, 7, 'MobileNetV2 S=224 960ch'),
    ...hlgfa,
  ];
  const ms: MsSpec[] = [{ c: 24, size: 64, quick: true }, { c: 32, size: 32 }, { c: 96, size: 16 }];
  return [
    ...fwd.map(forwardCase),
    ...ms.map(msForward),
    backwardCase(mb(144, 1, 64, 'MobileNetV2 S=256 block 3')),
    backwardCase(mb(96, 2, 128, 'MobileNetV2 S=256 block 2')),
    backwardCase({ c: 96, k: 5, stride: 1, size: 16, padding: 'same', tag: 'HLGFA' }),
    msBackward({ c: 24, size: 64 }),
    msBackward({ c: 96, size: 16 }),
  ];
}
