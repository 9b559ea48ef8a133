// dawn.node drives every pending asynchronous operation (mapAsync, onSubmittedWorkDone,
// createComputePipelineAsync) by handing a native tick function to the global `setImmediate`,
// which re-queues itself for as long as anything is pending: a busy loop that keeps the JS thread
// at 100 % of a core while the GPU works. On a GPU that costs only a core. On a CPU adapter
// (lavapipe, SwiftShader) the "GPU" is the CPU's other threads, and the loop takes a core from
// them: on 2 cores, S=256 inference at batch 8 ran 876 ms spinning and 586 ms with the ticks below
// (same process, alternated); the main thread's CPU time over 20 batch-1 inferences fell 2.6 → 0.55 s.
//
// So on CPU adapters, dawn's ticks run at once only for the first SPIN_MS of a wait (short waits,
// such as a small readback, keep their latency) and then every POLL_MS on a timer. Only dawn's
// ticks are recognised (an anonymous native function); everything else that uses setImmediate is
// passed through untouched.

/** How long a wait ticks as fast as dawn asks (ms). */
const SPIN_MS = 1;
/** Tick interval after that (ms): Node's timer resolution. */
const POLL_MS = 1;
/** A tick asked for this long (ms) after the previous one starts a new wait. */
const NEW_WAIT_GAP_MS = 5;

type ImmediateFn = (callback: (...args: unknown[]) => void, ...args: unknown[]) => unknown;
type TimeoutFn = (callback: (...args: unknown[]) => void, ms: number, ...args: unknown[]) => unknown;

/** Whether `fn` is what dawn.node hands to setImmediate: a native function without a name. */
export function isDawnTick(fn: unknown): boolean {
  return typeof fn === 'function' && fn.name === '' && Function.prototype.toString.call(fn).endsWith('{ [native code] }');
}

/**
 * The tick policy, apart from the global: returns the delay (ms) for a tick asked for at `now`, 0
 * meaning "at once". `state` carries the current wait's start and the previous tick.
 */
export function tickDelay(now: number, state: { waitStart: number; lastTick: number }): number {
  if (now - state.lastTick > NEW_WAIT_GAP_MS) state.waitStart = now;
  state.lastTick = now;
  return now - state.waitStart < SPIN_MS ? 0 : POLL_MS;
}

const installedOn = new WeakSet<object>();

/**
 * Spaces dawn.node's ticks on `target` (the global object of the thread that loaded dawn.node) as
 * described above. Idempotent; anything but dawn's ticks goes to the original setImmediate.
 */
export function throttleDawnTicks(target: { setImmediate?: unknown; setTimeout?: unknown } = globalThis as never): void {
  if (installedOn.has(target)) return;
  const original = target.setImmediate as ImmediateFn | undefined;
  const timeout = target.setTimeout as TimeoutFn | undefined;
  if (typeof original !== 'function' || typeof timeout !== 'function') return;
  const state = { waitStart: -Infinity, lastTick: -Infinity };
  const throttled: ImmediateFn = (callback, ...args) => {
    if (isDawnTick(callback)) {
      const delay = tickDelay(performance.now(), state);
      if (delay > 0) return timeout(callback, delay, ...args);
    }
    return original(callback, ...args);
  };
  // util.promisify(setImmediate) and the like keep working through the original's own properties.
  Object.assign(throttled, original);
  target.setImmediate = throttled;
  installedOn.add(target);
}
