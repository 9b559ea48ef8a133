// Size-bucketed GPU buffer pool. WebGPU runs a queue's work in the order it was issued: submitted
// command buffers, then queue.writeBuffer calls, in call order; only a command encoder still being
// recorded lies outside that order until it is submitted. So a released buffer is free for anyone
// once every command that used it has been submitted — an upload into it then runs after them,
// even while the GPU is still busy with them. Before that, only a kernel output (a buffer filled
// by commands recorded later in the same encoder) may take it: an upload would run ahead of the
// unsubmitted commands that still read it. So the footprint of a long recording (a forward pass,
// submitted in batches as the runtime records it) is its live set, not everything it made.

export type BufferKind = 'storage' | 'uniform' | 'readback';

const USAGE: Record<BufferKind, number> = {
  // Literal flag values (GPUBufferUsage.*) keep this module free of globals that dawn.node only
  // installs after `requestGpu()`.
  storage: 0x80 /* STORAGE */ | 0x04 /* COPY_SRC */ | 0x08 /* COPY_DST */,
  uniform: 0x40 /* UNIFORM */ | 0x08 /* COPY_DST */,
  readback: 0x01 /* MAP_READ */ | 0x08 /* COPY_DST */,
};

/** Rounds up to 4 buckets per octave (at most 25 % slack), 256-byte granularity. */
export function bucketSize(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes));
  if (b <= 1024) return Math.ceil(b / 256) * 256;
  const octave = 2 ** Math.floor(Math.log2(b));
  const step = octave / 4;
  return Math.ceil(b / step) * step;
}

export interface PoolStats {
  /** Bytes currently handed out (bucket sizes). */
  liveBytes: number;
  /** Bytes released into the command encoder being recorded (reusable by kernel outputs only). */
  pendingBytes: number;
  /** Bytes ready for reuse. */
  freeBytes: number;
  /** All bytes the pool holds on the device. */
  allocatedBytes: number;
  peakLiveBytes: number;
  peakAllocatedBytes: number;
  buffersCreated: number;
}

interface Held {
  buffer: GPUBuffer;
  kind: BufferKind;
  size: number;
  /** Which handing-out this is (see `leaseOf`). */
  lease: number;
}

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private readonly live = new Map<GPUBuffer, Held>();
  /** Released since the last submission, by bucket key: reusable by encoder-written buffers. */
  private unsubmitted = new Map<string, Held[]>();
  private leases = 0;
  private stats: PoolStats = {
    liveBytes: 0,
    pendingBytes: 0,
    freeBytes: 0,
    allocatedBytes: 0,
    peakLiveBytes: 0,
    peakAllocatedBytes: 0,
    buffersCreated: 0,
  };

  constructor(
    private readonly device: GPUDevice,
    private readonly maxBufferSize: number,
  ) {}

  /**
   * `encoderWritten`: the caller fills the buffer only through commands recorded from now on (a
   * kernel output, a clear), never with queue.writeBuffer — it may then reuse a buffer released
   * into the encoder being recorded.
   */
  acquire(bytes: number, kind: BufferKind = 'storage', encoderWritten = false): GPUBuffer {
    let size = bucketSize(bytes);
    if (size > this.maxBufferSize) size = Math.ceil(bytes / 4) * 4;
    if (size > this.maxBufferSize) {
      throw new RangeError(`buffer of ${bytes} bytes exceeds the device's maxBufferSize (${this.maxBufferSize} bytes)`);
    }
    const key = `${kind}:${size}`;
    const recent = encoderWritten ? this.unsubmitted.get(key)?.pop() : undefined;
    let buffer: GPUBuffer | undefined = recent?.buffer ?? this.free.get(key)?.pop();
    if (recent) {
      this.stats.pendingBytes -= size;
    } else if (buffer) {
      this.stats.freeBytes -= size;
    }
    if (!buffer) {
      buffer = this.device.createBuffer({ size, usage: USAGE[kind] });
      this.stats.buffersCreated++;
      this.stats.allocatedBytes += size;
      this.stats.peakAllocatedBytes = Math.max(this.stats.peakAllocatedBytes, this.stats.allocatedBytes);
    }
    return this.handOut(buffer, kind, size);
  }

  /** Marks `buffer` live under a new lease. */
  private handOut(buffer: GPUBuffer, kind: BufferKind, size: number): GPUBuffer {
    this.live.set(buffer, { buffer, kind, size, lease: ++this.leases });
    this.stats.liveBytes += size;
    this.stats.peakLiveBytes = Math.max(this.stats.peakLiveBytes, this.stats.liveBytes);
    return buffer;
  }

  /** Hands a buffer back: kernel outputs may take it at once, anyone after the next submission. */
  release(buffer: GPUBuffer): void {
    const held = this.live.get(buffer);
    if (!held) throw new Error('BufferPool.release: buffer is not live in this pool (released twice?)');
    this.live.delete(buffer);
    this.stats.liveBytes -= held.size;
    this.stats.pendingBytes += held.size;
    const key = `${held.kind}:${held.size}`;
    let list = this.unsubmitted.get(key);
    if (!list) this.unsubmitted.set(key, (list = []));
    list.push(held);
  }

  /**
   * A number that changes whenever the buffer is handed out again: a holder that noted it can tell
   * whether the buffer is still the one it knew (recorded replays, src/gpu/capture.ts). undefined
   * while the buffer is not handed out.
   */
  leaseOf(buffer: GPUBuffer): number | undefined {
    return this.live.get(buffer)?.lease;
  }

  /** The last lease handed out: every later handing-out gets a larger one. */
  get lastLease(): number {
    return this.leases;
  }

  /**
   * Hands out a released buffer again, by identity (a recording keeps the buffers its commands
   * used). Only a buffer released before the last submission: recorded work no longer holds it.
   * Returns false when the buffer is not free in this pool.
   */
  claim(buffer: GPUBuffer, kind: BufferKind = 'storage'): boolean {
    const key = `${kind}:${buffer.size}`;
    const list = this.free.get(key);
    const i = list ? list.indexOf(buffer) : -1;
    if (i < 0) return false;
    list!.splice(i, 1);
    this.stats.freeBytes -= buffer.size;
    this.handOut(buffer, kind, buffer.size);
    return true;
  }

  /** Called after each queue submission: what was released before it is free for anyone (see above). */
  afterSubmit(): void {
    for (const [key, list] of this.unsubmitted) {
      let free = this.free.get(key);
      if (!free) this.free.set(key, (free = []));
      for (const h of list) {
        this.stats.pendingBytes -= h.size;
        this.stats.freeBytes += h.size;
        free.push(h.buffer);
      }
    }
    this.unsubmitted.clear();
  }

  /** Called when buffers are destroyed (the runtime drops bind groups that may use them). */
  onDestroy: (() => void) | null = null;

  /** Destroys all free buffers (e.g. after a large one-off job). */
  trim(): void {
    if (this.free.size) this.onDestroy?.();
    for (const list of this.free.values()) {
      for (const b of list) {
        this.stats.allocatedBytes -= b.size;
        this.stats.freeBytes -= b.size;
        b.destroy();
      }
    }
    this.free.clear();
  }

  getStats(): PoolStats {
    return { ...this.stats };
  }

  resetPeaks(): void {
    this.stats.peakLiveBytes = this.stats.liveBytes;
    this.stats.peakAllocatedBytes = this.stats.allocatedBytes;
  }
}
