// Elementwise ops: relu, relu6, sigmoid, affine, copy, broadcasting add/sub/mul/div, expand.
// Kernels: shaders/elementwise.wgsl. CPU references at the bottom.
import { needsGrad, record } from '../autograd/tape.js';
import { Tensor, empty, shapeStr, type Shape } from '../tensor/tensor.js';
import { ELEMENTWISE_WG as WG, expandRaw } from './broadcast.js';
import { sumToShape } from './reduce.js';
import { broadcastShapes, broadcastStrides, groups1d, launch, pad8, sameShape, type ActivationCode } from './util.js';

const UNARY = { relu: 0, relu6: 1, sigmoid: 2, copy: 3, affine: 4 } as const;
type UnaryName = keyof typeof UNARY;

function unary(name: UnaryName, x: Tensor, a = 1, b = 0): Tensor {
  const out = empty(x.shape);
  const vec4 = x.size % 4 === 0;
  const n = vec4 ? x.size / 4 : x.size;
  launch(name, {
    shader: 'elementwise',
    entry: vec4 ? 'unary_v4' : 'unary',
    constants: { OP: UNARY[name] },
    tensors: { x, out },
    uniforms: { n, a, b },
    workgroups: groups1d(n, WG),
  });
  return out;
}

/** gx = f'(saved) * gy; `saved` is x for relu/relu6, y for sigmoid. */
function unaryBackward(name: UnaryName, saved: Tensor, gy: Tensor, a = 1): Tensor {
  const gx = empty(gy.shape);
  launch(`${name} backward`, {
    shader: 'elementwise',
    entry: 'unary_bwd',
    constants: { OP: UNARY[name] },
    tensors: { x: saved, y: gy, out: gx },
    uniforms: { n: gy.size, a },
    workgroups: groups1d(gy.size, WG),
  });
  return gx;
}

export function relu(x: Tensor): Tensor {
  const y = unary('relu', x);
  if (needsGrad(x)) record('relu', [x], y, (gy) => [unaryBackward('relu', x, gy)]);
  return y;
}

export function relu6(x: Tensor): Tensor {
  const y = unary('relu6', x);
  if (needsGrad(x)) record('relu6', [x], y, (gy) => [unaryBackward('relu6', x, gy)]);
  return y;
}

/** A convolution's activation as a pass of its own (with gradients: the unfused path). */
export function activate(x: Tensor, code: ActivationCode): Tensor {
  return code === 1 ? relu6(x) : code === 2 ? relu(x) : x;
}

export function sigmoid(x: Tensor): Tensor {
  const y = unary('sigmoid', x);
  if (needsGrad(x)) record('sigmoid', [x], y, (gy) => [unaryBackward('sigmoid', y, gy)]);
  return y;
}

/** x * scale + shift. */
export function affine(x: Tensor, scale: number, shift = 0): Tensor {
  const y = unary('affine', x, scale, shift);
  if (needsGrad(x)) record('affine', [x], y, (gy) => [unaryBackward('affine', gy, gy, scale)]);
  return y;
}

export function scale(x: Tensor, s: number): Tensor {
  return affine(x, s, 0);
}

export function copy(x: Tensor): Tensor {
  const y = unary('copy', x);
  if (needsGrad(x)) record('copy', [x], y, (gy) => [unary('copy', gy)]);
  return y;
}

const BINARY = { add: 0, sub: 1, mul: 2, div: 3 } as const;
type BinaryName = keyof typeof BINARY;

function binaryRaw(name: BinaryName, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(name, a.shape, b.shape);
  const out = empty(shape);
  const same = sameShape(a.shape, b.shape);
  const v4 = same && out.size % 4 === 0;
  launch(name, {
    shader: 'elementwise',
    entry: same ? `binary_same${v4 ? '_v4' : ''}` : 'binary',
    constants: { BOP: BINARY[name] },
    tensors: { x: a, y: b, out },
    uniforms: same
      ? { n: v4 ? out.size / 4 : out.size }
      : {
          n: out.size,
          rank: shape.length,
          out_shape: pad8(shape, 1),
          a_strides: pad8(broadcastStrides(a.shape, shape)),
          b_strides: pad8(broadcastStrides(b.shape, shape)),
        },
    workgroups: groups1d(v4 ? out.size / 4 : out.size, WG),
  });
  return out;
}

/** Broadcasts `x` to `shape` (NumPy rules), multiplying by `factor`. */
export function expand(x: Tensor, shape: Shape, factor = 1): Tensor {
  const out = expandRaw(x, shape, factor);
  if (needsGrad(x)) record('expand', [x], out, (gy) => [sumToShape(factor === 1 ? gy : unary('affine', gy, factor), x.shape)]);
  return out;
}

export function add(a: Tensor, b: Tensor): Tensor {
  const y = binaryRaw('add', a, b);
  if (needsGrad(a, b)) record('add', [a, b], y, (gy) => [sumToShape(gy, a.shape), sumToShape(gy, b.shape)]);
  return y;
}

export function sub(a: Tensor, b: Tensor): Tensor {
  const y = binaryRaw('sub', a, b);
  if (needsGrad(a, b)) {
    record('sub', [a, b], y, (gy) => {
      const nb = unary('affine', gy, -1);
      const gb = sumToShape(nb, b.shape);
      if (gb !== nb) nb.dispose();
      return [sumToShape(gy, a.shape), gb];
    });
  }
  return y;
}

export function mul(a: Tensor, b: Tensor): Tensor {
  const y = binaryRaw('mul', a, b);
  if (needsGrad(a, b)) {
    record('mul', [a, b], y, (gy) => [
      a.requiresGrad ? reduceOwned(binaryRaw('mul', gy, b), a.shape) : null,
      b.requiresGrad ? reduceOwned(binaryRaw('mul', gy, a), b.shape) : null,
    ]);
  }
  return y;
}

export function div(a: Tensor, b: Tensor): Tensor {
  const y = binaryRaw('div', a, b);
  if (needsGrad(a, b)) {
    record('div', [a, b], y, (gy) => {
      const ga = a.requiresGrad ? reduceOwned(binaryRaw('div', gy, b), a.shape) : null;
      let gb: Tensor | null = null;
      if (b.requiresGrad) {
        // d(a/b)/db = -y / b
        const t1 = binaryRaw('mul', gy, y);
        const t2 = binaryRaw('div', t1, b);
        t1.dispose();
        const t3 = unary('affine', t2, -1);
        t2.dispose();
        gb = reduceOwned(t3, b.shape);
      }
      return [ga, gb];
    });
  }
  return y;
}

/** sumToShape on a temporary, disposing the temporary when a new tensor was made. */
function reduceOwned(t: Tensor, shape: Shape): Tensor {
  const r = sumToShape(t, shape);
  if (r !== t) t.dispose();
  return r;
}

// ---- CPU reference (float64) ------------------------------------------------------------------

export const elementwiseRef = {
  relu: (x: ArrayLike<number>) => Float64Array.from(x, (v) => Math.max(v, 0)),
  relu6: (x: ArrayLike<number>) => Float64Array.from(x, (v) => Math.min(Math.max(v, 0), 6)),
  sigmoid: (x: ArrayLike<number>) => Float64Array.from(x, (v) => 1 / (1 + Math.exp(-v))),
  affine: (x: ArrayLike<number>, s: number, b: number) => Float64Array.from(x, (v) => v * s + b),
  /** Broadcasting binary op over row-major data. */
  binary(op: BinaryName, a: ArrayLike<number>, as: Shape, b: ArrayLike<number>, bs: Shape): { data: Float64Array; shape: number[] } {
    const shape = broadcastShapes(op, as, bs);
    const sa = broadcastStrides(as, shape);
    const sb = broadcastStrides(bs, shape);
    const n = shape.reduce((p, d) => p * d, 1);
    const out = new Float64Array(n);
    const f = { add: (u: number, v: number) => u + v, sub: (u: number, v: number) => u - v, mul: (u: number, v: number) => u * v, div: (u: number, v: number) => u / v }[op];
    for (let i = 0; i < n; i++) {
      let rem = i;
      let ia = 0;
      let ib = 0;
      for (let d = shape.length - 1; d >= 0; d--) {
        const c = rem % shape[d];
        rem = Math.floor(rem / shape[d]);
        ia += c * sa[d];
        ib += c * sb[d];
      }
      out[i] = f(a[ia], b[ib]);
    }
    return { data: out, shape };
  },
};
