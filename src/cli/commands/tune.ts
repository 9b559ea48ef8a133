// `hlgfa tune`: measures each performance-critical kernel family's variants on this adapter
// (src/tune/tuner.ts) and caches the winners keyed by adapter identity; every later `hlgfa` command
// (and `initRuntime` after `useTuningCache()`) applies them. With --browser the same tuner runs in
// the browser page inside headless Chromium (../tune-browser.ts), and a side-by-side table shows
// the winners per adapter.
import { readTuningCache, saveTuning, tuningFilePath } from '../../io/tuning-node.js';
import { writeFileAtomic } from '../../io/node-fs.js';
import { adapterKey, type AdapterIdentity, type FullTuning, type TunableFamily, type TuningRecord } from '../../ops/tuning.js';
import { parseArgs, UsageError } from '../args.js';
import { didYouMean } from '../../util/suggest.js';
import { ExitError } from '../gpu-setup.js';
import { checkOutput } from '../output-guard.js';
import { DEFAULT_BACKBONE } from '../paths.js';
import { TUNABLE_FAMILIES, mergeTuned, runTuning, type TuneMeasurements, type TuneResult } from '../../tune/tuner.js';
import { columnFromEntry, comparisonTable, type TuneColumn } from '../../tune/table.js';
import { benchRuntime } from './bench.js';

export const help = `Usage: hlgfa tune [--quick] [--family NAMES] [--dry-run] [--wall] [--json FILE]
       hlgfa tune --browser [--compare] [--quick] [--family NAMES] [--dry-run] [--wall] [--json FILE]

Measures the kernel variants of each performance-critical family on this machine's WebGPU adapter
(matmul subgroup/vec4/scalar/tiled/rows, conv2d pixels per thread, depthwise rolling/blocks, norm, gate, cosine
and Adam workgroup sizes and vec4 paths, blur span), validating every candidate against the CPU
reference, and caches the fastest as JSON keyed by the adapter's vendor, architecture, device and
description. Commands apply the cached record when they start (HLGFA_TUNING=off disables that).

  --quick         fewer samples and only the main knob of each family
  --family NAMES  comma-separated subset of: ${TUNABLE_FAMILIES.join(', ')}
  --dry-run       measure and print, but do not write the cache
  --wall          time by wall clock even when the adapter has timestamp queries
  --json FILE     also write the runs (records, winners, measurements) as JSON
  --browser       run the tuner in the browser page instead: serves dist/web/ (npm run build),
                  opens it in headless Chromium with WebGPU (SwiftShader without a GPU), stores the
                  browser adapter's winners in the cache under its own key, and prints a table of
                  the winners per adapter beside the cached Node ones. Needs Chromium
                  ($HLGFA_CHROMIUM, else /usr/bin/chromium) and the playwright-core package (a
                  devDependency: present after \`npm install\` in a checkout).
  --compare       with --browser: first tune in Node too (this adapter, as without --browser)

Cache file: $HLGFA_TUNING_FILE, else $XDG_CACHE_HOME/hlgfa/tuning.json, else ~/.cache/hlgfa/tuning.json
(now: ${tuningFilePath()}). The page keeps its own winners in localStorage (window.hlgfaTune).`;

/** One tuner run, as printed and written by --json. */
interface TuneRun {
  runtime: 'node' | 'browser';
  adapter: AdapterIdentity;
  key: string;
  userAgent?: string;
  clock: TuneResult['clock'];
  seconds: number;
  /** What was (or, with --dry-run, would be) cached for this adapter. */
  record: TuningRecord;
  tuned: FullTuning;
  winners: Record<string, string>;
  changed: string[];
  measurements: TuneMeasurements;
}

function cachedRecord(path: string, key: string): TuningRecord {
  try {
    return readTuningCache(path).adapters[key]?.record ?? {};
  } catch {
    return {};
  }
}

/** Prints the outcome and caches it (families not tuned now keep what the cache holds). */
function finish(run: TuneRun, path: string, dryRun: boolean): void {
  console.log(`\nchanged from the defaults: ${run.changed.length ? run.changed.join(', ') : 'nothing'}`);
  console.log(JSON.stringify(run.record, null, 2));
  console.log(`(${run.seconds.toFixed(0)} s)`);
  if (dryRun) return;
  saveTuning(run.adapter, run.record, run.measurements, path);
  console.log(`wrote ${path}`);
}

async function tuneNode(o: { quick: boolean; families?: TunableFamily[]; timestamps: boolean; path: string }): Promise<TuneRun> {
  const { rt } = await benchRuntime();
  const info = rt.gpu.info;
  const key = adapterKey(info);
  console.log(`tuning for ${key}`);
  const started = performance.now();
  const r = await runTuning(rt, { quick: o.quick, families: o.families, timestamps: o.timestamps, log: (line) => console.log(line) });
  const { vendor, architecture, device, description } = info;
  return {
    runtime: 'node',
    adapter: { vendor, architecture, device, description },
    key,
    clock: r.clock,
    seconds: (performance.now() - started) / 1e3,
    record: mergeTuned(cachedRecord(o.path, key), r.record, o.families ?? TUNABLE_FAMILIES),
    tuned: r.record,
    winners: r.winners,
    changed: r.changed,
    measurements: r.measurements,
  };
}

async function tuneBrowser(o: { quick: boolean; families?: TunableFamily[]; timestamps: boolean; path: string }): Promise<TuneRun> {
  const { openPage, pageStatus, tuneInPage } = await import('../tune-browser.js');
  const started = performance.now();
  let page: Awaited<ReturnType<typeof openPage>>;
  try {
    page = await openPage({ log: (line) => console.log(line) });
  } catch (e) {
    throw new ExitError(`hlgfa tune --browser: ${(e as Error).message}`, 1);
  }
  try {
    const { key } = await pageStatus(page.page);
    console.log(`tuning in headless Chromium for ${key}`);
    // store: false — the profile is temporary; the cache file keeps the record instead.
    const r = await tuneInPage(page.page, { quick: o.quick, families: o.families, timestamps: o.timestamps, store: false });
    if (page.errors.length) console.log(`page errors:\n  ${page.errors.join('\n  ')}`);
    return {
      runtime: 'browser',
      adapter: r.adapter,
      key: r.key,
      userAgent: r.userAgent,
      clock: r.clock,
      seconds: (performance.now() - started) / 1e3,
      record: mergeTuned(cachedRecord(o.path, r.key), r.tuned, r.families),
      tuned: r.tuned,
      winners: r.winners,
      changed: r.changed,
      measurements: r.measurements,
    };
  } finally {
    await page.close();
  }
}

const columnName = (a: AdapterIdentity, what: string) => `${[a.vendor, a.architecture].filter(Boolean).join('/') || a.description || '?'} (${what})`;

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['family', 'json'], flags: ['quick', 'dry-run', 'wall', 'browser', 'compare'] });
  const families = args.values.family?.split(',').map((s) => s.trim()).filter(Boolean) as TunableFamily[] | undefined;
  if (families?.length === 0) throw new UsageError(`--family needs at least one family name, got "${args.values.family}"`);
  for (const f of families ?? []) {
    if (!TUNABLE_FAMILIES.includes(f)) {
      throw new UsageError(`--family: unknown family "${f}"${didYouMean(f, TUNABLE_FAMILIES)}, expected one of ${TUNABLE_FAMILIES.join(', ')}`);
    }
  }
  const browser = args.flags.has('browser');
  if (args.flags.has('compare') && !browser) throw new UsageError('--compare goes with --browser (it adds a Node run to the browser run)');
  // Before any work: --json may not replace the backbone, the tuning cache or a file that is not JSON.
  if (args.values.json !== undefined) checkOutput(args.values.json, 'json', { files: [DEFAULT_BACKBONE, tuningFilePath()] }, { option: '--json' });
  const dryRun = args.flags.has('dry-run');
  const opts = { quick: args.flags.has('quick'), families, timestamps: !args.flags.has('wall'), path: tuningFilePath() };
  const started = performance.now();
  const runs: TuneRun[] = [];
  if (!browser || args.flags.has('compare')) {
    runs.push(await tuneNode(opts));
    finish(runs[runs.length - 1], opts.path, dryRun);
  }
  if (browser) {
    if (runs.length) console.log('');
    runs.push(await tuneBrowser(opts));
    finish(runs[runs.length - 1], opts.path, dryRun);
  }
  let columns: TuneColumn[] = [];
  if (browser) {
    // The Node run of now (--compare), the other adapters the cache knows (e.g. lavapipe from an
    // earlier `hlgfa tune`), the browser run.
    const column = (r: TuneRun): TuneColumn => ({ name: columnName(r.adapter, r.runtime === 'node' ? 'Node' : 'Chromium'), winners: r.winners, measurements: r.measurements });
    columns = runs.filter((r) => r.runtime === 'node').map(column);
    let cached: ReturnType<typeof readTuningCache>['adapters'] = {};
    try {
      cached = readTuningCache(opts.path).adapters;
    } catch {
      cached = {};
    }
    for (const [key, e] of Object.entries(cached)) {
      if (runs.some((r) => r.key === key)) continue;
      columns.push(columnFromEntry(columnName(e.adapter, `cache ${e.createdAt.slice(0, 10)}`), e.record, e.measurements));
    }
    columns.push(...runs.filter((r) => r.runtime === 'browser').map(column));
    console.log(`\nwinners per adapter (×N: the default's time / the winner's time there; — not measured):\n${comparisonTable(columns)}`);
    for (const r of runs) console.log(`  ${r.runtime}: ${r.key}${r.userAgent ? ` — ${r.userAgent}` : ''} (${r.clock.kind}, ${r.seconds.toFixed(0)} s)`);
  }
  if (args.values.json) {
    const report = {
      schema: 'hlgfa-tune/1',
      createdAt: new Date().toISOString(),
      mode: opts.quick ? 'quick' : 'full',
      durationS: (performance.now() - started) / 1e3,
      cacheFile: dryRun ? null : opts.path,
      runs,
      comparison: columns.map((c) => ({ name: c.name, winners: c.winners })),
    };
    writeFileAtomic(args.values.json, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`wrote ${args.values.json}`);
  }
  return 0;
}
