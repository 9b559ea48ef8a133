// Per-dispatch GPU timing (`hlgfa profile`). While a profiler is attached, the runtime gives every
// dispatch a compute pass of its own with timestamp writes at its start and end, and records which
// op launched it, the layer it ran in (`profileLayer`), its workgroups and the CPU time spent
// encoding it. Passes of one dispatch each serialise the GPU (no overlap between neighbours), which
// a software adapter does anyway; on a real GPU the profiled step is slower than an unprofiled one
// and the table says where the time goes, not how long the step takes.

/** What one dispatch did, as `collect()` returns it. */
export interface DispatchRecord {
  /** The op that launched it ("conv2d", "gaussianBlur"…; the shader name when launched directly). */
  op: string;
  /** shader.entry */
  kernel: string;
  /** The pipeline: shader/entry/override constants (one compiled program). */
  pipeline: string;
  /**
   * The first dispatch of its pipeline in this runtime: drivers that compile lazily (lavapipe's
   * LLVM) compile it inside this dispatch, so its GPU time includes the compile.
   */
  firstUse: boolean;
  /** The layer stack when it was recorded, joined by "/" ("" outside any layer). */
  layer: string;
  workgroups: [number, number, number];
  /** Useful floating-point operations, NaN where its launcher declares none. */
  flops: number;
  /** Bytes it must move at least (its bound tensors, each once), NaN when unknown. */
  bytes: number;
  /** CPU time to record it (uniform packing, bind group, encoding), ms. */
  cpuMs: number;
  /** CPU clock (performance.now()) when recording started, ms. */
  cpuStart: number;
  /** GPU start relative to the first timed dispatch, and duration, ms (NaN where the adapter gave none). */
  gpuStart: number;
  gpuMs: number;
}

const QUERIES_PER_SET = 4096; // WebGPU's maximum query count per set: 2048 dispatches
// GPUBufferUsage / GPUMapMode values as literals (dawn.node installs those globals late; see pool.ts).
const QUERY_RESOLVE = 0x200;
const COPY_SRC = 0x04;
const COPY_DST = 0x08;
const MAP_READ_USAGE = 0x01;
const MAP_READ = 1;

const layers: string[] = [];
let attached = 0;

/**
 * Runs `fn` as layer `name` of what a profiler records (nested layers join with "/"). Costs one
 * branch when no profiler is attached.
 */
export function profileLayer<T>(name: string, fn: () => T): T {
  if (attached === 0) return fn();
  layers.push(name);
  try {
    return fn();
  } finally {
    layers.pop();
  }
}

interface Pending {
  record: DispatchRecord;
  set: number;
  index: number;
}

export class DispatchProfiler {
  private readonly sets: GPUQuerySet[] = [];
  private used = QUERIES_PER_SET;
  private readonly pending: Pending[] = [];
  private closed = false;

  constructor(private readonly device: GPUDevice) {
    if (!device.features.has('timestamp-query')) {
      throw new Error("profiling needs the device feature 'timestamp-query', which this adapter does not offer");
    }
    attached++;
  }

  /** Timestamp writes for the next dispatch's pass, and the record it fills. */
  begin(
    op: string,
    kernel: string,
    pipeline: { key: string; firstUse: boolean },
    workgroups: [number, number, number],
    cpuStart: number,
    cost: { flops?: number; bytes?: number } = {},
  ): { writes: GPUComputePassTimestampWrites; record: DispatchRecord } {
    if (this.closed) throw new Error('this profiler was already collected');
    if (this.used + 2 > QUERIES_PER_SET) {
      this.sets.push(this.device.createQuerySet({ type: 'timestamp', count: QUERIES_PER_SET }));
      this.used = 0;
    }
    const set = this.sets.length - 1;
    const index = this.used;
    this.used += 2;
    const record: DispatchRecord = { op, kernel, pipeline: pipeline.key, firstUse: pipeline.firstUse, layer: layers.join('/'), workgroups, flops: cost.flops ?? NaN, bytes: cost.bytes ?? NaN, cpuMs: 0, cpuStart, gpuStart: NaN, gpuMs: NaN };
    this.pending.push({ record, set, index });
    return { writes: { querySet: this.sets[set], beginningOfPassWriteIndex: index, endOfPassWriteIndex: index + 1 }, record };
  }

  /**
   * Reads every timestamp back (after the work was submitted: call it after `Runtime.flush()`) and
   * returns the records in dispatch order. The profiler is spent afterwards.
   */
  async collect(): Promise<DispatchRecord[]> {
    if (this.closed) throw new Error('this profiler was already collected');
    this.closed = true;
    attached--;
    const device = this.device;
    const ticks: BigUint64Array[] = [];
    for (let s = 0; s < this.sets.length; s++) {
      const count = s === this.sets.length - 1 ? this.used : QUERIES_PER_SET;
      const bytes = count * 8;
      const resolve = device.createBuffer({ size: bytes, usage: QUERY_RESOLVE | COPY_SRC });
      const read = device.createBuffer({ size: bytes, usage: MAP_READ_USAGE | COPY_DST });
      const enc = device.createCommandEncoder();
      enc.resolveQuerySet(this.sets[s], 0, count, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, read, 0, bytes);
      device.queue.submit([enc.finish()]);
      await read.mapAsync(MAP_READ);
      ticks.push(new BigUint64Array(read.getMappedRange().slice(0)));
      read.unmap();
      read.destroy();
      resolve.destroy();
      this.sets[s].destroy();
    }
    let origin: bigint | null = null;
    for (const p of this.pending) {
      const t0 = ticks[p.set][p.index];
      if (t0 > 0n && (origin === null || t0 < origin)) origin = t0;
    }
    for (const p of this.pending) {
      const t0 = ticks[p.set][p.index];
      const t1 = ticks[p.set][p.index + 1];
      // A pass the driver left untimed reads 0; an end before its start is a broken clock.
      if (origin === null || t0 === 0n || t1 < t0) continue;
      p.record.gpuStart = Number(t0 - origin) / 1e6;
      p.record.gpuMs = Number(t1 - t0) / 1e6;
    }
    return this.pending.map((p) => p.record);
  }
}
