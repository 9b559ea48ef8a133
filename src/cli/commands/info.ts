// `hlgfa info`: what WebGPU adapter this machine gives us, and the limits kernels depend on.
import { parseArgs } from '../args.js';
import { cliRuntime } from '../gpu-setup.js';

export const help = `Usage: hlgfa info [--json]

Prints the WebGPU adapter in use (vendor, architecture, description, fallback flag), its optional
features and the limits the kernels depend on.

  --json   print the same as JSON`;

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { flags: ['json'] });
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
