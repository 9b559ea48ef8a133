// Work replayed instead of re-run: tensor work recorded once (Runtime.record) and issued again from
// the recorded commands — the ops' JavaScript does not run again. A forward pass of one input is
// replayed on new input values by writing them into the recorded input; a training step on input
// slots the caller refills (ReplayedStep). Inference and training repeat the same dispatches on the
// same shapes, so this is what a call's CPU time comes down to (dispatches encoded from a list)
// when nothing changed; anything that did change (a weight tensor replaced, a cached layout gone
// stale, the caller's key) makes the work run afresh.
import type { Recording } from '../gpu/capture.js';
import { runtime } from '../gpu/runtime.js';
import { keep, scope, shapeStr, sizeOf, tensor, type Shape, type Tensor } from './tensor.js';

/**
 * Tensor work recorded once (Runtime.record) and issued again by `replay`: the output tensor the
 * work made is written again by each replay. Holds the output and the recording's buffers until
 * disposed.
 */
export class RecordedWork {
  private constructor(
    private readonly output: Tensor,
    private readonly recording: Recording,
  ) {}

  /** Runs `fn` (in a scope) and records it; returns its output (a view the caller disposes) and the recording. */
  static record(fn: () => Tensor): { output: Tensor; work: RecordedWork } {
    const { result, recording } = runtime().record(() => keep(scope(fn)));
    return { output: result.reshape(result.shape), work: new RecordedWork(result, recording) };
  }

  get dispatches(): number {
    return this.recording.dispatches;
  }

  /**
   * The work again, by replay: its output as a view the caller disposes, whose values are this
   * replay's until the next one is issued. `before` runs first, once the recording is known to
   * hold (new input values uploaded). null when it no longer holds (Recording.valid): run the
   * work afresh.
   */
  replay(before?: () => void): Tensor | null {
    if (!runtime().canRecord) throw new Error('replay: not inside a dry run or a recording, nor while profiling or timing passes');
    if (!this.recording.valid()) return null;
    before?.();
    this.recording.replay(); // bumps the versions of what it writes, the output among them
    return this.output.reshape(this.output.shape);
  }

  dispose(): void {
    this.recording.dispose();
    this.output.dispose();
  }
}

/** A RecordedWork of a function of one input, whose values each run uploads. */
export class RecordedForward {
  private constructor(
    private readonly input: Tensor,
    private readonly work: RecordedWork,
  ) {}

  /**
   * Runs `fn` on `data` (a tensor of `shape`) and records it. Returns the output (a view the
   * caller disposes) and the recording, which holds the input, the output and every
   * intermediate buffer until disposed.
   */
  static record(shape: Shape, data: Float32Array, fn: (x: Tensor) => Tensor): { output: Tensor; recorded: RecordedForward } {
    const input = keep(tensor(data, shape));
    try {
      const { output, work } = RecordedWork.record(() => fn(input));
      return { output, recorded: new RecordedForward(input, work) };
    } catch (e) {
      input.dispose();
      throw e;
    }
  }

  get dispatches(): number {
    return this.work.dispatches;
  }

  /**
   * `fn` of the recording on new values of its input's shape, by replay: the output as a view
   * the caller disposes. Its values are those of this replay until the next one is issued, so
   * read it before running the recording again. null when the recording no longer holds (see
   * Recording.valid): run `fn` afresh.
   */
  run(data: Float32Array): Tensor | null {
    if (data.length !== this.input.size) {
      throw new Error(`replay: ${data.length} input values for a recording of ${shapeStr(this.input.shape)} (${sizeOf(this.input.shape)} expected)`);
    }
    if (this.input.disposed) return null;
    return this.work.replay(() => runtime().write(this.input.bufferFor('replay'), 0, data));
  }

  dispose(): void {
    this.work.dispose();
    this.input.dispose();
  }
}

/**
 * One piece of work run many times on tensors its caller refills in between (a training step on
 * fixed input slots): the first run is plain, the second recorded, later ones replay; where the
 * recording no longer holds (something it used was released or replaced) the next run records
 * afresh. Where recording is not possible (a profile) the work runs plainly and the recording is
 * released: a plain run of work that replaces what the recording holds (a training step's
 * gradients) leaves it unusable anyway. `fn` returns a tensor it makes; each run returns it as a
 * view the caller disposes, valid until the next run.
 */
export class ReplayedStep {
  private work: RecordedWork | null = null;
  private ran = false;
  /** Runs that replayed a recording. */
  replays = 0;

  constructor(private readonly fn: () => Tensor) {}

  run(): Tensor {
    const out = runtime().canRecord ? this.work?.replay() : null;
    if (out) {
      this.replays++;
      return out;
    }
    this.release();
    if (!runtime().canRecord || !this.ran) {
      this.ran = true;
      return scope(this.fn);
    }
    const { output, work } = RecordedWork.record(this.fn);
    this.work = work;
    return output;
  }

  /** Releases the recording (its buffers go back to the pool); the next run records again. */
  release(): void {
    this.work?.dispose();
    this.work = null;
  }
}

/**
 * Recorded forward passes by key (everything the pass depends on besides its input values and
 * its tensors' contents: the caller's shapes, options and state). A key's first call runs
 * plainly (filling caches the recording should not contain), its second is recorded, later
 * ones replay; at most `capacity` keys are kept, the least recently used released first.
 */
export class ReplayCache {
  private readonly recorded = new Map<string, RecordedForward>();
  private readonly seen = new Set<string>();

  constructor(private readonly capacity = 2) {}

  run(key: string, shape: Shape, data: Float32Array, fn: (x: Tensor) => Tensor): Tensor {
    const rt = runtime();
    const plain = () => scope(() => fn(tensor(data, shape)));
    if (!rt.canRecord) return plain();
    const hit = this.recorded.get(key);
    if (hit) {
      this.recorded.delete(key);
      let out: Tensor | null = null;
      try {
        out = hit.run(data);
      } finally {
        if (out) this.recorded.set(key, hit); // most recently used last
        else hit.dispose();
      }
      if (out) return out;
    }
    if (!this.seen.has(key)) {
      if (this.seen.size >= 64) this.seen.clear();
      this.seen.add(key);
      return plain();
    }
    // Room first: the recording being made can reuse the working memory of the one it replaces.
    while (this.recorded.size >= this.capacity) {
      const [oldest, r] = this.recorded.entries().next().value!;
      this.recorded.delete(oldest);
      r.dispose();
    }
    const { output, recorded } = RecordedForward.record(shape, data, fn);
    this.recorded.set(key, recorded);
    return output;
  }

  /** How many recordings are held. */
  get size(): number {
    return this.recorded.size;
  }

  /** Releases every recording (their buffers go back to the pool). */
  clear(): void {
    for (const r of this.recorded.values()) r.dispose();
    this.recorded.clear();
    this.seen.clear();
  }
}
