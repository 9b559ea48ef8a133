import { describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { concat, concatRef, narrow, split } from '../../src/ops/concat.js';
import { scope, tensor } from '../../src/tensor/tensor.js';
import { backward, parameter } from '../../src/autograd/tape.js';
import { sum } from '../../src/ops/index.js';
import { traceLaunches } from '../../src/ops/util.js';
import { expectClose, gradCheck, numel, randn, useGpu } from '../helpers.js';

useGpu();

// Tolerance: pure copies, exact (atol 0). Gradients: finite differences of a linear map, default
// gradCheck tolerance.
const EXACT = { atol: 0, rtol: 0 };

describe('concat / split', () => {
  const cases: Array<[number[][], number]> = [
    [[[2, 3, 4, 5], [2, 1, 4, 5], [2, 7, 4, 5]], 1],
    [[[1, 64, 33, 33], [1, 65, 33, 33]], 1],
    [[[2, 3, 4], [5, 3, 4]], 0],
    [[[3, 4, 5], [3, 4, 2], [3, 4, 1]], -1],
    [[[2, 3, 7, 5], [2, 3, 1, 5]], 2],
    [[[2, 0, 3], [2, 5, 3], [2, 0, 3]], 1], // empty parts
    [[[1], [1031]], 0],
    [[[7, 1], [7, 1]], 1],
    // More than 16 rows per part: the copy kernels (scalar, then vec4 rows)
    [[[3, 6, 7, 5], [3, 6, 2, 5]], 2],
    [[[20, 4, 4], [20, 8, 4]], 1],
  ];
  for (const [shapes, axis] of cases) {
    it(`${JSON.stringify(shapes)} along axis ${axis}`, async () => {
      const datas = shapes.map((s, i) => randn(numel(s), 10 * i + numel(s)));
      const xs = shapes.map((s, i) => tensor(datas[i], s));
      const y = concat(xs, axis);
      const ax = axis < 0 ? axis + shapes[0].length : axis;
      expect(y.shape).toEqual(shapes[0].map((d, j) => (j === ax ? shapes.reduce((a, s) => a + s[ax], 0) : d)));
      const ref = concatRef.concat(datas, shapes, axis);
      expectClose(await y.read(), ref, EXACT, 'concat');
      const parts = split(y, shapes.map((s) => s[ax]), axis);
      const refParts = concatRef.split(ref, y.shape, shapes.map((s) => s[ax]), axis);
      for (let i = 0; i < parts.length; i++) {
        expect(parts[i].shape).toEqual(shapes[i]);
        expectClose(await parts[i].read(), refParts[i], EXACT, `split part ${i}`);
        expectClose(await parts[i].read(), datas[i], EXACT, `split inverts concat, part ${i}`);
      }
      for (const t of [...xs, y, ...parts]) t.dispose();
    });
  }

  it('concat gradients, including a constant input and a repeated input', async () => {
    await gradCheck({
      inputs: [{ shape: [2, 3, 4] }, { shape: [2, 2, 4] }, { shape: [2, 1, 4], constant: true }],
      gpu: ([a, b, c]) => concat([a, b, c], 1),
      ref: ([a, b, c]) => concatRef.concat([a, b, c], [[2, 3, 4], [2, 2, 4], [2, 1, 4]], 1),
    });
    await gradCheck({
      inputs: [{ shape: [3, 5] }],
      gpu: ([a]) => concat([a, a], -1),
      ref: ([a]) => concatRef.concat([a, a], [[3, 5], [3, 5]], -1),
    });
  });

  it('buffer copies for parts of up to 16 rows (no kernel); else vec4 copies where every row, offset and length is a multiple of 4, else scalar ones', async () => {
    const entries = (fn: () => void) => [...new Set(traceLaunches(fn).launches.filter((l) => l.shader === 'concat').map((l) => l.entry))];
    const a = parameter(tensor(randn(2 * 4 * 4, 1), [1, 2, 4, 4]));
    const b = tensor(randn(3 * 4 * 4, 2), [1, 3, 4, 4]);
    // Channel concat and split of one image: copies; the split's gradient (embed) is a kernel.
    expect(entries(() => scope(() => backward(sum(split(concat([a, b], 1), [4, 1], 1)[0]))))).toEqual(['embed_v4']);
    const c = tensor(randn(2 * 3 * 3, 3), [1, 2, 3, 3]);
    expect(entries(() => scope(() => void concat([c, c], 1)))).toEqual([]);
    const rows = tensor(randn(17 * 8, 4), [17, 2, 4]);
    expect(entries(() => scope(() => void concat([rows, rows], 1)))).toEqual(['copy_block_v4']);
    const odd = tensor(randn(17 * 3, 5), [17, 3]);
    expect(entries(() => scope(() => void split(odd, [1, 2], 1)))).toEqual(['copy_block']);
    for (const t of [a, b, c, rows, odd]) t.dispose();
    a.grad?.dispose();
  });

  it('split gradients on vec4 rows (embed_v4)', async () => {
    const shape = [2, 6, 4];
    await gradCheck({
      inputs: [{ shape }],
      gpu: ([x]) => concat(split(x, [1, 3, 2], 1).reverse(), 1),
      ref: ([x]) => {
        const parts = concatRef.split(x, shape, [1, 3, 2], 1);
        return concatRef.concat(parts.reverse(), [[2, 2, 4], [2, 3, 4], [2, 1, 4]], 1);
      },
    });
  });

  it('split gradients: one part, and reordered parts with one unused', async () => {
    const shape = [2, 6, 3];
    await gradCheck({
      inputs: [{ shape }],
      gpu: ([a]) => split(a, [1, 3, 2], 1)[1],
      ref: ([a]) => concatRef.split(a, shape, [1, 3, 2], 1)[1],
    });
    await gradCheck({
      inputs: [{ shape }],
      gpu: ([a]) => {
        const [p, , r] = split(a, [1, 3, 2], 1);
        return concat([r, p, r], 1);
      },
      ref: ([a]) => {
        const [p, , r] = concatRef.split(a, shape, [1, 3, 2], 1);
        return concatRef.concat([r, p, r], [[2, 2, 3], [2, 1, 3], [2, 2, 3]], 1);
      },
      samples: 36,
    });
  });

  it('narrow: a part along any axis (as the middle part of a split), exact; its gradient embeds gy', async () => {
    const cases: Array<[number[], number, number, number]> = [
      [[2, 3, 7, 8], 3, 0, 7], // padded rows → their valid columns: the scalar copy kernel
      [[1, 5, 4, 4], 1, 2, 3], // channels of one image: a buffer copy
      [[17, 8], 1, 4, 4], // vec4 rows
      [[3, 1], 0, 1, 1],
      [[4, 6], 1, 6, 0], // empty
    ];
    for (const [shape, axis, start, length] of cases) {
      const data = randn(numel(shape), numel(shape));
      const x = tensor(data, shape);
      const y = narrow(x, axis, start, length);
      expect(y.shape).toEqual(shape.map((d, j) => (j === axis ? length : d)));
      const sizes = [start, length, shape[axis] - start - length];
      expectClose(await y.read(), concatRef.split(data, shape, sizes, axis)[1], EXACT, `narrow ${JSON.stringify(shape)} axis ${axis}`);
      for (const t of [x, y]) t.dispose();
    }
    await gradCheck({
      inputs: [{ shape: [2, 3, 5] }],
      gpu: ([a]) => narrow(a, -1, 1, 3),
      ref: ([a]) => concatRef.split(a, [2, 3, 5], [1, 3, 1], -1)[1],
    });
    const a = tensor(randn(24), [2, 3, 4]);
    expect(() => narrow(a, 2, 2, 3)).toThrow(/narrow: start 2 and length 3 must be integers >= 0 with start \+ length <= 4 \(dimension 2 of \[2, 3, 4\]\)/);
    expect(() => narrow(a, 1, -1, 1)).toThrow(/narrow: start -1 and length 1 must be integers >= 0/);
    expect(() => narrow(a, 1, 0, 1.5)).toThrow(/narrow: start 0 and length 1.5 must be integers >= 0/);
    expect(() => narrow(a, 3, 0, 1)).toThrow(/narrow: axis 3 is out of range for shape \[2, 3, 4\]/);
    a.dispose();
  });

  it('rejects bad inputs', () => {
    const a = tensor(randn(24), [2, 3, 4]);
    const b = tensor(randn(10), [2, 5]);
    const c = tensor(randn(30), [2, 3, 5]);
    expect(() => concat([])).toThrow(/concat: expected a non-empty array of tensors/);
    expect(() => concat([a, b], 1)).toThrow(/concat: input 1 has shape \[2, 5\], expected \[2, \*, 4\]/);
    expect(() => concat([a, c], 1)).toThrow(/concat: input 1 has shape \[2, 3, 5\], expected \[2, \*, 4\] \(every dimension but axis 1 must match input 0 \[2, 3, 4\]\)/);
    expect(() => concat([a, a], 3)).toThrow(/concat: axis 3 is out of range for shape \[2, 3, 4\]/);
    expect(() => split(a, [1, 1], 1)).toThrow(/split: sizes \[1,1\] add up to 2, expected 3 \(dimension 1 of \[2, 3, 4\]\)/);
    expect(() => split(a, [4, -1], 1)).toThrow(/split: sizes \[4,-1\] must be a non-empty list of integers >= 0/);
    expect(() => split(a, [3], -4)).toThrow(/split: axis -4 is out of range for shape \[2, 3, 4\]/);
    for (const t of [a, b, c]) t.dispose();
  });
});
