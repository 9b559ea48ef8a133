// Backbone speed: our MobileNetV2 forward (nsfwjs weights converted by tools/convert/tfjs-layers.ts,
// up to features.18 = Keras `out_relu`) against @tensorflow/tfjs-backend-webgpu running the same
// nsfwjs layers model to `out_relu`, on the SAME GPUDevice in the same process.
//
// Usage: node dist/tools/bench-backbone.js [--sizes 224,256] [--batches 1,8] [--runs 5] [--warmup 5]
//                                    [--json FILE] [--profile] [--no-peer]
// Each case, every engine alike: one first call (pipeline compilation included: Mesa's disk cache
// makes it vary between runs of the process), `warmup` more untimed calls (our bind-group cache
// fills over the first few), then `runs` rounds that time each engine once, in an order that
// rotates from round to round: a shift in the machine's speed (2-core VMs swing 1.5-2× within
// minutes) then falls on all engines alike, and each round gives a ratio of ours to the peer.
// Medians and min in ms, images/s from the median, the median and p10-p90 of the per-round
// ratios. Every timed call starts from an input already on the GPU and ends when the output has
// been read back to the CPU. Ours is timed twice: running the ops each call, and replaying the
// forward recorded once (RecordedForward: its input is uploaded from the CPU each call). --profile
// adds a breakdown of our forward from GPU timestamps (per op, block and kernel, the medians of 7
// profiled calls; `hlgfa profile`'s tables).
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../src/io/node-fs.js';
import { initRuntime, destroyRuntime, runtime } from '../src/gpu/runtime.js';
import { parseSafetensors, serializeSafetensors } from '../src/io/safetensors.js';
import { loadBackbone } from '../src/models/backbone.js';
import { MobileNetV2 } from '../src/models/mobilenet-v2.js';
import { WeightReader } from '../src/models/weights.js';
import { tensor } from '../src/tensor/tensor.js';
import { RecordedForward } from '../src/tensor/replay.js';
import { adapterLabel } from '../src/gpu/device.js';
import type { DispatchRecord } from '../src/gpu/profiler.js';
import { formatProfile, profiledCall, type Profile } from '../src/tune/profile.js';
import { convertKerasMobilenetV2 } from './convert/tfjs-layers.js';
import { decodeTfjsWeights, readTfjsModel, type TfjsModelFiles } from './convert/tfjs-weights.js';

const MODEL = fileURLToPath(new URL('../../node_modules/nsfwjs/dist/models/mobilenet_v2/model.min.js', import.meta.url));

interface Row {
  engine: 'ours' | 'ours, replayed' | 'tfjs-webgpu';
  size: number;
  batch: number;
  firstMs: number;
  medianMs: number;
  minMs: number;
  imagesPerS: number;
  runs: number;
  /** This engine's time over the peer's, per round: median and p10-p90 (null without the peer). */
  peerRatio: { median: number; p10: number; p90: number } | null;
}

interface Engine {
  name: Row['engine'];
  call: () => Promise<void>;
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function seededInput(n: number): Float32Array {
  let a = 12345;
  return Float32Array.from({ length: n }, () => {
    a = (Math.imul(a, 1103515245) + 12345) >>> 0;
    return (a >>> 8) / 16777216;
  });
}

const quantile = (v: number[], q: number) => [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor(q * v.length))];

/** One case: each engine's first call and warm-up, then `runs` rounds timing each once (rotating the order). */
async function timeCase(size: number, batch: number, runs: number, warmup: number, engines: readonly Engine[]): Promise<Row[]> {
  const first: number[] = [];
  for (const e of engines) {
    const t = performance.now();
    await e.call();
    first.push(performance.now() - t);
    for (let i = 0; i < warmup; i++) await e.call();
  }
  const times = engines.map((): number[] => []);
  for (let r = 0; r < runs; r++) {
    for (let k = 0; k < engines.length; k++) {
      const i = (r + k) % engines.length;
      const t = performance.now();
      await engines[i].call();
      times[i].push(performance.now() - t);
    }
  }
  const peer = engines.findIndex((e) => e.name === 'tfjs-webgpu');
  return engines.map((e, i) => {
    const med = median(times[i]);
    const ratios = peer >= 0 ? times[i].map((t, r) => t / times[peer][r]) : null;
    return {
      engine: e.name, size, batch, firstMs: first[i], medianMs: med, minMs: Math.min(...times[i]), imagesPerS: (1000 * batch) / med, runs,
      peerRatio: ratios ? { median: median(ratios), p10: quantile(ratios, 0.1), p90: quantile(ratios, 0.9) } : null,
    };
  });
}

/**
 * Our forward profiled on the GPU (timestamp queries around every dispatch, src/gpu/profiler.ts):
 * `calls` profiled calls, each after an unprofiled one, and every dispatch's median GPU time over
 * them (the forward issues the same dispatches each call); null where the adapter has no
 * 'timestamp-query'. Each dispatch runs in a pass of its own while profiled.
 */
async function gpuProfile(net: MobileNetV2, size: number, batch: number, calls = 7): Promise<Profile | null> {
  const rt = runtime();
  if (!rt.device.features.has('timestamp-query')) return null;
  const x = tensor(seededInput(batch * 3 * size * size), [batch, 3, size, size]);
  const call = async () => {
    const { 'features.18': y } = net.features(x, ['features.18']);
    await y.read();
    y.dispose();
  };
  const timed = async () => {
    const t = performance.now();
    await call();
    return performance.now() - t;
  };
  await call();
  const runs: DispatchRecord[][] = [];
  const [walls, plain]: number[][] = [[], []];
  for (let i = 0; i < calls; i++) {
    plain.push(await timed());
    const { wallMs, dispatches } = await profiledCall(rt, call);
    walls.push(wallMs);
    runs.push(dispatches);
  }
  x.dispose();
  const same = runs.every((r) => r.length === runs[0].length && r.every((d, j) => d.pipeline === runs[0][j].pipeline));
  if (!same) throw new Error('bench-backbone: the profiled calls issued different dispatches');
  const dispatches = runs[0].map((d, j) => ({ ...d, gpuMs: median(runs.map((r) => r[j].gpuMs)), cpuMs: median(runs.map((r) => r[j].cpuMs)) }));
  const workload = `our MobileNetV2 forward to features.18, ${batch} image(s) at ${size}², per-dispatch medians of ${calls} profiled calls`;
  return { workload, wallMs: median(walls), unprofiledMs: median(plain), firstCall: false, adapter: adapterLabel(rt.gpu.info), roofline: null, dispatches };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { sizes: { type: 'string' }, batches: { type: 'string' }, runs: { type: 'string' }, warmup: { type: 'string' }, json: { type: 'string' }, profile: { type: 'boolean' }, 'no-peer': { type: 'boolean' }, help: { type: 'boolean' } },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const sizes = (values.sizes ?? '224,256').split(',').map(Number);
  const batches = (values.batches ?? '1,8').split(',').map(Number);
  const runs = Math.max(5, Number(values.runs ?? 5));
  const warmup = Math.max(1, Number(values.warmup ?? 5));
  const rt = await initRuntime();
  const info = rt.gpu.info;
  console.log(`adapter: ${info.vendor} ${info.architecture} ${info.description}; node ${process.version}`);

  const files: TfjsModelFiles = readTfjsModel(MODEL);
  const weights = decodeTfjsWeights(files.json.weightsManifest, files.groups, MODEL);
  const converted = convertKerasMobilenetV2(files.json.modelTopology, weights, { source: 'nsfwjs 4.4.0', licence: 'MIT' });
  const bytes = serializeSafetensors(converted.tensors, converted.metadata);
  const backbone = loadBackbone(bytes, 'nsfwjs.safetensors');

  // The peer on our device: tfjs-backend-webgpu only checks navigator.gpu exists, then uses the
  // device it is given. Imported before navigator.gpu is set so it does not register its own.
  let tf: typeof import('@tensorflow/tfjs') | null = null;
  let peerNote = 'not run (--no-peer)';
  if (!values['no-peer']) {
    tf = await import('@tensorflow/tfjs');
    const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
    const { create } = (await import('webgpu')) as unknown as { create: (flags: string[]) => GPU };
    const gpu = create([]);
    keepAlive.push(gpu);
    (globalThis as { navigator?: unknown }).navigator = { gpu };
    tf.registerBackend('webgpu', () => new WebGPUBackend(rt.device, rt.gpu.adapter.info));
    await tf.setBackend('webgpu');
    await tf.ready();
    peerNote = `@tensorflow/tfjs-backend-webgpu ${tf.version.tfjs} on the same GPUDevice`;
  }

  const rows: Row[] = [];
  for (const size of sizes) {
    const peer = tf ? await peerModel(tf, files, size) : null;
    for (const batch of batches) {
      const data = seededInput(batch * 3 * size * size);
      const x = tensor(data, [batch, 3, size, size]);
      const { output, recorded } = RecordedForward.record([batch, 3, size, size], data, (input) => backbone.features(input, ['features.18'])['features.18']);
      output.dispose();
      const px = tf?.tidy(() => tf.tensor4d(data, [batch, 3, size, size]).transpose([0, 2, 3, 1]));
      const engines: Engine[] = [
        {
          name: 'ours',
          call: async () => {
            const { 'features.18': y } = backbone.features(x, ['features.18']);
            await y.read();
            y.dispose();
          },
        },
        {
          name: 'ours, replayed',
          call: async () => {
            const y = recorded.run(data);
            if (!y) throw new Error('bench-backbone: the recorded forward no longer holds');
            await y.read();
            y.dispose();
          },
        },
      ];
      if (peer && px) {
        engines.push({
          name: 'tfjs-webgpu',
          call: async () => {
            const y = peer.net.predict(px) as import('@tensorflow/tfjs').Tensor;
            await y.data();
            y.dispose();
          },
        });
      }
      const done = await timeCase(size, batch, runs, warmup, engines);
      for (const r of done) console.log(fmt(r));
      rows.push(...done);
      px?.dispose();
      recorded.dispose();
      x.dispose();
    }
    peer?.dispose();
  }

  console.log(`\nMobileNetV2 (nsfwjs weights) to features.18 / out_relu, incl. readback; medians of ${runs} interleaved rounds after ${warmup} warm-up calls;`);
  console.log('ratios: the median of the per-round ratios (each round times every engine once), with their p10–p90 as speed-ups');
  console.log(`peer: ${peerNote}`);
  console.log('size  batch |   ours first   median   img/s | replayed median   img/s |   tfjs first   median   img/s | ours/peer time | replayed/peer');
  const table: Array<Record<string, unknown>> = [];
  for (const size of sizes) {
    for (const batch of batches) {
      const find = (engine: Row['engine']) => rows.find((r) => r.engine === engine && r.size === size && r.batch === batch);
      const [o, rp, p] = [find('ours')!, find('ours, replayed')!, find('tfjs-webgpu')];
      const ratio = o.peerRatio?.median ?? null;
      const replayedRatio = rp.peerRatio?.median ?? null;
      table.push({ size, batch, ours: o, replayed: rp, peer: p ?? null, ratio, replayedRatio });
      const cell = (r?: Row) => (r ? `${r.firstMs.toFixed(0).padStart(8)} ${r.medianMs.toFixed(1).padStart(8)} ${r.imagesPerS.toFixed(2).padStart(7)}` : '       —        —       —');
      const times = (q: number | null, r: Row) =>
        q === null ? '—' : `${q.toFixed(2)} (${(1 / q).toFixed(2)}× ${q < 1 ? 'faster' : 'slower'}; ${(1 / r.peerRatio!.p90).toFixed(2)}–${(1 / r.peerRatio!.p10).toFixed(2)}×)`;
      console.log(
        `${String(size).padEnd(5)} ${String(batch).padStart(5)} | ${cell(o)} | ${rp.medianMs.toFixed(1).padStart(15)} ${rp.imagesPerS.toFixed(2).padStart(7)} | ${cell(p)} | ${times(ratio, o)} | ${times(replayedRatio, rp)}`,
      );
    }
  }

  let profile: Profile | null = null;
  if (values.profile) {
    const net = new MobileNetV2(new WeightReader(parseSafetensors(bytes, 'nsfwjs.safetensors')), 'tf-same');
    const [size, batch] = [sizes[0], batches[batches.length - 1]];
    profile = await gpuProfile(net, size, batch);
    net.dispose();
    console.log(profile ? `\n${formatProfile(profile, 20, '--json has all')}` : "\nno per-layer profile: the adapter has no 'timestamp-query'");
  }

  if (values.json) {
    writeFileAtomic(
      values.json,
      JSON.stringify({ schema: 'hlgfa-bench-backbone/1', createdAt: new Date().toISOString(), adapter: info, peer: peerNote, runs, cases: table, profile }, null, 2),
    );
    console.log(`wrote ${values.json}`);
  }
  backbone.dispose();
  return 0;
}

const USAGE = `Usage: node dist/tools/bench-backbone.js [--sizes 224,256] [--batches 1,8] [--runs 5] [--warmup 5]
                                   [--json FILE] [--profile] [--no-peer]
Our MobileNetV2 forward (running the ops, and replayed) against tfjs-webgpu on the same GPUDevice:
first call, --warmup untimed calls, then --runs rounds timing each engine once, in a rotating order
(input on the GPU, output read back): medians per engine, and the median and p10-p90 of the
per-round ratios to the peer. --profile adds a GPU-timed breakdown of ours (per op, block and kernel:
medians of 7 profiled calls, as \`hlgfa profile\` prints a detector's); --json writes the table.`;

/** nsfwjs's layers model at S×S as tfjs runs it, cut at `out_relu` (features.18). */
async function peerModel(
  tf: typeof import('@tensorflow/tfjs'), files: TfjsModelFiles, size: number,
): Promise<{ net: import('@tensorflow/tfjs').LayersModel; dispose: () => void }> {
  const topology = JSON.parse(JSON.stringify(files.json.modelTopology)) as { model_config: { config: { layers: Array<{ class_name: string; config: Record<string, unknown> }> } } };
  const input = topology.model_config.config.layers.find((l) => l.class_name === 'InputLayer')!;
  input.config.batch_input_shape = [null, size, size, 3];
  const g = files.groups[0];
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: topology,
      weightSpecs: files.json.weightsManifest.flatMap((w) => w.weights) as never,
      weightData: g.buffer.slice(g.byteOffset, g.byteOffset + g.byteLength) as ArrayBuffer,
    }),
  );
  return { net: tf.model({ inputs: model.inputs, outputs: model.getLayer('out_relu').output as never }), dispose: () => model.dispose() };
}

// dawn.node instances must outlive every device made from them (see WEBGPU-NOTES).
const keepAlive: unknown[] = [];

function fmt(r: Row): string {
  return `${r.engine.padEnd(14)} ${r.size}×${r.size} b${r.batch}: first ${r.firstMs.toFixed(0)} ms, median ${r.medianMs.toFixed(1)} ms, ${r.imagesPerS.toFixed(2)} img/s`;
}

main()
  .then((code) => {
    destroyRuntime();
    process.exit(code);
  })
  .catch((e) => {
    console.error(`bench-backbone: ${(e as Error).stack ?? e}`);
    destroyRuntime();
    process.exit(1);
  });
