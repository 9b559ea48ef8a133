// Recorded replay: the commands a piece of tensor work issued (dispatches with their pipelines,
// bind groups and uniform offsets, copies, clears, uploads and the submissions between them),
// kept so that the same work can be issued again without running the ops' JavaScript — shape
// checks, plans, tensor bookkeeping, bind group lookups — which is most of a call's CPU time on a
// fast GPU and competes with the kernels on a software one. WebGPU has no reusable compute command
// buffers, so a replay encodes the kept commands afresh: three calls per dispatch.
//
// What makes it safe: a recording owns every buffer its commands use that the pool would
// otherwise hand to someone else (intermediates released during the recording, the uniform
// chunks), so nothing but a replay writes them; the buffers it does not own (weights, inputs,
// kept caches) are checked before each replay to be the same handing-out of the pool (its lease),
// and caches the recorded work read (Tensor.derive) add guards that their source was not written
// since. A recording that fails a check is not replayed: the caller runs the work afresh. One that
// read a buffer filled before it began which was released during it (a cache evicted mid-way) can
// never be replayed: that content is gone.
import type { BufferPool } from './pool.js';

export type Command =
  | { kind: 'dispatch'; pipeline: GPUComputePipeline; bindGroup: GPUBindGroup; offsets: number[]; x: number; y: number; z: number }
  | { kind: 'copy'; src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; bytes: number }
  | { kind: 'clear'; buffer: GPUBuffer; offset: number; bytes?: number }
  /** A queue write of the recorded bytes, or of what `produce` gives at each replay (live uniforms). */
  | { kind: 'write'; buffer: GPUBuffer; offset: number; data?: Uint8Array; produce?: () => Uint8Array }
  /** CPU work each replay does at this point (Runtime.each). */
  | { kind: 'call'; fn: () => void }
  | { kind: 'submit' };

let logs = 0;

/** What the runtime notes while recording (Runtime.record). */
export class CommandLog {
  /** Which recording this is (1, 2, …: Runtime.recordingSerial). */
  readonly serial = ++logs;
  readonly commands: Command[] = [];
  /** Every buffer the commands use (uniform chunks aside), with its lease when first used. */
  readonly firstLease = new Map<GPUBuffer, number>();
  /** Uniform chunks the recorded dispatches read: kept, so a replay finds the same bytes. */
  readonly uniforms: GPUBuffer[] = [];
  /** Conditions the recorded work depends on besides its buffers (see `Runtime.guardRecording`). */
  readonly guards: Array<() => boolean> = [];

  /** The pool's last lease when recording began: larger ones were handed out during it. */
  readonly startLease: number;

  constructor(private readonly pool: BufferPool) {
    this.startLease = pool.lastLease;
  }

  /** Notes a buffer a command uses, with its lease now (-1: not handed out). */
  use(buffer: GPUBuffer): void {
    if (!this.firstLease.has(buffer)) this.firstLease.set(buffer, this.pool.leaseOf(buffer) ?? -1);
  }
}

/** The parts of the runtime a recording uses. */
export interface RecordingHost {
  readonly device: GPUDevice;
  readonly pool: BufferPool;
  /** Submits what the runtime has recorded so far (a replay's commands come after it). */
  flush(): void;
  /** Counts a submission (runtime stats). */
  noteSubmit(): void;
}

export class Recording {
  private disposed = false;

  /**
   * `owned`: buffers the recording holds (released to the pool by dispose, with the uniform
   * chunks); `external`: buffers it does not own, with the lease they had when recorded.
   */
  constructor(
    private readonly host: RecordingHost,
    private readonly log: CommandLog,
    private readonly owned: GPUBuffer[],
    private readonly external: Map<GPUBuffer, number>,
    /** Why it can never be replayed (see finishRecording), or null. */
    readonly unreplayable: string | null = null,
  ) {}

  get dispatches(): number {
    return this.log.commands.reduce((n, c) => n + (c.kind === 'dispatch' ? 1 : 0), 0);
  }

  /** Whether a replay would do what recording did: every buffer it does not own unchanged in hand, every guard true. */
  valid(): boolean {
    if (this.disposed || this.unreplayable) return false;
    for (const [buffer, lease] of this.external) if (this.host.pool.leaseOf(buffer) !== lease) return false;
    return this.log.guards.every((g) => g());
  }

  /** Issues the recorded commands again, in the recorded order and submissions. Check `valid()` first. */
  replay(): void {
    if (this.disposed) throw new Error('replay: the recording was disposed');
    const { device } = this.host;
    this.host.flush();
    let encoder: GPUCommandEncoder | null = null;
    let pass: GPUComputePassEncoder | null = null;
    const endPass = () => {
      pass?.end();
      pass = null;
    };
    for (const c of this.log.commands) {
      if (c.kind === 'write') {
        const data = c.produce ? c.produce() : c.data!;
        device.queue.writeBuffer(c.buffer, c.offset, data.buffer, data.byteOffset, data.byteLength);
        continue;
      }
      if (c.kind === 'call') {
        c.fn();
        continue;
      }
      if (c.kind === 'submit') {
        endPass();
        if (encoder) device.queue.submit([encoder.finish()]);
        this.host.noteSubmit();
        encoder = null;
        continue;
      }
      encoder ??= device.createCommandEncoder();
      if (c.kind === 'dispatch') {
        pass ??= encoder.beginComputePass();
        pass.setPipeline(c.pipeline);
        pass.setBindGroup(0, c.bindGroup, c.offsets);
        pass.dispatchWorkgroups(c.x, c.y, c.z);
      } else {
        endPass();
        if (c.kind === 'copy') encoder.copyBufferToBuffer(c.src, c.srcOffset, c.dst, c.dstOffset, c.bytes);
        else encoder.clearBuffer(c.buffer, c.offset, c.bytes);
      }
    }
    endPass();
    if (encoder) {
      device.queue.submit([encoder.finish()]);
      this.host.noteSubmit();
    }
  }

  /** Hands the owned buffers back to the pool; the recording cannot be replayed after. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const b of this.owned) this.host.pool.release(b);
    for (const b of this.log.uniforms) this.host.pool.release(b);
  }
}

/**
 * The recording of `log`, ended by a submission. Each buffer its commands used is, by its lease
 * when first used and now:
 * - held by the same holder throughout (weights, inputs, the output): not owned, its lease checked
 *   before each replay;
 * - handed out during the recording, now free (intermediates): claimed, owned;
 * - handed out during the recording, now held by a tensor made later in it (a kept cache, the
 *   output): not owned; the replay writes it as the recording did, ending with that tensor's content;
 * - held before the recording and released during it: what the recording read from it may be
 *   gone, so the recording is marked unreplayable (and claims nothing).
 */
export function finishRecording(host: RecordingHost, log: CommandLog): Recording {
  const owned: GPUBuffer[] = [];
  const external = new Map<GPUBuffer, number>();
  const claims: GPUBuffer[] = [];
  for (const [b, first] of log.firstLease) {
    const now = host.pool.leaseOf(b);
    const madeDuring = first > log.startLease;
    if (now !== undefined && (now === first || madeDuring)) external.set(b, now);
    else if (now === undefined && madeDuring) claims.push(b);
    else return new Recording(host, log, [], new Map(), 'a buffer filled before the recording was released during it');
  }
  for (const b of claims) {
    if (!host.pool.claim(b)) return new Recording(host, log, owned, new Map(), 'a released buffer was not free in the pool');
    owned.push(b);
  }
  return new Recording(host, log, owned, external);
}
