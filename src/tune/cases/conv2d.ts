// conv2d: the MobileNetV2 stem (3×3 s2, TF-SAME) and pointwise 1×1 layers at S = 256 and 128 (two
// with the block's residual add in their stores), and the HLGFA conv3x3 C→2C at its three scales;
// backward of a few.
// Work model: flops = 2·N·Cout·Ho·Wo·Cin·kh·kw (bias adds ignored); bytes = 4·(x + w + bias + y).
import { conv2d, conv2dPlan, convGeometry, type Padding4 } from '../../ops/conv2d.js';
import { conv2dBackwardRef, conv2dRef } from '../../ops/conv2d.ref.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { BenchCase, Expected } from '../harness.js';
import { F32, backwardInstance, dims, forwardInstance, input, model, sampleRows } from './common.js';

export interface ConvSpec {
  cin: number;
  cout: number;
  k: number;
  stride: number;
  size: number;
  pad: number | Padding4;
  /** What the layer is, e.g. "MobileNetV2 S=256 stem". */
  tag: string;
  /** The block input added in the stores (an inverted-residual block's project conv). */
  residual?: boolean;
  quick?: boolean;
}

const pad4 = (p: number | Padding4): Padding4 => (typeof p === 'number' ? [p, p, p, p] : p);

function geometry(s: ConvSpec) {
  return convGeometry('bench', [1, s.cin, s.size, s.size], [s.cout, s.cin, s.k, s.k], [s.cout], { stride: s.stride, padding: pad4(s.pad) });
}

function label(s: ConvSpec): string {
  return `${s.k}x${s.k}${s.stride > 1 ? ` s${s.stride}` : ''} ${s.cin}→${s.cout} @${s.size}²${s.residual ? ' +residual' : ''}`;
}

/** Forward reference (plus `residual`, when given): every output channel, or a sample of channels for big layers. */
function forwardRef(s: ConvSpec, x: Float32Array, w: Float32Array, b: Float32Array, residual?: Float32Array): Expected {
  const g = geometry(s);
  const plane = g.ho * g.wo;
  const opts = { stride: s.stride, padding: pad4(s.pad) };
  const flops = 2 * s.cout * plane * s.cin * s.k * s.k;
  const chans = flops <= 3e8 ? [...Array(s.cout).keys()] : sampleRows(s.cout, 8);
  const per = s.cin * s.k * s.k;
  const wSub = new Float32Array(chans.length * per);
  chans.forEach((c, i) => wSub.set(w.subarray(c * per, (c + 1) * per), i * per));
  const ref = conv2dRef(x, [1, s.cin, s.size, s.size], wSub, [chans.length, s.cin, s.k, s.k], chans.map((c) => b[c]), opts);
  if (residual) chans.forEach((c, i) => {
    for (let p = 0; p < plane; p++) ref.data[i * plane + p] += residual[c * plane + p];
  });
  if (chans.length === s.cout) return { values: ref.data };
  const idx = new Int32Array(chans.length * plane);
  chans.forEach((c, i) => {
    for (let p = 0; p < plane; p++) idx[i * plane + p] = c * plane + p;
  });
  return { values: ref.data, indices: idx };
}

function sizes(s: ConvSpec) {
  const g = geometry(s);
  const x = s.cin * s.size * s.size;
  const w = s.cout * s.cin * s.k * s.k;
  const y = s.cout * g.ho * g.wo;
  return { x, w, y, flops: 2 * y * s.cin * s.k * s.k };
}

export function convForwardCase(s: ConvSpec): BenchCase {
  const z = sizes(s);
  const padding = pad4(s.pad);
  return {
    id: `conv2d/${label(s)}`,
    family: 'conv2d',
    op: 'conv2d',
    shape: `x ${dims([1, s.cin, s.size, s.size])} w ${dims([s.cout, s.cin, s.k, s.k])} pad ${dims(padding)} (${s.tag})`,
    variant: () => conv2dPlan(geometry(s), s.residual).label,
    model: s.residual
      ? model(z.flops, F32 * (z.x + z.w + s.cout + 2 * z.y), 'flops = 2·N·Cout·Ho·Wo·Cin·kh·kw; bytes = 4·(x + w + bias + residual + y)')
      : model(z.flops, F32 * (z.x + z.w + s.cout + z.y), 'flops = 2·N·Cout·Ho·Wo·Cin·kh·kw; bytes = 4·(x + w + bias + y)'),
    quick: s.quick,
    setup: () => {
      const X = input([1, s.cin, s.size, s.size], 31);
      const W = input([s.cout, s.cin, s.k, s.k], 32, true, -0.5, 0.5);
      const B = input([s.cout], 33);
      if (!s.residual) {
        return forwardInstance([X, W, B], ([x, w, b]) => conv2d(x, w, b, { stride: s.stride, padding }), () => [forwardRef(s, X.data, W.data, B.data)]);
      }
      const g = geometry(s);
      const R = input([1, s.cout, g.ho, g.wo], 34);
      const op = ([x, w, b, r]: Tensor[]) => conv2d(x, w, b, { stride: s.stride, padding, residual: r });
      return forwardInstance([X, W, B, R], op, () => [forwardRef(s, X.data, W.data, B.data, R.data)]);
    },
    peer: {
      op: 'tf.fused.conv2d (NHWC, bias)',
      setup: (peer) => {
        const { tf } = peer;
        const x = tf.randomUniform([1, s.size, s.size, s.cin], -1, 1) as import('@tensorflow/tfjs-core').Tensor4D;
        const f = tf.randomUniform([s.k, s.k, s.cin, s.cout], -0.5, 0.5) as import('@tensorflow/tfjs-core').Tensor4D;
        const bias = tf.randomUniform([s.cout], -1, 1);
        const pad = padding.every((p) => p === 0) ? 'valid' : 'same';
        // tfjs fuses no residual: its add is a kernel of its own.
        const g = geometry(s);
        const r = s.residual ? tf.randomUniform([1, g.ho, g.wo, s.cout], -1, 1) : null;
        const conv = () => tf.fused.conv2d({ x, filter: f, bias, strides: s.stride, pad });
        return {
          run: () => tf.tidy(() => void (r ? tf.add(conv(), r) : conv())),
          sync: () => peer.sync(),
          dispose: () => tf.dispose(r ? [x, f, bias, r] : [x, f, bias]),
        };
      },
    },
  };
}

export function convBackwardCase(s: ConvSpec): BenchCase {
  const z = sizes(s);
  const padding = pad4(s.pad);
  return {
    id: `conv2d/backward ${label(s)}`,
    family: 'conv2d',
    op: 'conv2d backward',
    shape: `x ${dims([1, s.cin, s.size, s.size])} w ${dims([s.cout, s.cin, s.k, s.k])} (${s.tag})`,
    variant: () => conv2dPlan(geometry(s)).label,
    model: model(2 * z.flops, F32 * (2 * z.x + 2 * z.w + s.cout + z.y), 'flops = 2 × forward (dx and dW); bytes = 4·(x + w + gy + dx + dW + db)'),
    quick: s.quick,
    setup: () => {
      const X = input([1, s.cin, s.size, s.size], 41);
      const W = input([s.cout, s.cin, s.k, s.k], 42, true, -0.5, 0.5);
      const B = input([s.cout], 43);
      const gShape = [1, s.cout, geometry(s).ho, geometry(s).wo];
      const G = input(gShape, 44);
      const op = ([x, w, b]: Tensor[]) => conv2d(x, w, b, { stride: s.stride, padding });
      return backwardInstance([X, W, B], op, G.data, () => {
        const r = conv2dBackwardRef(X.data, X.shape, W.data, W.shape, G.data, { stride: s.stride, padding });
        return [{ values: r.dx }, { values: r.dw }, { values: r.db }];
      });
    },
  };
}

/** MobileNetV2 layers (input S = 256 and 128) and the HLGFA conv3x3 C→2C. */
export function conv2dCases(): BenchCase[] {
  const stem = (size: number, quick = false): ConvSpec => ({ cin: 3, cout: 32, k: 3, stride: 2, size, pad: [0, 1, 0, 1], tag: `MobileNetV2 S=${size} stem`, quick });
  const pw = (cin: number, cout: number, size: number, tag: string, quick = false, residual = false): ConvSpec => ({ cin, cout, k: 1, stride: 1, size, pad: 0, tag, quick, residual });
  const c3 = (c: number, size: number, quick = false): ConvSpec => ({ cin: c, cout: 2 * c, k: 3, stride: 1, size, pad: 1, tag: 'HLGFA conv3x3 C→2C', quick });
  const fwd: ConvSpec[] = [
    stem(256, true),
    stem(128),
    pw(16, 96, 128, 'MobileNetV2 S=256 block 2 expand', true),
    pw(144, 24, 64, 'MobileNetV2 S=256 block 3 project'),
    pw(144, 24, 64, 'MobileNetV2 S=256 block 3 project, residual add fused', false, true),
    pw(32, 192, 32, 'MobileNetV2 S=256 192ch expand'),
    pw(192, 32, 32, 'MobileNetV2 S=256 192ch project'),
    pw(96, 576, 16, 'MobileNetV2 S=256 576ch expand'),
    pw(576, 96, 16, 'MobileNetV2 S=256 576ch project'),
    pw(576, 96, 16, 'MobileNetV2 S=256 576ch project, residual add fused', false, true),
    pw(320, 1280, 8, 'MobileNetV2 S=256 last 1x1'),
    pw(320, 1280, 7, 'MobileNetV2 S=224 last 1x1: rows of 49, not on vec4 boundaries'),
    pw(960, 160, 7, 'MobileNetV2 S=224 960ch project: rows of 49', false, true),
    pw(16, 96, 64, 'MobileNetV2 S=128 block 2 expand'),
    pw(144, 24, 32, 'MobileNetV2 S=128 block 3 project'),
    c3(24, 64, true),
    c3(32, 32),
    c3(96, 16),
  ];
  const bwd: ConvSpec[] = [c3(24, 64), c3(96, 16), pw(144, 24, 64, 'MobileNetV2 S=256 block 3 project'), stem(128)];
  return [...fwd.map(convForwardCase), ...bwd.map(convBackwardCase)];
}
