// Device ceilings for the roofline, measured at start-up on the runtime's device:
//   peak compute: FMA chains with independent accumulators (A vec4 accumulators per invocation,
//     tried for several A; 8 FLOPs per vec4 FMA); the best variant is the peak.
//   copy bandwidth: copyBufferToBuffer and a vec4 storage copy kernel (1 and 4 vec4 per
//     invocation), counted as bytes read + bytes written; the higher of the two is the ceiling.
// Each measurement is the best of a few samples (a ceiling, not a typical value). Times come from
// timestamp queries on our own passes when the device has 'timestamp-query', else wall clock.
import type { Runtime } from '../gpu/runtime.js';
import type { Roofline } from './schema.js';

const WG = 64;
/** [vec4 accumulators, loop unroll] of the FMA kernels (iterations are a multiple of every unroll). */
const FMA_VARIANTS: Array<[number, number]> = [[8, 1], [4, 4], [8, 4], [16, 4]];
const FMA_QUICK: Array<[number, number]> = [[4, 4], [8, 4]];

function fmaShader(acc: number, unroll: number): string {
  const a = [...Array(acc).keys()];
  const body = a.map((k) => `    a${k} = fma(a${k}, m, c);`).join('\n');
  return `
struct P { m: f32, c: f32, iters: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> sink: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${WG}u;
  let s = f32(i) * 1e-9;
  let m = vec4<f32>(p.m);
  let c = vec4<f32>(p.c);
${a.map((k) => `  var a${k} = vec4<f32>(s + ${4 * k}.0, s + ${4 * k + 1}.0, s + ${4 * k + 2}.0, s + ${4 * k + 3}.0);`).join('\n')}
  for (var it = 0u; it < p.iters; it += ${unroll}u) {
${Array(unroll).fill(body).join('\n')}
  }
  sink[i] = dot(${a.map((k) => `a${k}`).join(' + ')}, vec4<f32>(1.0));
}`;
}

function copyShader(per: number): string {
  return `
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let threads = nwg.x * nwg.y * ${WG}u;
  let t = gid.x + gid.y * nwg.x * ${WG}u;
  let n = arrayLength(&dst);
  for (var j = 0u; j < ${per}u; j++) {
    let i = t + j * threads;
    if (i < n) { dst[i] = src[i]; }
  }
}`;
}

// Shader storage loads from a small, cache-resident region (64 KiB), different per invocation: how
// fast a kernel can feed its arithmetic once data is near the core. On lavapipe every storage access
// is a per-lane loop (bounds-checked), so this, not the FMA rate, is what limits real kernels.
const LOAD_REGION_VEC4 = 4096;
const LOADS_PER_INVOCATION = 256;
function loadShader(): string {
  return `
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> sink: array<vec4<f32>>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  var acc = vec4<f32>(0.0);
  for (var k = 0u; k < ${LOADS_PER_INVOCATION}u; k++) {
    acc += src[(gid.x * 17u + k * 64u) % ${LOAD_REGION_VEC4}u];
  }
  sink[gid.x] = acc;
}`;
}

type Encode = (enc: GPUCommandEncoder, pass: (first: boolean) => GPUComputePassDescriptor) => void;

class Clock {
  private readonly qs: GPUQuerySet | null;
  private readonly resolve: GPUBuffer | null;
  private readonly read: GPUBuffer | null;

  constructor(
    private readonly device: GPUDevice,
    timestamps: boolean,
  ) {
    this.qs = timestamps ? device.createQuerySet({ type: 'timestamp', count: 4 }) : null;
    this.resolve = timestamps ? device.createBuffer({ size: 32, usage: 0x200 | 0x04 }) : null;
    this.read = timestamps ? device.createBuffer({ size: 32, usage: 0x01 | 0x08 }) : null;
  }

  /**
   * ms of the work `encode` records. With timestamps, the span from the end of the first timed pass
   * to the start of the second when `encode` opens two (work in between), else the first pass.
   */
  async time(encode: Encode): Promise<number> {
    const enc = this.device.createCommandEncoder();
    let passes = 0;
    const pass = (first: boolean): GPUComputePassDescriptor => {
      passes++;
      if (!this.qs) return {};
      const base = first ? 0 : 2;
      return { timestampWrites: { querySet: this.qs, beginningOfPassWriteIndex: base, endOfPassWriteIndex: base + 1 } };
    };
    encode(enc, pass);
    if (this.qs) {
      enc.resolveQuerySet(this.qs, 0, passes > 1 ? 4 : 2, this.resolve!, 0);
      enc.copyBufferToBuffer(this.resolve!, 0, this.read!, 0, 32);
    }
    const t0 = performance.now();
    this.device.queue.submit([enc.finish()]);
    await this.device.queue.onSubmittedWorkDone();
    const wall = performance.now() - t0;
    if (!this.qs) return wall;
    await this.read!.mapAsync(1);
    const ts = new BigUint64Array(this.read!.getMappedRange().slice(0));
    this.read!.unmap();
    return Number(passes > 1 ? ts[2] - ts[1] : ts[1] - ts[0]) / 1e6;
  }

  destroy(): void {
    this.qs?.destroy();
    this.resolve?.destroy();
    this.read?.destroy();
  }
}

function grid(workgroups: number): [number, number] {
  if (workgroups <= 65535) return [workgroups, 1];
  const y = Math.ceil(workgroups / 65535);
  return [Math.ceil(workgroups / y), y];
}

async function best(samples: number, f: () => Promise<number>): Promise<number> {
  let b = Infinity;
  for (let i = 0; i < samples; i++) b = Math.min(b, await f());
  return b;
}

/** Measures the roofline ceilings; `quick` uses smaller buffers and fewer samples. */
export async function calibrate(rt: Runtime, opts: { quick: boolean; timestamps: boolean }): Promise<Roofline> {
  const device = rt.device;
  await rt.sync();
  const clock = new Clock(device, opts.timestamps);
  const samples = opts.quick ? 2 : 5;
  const details: Record<string, number> = {};
  const bufs: GPUBuffer[] = [];
  const buffer = (size: number, usage: number) => {
    const b = device.createBuffer({ size, usage });
    bufs.push(b);
    return b;
  };
  try {
    // ---- peak FMA throughput
    const workgroups = opts.quick ? 256 : 1024;
    const iters = opts.quick ? 128 : 512;
    const uni = buffer(16, 0x40 | 0x08);
    const u = new ArrayBuffer(16);
    new Float32Array(u, 0, 2).set([0.999, 1e-3]);
    new Uint32Array(u, 8, 1)[0] = iters;
    device.queue.writeBuffer(uni, 0, u);
    const sink = buffer(workgroups * WG * 4, 0x80);
    for (const [acc, unroll] of opts.quick ? FMA_QUICK : FMA_VARIANTS) {
      const module = device.createShaderModule({ code: fmaShader(acc, unroll) });
      const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      const bg = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [{ binding: 0, resource: { buffer: uni } }, { binding: 1, resource: { buffer: sink } }],
      });
      const run = (n: number) =>
        clock.time((enc, pass) => {
          const p = enc.beginComputePass(pass(true));
          p.setPipeline(pipeline);
          p.setBindGroup(0, bg);
          for (let i = 0; i < n; i++) p.dispatchWorkgroups(workgroups);
          p.end();
        });
      await run(1); // compile
      const dispatches = 2;
      const ms = await best(samples, () => run(dispatches));
      details[`fma ${acc} vec4 acc x${unroll}`] = (dispatches * workgroups * WG * iters * acc * 8) / (ms * 1e6);
    }
    // ---- copy bandwidth
    const bytes = (opts.quick ? 16 : 64) * 2 ** 20;
    const src = buffer(bytes, 0x80 | 0x04 | 0x08);
    const dst = buffer(bytes, 0x80 | 0x04 | 0x08);
    const fill = new Float32Array(bytes / 4);
    for (let i = 0; i < fill.length; i += 1024) fill[i] = i;
    device.queue.writeBuffer(src, 0, fill);
    const copyOnce = () =>
      clock.time((enc, pass) => {
        enc.beginComputePass(pass(true)).end();
        enc.copyBufferToBuffer(src, 0, dst, 0, bytes);
        enc.beginComputePass(pass(false)).end();
      });
    await copyOnce();
    details['copyBufferToBuffer'] = (2 * bytes) / ((await best(samples, copyOnce)) * 1e6);
    for (const per of [1, 4]) {
      const module = device.createShaderModule({ code: copyShader(per) });
      const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      const bg = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [{ binding: 0, resource: { buffer: src } }, { binding: 1, resource: { buffer: dst } }],
      });
      const [gx, gy] = grid(Math.ceil(bytes / 16 / per / WG));
      const run = () =>
        clock.time((enc, pass) => {
          const p = enc.beginComputePass(pass(true));
          p.setPipeline(pipeline);
          p.setBindGroup(0, bg);
          p.dispatchWorkgroups(gx, gy);
          p.end();
        });
      await run();
      details[`copy kernel ${per} vec4/thread`] = (2 * bytes) / ((await best(samples, run)) * 1e6);
    }
    // ---- cache-resident load throughput
    {
      const module = device.createShaderModule({ code: loadShader() });
      const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      const bg = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [{ binding: 0, resource: { buffer: src } }, { binding: 1, resource: { buffer: sink } }],
      });
      const run = () =>
        clock.time((enc, pass) => {
          const p = enc.beginComputePass(pass(true));
          p.setPipeline(pipeline);
          p.setBindGroup(0, bg);
          p.dispatchWorkgroups(workgroups);
          p.end();
        });
      await run();
      details['cached vec4 loads'] = (workgroups * WG * LOADS_PER_INVOCATION * 16) / ((await best(samples, run)) * 1e6);
    }
  } finally {
    await device.queue.onSubmittedWorkDone();
    for (const b of bufs) b.destroy();
    clock.destroy();
  }
  const copyBufferGBps = details['copyBufferToBuffer'];
  const copyKernelGBps = Math.max(details['copy kernel 1 vec4/thread'], details['copy kernel 4 vec4/thread']);
  return {
    peakGflops: Math.max(...Object.entries(details).filter(([k]) => k.startsWith('fma')).map(([, v]) => v)),
    copyGBps: Math.max(copyBufferGBps, copyKernelGBps),
    copyBufferGBps,
    copyKernelGBps,
    cachedLoadGBps: details['cached vec4 loads'],
    details,
  };
}
