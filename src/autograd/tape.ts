// Reverse-mode autograd: ops append an entry (inputs, output, backward closure) to the tape when any
// input requires a gradient; `backward(loss)` walks the tape in reverse and accumulates gradients.
import { Tensor, keep, onScopeExit, shapeStr } from '../tensor/tensor.js';

export type BackwardFn = (gradOutput: Tensor) => ReadonlyArray<Tensor | null>;

interface TapeEntry {
  op: string;
  inputs: readonly Tensor[];
  output: Tensor;
  backward: BackwardFn;
}

/** Tensor helpers the tape needs, supplied by the ops layer (see src/ops/index.ts). */
export interface GradKernels {
  add(a: Tensor, b: Tensor): Tensor;
  copy(a: Tensor): Tensor;
  fill(shape: readonly number[], value: number): Tensor;
}

let kernels: GradKernels | null = null;
let tape: TapeEntry[] = [];
let gradDepth = 0;

export function configureAutograd(k: GradKernels): void {
  kernels = k;
}

export function isGradEnabled(): boolean {
  return gradDepth === 0;
}

/** True when an op on these inputs must be recorded. */
export function needsGrad(...inputs: ReadonlyArray<Tensor | null | undefined>): boolean {
  return gradDepth === 0 && inputs.some((t) => t?.requiresGrad);
}

/** Records `output = op(inputs)` with its backward. Call only when `needsGrad(...inputs)`. */
export function record(op: string, inputs: readonly Tensor[], output: Tensor, backward: BackwardFn): Tensor {
  output.requiresGrad = true;
  const entry: TapeEntry = { op, inputs, output, backward };
  tape.push(entry);
  // An abandoned forward pass (no backward) must not pin its tensors: drop its entries with its scope.
  onScopeExit(() => {
    const i = tape.indexOf(entry);
    if (i >= 0) tape.splice(i, 1);
  });
  return output;
}

/** Runs `fn` without recording (inference, optimiser updates). */
export function noGrad<T>(fn: () => T): T {
  gradDepth++;
  try {
    return fn();
  } finally {
    gradDepth--;
  }
}

/** A trainable leaf tensor: kept across scopes, gradient accumulated into `.grad`. */
export function parameter(t: Tensor): Tensor {
  t.requiresGrad = true;
  return keep(t);
}

export function zeroGrad(params: Iterable<Tensor>): void {
  for (const p of params) {
    p.grad?.dispose();
    p.grad = null;
  }
}

/** Number of recorded entries (for leak tests). */
export function tapeLength(): number {
  return tape.length;
}

/**
 * Back-propagates from a scalar `loss`. Leaf tensors (`parameter()`) receive `.grad`, added to any
 * gradient already there (so several backward passes accumulate). Consumes the tape.
 */
export function backward(loss: Tensor): void {
  if (!kernels) throw new Error('backward: autograd is not configured (import the ops module)');
  const k = kernels;
  if (loss.size !== 1) throw new Error(`backward: loss must have one element, got shape ${shapeStr(loss.shape)}`);
  if (!loss.requiresGrad) throw new Error('backward: loss does not depend on any tensor that requires a gradient');
  const entries = tape;
  tape = [];
  const producedBy = new Set(entries.map((e) => e.output));
  const grads = new Map<Tensor, Tensor>();
  const accumulate = (t: Tensor, g: Tensor) => {
    const prev = grads.get(t);
    if (!prev) {
      grads.set(t, g);
      return;
    }
    grads.set(t, k.add(prev, g));
    prev.dispose();
    g.dispose();
  };
  noGrad(() => {
    grads.set(loss, k.fill(loss.shape, 1));
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i];
      const gy = grads.get(e.output);
      if (!gy) continue;
      grads.delete(e.output);
      const gxs = e.backward(gy);
      const fresh = new Set<Tensor>();
      e.inputs.forEach((x, j) => {
        let g = gxs[j];
        if (!g || !x.requiresGrad) {
          if (g && g !== gy) g.dispose();
          return;
        }
        if (g.shape.length !== x.shape.length || g.shape.some((d, a) => d !== x.shape[a])) {
          throw new Error(`backward of ${e.op}: gradient ${shapeStr(g.shape)} does not match input ${shapeStr(x.shape)}`);
        }
        // A backward may hand the same tensor to two inputs or pass gy through: give each its own.
        if (g === gy || fresh.has(g)) g = k.copy(g);
        fresh.add(g);
        accumulate(x, g);
      });
      gy.dispose(); // every pass-through was copied above
    }
  });
  for (const [t, g] of grads) {
    if (producedBy.has(t) || !t.requiresGrad) {
      g.dispose();
      continue;
    }
    if (t.grad) {
      const sum = noGrad(() => k.add(t.grad!, g));
      t.grad.dispose();
      g.dispose();
      t.grad = keep(sum);
    } else {
      t.grad = keep(g);
    }
  }
}
