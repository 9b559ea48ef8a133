// The package's entry points: the exports map, what each entry exposes, and that the portable ones
// bundle for a browser without any Node-only module. Checks the compiled files in dist/ (what
// ships); the consumer test resolves them through an installed tarball.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { ENTRY_FILES, packageJson, requireBuild, ROOT } from './helpers.js';

requireBuild();
const load = (sub: keyof typeof ENTRY_FILES) => import(join(ROOT, ENTRY_FILES[sub])) as Promise<Record<string, unknown>>;

// Knobs and internals that must stay out of the main entry (they live in ./kernels).
const INTERNAL = /Ref$|RefWithIndices$|Tuning$|^(set|get)[A-Z]|Geometry$|Plan$|^(applyTuning|useTuning|resetTuning|currentTuning|checkTuning|tuningFor|adapterKey|MATMUL_VARIANTS|conv2dDirectEntry|resolveMatmulVariant|gemm|launch)$|Backward|Raw$/;

describe('exports map', () => {
  it('lists exactly the documented subpaths, each with its types', () => {
    const js = (f: string) => ({ types: `./dist/src/${f}.d.ts`, default: `./dist/src/${f}.js` });
    expect(packageJson().exports).toEqual({
      '.': js('index'),
      // "node" only: a browser bundler asked for it fails at resolution instead of bundling node:fs
      './node': { types: './dist/src/node.d.ts', node: './dist/src/node.js' },
      './kernels': js('kernels'),
      './synthetic': js('synthetic'),
      './metrics': js('metrics'),
      './weights/*': './weights/*',
      './package.json': './package.json',
    });
    const pkg = packageJson();
    expect([pkg.main, pkg.types]).toEqual(['dist/src/index.js', 'dist/src/index.d.ts']);
    for (const f of Object.values(ENTRY_FILES)) expect(existsSync(join(ROOT, f.replace(/\.js$/, '.d.ts'))), f).toBe(true);
  });

  it('entry declarations reference the type packages they use, so skipLibCheck off needs no `types` entry', () => {
    const head = (f: string) => readFileSync(join(ROOT, f.replace(/\.js$/, '.d.ts')), 'utf8').split('\n').slice(0, 3);
    const webgpu = '/// <reference types="@webgpu/types" preserve="true" />';
    expect(head(ENTRY_FILES['.'])[0]).toBe(webgpu);
    expect(head(ENTRY_FILES['./kernels'])[0]).toBe(webgpu);
    expect(head(ENTRY_FILES['./node']).slice(0, 2)).toEqual(['/// <reference types="node" preserve="true" />', webgpu]);
  });
});

describe('the main entry', () => {
  it('has the app-facing API and no kernel internals', async () => {
    const main = await load('.');
    for (const name of [
      'loadDetector', 'Detector', 'trainHlgfa', 'resolveConfig', 'DEFAULT_CONFIG', 'ConfigError', 'loadBackbone', 'sha256Hex',
      'noiseAugmenter', 'heatmapOverlay', 'calibrateThreshold', 'initRuntime', 'destroyRuntime', 'NoAdapterError', 'tensor',
      'scope', 'backward', 'parameter', 'conv2d', 'matmul', 'parseSafetensors', 'serializeSafetensors', 'Adam', 'ReplayCache', 'RecordedForward',
      'RecordedWork', 'ReplayedStep', 'replaysTraining',
    ]) expect(main[name], name).toBeDefined();
    expect(Object.keys(main).filter((n) => INTERNAL.test(n))).toEqual([]);
    // Node-only names are in ./node only.
    expect(Object.keys(main).filter((n) => /^(readImage|writePng|encodePng|writeFileAtomic|scanMvtec|readTuningCache)$/.test(n))).toEqual([]);
  });

  it('is one module graph with ./kernels: the same functions, not copies', async () => {
    const [main, kernels] = await Promise.all([load('.'), load('./kernels')]);
    const shared = Object.keys(main).filter((n) => n in kernels);
    expect(shared).toContain('conv2d');
    for (const n of shared) expect(kernels[n], n).toBe(main[n]);
  });
});

describe('subpath entries', () => {
  it('./kernels has every op-library export, the CPU references and the knobs', async () => {
    const kernels = await load('./kernels');
    const ops = await import(join(ROOT, 'dist/src/ops/index.js'));
    expect(Object.keys(ops).filter((n) => !(n in kernels))).toEqual([]);
    for (const n of ['conv2dRef', 'matmulRef', 'adamRef', 'setMatmulVariant', 'applyTuning', 'conv2dTuning', 'convGeometry']) expect(kernels[n], n).toBeDefined();
  });

  it('./node has the file helpers and the shipped backbone path', async () => {
    const node = await load('./node');
    for (const n of ['readImage', 'readImageHeader', 'decodeImage', 'writePng', 'encodePng', 'writeFileAtomic', 'readTuningCache',
      'saveTuning', 'useTuningCache', 'scanMvtec', 'loadSample', 'writeSyntheticDataset', 'DEFAULT_MAX_PIXELS']) expect(node[n], n).toBeDefined();
    expect(node.DEFAULT_BACKBONE_PATH).toBe(join(ROOT, 'weights', 'mobilenet_v2_imagenet.safetensors'));
    expect(node.IMAGENET_LABELS_PATH).toBe(join(ROOT, 'weights', 'imagenet_labels.txt'));
  });

  it('./synthetic and ./metrics have the dataset generator and the evaluation metrics', async () => {
    const [synthetic, metrics] = await Promise.all([load('./synthetic'), load('./metrics')]);
    expect(Object.keys(synthetic).sort()).toEqual([
      'DEFAULT_POINT_NOISE', 'DEFAULT_STRIPE_NOISE', 'SYNTHETIC_CATEGORIES', 'SYNTHETIC_DEFECTS', 'addSparsePointNoise', 'addStripeNoise',
      'generateDataset', 'generateSample', 'noiseAugment', 'noiseAugmenter',
    ]);
    expect((metrics.auroc as (s: number[], l: number[]) => number)([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBe(0.75);
    for (const n of ['pixelAuroc', 'aupro', 'verdictMetrics', 'bestF1Threshold', 'calibrateThreshold', 'evaluateDetections']) expect(metrics[n], n).toBeDefined();
  });
});

describe('browser bundles', () => {
  // What a bundler makes of each portable entry for a page: esbuild with the browser platform
  // fails on any node: builtin; the inputs must hold no Node-only module of ours either.
  const NODE_ONLY = /(^|\/)(src\/cli\/|[\w-]+-node\.js$|node_modules\/(webgpu|jpeg-js|pngjs)\/)|^node:/;
  for (const sub of ['.', './kernels', './synthetic', './metrics'] as const) {
    it(`${sub} bundles for the browser without Node-only modules`, async () => {
      const result = await build({
        entryPoints: [join(ROOT, ENTRY_FILES[sub])],
        bundle: true, format: 'esm', platform: 'browser', minify: true, write: false, metafile: true, logLevel: 'silent',
      });
      const inputs = Object.keys(result.metafile.inputs);
      expect(inputs.filter((p) => NODE_ONLY.test(p))).toEqual([]);
      const bytes = result.outputFiles[0].contents.length;
      console.log(`browser bundle of ${sub}: ${(bytes / 1024).toFixed(0)} KiB minified, ${inputs.length} modules`);
      if (sub === '.') expect(inputs.some((p) => p.endsWith('dist/src/models/detector.js'))).toBe(true);
    });
  }

  it('./node does not: it imports node:fs', async () => {
    const failure = await build({ entryPoints: [join(ROOT, ENTRY_FILES['./node'])], bundle: true, platform: 'browser', write: false, logLevel: 'silent' })
      .then(() => null, (e: Error & { errors?: Array<{ text: string }> }) => e);
    // Every error, not the message: that lists only the first few, sorted by path, and a checkout
    // whose node_modules is a link to another folder (../x/node_modules) lists pngjs's first.
    expect(failure?.errors?.map((e) => e.text)).toContain('Could not resolve "node:fs"');
  });
});
