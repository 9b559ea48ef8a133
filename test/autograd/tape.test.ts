import { describe, expect, it } from 'vitest';
import { backward, noGrad, parameter, tapeLength, zeroGrad } from '../../src/autograd/tape.js';
import { add, mul, relu, sum } from '../../src/ops/index.js';
import { scope, tensor } from '../../src/tensor/tensor.js';
import { expectClose, useGpu } from '../helpers.js';

useGpu();

describe('autograd tape', () => {
  it('a tensor used twice gets both contributions (d/dx sum(x*x + x) = 2x + 1)', async () => {
    const x = parameter(tensor([1, -2, 3]));
    scope(() => backward(sum(add(mul(x, x), x))));
    expectClose(await x.grad!.read(), [3, -3, 7], { atol: 0, rtol: 0 }, 'grad');
    x.dispose();
  });

  it('gradients accumulate across backward calls until zeroGrad', async () => {
    const x = parameter(tensor([1, 2]));
    scope(() => backward(sum(mul(x, tensor([3, 4])))));
    scope(() => backward(sum(mul(x, tensor([3, 4])))));
    expectClose(await x.grad!.read(), [6, 8], { atol: 0, rtol: 0 }, 'accumulated');
    zeroGrad([x]);
    expect(x.grad).toBeNull();
    x.dispose();
  });

  it('constants get no gradient and noGrad records nothing', () => {
    const x = parameter(tensor([1, 2]));
    const c = tensor([5, 6]);
    const before = tapeLength();
    scope(() => {
      noGrad(() => relu(mul(x, c)));
      expect(tapeLength()).toBe(before);
      backward(sum(mul(x, c)));
    });
    expect(c.grad).toBeNull();
    expect(x.grad).not.toBeNull();
    x.dispose();
    c.dispose();
  });

  it('an abandoned forward pass leaves nothing on the tape once its scope closes', () => {
    const x = parameter(tensor([1, 2]));
    const before = tapeLength();
    scope(() => {
      relu(mul(x, x));
      expect(tapeLength()).toBe(before + 2);
    });
    expect(tapeLength()).toBe(before);
    x.dispose();
  });

  it('rejects a non-scalar loss and a loss without parameters', () => {
    const x = parameter(tensor([1, 2]));
    scope(() => {
      expect(() => backward(mul(x, x))).toThrow(/backward: loss must have one element, got shape \[2\]/);
      expect(() => backward(sum(tensor([1, 2])))).toThrow(/does not depend on any tensor that requires a gradient/);
    });
    x.dispose();
  });
});
