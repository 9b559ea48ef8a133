// Shared plumbing for op launchers: binding tensors by name, shape checks, broadcasting.
import { grid1d, runtime, type DispatchArgs } from '../gpu/runtime.js';
import type { Uniforms } from '../gpu/kernel.js';
import { Tensor, shapeStr, type Shape } from '../tensor/tensor.js';

/** A dispatch (shader, entry, constants, uniforms, workgroups) whose buffers are tensors. */
export interface Launch extends Omit<DispatchArgs, 'bindings'> {
  /**
   * Tensors by binding name. Each is also offered as `<name>_v4`, its vec4 view (the binding
   * rounded up to 16 bytes; pooled buffers hold whole 256-byte blocks), which the vec4
   * instantiations of a kernel declare: a launcher names a tensor once whichever entry runs.
   */
  tensors: Record<string, Tensor>;
}

/** What `traceLaunches` records of each dispatch. */
export interface LaunchRecord {
  op: string;
  shader: string;
  entry: string;
  constants: Record<string, number>;
}

let traced: LaunchRecord[] | null = null;

/** Runs `fn` and returns the dispatches it recorded (which kernel variant ran: tests, reports). */
export function traceLaunches<R>(fn: () => R): { result: R; launches: LaunchRecord[] } {
  const outer = traced;
  const launches: LaunchRecord[] = [];
  traced = launches;
  try {
    return { result: fn(), launches };
  } finally {
    traced = outer;
    outer?.push(...launches);
  }
}

/** Records one dispatch; `op` names the caller in every error. */
export function launch(op: string, l: Launch): void {
  const rt = runtime();
  const bindings: Record<string, { buffer: GPUBuffer; offset: number; size: number }> = {};
  const max = rt.limits.maxStorageBufferBindingSize;
  for (const [name, t] of Object.entries(l.tensors)) {
    if (t.byteLength > max) {
      throw new RangeError(
        `${op}: tensor "${name}" ${shapeStr(t.shape)} is ${t.byteLength} bytes, over the device's ` +
          `maxStorageBufferBindingSize of ${max} bytes`,
      );
    }
    const b = t.binding(op) as { buffer: GPUBuffer; offset: number; size: number };
    bindings[name] = b;
    bindings[`${name}_v4`] = { ...b, size: Math.ceil(b.size / 16) * 16 };
  }
  // What the kernel writes has new contents: caches derived from it (Tensor.derive) are stale.
  const kernel = rt.kernel(l.shader, l.entry, l.constants);
  for (const r of kernel.resources) {
    if (r.kind === 'storage') l.tensors[r.name.endsWith('_v4') ? r.name.slice(0, -3) : r.name]?.markWritten();
  }
  traced?.push({ op, shader: l.shader, entry: l.entry ?? 'main', constants: { ...l.constants } });
  // The minimum traffic (each bound tensor once) only matters to a profile.
  const bytes = rt.profiling ? [...new Set(Object.values(l.tensors))].reduce((n, t) => n + t.byteLength, 0) : undefined;
  rt.dispatch({ bytes, ...l, bindings, label: op, kernel });
}

/** An activation a convolution can apply in its output stores. */
export type Activation = 'none' | 'relu6' | 'relu';

/** The kernels' `act` uniform per activation (shaders/_activation.wgsl). */
const ACTIVATION_CODES: Record<Activation, 0 | 1 | 2> = { none: 0, relu6: 1, relu: 2 };
export type ActivationCode = 0 | 1 | 2;

/** The `act` uniform for `activation` (0: none); throws naming the op on an unknown activation. */
export function activationCode(op: string, activation: Activation | undefined): ActivationCode {
  const a = activation ?? 'none';
  if (!Object.hasOwn(ACTIVATION_CODES, a)) throw new Error(`${op}: activation "${String(a)}" must be 'none', 'relu6' or 'relu'`);
  return ACTIVATION_CODES[a];
}

/** Workgroups for `n` independent items at `perGroup` items per workgroup, split over x/y. */
export function groups1d(n: number, perGroup: number): [number, number] {
  return grid1d(Math.ceil(n / perGroup), runtime().limits.maxWorkgroupsPerDimension);
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function assertShape(op: string, what: string, actual: Shape, expected: Shape): void {
  if (!sameShape(actual, expected)) {
    throw new Error(`${op}: ${what} has shape ${shapeStr(actual)}, expected ${shapeStr(expected)}`);
  }
}

export function assertRank(op: string, what: string, t: Pick<Tensor, 'shape'>, rank: number): void {
  if (t.shape.length !== rank) {
    throw new Error(`${op}: ${what} must have rank ${rank}, got shape ${shapeStr(t.shape)}`);
  }
}

/**
 * Where input column −pad falls in its vec4, for kernels reading rows as aligned vec4 windows (their
 * XPH override); pad may be negative.
 */
export function vec4Phase(pad: number): number {
  return (((-pad) % 4) + 4) % 4;
}

export function contiguousStrides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

export const MAX_RANK = 8;

/** NumPy broadcasting of two shapes; throws naming the op and both shapes. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes ${shapeStr(a)} and ${shapeStr(b)} do not broadcast (dimension ${i}: ${da} vs ${db})`);
    }
    out.push(da === 1 ? db : da);
  }
  if (rank > MAX_RANK) throw new Error(`${op}: rank ${rank} exceeds the supported ${MAX_RANK}`);
  return out;
}

/** Strides that read `inShape` broadcast into `outShape` (0 on broadcast dimensions). */
export function broadcastStrides(inShape: Shape, outShape: Shape): number[] {
  const strides = contiguousStrides(inShape);
  const off = outShape.length - inShape.length;
  return outShape.map((d, i) => {
    const j = i - off;
    if (j < 0 || inShape[j] === 1) return 0;
    return strides[j];
  });
}

/** Pads a per-dimension list to MAX_RANK entries for the `array<vec4<u32>, 2>` uniform slots. */
export function pad8(v: readonly number[], fill = 0): number[] {
  const out = [...v];
  while (out.length < MAX_RANK) out.push(fill);
  return out;
}
