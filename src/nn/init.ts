// Parameter initialisation (seeded): PyTorch's default for convolutions, U(±1/√fan_in).
import { parameter } from '../autograd/tape.js';
import { tensor, type Tensor } from '../tensor/tensor.js';
import type { Rng } from '../util/random.js';

export function uniformParam(shape: number[], bound: number, rng: Rng): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = (2 * rng() - 1) * bound;
  return parameter(tensor(data, shape));
}

/** Weight [cout, cin, k, k] (cin = 1 for depthwise) and bias [cout]; `gain` scales the init. */
export function convParams(cout: number, cinPerGroup: number, k: number, rng: Rng, gain = 1): { w: Tensor; b: Tensor } {
  const bound = gain / Math.sqrt(cinPerGroup * k * k);
  return { w: uniformParam([cout, cinPerGroup, k, k], bound, rng), b: uniformParam([cout], bound, rng) };
}
