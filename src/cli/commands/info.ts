// `hlgfa info`: what WebGPU adapter this machine gives us, and the limits kernels depend on; with
// --model, what a backbone file holds: architecture, provenance, preprocessing, taps and shapes.
import { readFileSync } from 'node:fs';
import { intOption, parseArgs, UsageError } from '../args.js';
import { cliRuntime } from '../gpu-setup.js';
import { loadBackbone } from '../../models/backbone.js';
import { zeros } from '../../tensor/tensor.js';

export const help = `Usage: hlgfa info [--json] [--model FILE [--size N]]

Prints the WebGPU adapter in use (vendor, architecture, description, fallback flag), its optional
features and the limits the kernels depend on.

  --json        print the same as JSON
  --model FILE  instead describe a backbone safetensors file: architecture, metadata (source,
                licence, preprocessing, …) and every tap with its output shape, found by running
                the network once on zeros
  --size N      input size for the tap shapes (default: the file's preprocessing size)`;

/** Metadata values longer than this are summarised in the text output. */
const LONG = 160;

async function describeModel(file: string, size: number | undefined, json: boolean): Promise<number> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new Error(`${file}: cannot read backbone (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const rt = await cliRuntime();
  const backbone = loadBackbone(bytes, file);
  const s = size ?? backbone.preprocessing.size;
  const x = zeros([1, 3, s, s]);
  const out = backbone.features(x, backbone.taps);
  const taps = backbone.taps.map((name) => ({ name, shape: [...out[name].shape] }));
  await rt.sync();
  for (const t of Object.values(out)) t.dispose();
  x.dispose();
  backbone.dispose();
  if (json) {
    console.log(JSON.stringify({ file, architecture: backbone.architecture, metadata: backbone.metadata, preprocessing: backbone.preprocessing, input: [1, 3, s, s], taps }, null, 2));
    return 0;
  }
  const meta = Object.entries(backbone.metadata);
  const width = Math.max(...meta.map(([k]) => k.length), 'architecture'.length);
  console.log(`Backbone ${file}`);
  console.log(`  ${'architecture'.padEnd(width)}  ${backbone.architecture}`);
  for (const [k, v] of meta) {
    if (k === 'architecture') continue;
    console.log(`  ${k.padEnd(width)}  ${v.length > LONG ? `${v.slice(0, LONG - 20)}… (${v.length} characters; --json shows all)` : v}`);
  }
  const p = backbone.preprocessing;
  console.log(`Preprocessing\n  ${p.channels} ${p.size}×${p.size}, (pixel/255·${p.scale} − [${p.mean.join(', ')}]) / [${p.std.join(', ')}]`);
  const tw = Math.max(...taps.map((t) => t.name.length));
  console.log(`Taps (input [1, 3, ${s}, ${s}])`);
  for (const t of taps) console.log(`  ${t.name.padEnd(tw)}  [${t.shape.join(', ')}]`);
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { flags: ['json'], values: ['model', 'size'] });
  if (args.values.size !== undefined && args.values.model === undefined) throw new UsageError('--size goes with --model FILE (it sets the input size for the tap shapes)');
  if (args.values.model !== undefined) {
    return describeModel(args.values.model, args.values.size === undefined ? undefined : intOption(args, 'size', 224, 32), args.flags.has('json'));
  }
  const rt = await cliRuntime();
  const info = rt.gpu.info;
  if (args.flags.has('json')) {
    console.log(JSON.stringify(info, null, 2));
    return 0;
  }
  const rows: Array<[string, string]> = [
    ['vendor', info.vendor || '(unknown)'],
    ['architecture', info.architecture || '(unknown)'],
    ['device', info.device || '(unknown)'],
    ['description', info.description || '(unknown)'],
    ['fallback adapter', String(info.isFallbackAdapter)],
    ['timestamp-query', String(info.features.includes('timestamp-query'))],
    ['shader-f16', String(info.features.includes('shader-f16'))],
  ];
  const width = Math.max(...rows.map(([k]) => k.length), ...Object.keys(info.limits).map((k) => k.length));
  console.log('WebGPU adapter');
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
  console.log('Limits');
  for (const [k, v] of Object.entries(info.limits)) console.log(`  ${k.padEnd(width)}  ${v.toLocaleString('en-US')}`);
  console.log(`Features\n  ${info.features.join(', ')}`);
  return 0;
}
