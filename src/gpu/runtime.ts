// The runtime: one device, its buffer pool, its kernels, and the command batch being recorded.
// Ops record dispatches into one encoder, submitted every few dispatches on a GPU (it starts while
// the CPU records on; see dispatchesPerSubmit), at a readback and at an explicit `flush()`; there is
// no await between dispatches. `record` keeps what a piece of work issued for replays (capture.ts).
import { isSoftwareAdapter, requestGpu, type AdapterSummary, type Gpu, type RequestGpuOptions } from './device.js';
import { BufferPool, type PoolStats } from './pool.js';
import { KernelCache, kernelKey, packUniforms, type KernelInfo, type KernelRequest, type Uniforms } from './kernel.js';
import type { DispatchProfiler } from './profiler.js';
import { CommandLog, finishRecording, type Recording, type RecordingHost } from './capture.js';

export interface BufferBinding {
  buffer: GPUBuffer;
  offset?: number;
  size?: number;
}

export interface DispatchArgs {
  shader: string;
  entry?: string;
  constants?: Record<string, number>;
  bindings: Record<string, BufferBinding>;
  uniforms?: Uniforms;
  /**
   * The uniforms again for each replay of a recording of this dispatch (Runtime.record), where
   * they change from one run of the same work to the next (an optimiser's step count); the
   * recorded ones otherwise.
   */
  liveUniforms?: () => Uniforms;
  workgroups: readonly [number, number?, number?];
  /** The op launching it, for profiles (src/gpu/profiler.ts); the shader name when absent. */
  label?: string;
  /** Useful floating-point operations (2 per multiply-add), where the launcher knows them: profiles' GFLOP/s. */
  flops?: number;
  /** Bytes the dispatch must move at least (each bound tensor once): profiles' GB/s. */
  bytes?: number;
  /** The pipeline, when the caller already looked it up (launch() does); else found from shader/entry/constants. */
  kernel?: KernelInfo;
}

/**
 * Benchmark-only capture of compute-pass timestamps (see `Runtime.setPassTimer`). Every compute pass
 * the runtime begins while a timer is set writes its start and end into slots `next` and `next + 1`
 * of `querySet`, then advances `next` by 2; passes begun once the set is full count as `dropped`.
 */
export interface PassTimer {
  readonly querySet: GPUQuerySet;
  next: number;
  dropped: number;
}

/**
 * What a dry run (`Runtime.dryRun`) saw: the largest buffer and binding the recorded work needs.
 * Its tensors are backed by placeholder buffers that reach neither the device nor the pool.
 */
export interface DryRunReport {
  largestBufferBytes: number;
  largestBindingBytes: number;
  dispatches: number;
}

/** Bytes a binding covers: its size, else the rest of its buffer. */
const bindingSize = (b: BufferBinding): number => b.size ?? b.buffer.size - (b.offset ?? 0);

/**
 * How many recorded dispatches the runtime submits at a time on `adapter`. On a GPU few (16;
 * tfjs-webgpu batches 15), so that it starts on the first ones while the CPU records the rest.
 * On a software adapter, whose "GPU" is the CPU's own cores, recording beside it takes the cores
 * it computes on, and each submission costs lavapipe an idle gap: there a recording goes whole at
 * its read-back (an inference is 136 dispatches, a training step 339), or every 1024 to bound what
 * a long one holds. lavapipe, S=256, alternated in one process: batch 1 48.6/52.0/55.2 ms at 16
 * against 47.3/50.1/52.2 at 1024, batch 8 and training steps within the noise (bench/RESULTS.md).
 * Released buffers stay reusable across the batches (pool.ts), so the footprint is unchanged.
 */
export function dispatchesPerSubmit(adapter: AdapterSummary): number {
  return isSoftwareAdapter(adapter) ? 1024 : 16;
}

/** Uniform bytes per buffer (64 dispatches × 256-byte slots); a longer submission takes several. */
const UNIFORM_CHUNK = 16 * 1024;
/** Bind groups kept for reuse; past this the cache starts over (an inference has ~140 dispatches). */
const MAX_BIND_GROUPS = 8192;

export class Runtime {
  readonly device: GPUDevice;
  readonly pool: BufferPool;
  readonly kernels: KernelCache;
  readonly limits: { maxStorageBufferBindingSize: number; maxBufferSize: number; maxWorkgroupsPerDimension: number };
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private dispatches = 0;
  private uniformChunks: { buffer: GPUBuffer; data: Uint8Array; used: number }[] = [];
  private readonly uniformAlign: number;
  private submitted = 0;
  private destroyed = false;
  private passTimer: PassTimer | null = null;
  private submitsBatched = true;
  /** Dispatches recorded before the runtime submits them (see `dispatchesPerSubmit`). */
  readonly dispatchesPerSubmit: number;
  private profiler: DispatchProfiler | null = null;
  private planning: DryRunReport | null = null;
  /** While `record` runs: the commands issued, for replays. */
  private recordingLog: CommandLog | null = null;
  /** While preparePipelines' dry run runs: the kernels it asked for that have no pipeline yet. */
  private collecting: Map<string, KernelRequest> | null = null;
  private readonly placeholders = new WeakSet<GPUBuffer>();
  /** Bind groups by kernel and bound buffers (see dispatch); dropped whenever the pool destroys buffers. */
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 0;
  private bindGroupsCreated = 0;
  /** Pipelines dispatched at least once (profiles mark the first dispatch, which may compile). */
  private readonly dispatched = new WeakSet<GPUComputePipeline>();

  constructor(readonly gpu: Gpu) {
    this.device = gpu.device;
    const l = gpu.device.limits;
    this.limits = {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    };
    this.uniformAlign = l.minUniformBufferOffsetAlignment;
    this.dispatchesPerSubmit = dispatchesPerSubmit(gpu.info);
    this.pool = new BufferPool(gpu.device, l.maxBufferSize);
    this.pool.onDestroy = () => this.bindGroups.clear();
    this.kernels = new KernelCache(gpu.device);
  }

  /**
   * Runs `fn` (synchronous tensor work) without touching the device: tensors get placeholder
   * buffers, dispatches are validated against the device limits (binding sizes, workgroup counts)
   * and then dropped, uploads and clears are skipped, and pipelines are not created (their
   * layouts are all a dry run needs; see preparePipelines to create them). The limit
   * errors a real run would raise are thrown here, before any memory is spent — so callers can ask
   * "does this size and batch fit this adapter?" exactly. Tensors made inside must not escape.
   */
  dryRun(fn: () => void): DryRunReport {
    if (this.planning) throw new Error('dryRun: already in a dry run');
    this.endPass();
    const report: DryRunReport = { largestBufferBytes: 0, largestBindingBytes: 0, dispatches: 0 };
    this.planning = report;
    try {
      fn();
    } finally {
      this.planning = null;
    }
    return report;
  }

  /**
   * Runs `fn` (synchronous tensor work, as for dryRun) for real and returns, with its result, a
   * Recording of the commands it issued (src/gpu/capture.ts): `recording.replay()` issues them
   * again without running `fn`'s JavaScript, while `recording.valid()`. What `fn` issued is
   * submitted before this returns. Not inside a dry run, a recording, or while profiling.
   */
  record<T>(fn: () => T): { result: T; recording: Recording } {
    if (!this.canRecord) throw new Error('record: not inside a dry run or another recording, nor while profiling');
    this.flush();
    const log = new CommandLog(this.pool);
    this.recordingLog = log;
    let result: T;
    try {
      result = fn();
      this.flush();
    } catch (e) {
      this.recordingLog = null;
      for (const b of log.uniforms) this.pool.release(b);
      throw e;
    }
    this.recordingLog = null;
    const host: RecordingHost = { device: this.device, pool: this.pool, flush: () => this.flush(), noteSubmit: () => void this.submitted++ };
    return { result, recording: finishRecording(host, log) };
  }

  /** Whether `record` is running (see guardRecording). */
  get recording(): boolean {
    return this.recordingLog !== null;
  }

  /** Which recording `record` is making (a number no other recording has), 0 when none. */
  get recordingSerial(): number {
    return this.recordingLog?.serial ?? 0;
  }

  /** Whether `record` may run now, and a recording replay: not in a dry run, a recording, a profile or timed passes. */
  get canRecord(): boolean {
    return !this.recordingLog && !this.planning && !this.profiler && !this.passTimer;
  }

  /**
   * While `record` runs: the recording's replays are valid only while `check()` holds — for work
   * whose commands depend on more than the buffers they bind (Tensor.derive: a cached tensor is
   * current only while its source is not written).
   */
  guardRecording(check: () => boolean): void {
    this.recordingLog?.guards.push(check);
  }

  /** Whether a dry run is recording (its tensors have placeholder buffers). */
  get dryRunning(): boolean {
    return this.planning !== null;
  }

  /** Storage for a tensor: a pooled buffer, or a placeholder during a dry run. */
  acquireStorage(bytes: number, encoderWritten: boolean): GPUBuffer {
    if (!this.planning) return this.pool.acquire(bytes, 'storage', encoderWritten);
    this.planning.largestBufferBytes = Math.max(this.planning.largestBufferBytes, bytes);
    const placeholder = { size: Math.ceil(bytes / 4) * 4, label: 'dry-run placeholder' } as unknown as GPUBuffer;
    this.placeholders.add(placeholder);
    return placeholder;
  }

  releaseStorage(buffer: GPUBuffer): void {
    if (!this.placeholders.has(buffer)) this.pool.release(buffer);
  }

  private isPlaceholder(buffer: GPUBuffer): boolean {
    return this.placeholders.has(buffer);
  }

  kernel(shader: string, entry = 'main', constants: Record<string, number> = {}): KernelInfo {
    if (this.planning && !this.kernels.has(shader, entry, constants)) {
      // A dry run dispatches nothing, so it needs layouts only: pipelines are left to the real run
      // (or, for preparePipelines, noted and created together afterwards).
      this.collecting?.set(kernelKey(shader, entry, constants), { shader, entry, constants });
      return this.kernels.layoutOnly(shader, entry, constants);
    }
    return this.kernels.get(shader, entry, constants);
  }

  /**
   * Creates every pipeline `fn` (synchronous tensor work, as for dryRun) would dispatch, all at
   * once with createComputePipelineAsync, without running anything: a dry run that notes the
   * kernels it asks for. Drivers that compile at pipeline creation (NVIDIA, AMD, Chrome's GPU
   * process) then compile them in parallel instead of one at a time at their first dispatches;
   * lavapipe compiles at the first dispatch whatever is done here. Resolves to how many it created.
   */
  async preparePipelines(fn: () => void): Promise<number> {
    const collecting = new Map<string, KernelRequest>();
    this.collecting = collecting;
    try {
      this.dryRun(fn);
    } finally {
      this.collecting = null;
    }
    return this.kernels.prepare(collecting.values());
  }

  private getEncoder(): GPUCommandEncoder {
    this.assertAlive();
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private getPass(): GPUComputePassEncoder {
    if (!this.pass) {
      const t = this.passTimer;
      if (t && t.next + 2 <= t.querySet.count) {
        const timestampWrites = { querySet: t.querySet, beginningOfPassWriteIndex: t.next, endOfPassWriteIndex: t.next + 1 };
        t.next += 2;
        this.pass = this.getEncoder().beginComputePass({ timestampWrites });
      } else {
        if (t) t.dropped++;
        this.pass = this.getEncoder().beginComputePass();
      }
    }
    return this.pass;
  }

  /**
   * Benchmark-only (src/tune/harness.ts): while `timer` is set, each compute pass records its GPU start
   * and end time (needs the device feature 'timestamp-query'). `null` (the default) turns it off.
   * Ends the pass being recorded, so timed and untimed work never share a pass.
   */
  setPassTimer(timer: PassTimer | null): void {
    this.endPass();
    this.passTimer = timer;
  }

  /**
   * Benchmark-only (src/tune/harness.ts): `false` submits recorded work only at flush(), read() and
   * sync(), not every `dispatchesPerSubmit` dispatches, so that a timed sample is one submission:
   * lavapipe's idle gap before each later submission fell inside the first timed pass after it
   * (tiny kernels read 10-30 % slower). `true` (the default) restores batching.
   */
  setSubmitBatching(on: boolean): void {
    this.submitsBatched = on;
  }

  /** Whether a profiler is attached (launchers then also report what a dispatch moves). */
  get profiling(): boolean {
    return this.profiler !== null;
  }

  /**
   * While `profiler` is set, every dispatch runs in a pass of its own with GPU timestamps and is
   * recorded with its op, layer and CPU encode time (`hlgfa profile`); `null` turns it off.
   */
  setProfiler(profiler: DispatchProfiler | null): void {
    this.endPass();
    this.profiler = profiler;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  private uniformSlot(bytes: number): { buffer: GPUBuffer; offset: number; view: DataView } {
    const need = Math.ceil(bytes / this.uniformAlign) * this.uniformAlign;
    let chunk = this.uniformChunks[this.uniformChunks.length - 1];
    if (!chunk || chunk.used + need > chunk.data.byteLength) {
      const size = Math.max(UNIFORM_CHUNK, need);
      chunk = { buffer: this.pool.acquire(size, 'uniform'), data: new Uint8Array(size), used: 0 };
      this.uniformChunks.push(chunk);
    }
    const offset = chunk.used;
    chunk.used += need;
    return { buffer: chunk.buffer, offset, view: new DataView(chunk.data.buffer, offset, bytes) };
  }

  /** A small number per buffer, for bind group keys (a WeakMap: buffers come and go). */
  private bufferId(b: GPUBuffer): number {
    let id = this.bufferIds.get(b);
    if (id === undefined) this.bufferIds.set(b, (id = this.nextBufferId++));
    return id;
  }

  dispatch(args: DispatchArgs): void {
    const cpuStart = this.profiler ? performance.now() : 0;
    const k = args.kernel ?? this.kernel(args.shader, args.entry, args.constants);
    const planning = this.planning;
    // The bind group's key: the kernel and, per binding, buffer, offset and size. Inference and
    // training repeat the same dispatches on the same pooled buffers, so most are found here
    // (createBindGroup costs ~16 µs each in dawn.node, a third of a dispatch's CPU time); the
    // entries are only built for a bind group not found.
    let key = k.key;
    let uniform: { buffer: GPUBuffer; offset: number } | null = null;
    for (const r of k.resources) {
      if (r.kind === 'uniform') {
        if (planning) continue;
        const slot = this.uniformSlot(k.uniform!.size);
        packUniforms(k, args.uniforms ?? {}, slot.view, 0);
        key += `|u${this.bufferId(slot.buffer)}`;
        uniform = slot;
        continue;
      }
      const b = args.bindings[r.name];
      if (!b) throw new Error(`${k.shader}.${k.entry}: missing binding "${r.name}"`);
      const size = bindingSize(b);
      if (size > this.limits.maxStorageBufferBindingSize) {
        throw new RangeError(
          `${k.shader}.${k.entry}: binding "${r.name}" is ${size} bytes, over maxStorageBufferBindingSize ` +
            `(${this.limits.maxStorageBufferBindingSize})`,
        );
      }
      if (planning) planning.largestBindingBytes = Math.max(planning.largestBindingBytes, size);
      else if (this.isPlaceholder(b.buffer)) throw new Error(`${k.shader}.${k.entry}: binding "${r.name}" is a tensor made in a dry run`);
      else key += `|${this.bufferId(b.buffer)}:${b.offset ?? 0}:${size}`;
    }
    const [x, y = 1, z = 1] = args.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const maxWg = this.limits.maxWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg) {
      throw new RangeError(`${k.shader}.${k.entry}: dispatch (${x}, ${y}, ${z}) exceeds ${maxWg} workgroups per dimension`);
    }
    if (planning) {
      planning.dispatches++;
      return;
    }
    let bindGroup = this.bindGroups.get(key);
    if (!bindGroup) {
      if (this.bindGroups.size >= MAX_BIND_GROUPS) this.bindGroups.clear();
      const entries: GPUBindGroupEntry[] = k.resources.map((r) => {
        if (r.kind === 'uniform') return { binding: r.binding, resource: { buffer: uniform!.buffer, offset: 0, size: k.uniform!.size } };
        const b = args.bindings[r.name];
        return { binding: r.binding, resource: { buffer: b.buffer, offset: b.offset ?? 0, size: bindingSize(b) } };
      });
      bindGroup = this.device.createBindGroup({ layout: k.layout, entries });
      this.bindGroups.set(key, bindGroup);
      this.bindGroupsCreated++;
    }
    // Profiled: a pass of its own with timestamps around this one dispatch.
    const firstUse = !this.dispatched.has(k.pipeline);
    if (firstUse) this.dispatched.add(k.pipeline);
    const timed = this.profiler?.begin(args.label ?? k.shader, `${k.shader}.${k.entry}`, { key: k.key, firstUse }, [x, y, z], cpuStart, { flops: args.flops, bytes: args.bytes });
    if (timed) this.endPass();
    const pass = timed ? this.getEncoder().beginComputePass({ timestampWrites: timed.writes }) : this.getPass();
    const offsets = uniform ? [uniform.offset] : [];
    pass.setPipeline(k.pipeline);
    pass.setBindGroup(0, bindGroup, offsets);
    pass.dispatchWorkgroups(x, y, z);
    const log = this.recordingLog;
    if (log) {
      for (const r of k.resources) if (r.kind !== 'uniform') log.use(args.bindings[r.name].buffer);
      const live = args.liveUniforms;
      if (live && uniform) {
        // A replay packs them afresh into this dispatch's slot of the kept chunk; the queue write
        // lands before the submission that holds the dispatch, after those before it.
        const bytes = k.uniform!.size;
        const produce = () => {
          const data = new Uint8Array(bytes);
          packUniforms(k, live(), new DataView(data.buffer), 0);
          return data;
        };
        log.commands.push({ kind: 'write', buffer: uniform.buffer, offset: uniform.offset, produce });
      }
      log.commands.push({ kind: 'dispatch', pipeline: k.pipeline, bindGroup, offsets, x, y, z });
    }
    if (timed) {
      pass.end();
      timed.record.cpuMs = performance.now() - cpuStart;
    }
    if (++this.dispatches >= this.dispatchesPerSubmit && this.submitsBatched) this.flush();
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    if (this.planning) return;
    this.endPass();
    this.getEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    const log = this.recordingLog;
    if (log) {
      log.use(src);
      log.use(dst);
      log.commands.push({ kind: 'copy', src, srcOffset, dst, dstOffset, bytes });
    }
  }

  clear(buffer: GPUBuffer, offset = 0, bytes?: number): void {
    if (this.planning) return;
    this.endPass();
    this.getEncoder().clearBuffer(buffer, offset, bytes);
    this.recordingLog?.use(buffer);
    this.recordingLog?.commands.push({ kind: 'clear', buffer, offset, bytes });
  }

  /** Uploads immediately on the queue timeline; only safe on buffers no recorded work uses. */
  write(buffer: GPUBuffer, offset: number, data: ArrayBufferView): void {
    this.assertAlive();
    if (this.planning) return;
    this.device.queue.writeBuffer(buffer, offset, data.buffer, data.byteOffset, data.byteLength);
    // A replay uploads the same bytes at the same point (the caller may reuse its array).
    this.recordingLog?.use(buffer);
    this.recordingLog?.commands.push({ kind: 'write', buffer, offset, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice() });
  }

  /**
   * Runs `fn` now and, while `record` runs, again at this point of each replay of the recording:
   * CPU state that moves on with every run of the work — tensors' versions (a replay writes them
   * as running the ops did), an optimiser's step count that live uniforms read
   * (DispatchArgs.liveUniforms).
   */
  each(fn: () => void): void {
    fn();
    this.recordingLog?.commands.push({ kind: 'call', fn });
  }

  /** Submits everything recorded so far. Returns at once; the GPU runs it in the background. */
  flush(): void {
    this.assertAlive();
    if (this.planning) return;
    this.endPass();
    for (const c of this.uniformChunks) this.device.queue.writeBuffer(c.buffer, 0, c.data.buffer, 0, c.used);
    if (this.encoder) {
      this.device.queue.submit([this.encoder.finish()]);
      this.submitted++;
      this.recordingLog?.commands.push({ kind: 'submit' });
    }
    // A recording keeps its uniform chunks: its replays read the same bytes.
    for (const c of this.uniformChunks) {
      if (this.recordingLog) this.recordingLog.uniforms.push(c.buffer);
      else this.pool.release(c.buffer);
    }
    this.uniformChunks = [];
    this.encoder = null;
    this.dispatches = 0;
    this.pool.afterSubmit();
  }

  /** Copies `bytes` from a buffer into CPU memory, submitting pending work first. */
  async read(buffer: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
    if (this.planning || this.isPlaceholder(buffer)) throw new Error('read: nothing can be read back in or from a dry run');
    if (this.recordingLog) throw new Error('read: nothing can be read back while recording (Runtime.record)');
    const padded = Math.ceil(bytes / 4) * 4;
    const staging = this.pool.acquire(padded, 'readback');
    this.copy(buffer, offset, staging, 0, padded);
    this.flush();
    try {
      await staging.mapAsync(1 /* GPUMapMode.READ */, 0, padded);
      const out = staging.getMappedRange(0, padded).slice(0, bytes);
      staging.unmap();
      return out;
    } finally {
      this.pool.release(staging);
      this.throwDeviceErrors();
    }
  }

  /** Submits what was recorded and waits until the GPU finished all submitted work. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.throwDeviceErrors();
  }

  /** Raises validation / out-of-memory errors the device reported since the last check. */
  throwDeviceErrors(): void {
    const errors = this.gpu.takeErrors();
    if (errors.length) throw new Error(`WebGPU device error: ${errors.join('\n')}`);
  }

  stats(): PoolStats & { pipelines: number; submits: number; bindGroupsCreated: number } {
    return { ...this.pool.getStats(), pipelines: this.kernels.size, submits: this.submitted, bindGroupsCreated: this.bindGroupsCreated };
  }

  private assertAlive(): void {
    if (this.destroyed) throw new Error('the WebGPU runtime was destroyed');
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.encoder = null;
    this.pass = null;
    this.gpu.destroy();
  }
}

let current: Runtime | null = null;

/** Runs after `initRuntime` created a runtime, before it is returned (e.g. applying cached tuning). */
export type RuntimeInitHook = (rt: Runtime) => void | Promise<void>;
const initHooks: RuntimeInitHook[] = [];

/** Registers `hook` for every runtime `initRuntime` creates from now on; returns its remover. */
export function addRuntimeInitHook(hook: RuntimeInitHook): () => void {
  if (!initHooks.includes(hook)) initHooks.push(hook);
  return () => {
    const i = initHooks.indexOf(hook);
    if (i >= 0) initHooks.splice(i, 1);
  };
}

/** Creates the process-wide runtime (or returns the existing one). */
export async function initRuntime(options: RequestGpuOptions = {}): Promise<Runtime> {
  if (current) return current;
  const rt = new Runtime(await requestGpu(options));
  current = rt;
  try {
    for (const hook of [...initHooks]) await hook(rt);
  } catch (e) {
    // A failing hook fails the initialisation: leave no half-configured runtime behind.
    if (current === rt) current = null;
    rt.destroy();
    throw e;
  }
  return rt;
}

export function runtime(): Runtime {
  if (!current) throw new Error('no WebGPU runtime: call `await initRuntime()` first');
  return current;
}

export function hasRuntime(): boolean {
  return current !== null;
}

/** Destroys the process-wide runtime so the process can exit and a new one can be created. */
export function destroyRuntime(): void {
  current?.destroy();
  current = null;
}

/** Splits a 1-D workgroup count over x and y so it fits maxComputeWorkgroupsPerDimension. */
export function grid1d(workgroups: number, maxPerDim = 65535): [number, number] {
  if (workgroups <= maxPerDim) return [Math.max(1, workgroups), 1];
  const y = Math.ceil(workgroups / maxPerDim);
  return [Math.ceil(workgroups / y), y];
}
