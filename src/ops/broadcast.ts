// The broadcast kernel without autograd: `expandRaw` launches shaders/elementwise.wgsl's `expand`.
// elementwise.ts records it on the tape as `expand`; reduce.ts calls it directly for the backward of
// sum/mean (backward passes run without recording), so reduce.ts needs nothing from
// elementwise.ts and the two modules do not import each other.
import { Tensor, empty, shapeStr, type Shape } from '../tensor/tensor.js';
import { broadcastShapes, broadcastStrides, groups1d, launch, pad8, sameShape } from './util.js';

/** Threads per workgroup of the elementwise kernels. */
export const ELEMENTWISE_WG = 256;

/** Broadcasts `x` to `shape` (NumPy rules), multiplying by `factor`; not recorded on the tape. */
export function expandRaw(x: Tensor, shape: Shape, factor = 1): Tensor {
  const target = broadcastShapes('expand', x.shape, shape);
  if (!sameShape(target, shape)) {
    throw new Error(`expand: shape ${shapeStr(x.shape)} cannot be broadcast to ${shapeStr(shape)}`);
  }
  const out = empty(shape);
  launch('expand', {
    shader: 'elementwise',
    entry: 'expand',
    tensors: { x, out },
    uniforms: {
      n: out.size,
      rank: shape.length,
      a: factor,
      out_shape: pad8(shape, 1),
      a_strides: pad8(broadcastStrides(x.shape, shape)),
    },
    workgroups: groups1d(out.size, ELEMENTWISE_WG),
  });
  return out;
}
