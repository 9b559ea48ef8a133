// Tensors: a shape, a dtype and a pooled GPU buffer with an explicit lifetime.
import { runtime, type BufferBinding } from '../gpu/runtime.js';

export type DType = 'f32' | 'f16';
export type Shape = readonly number[];

const BYTES: Record<DType, number> = { f32: 4, f16: 2 };

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeStr(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

let nextId = 1;

/** A write recorded into `store`: bumped now, and again by each replay of the recording being made. */
function written(store: Storage): void {
  const rt = runtime();
  if (rt.recording) rt.each(() => void (store.refs > 0 && store.version++));
  else store.version++;
}

/** A pooled buffer shared by a tensor and its reshaped views; returned to the pool with the last. */
interface Storage {
  buffer: GPUBuffer;
  refs: number;
  /** Bumped by every recorded write (see `Tensor.markWritten`): what `derivedTensor` caches check. */
  version: number;
  /**
   * Tensors computed from this one alone, by key, with the version they were computed from and
   * the recording that made them (Runtime.recordingSerial; 0: none).
   */
  derived: Map<string, { version: number; tensor: Tensor; madeIn: number }> | null;
}

export class Tensor {
  readonly id = nextId++;
  readonly shape: Shape;
  readonly dtype: DType;
  readonly size: number;
  /** Set by the autograd layer; the tensor itself never reads it. */
  requiresGrad = false;
  grad: Tensor | null = null;
  /** Kept tensors (parameters, optimiser state) are never disposed by `scope()`. */
  kept = false;
  private store: Storage | null;

  /** Use `empty`, `tensor`, `zeros`… rather than the constructor. */
  constructor(shape: Shape, dtype: DType, store: Storage) {
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = sizeOf(shape);
    this.store = store;
    store.refs++;
    trackInScope(this);
  }

  get byteLength(): number {
    return this.size * BYTES[this.dtype];
  }

  get disposed(): boolean {
    return this.store === null;
  }

  /**
   * The GPU buffer, for a caller that may write it (a clear, an upload): counts as a write, so
   * what was derived from the old contents is recomputed. `op` names the caller in the error raised
   * for a disposed tensor.
   */
  bufferFor(op: string): GPUBuffer {
    const store = this.storage(op);
    written(store);
    return store.buffer;
  }

  private storage(op: string): Storage {
    if (!this.store) throw new Error(`${op}: tensor #${this.id} ${shapeStr(this.shape)} was used after dispose()`);
    return this.store;
  }

  /** How many writes were recorded into this tensor's buffer (by any of its views). */
  get version(): number {
    return this.storage('version').version;
  }

  /** Records that work now being recorded writes this tensor (launch() calls it for writable bindings). */
  markWritten(): void {
    written(this.storage('markWritten'));
  }

  /**
   * A tensor computed from this one alone by `make` (a weight layout a kernel prefers), made once
   * and reused until this tensor is written again (its `version` moves) or released. Returns a view
   * the caller owns and disposes like any result; the cache keeps its own reference. `key` names
   * the derivation and everything besides this tensor it depends on. Nothing is cached in a dry run.
   */
  derive(key: string, make: () => Tensor): Tensor {
    const store = this.storage(key);
    const rt = runtime();
    if (rt.dryRunning) return make();
    const version = store.version;
    let entry = store.derived?.get(key);
    if (!entry || entry.version !== version) {
      entry?.tensor.dispose();
      store.derived?.delete(key);
      const made = keep(make());
      if (store.version !== version) throw new Error(`derive "${key}": making it wrote tensor #${this.id}`);
      (store.derived ??= new Map()).set(key, (entry = { version, tensor: made, madeIn: rt.recordingSerial }));
    }
    // A replay of recorded work that read the cached tensor is right while the cache still holds
    // it and, unless this recording made it (then each replay makes it again, from the source as
    // it is then: a recorded training step whose optimiser writes the source), while it is current.
    const current = entry;
    const remade = rt.recording && current.madeIn === rt.recordingSerial;
    if (rt.recording) rt.guardRecording(() => store.refs > 0 && store.derived?.get(key) === current && (remade || store.version === version));
    return current.tensor.reshape(current.tensor.shape);
  }

  /** A view with another shape over the same buffer (no copy, not recorded by autograd). */
  reshape(shape: Shape): Tensor {
    this.storage('reshape');
    if (sizeOf(shape) !== this.size) {
      throw new Error(`reshape: cannot view ${shapeStr(this.shape)} (${this.size} elements) as ${shapeStr(shape)} (${sizeOf(shape)})`);
    }
    return new Tensor(shape, this.dtype, this.store!);
  }

  /** The whole buffer as a binding; a writable binding's launcher calls `markWritten`. */
  binding(op: string): BufferBinding {
    // A binding must be a non-zero multiple of 4 bytes; 16 lets empty tensors bind as vec4 arrays.
    return { buffer: this.storage(op).buffer, offset: 0, size: Math.max(16, Math.ceil(this.byteLength / 4) * 4) };
  }

  dispose(): void {
    const store = this.store;
    if (!store) return;
    this.store = null;
    if (--store.refs === 0) {
      runtime().releaseStorage(store.buffer);
      if (store.derived) for (const d of store.derived.values()) d.tensor.dispose();
      store.derived = null;
    }
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
  }

  /** Copies the values to the CPU (submits pending work). */
  async read(): Promise<Float32Array> {
    if (this.dtype !== 'f32') throw new Error(`read: dtype ${this.dtype} readback is not supported yet`);
    const bytes = await runtime().read(this.storage('read').buffer, 0, this.byteLength);
    return new Float32Array(bytes);
  }

  /** Reads a single-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item: tensor ${shapeStr(this.shape)} has ${this.size} elements, expected 1`);
    return (await this.read())[0];
  }

  toString(): string {
    return `Tensor#${this.id}(${shapeStr(this.shape)}, ${this.dtype}${this.disposed ? ', disposed' : ''})`;
  }
}

// ---- scopes -------------------------------------------------------------------------------

interface ScopeFrame {
  tensors: Tensor[];
  onExit: Array<() => void>;
}

const scopes: ScopeFrame[] = [];

function trackInScope(t: Tensor): void {
  scopes[scopes.length - 1]?.tensors.push(t);
}

/** Runs `fn`'s exit hook when the innermost scope closes (autograd uses it to drop tape entries). */
export function onScopeExit(fn: () => void): boolean {
  const top = scopes[scopes.length - 1];
  if (!top) return false;
  top.onExit.push(fn);
  return true;
}

type Returned = Tensor | Tensor[] | Record<string, Tensor> | void | number | undefined | null;

function collect(value: unknown, into: Set<Tensor>): void {
  if (value instanceof Tensor) into.add(value);
  else if (Array.isArray(value)) for (const v of value) collect(v, into);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) collect(v, into);
}

/**
 * Runs `fn` and disposes every tensor created inside it, except those it returns (which move to
 * the enclosing scope) and kept tensors. When `fn` throws, everything it created (but kept
 * tensors) is disposed before the error propagates, so a failing call leaks no GPU memory.
 * Synchronous on purpose: an `await` inside would let unrelated work register tensors in this scope.
 */
export function scope<T extends Returned | unknown>(fn: () => T): T {
  const frame: ScopeFrame = { tensors: [], onExit: [] };
  scopes.push(frame);
  const survivors = new Set<Tensor>();
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) throw new Error('scope(): the function must be synchronous');
    collect(result, survivors);
  } finally {
    scopes.pop();
    for (const hook of frame.onExit) hook();
    for (const t of frame.tensors) {
      if (survivors.has(t)) trackInScope(t);
      else if (!t.kept) t.dispose();
    }
  }
  return result;
}

/** Exempts a tensor from scope disposal (parameters, optimiser state, gradients). */
export function keep<T extends Tensor>(t: T): T {
  t.kept = true;
  return t;
}

// ---- creation ------------------------------------------------------------------------------

function checkShape(op: string, shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${op}: invalid shape ${shapeStr(shape)} (dimensions must be integers >= 0)`);
  }
}

/**
 * A tensor with uninitialised contents, to be filled by recorded GPU work (a kernel, a clear).
 * Its buffer may be one released earlier in the same, not yet submitted, encoder (see pool.ts).
 */
export function empty(shape: Shape, dtype: DType = 'f32'): Tensor {
  return allocate('empty', shape, dtype, true);
}

function allocate(op: string, shape: Shape, dtype: DType, encoderWritten: boolean): Tensor {
  checkShape(op, shape);
  const rt = runtime();
  const bytes = Math.max(16, sizeOf(shape) * BYTES[dtype]);
  if (bytes > rt.limits.maxBufferSize) {
    throw new RangeError(`${op}: tensor ${shapeStr(shape)} needs ${bytes} bytes, over maxBufferSize (${rt.limits.maxBufferSize})`);
  }
  return new Tensor(shape, dtype, { buffer: rt.acquireStorage(bytes, encoderWritten), refs: 0, version: 0, derived: null });
}

export function zeros(shape: Shape): Tensor {
  const t = empty(shape);
  runtime().clear(t.bufferFor('zeros'));
  return t;
}

/** Uploads values; `shape` defaults to 1-D. */
export function tensor(data: ArrayLike<number>, shape: Shape = [data.length]): Tensor {
  checkShape('tensor', shape);
  if (sizeOf(shape) !== data.length) {
    throw new Error(`tensor: ${data.length} values do not fill shape ${shapeStr(shape)} (${sizeOf(shape)} elements expected)`);
  }
  const t = allocate('tensor', shape, 'f32', false); // filled by queue.writeBuffer: no unsubmitted reuse
  const values = data instanceof Float32Array ? data : Float32Array.from(data);
  if (values.length > 0) runtime().write(t.bufferFor('tensor'), 0, values);
  return t;
}

export function full(shape: Shape, value: number): Tensor {
  return tensor(new Float32Array(sizeOf(shape)).fill(value), shape);
}

/** Constant tensors by runtime, then key, oldest first (see `constant`). */
const constants = new WeakMap<object, Map<string, Tensor>>();
/** Past this many constants per runtime the oldest is released (an inference uses a handful). */
const MAX_CONSTANTS = 64;

/**
 * A tensor of fixed contents (a lookup table, filter taps) that `make` uploads once per runtime and
 * later calls reuse: per-call tables cost an upload and their CPU construction at every call.
 * `key` names everything the contents depend on. Returns a view the caller owns and disposes like
 * any result; the cache keeps its own reference. Kernels must only read it. Nothing is cached in a
 * dry run.
 */
export function constant(key: string, make: () => Tensor): Tensor {
  const rt = runtime();
  if (rt.dryRunning) return make();
  let cache = constants.get(rt);
  if (!cache) constants.set(rt, (cache = new Map()));
  let t = cache.get(key);
  if (!t) {
    if (cache.size >= MAX_CONSTANTS) {
      const [oldest, old] = cache.entries().next().value!;
      cache.delete(oldest);
      old.dispose();
    }
    t = keep(make());
    cache.set(key, t);
  }
  return t.reshape(t.shape);
}
