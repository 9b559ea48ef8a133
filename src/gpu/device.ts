// Device acquisition for Node (dawn.node via the `webgpu` package) and the browser (navigator.gpu).
// This is the only module that knows where it runs.
import { throttleDawnTicks } from './dawn-ticks.js';

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  features: string[];
  limits: Record<string, number>;
}

/** A software (CPU) adapter: SwiftShader, lavapipe/llvmpipe, WARP, or one flagged as fallback. */
export function isSoftwareAdapter(a: Pick<AdapterSummary, 'vendor' | 'architecture' | 'description' | 'isFallbackAdapter'>): boolean {
  if (a.isFallbackAdapter) return true;
  return /swiftshader|llvmpipe|lavapipe|software|warp|microsoft basic render/i.test(`${a.vendor} ${a.architecture} ${a.description}`);
}

/** "vendor architecture description", the adapter's name in reports. */
export const adapterLabel = (a: Pick<AdapterSummary, 'vendor' | 'architecture' | 'description'>): string => `${a.vendor} ${a.architecture} ${a.description}`.trim();

export interface Gpu {
  readonly device: GPUDevice;
  readonly adapter: GPUAdapter;
  readonly info: AdapterSummary;
  readonly hasTimestamps: boolean;
  readonly hasF16: boolean;
  /** Subgroup sizes when the device has the 'subgroups' feature, else null. */
  readonly subgroups: { min: number; max: number } | null;
  /** Validation or out-of-memory errors the device reported but nobody awaited; drained by `takeErrors()`. */
  takeErrors(): string[];
  destroy(): void;
}

export interface RequestGpuOptions {
  /** A `GPU` object to use instead of `navigator.gpu` / dawn.node. */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
}

/** The limits kernels need, raised to what the adapter offers. */
const WANTED_LIMITS = [
  'maxComputeWorkgroupStorageSize',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupsPerDimension',
] as const;

// 'subgroups' is missing from older @webgpu/types feature names.
const OPTIONAL_FEATURES = ['timestamp-query', 'shader-f16', 'subgroups'] as GPUFeatureName[];

/** Limits shown by `hlgfa info`. */
export const REPORTED_LIMITS = [
  ...WANTED_LIMITS,
  'maxUniformBufferBindingSize',
  'minStorageBufferOffsetAlignment',
  'minUniformBufferOffsetAlignment',
] as const;

// dawn.node crashes when the object returned by `create()` is garbage-collected while a device
// made from it lives, so every instance we create stays referenced here for the process lifetime.
const liveNodeInstances: unknown[] = [];

export class NoAdapterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoAdapterError';
  }
}

const isNode = (): boolean => typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';

async function findGpu(explicit?: GPU): Promise<GPU> {
  if (explicit) return explicit;
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (!isNode()) {
    throw new NoAdapterError(
      'WebGPU is not available in this browser (navigator.gpu is undefined). Use a browser with WebGPU enabled ' +
        '(Chrome/Edge 113+, or Chromium with --enable-unsafe-webgpu).',
    );
  }
  // A computed specifier keeps browser bundlers from trying to resolve the Node-only package.
  const pkg = 'webgpu';
  const mod = (await import(/* @vite-ignore */ pkg)) as {
    create: (flags: string[]) => GPU;
    globals: Record<string, unknown>;
  };
  // Constants such as GPUBufferUsage are globals in browsers; dawn.node exports them instead.
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  const instance = mod.create([]);
  liveNodeInstances.push(instance);
  return instance;
}

function summarize(adapter: GPUAdapter): AdapterSummary {
  // adapter.info prints as {} under dawn.node: read each field explicitly.
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const legacyFallback = (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  const limits: Record<string, number> = {};
  for (const name of REPORTED_LIMITS) limits[name] = Number((adapter.limits as unknown as Record<string, number>)[name]);
  const description = info.description ?? '';
  return {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description,
    // dawn.node leaves the flag undefined; a CPU rasteriser is a fallback adapter by definition.
    isFallbackAdapter:
      info.isFallbackAdapter ?? legacyFallback ?? /llvmpipe|lavapipe|swiftshader/i.test(`${description} ${info.architecture}`),
    features: [...adapter.features].map(String).sort(),
    limits,
  };
}

function subgroupSizes(adapter: GPUAdapter): { min: number; max: number } | null {
  const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  const min = Number(info.subgroupMinSize);
  const max = Number(info.subgroupMaxSize);
  return Number.isInteger(min) && Number.isInteger(max) && min > 0 ? { min, max } : null;
}

export async function requestGpu(options: RequestGpuOptions = {}): Promise<Gpu> {
  const gpu = await findGpu(options.gpu);
  let adapter: GPUAdapter | null;
  // On drivers reporting huge dynamic-buffer limits (lavapipe: 1000000, RADV: 500000) dawn.node
  // prints two "maxDynamic…BuffersPerPipelineLayout artificially reduced" warnings here, from
  // Dawn's limit clamping (dawn::WarningLog → fprintf(stderr) in native code). They are left
  // alone on purpose: Dawn has no flag, toggle or environment variable that silences its log (only
  // a compile-time DAWN_DISABLE_LOGGING), and Node cannot redirect fd 2 around one call (no dup2),
  // so the only ways left — patching process-wide stderr or re-running through a filtering parent
  // process — could hide real driver errors or break terminal detection for the progress bars.
  try {
    adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  } catch (e) {
    // e.g. no Vulkan loader at all: the same remedy as "no adapter".
    throw new NoAdapterError(`requesting a WebGPU adapter failed (${(e as Error).message}); install a Vulkan driver, e.g. as root on Debian 12: \`bash tools/setup-vulkan.sh\``);
  }
  if (!adapter) {
    throw new NoAdapterError(
      'No WebGPU adapter found. On Linux without a GPU install a software Vulkan driver (Mesa >= 24 lavapipe), ' +
        'e.g. as root on Debian 12: `bash tools/setup-vulkan.sh`.',
    );
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === 'number' && Number.isFinite(v)) requiredLimits[name] = v;
  }
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const info = summarize(adapter);
  // A CPU adapter runs kernels on the cores dawn.node's polling would spin on (see dawn-ticks.ts;
  // in Node a GPU object is dawn.node's, whether found here or passed in, as the bench does).
  if (isNode() && info.isFallbackAdapter) throttleDawnTicks();
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const errors: string[] = [];
  device.addEventListener('uncapturederror', (ev) => {
    errors.push((ev as GPUUncapturedErrorEvent).error.message);
  });
  let destroyed = false;
  return {
    device,
    adapter,
    info,
    hasTimestamps: device.features.has('timestamp-query'),
    hasF16: device.features.has('shader-f16'),
    subgroups: device.features.has('subgroups') ? subgroupSizes(adapter) : null,
    takeErrors: () => errors.splice(0, errors.length),
    destroy() {
      if (destroyed) return;
      destroyed = true;
      device.destroy();
    },
  };
}
