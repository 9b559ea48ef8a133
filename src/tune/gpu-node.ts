// The benchmark's WebGPU instance in Node: dawn.node created with Dawn's timestamp quantisation
// off, so timestamp queries resolve to nanoseconds instead of 65.536 µs steps. Falls back to the
// runtime's own instance (via the CLI's setup path) when this fails.
import type { RequestGpuOptions } from '../gpu/device.js';

// dawn.node crashes when an instance is garbage-collected while its device lives: keep them all.
const live: unknown[] = [];

export const DAWN_FLAGS = ['disable-dawn-features=timestamp_quantization'];

/** A `GPU` for `initRuntime({ gpu })`, or null outside Node / without the `webgpu` package. */
export async function benchGpu(): Promise<RequestGpuOptions['gpu'] | null> {
  if (typeof process === 'undefined' || !process.versions?.node) return null;
  try {
    const pkg = 'webgpu';
    const mod = (await import(pkg)) as { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
    for (const [k, v] of Object.entries(mod.globals)) {
      if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    }
    const gpu = mod.create(DAWN_FLAGS);
    live.push(gpu);
    return gpu;
  } catch {
    return null;
  }
}
