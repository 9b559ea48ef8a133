// Size-bucketed GPU buffer pool. A released buffer becomes reusable for uploads only after the
// queue has finished every submission that may still read or write it, so an upload into a recycled
// buffer (queue.writeBuffer runs ahead of unsubmitted command encoders) can never race pending
// kernels. Kernel outputs may also take a buffer released into the encoder still being recorded:
// its earlier readers are recorded before it and WebGPU orders dispatches of one queue, so the
// peak footprint of a long encoder (a whole forward pass) is its live set, not everything it made.

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
  /** Bytes released but waiting for the queue to finish with them. */
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
}

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private readonly live = new Map<GPUBuffer, Held>();
  private pending = new Set<Held>();
  /** Released since the last submission, by bucket key: reusable by encoder-written buffers. */
  private unsubmitted = new Map<string, Held[]>();
  private inFlight = 0;
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
      this.pending.delete(recent);
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
    this.live.set(buffer, { buffer, kind, size });
    this.stats.liveBytes += size;
    this.stats.peakLiveBytes = Math.max(this.stats.peakLiveBytes, this.stats.liveBytes);
    return buffer;
  }

  /** Hands a buffer back; it is recycled once the work submitted so far has completed. */
  release(buffer: GPUBuffer): void {
    const held = this.live.get(buffer);
    if (!held) throw new Error('BufferPool.release: buffer is not live in this pool (released twice?)');
    this.live.delete(buffer);
    this.stats.liveBytes -= held.size;
    this.stats.pendingBytes += held.size;
    this.pending.add(held);
    const key = `${held.kind}:${held.size}`;
    let list = this.unsubmitted.get(key);
    if (!list) this.unsubmitted.set(key, (list = []));
    list.push(held);
  }

  /**
   * Called after each queue submission (and by `settle`): everything released until now is freed
   * when the queue reports that all work submitted so far is done.
   */
  afterSubmit(queue: GPUQueue): Promise<void> {
    const batch = this.pending;
    this.pending = new Set();
    this.unsubmitted.clear();
    if (batch.size === 0 && this.inFlight === 0) return Promise.resolve();
    this.inFlight++;
    return queue.onSubmittedWorkDone().then(() => {
      this.inFlight--;
      for (const h of batch) {
        this.stats.pendingBytes -= h.size;
        this.stats.freeBytes += h.size;
        const key = `${h.kind}:${h.size}`;
        let list = this.free.get(key);
        if (!list) this.free.set(key, (list = []));
        list.push(h.buffer);
      }
    });
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
