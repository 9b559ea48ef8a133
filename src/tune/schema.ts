// The JSON written by `hlgfa bench --json FILE` (schema "hlgfa-bench/1"); bench/README.md explains
// every field in prose. Times are milliseconds per single execution of the case's op.

export const SCHEMA = 'hlgfa-bench/1';

export interface BenchReport {
  schema: typeof SCHEMA;
  createdAt: string;
  mode: 'full' | 'quick';
  host: { node: string; platform: string; arch: string; cpus: number; cpuModel: string };
  adapter: { vendor: string; architecture: string; device: string; description: string; isFallbackAdapter: boolean; features: string[] };
  /** How case times were taken. */
  clock: ClockInfo;
  /** Device ceilings measured at start-up by src/tune/calibrate.ts. */
  roofline: Roofline;
  /** The kernel variants in force (defaults, or this adapter's `hlgfa tune` cache). */
  tuning: { source: string; record: unknown };
  peer: PeerInfo;
  cases: CaseResult[];
  /** Cases whose status is not "ok" (WRONG or ERROR). */
  failures: number;
  durationS: number;
  /** The end-to-end section (`--e2e`, `--e2e-only`; src/tune/e2e.ts); absent otherwise. */
  e2e?: E2EReport;
}

export interface ClockInfo {
  /** 'gpu-timestamp': compute-pass timestamp queries; 'wall': submit → onSubmittedWorkDone. */
  kind: 'gpu-timestamp' | 'wall';
  /** Timestamp granularity seen (ns; Dawn quantises to 65536 unless told not to), null for wall. */
  resolutionNs: number | null;
  note: string;
}

export interface Roofline {
  /** Peak f32 FMA throughput (best of the FMA-chain kernel variants), GFLOP/s. */
  peakGflops: number;
  /** max(copyBufferGBps, copyKernelGBps): the memory ceiling used for roofline %. */
  copyGBps: number;
  /** copyBufferToBuffer, (bytes read + bytes written) / time. */
  copyBufferGBps: number;
  /** vec4 storage-to-storage copy kernel, (bytes read + bytes written) / time. */
  copyKernelGBps: number;
  /**
   * Shader storage loads from a 64 KiB cache-resident region, 16 bytes per vec4 load (not a
   * roofline term: a ceiling on how fast any kernel can feed its arithmetic from storage).
   */
  cachedLoadGBps: number;
  /** Every calibration measurement: name → GFLOP/s or GB/s. */
  details: Record<string, number>;
}

export interface PeerInfo {
  name: '@tensorflow/tfjs-backend-webgpu';
  version: string | null;
  /** False when not requested (--no-peer) or not installed; `reason` says which. */
  available: boolean;
  reason?: string;
  /** The peer runs on our runtime's GPUDevice, timed by wall clock (submit → done). */
  clock: 'wall';
}

export interface TimeStats {
  /** ms per execution */
  median: number;
  p10: number;
  p90: number;
  q1: number;
  q3: number;
  min: number;
  max: number;
  mean: number;
  samples: number;
  repsPerSample: number;
}

export interface WorkModel {
  /** Floating-point operations of one execution (an FMA counts 2). */
  flops: number;
  /** Compulsory DRAM traffic of one execution: bytes read + bytes written, each tensor once. */
  bytes: number;
  /** The formula, e.g. "flops = 2·M·N·K; bytes = 4·(M·K + K·N + M·N)". */
  formula: string;
}

export interface Validation {
  ok: boolean;
  /** 'full': every output element against the CPU reference; 'sampled': a stated subset. */
  method: 'full' | 'sampled';
  /** Output elements compared. */
  checked: number;
  maxAbsErr: number;
  /** maxAbsErr / RMS of the reference. */
  relErr: number;
  /** Pass iff relErr <= tol (and no NaN). */
  tol: number;
  note?: string;
}

export interface CaseResult {
  /** Unique name "family/shape…", what --filter matches. */
  id: string;
  family: string;
  /** The op measured, e.g. "conv2d" or "conv2d backward". */
  op: string;
  shape: string;
  variant: string;
  status: 'ok' | 'WRONG' | 'ERROR';
  error?: string;
  validation: Validation | null;
  /** Primary time (clock.kind). */
  time: TimeStats | null;
  /** Wall clock of the same samples (submit → done, includes CPU encoding), per execution. */
  wall: TimeStats | null;
  model: WorkModel & { intensity: number };
  throughput: { gflops: number; gbps: number } | null;
  roofline: { pct: number; bound: 'compute' | 'memory'; attainableGflops: number } | null;
  peer?: PeerResult;
}

export interface PeerResult {
  op: string;
  /** Peer wall time per execution (samples interleaved with `oursWall`'s). */
  wall: TimeStats | null;
  /** Our wall time per execution, sampled alternately with the peer's. */
  oursWall: TimeStats | null;
  /** oursWall.median / wall.median: below 1 means ours is faster. */
  ratio: number | null;
  error?: string;
}

// ---- end to end (src/tune/e2e.ts): the whole detector, wall clock ---------------------------------

export interface E2EReport {
  /** HLGFA input size S (DEFAULT_CONFIG.size = 256 unless overridden). */
  size: number;
  /** Backbone taps (one HLGFA level per tap). */
  taps: string[];
  backbone: { path: string; architecture: string; sha256: string };
  /** Where the images come from: deterministic synthetic S×S images (src/data/synthetic.ts). */
  images: { source: 'synthetic'; category: string; seed: number; inference: number; training: number };
  /** One entry per inference batch size (default 1 and 8), measured in this process. */
  inference: InferenceResult[];
  training: TrainingResult;
  /** The same training with replay the other way (TrainingResult.replay); absent in quick runs and older reports. */
  trainingOtherReplay?: TrainingResult;
  /** Fresh processes with an empty, then the same, driver shader cache; null when skipped. */
  shaderCache: ShaderCacheResult | null;
  /** Wall time of the whole section (s). */
  durationS: number;
}

/** Pool bytes over one measurement (bucket sizes, src/gpu/pool.ts), bytes. */
export interface PoolPeak {
  /** Live bytes before it started: weights and other resident tensors. */
  residentBytes: number;
  /** High-water mark of live (handed-out) bytes, resident ones included. */
  peakLiveBytes: number;
  /** High-water mark of all bytes the pool held on the device (live + pending + free). */
  peakAllocatedBytes: number;
}

export interface InferenceResult {
  /** Images per `Detector.score` call. */
  batch: number;
  /** ms of the first call (pipeline creation and first allocations included). */
  firstMs: number;
  /** Pipelines the first call created (the runtime's kernel cache grew by this many). */
  pipelinesCompiled: number;
  /** Untimed calls between the first call and the timed ones. */
  warmupCalls: number;
  /** Warm calls, ms per call (one batch); repsPerSample is 1. */
  time: TimeStats;
  /** batch / (time.median / 1000). */
  imagesPerS: number;
  /** time.median / batch. */
  msPerImage: number;
  pool: PoolPeak;
  /** Whether the detector replayed its recorded work (Detector.replay); absent in older reports: true. */
  replay?: boolean;
  /** Main-thread busy ms per timed call (Node's event-loop utilisation): the CPU cost of preparing and issuing it. */
  mainThreadMs?: number;
}

export interface TrainingResult {
  batch: number;
  /** Images trained on (the fit split; the held-out ones only calibrate the threshold). */
  fitImages: number;
  epochs: number;
  steps: number;
  /** One training step as `hlgfa train` runs it (augmentation, noisy-view features, module forward/backward, Adam, loss readback). */
  step: PhaseTiming;
  /** Clean-feature caching before the first epoch (backbone on HR and LR views, readback to sync). */
  features: PhaseTiming;
  /** Mean alignment loss of the first and last step (finite: both are finite numbers). */
  loss: { first: number; last: number; finite: boolean };
  /** Whole trainHlgfa call (features, steps, mean map, threshold), s. */
  totalS: number;
  /** Over the whole call (feature cache included). */
  pool: PoolPeak;
  /** Over the training steps only (residentBytes: live bytes when they began, feature cache included). */
  stepsPool: PoolPeak;
  /** Whether full-batch steps were replayed from a recording (TrainOptions.replay); absent in older reports. */
  replay?: boolean;
  /** Steps that were replayed. */
  replayedSteps?: number;
  /** Median main-thread busy ms of the steps after the first (event loop utilisation). */
  mainThreadMs?: number;
}

export interface PhaseTiming {
  /** Images per step / batch. */
  batch: number;
  /** ms of the first step or batch. */
  firstMs: number;
  /** Pipelines it created. */
  pipelinesCompiled: number;
  /** The later ones, ms each (null with only one). */
  time: TimeStats | null;
  /** batch / (time.median / 1000), from the first one when there is no other. */
  imagesPerS: number;
}

export interface ShaderCacheResult {
  /** The environment variables set for both children to the same fresh temporary folder. */
  env: string[];
  /** Inference batch size the children measure. */
  batch: number;
  /** First process: empty cache folder. */
  coldCache: E2EChildResult | null;
  /** Second process: the folder the first one filled. */
  warmCache: E2EChildResult | null;
  /** Third process: the same folder, the pipelines prepared before the first call (absent in older reports). */
  warmCachePrepared?: E2EChildResult | null;
  /** Bytes in the cache folder after each child. */
  cacheBytes: { afterCold: number; afterWarm: number };
  error?: string;
}

/** What one child process (dist/src/tune/e2e-child.js) prints as JSON on stdout. */
export interface E2EChildResult {
  /** The child's adapter: "vendor architecture description". */
  adapter: string;
  /** ms to create the runtime: dawn.node import, requestAdapter, requestDevice. */
  initMs: number;
  /** ms to read, parse and upload the backbone weights. */
  loadMs: number;
  /** ms of Detector.preparePipelines before the first call, when the parent asked for it. */
  prepareMs?: number;
  /** Pipelines it created. */
  preparedPipelines?: number;
  inference: InferenceResult;
  /** Wall time of the child as seen by the parent (process start to exit), ms. */
  processMs?: number;
}
