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
  /** Device ceilings measured at start-up by bench/calibrate.ts. */
  roofline: Roofline;
  /** The kernel variants in force (defaults, or this adapter's `hlgfa tune` cache). */
  tuning: { source: string; record: unknown };
  peer: PeerInfo;
  cases: CaseResult[];
  /** Cases whose status is not "ok" (WRONG or ERROR). */
  failures: number;
  durationS: number;
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
