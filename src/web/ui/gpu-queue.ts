// The page's one GPU queue: tasks run one after another, never interleaved (each may await many
// readbacks), and the page can tell whether any is queued or running (the warm-up runs only while
// none is).

export interface GpuQueue {
  exclusive: <T>(task: () => Promise<T>) => Promise<T>;
  /** True while no task is queued or running. */
  idle: () => boolean;
}

export function gpuQueue(): GpuQueue {
  let queue: Promise<unknown> = Promise.resolve();
  let pending = 0;
  return {
    exclusive<T>(task: () => Promise<T>): Promise<T> {
      pending++;
      const next = queue.then(task);
      // Registered before the caller's own continuation, so a caller that awaited its task sees it counted out.
      queue = next.then(
        () => void pending--,
        () => void pending--,
      );
      return next;
    },
    idle: () => pending === 0,
  };
}
