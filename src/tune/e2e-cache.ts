// First-run latency with the driver's shader cache cold and warm. Fresh processes
// (dist/src/tune/e2e-child.js) each create a runtime, load the backbone and time HLGFA inference: the
// first with an empty temporary folder as the driver's on-disk shader cache, the second with the
// same folder, now filled by the first, and a third with it again that first creates the pipelines
// together (Detector.preparePipelines), as loadDetector, `hlgfa detect` and the page do. The folder
// is removed afterwards. The variables name it for
// Mesa (lavapipe, RADV, ANV…) and for NVIDIA's proprietary driver; other drivers ignore them.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TuningRecord } from '../ops/tuning.js';
import type { E2EChildResult, ShaderCacheResult } from './schema.js';

/** What the parent passes to a child (JSON, first argument). */
export interface E2EChildOptions {
  size: number;
  batch: number;
  warmReps: number;
  backbonePath: string;
  /** The parent's kernel tuning in force, so both run the same pipelines. */
  tuning: TuningRecord;
  /** Create the pipelines together before the first call (Detector.preparePipelines), timed. */
  prepare?: boolean;
}

const HERE = dirname(fileURLToPath(import.meta.url));
/** The compiled child entry: beside this module in dist/, or (tests run the sources) in ../../dist. */
export const CHILD_SCRIPT = existsSync(join(HERE, 'e2e-child.js')) ? join(HERE, 'e2e-child.js') : join(HERE, '..', '..', 'dist', 'src', 'tune', 'e2e-child.js');

/** The child's environment: `dir` as the on-disk shader cache, caching on. */
export function shaderCacheEnv(dir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    MESA_SHADER_CACHE_DIR: dir,
    MESA_SHADER_CACHE_DISABLE: 'false',
    __GL_SHADER_DISK_CACHE_PATH: dir,
    __GL_SHADER_DISK_CACHE: '1',
  };
}

export const SHADER_CACHE_VARS = ['MESA_SHADER_CACHE_DIR', 'MESA_SHADER_CACHE_DISABLE=false', '__GL_SHADER_DISK_CACHE_PATH', '__GL_SHADER_DISK_CACHE=1'];

/** Bytes of the files under `dir`. */
export function dirBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += dirBytes(p);
    else if (e.isFile()) n += statSync(p).size;
  }
  return n;
}

const tail = (s: string, n = 600) => (s.length > n ? `…${s.slice(-n)}` : s).trim();

/** Runs one child and parses the JSON line it prints on stdout. */
export function runChild(opts: E2EChildOptions, env: NodeJS.ProcessEnv, script = CHILD_SCRIPT, timeoutMs = 15 * 60e3): Promise<E2EChildResult> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script, JSON.stringify(opts)], { env, timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`e2e child process failed (${err.message.split('\n')[0]}): ${tail(stderr)}`));
        return;
      }
      const line = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'));
      try {
        if (!line) throw new Error('no JSON line on stdout');
        const r = JSON.parse(line) as E2EChildResult;
        r.processMs = performance.now() - t0;
        resolve(r);
      } catch (e) {
        reject(new Error(`e2e child process: ${(e as Error).message}: ${tail(stdout)}`));
      }
    });
  });
}

/** The cold and warm runs; failures are reported in `error`, not thrown. */
export async function shaderCacheRuns(
  opts: E2EChildOptions,
  o: { script?: string; log?: (line: string) => void } = {},
): Promise<ShaderCacheResult> {
  const script = o.script ?? CHILD_SCRIPT;
  const log = o.log ?? (() => {});
  const result: ShaderCacheResult = { env: SHADER_CACHE_VARS, batch: opts.batch, coldCache: null, warmCache: null, cacheBytes: { afterCold: 0, afterWarm: 0 } };
  if (!existsSync(script)) {
    result.error = `${script} is missing (run \`npm run build\`)`;
    return result;
  }
  const dir = mkdtempSync(join(tmpdir(), 'hlgfa-shader-cache-'));
  const done = (r: E2EChildResult) =>
    `  init ${r.initMs.toFixed(0)} ms, ${r.prepareMs === undefined ? '' : `${r.preparedPipelines} pipelines prepared in ${r.prepareMs.toFixed(0)} ms, `}` +
    `first inference ${r.inference.firstMs.toFixed(0)} ms (${r.inference.pipelinesCompiled} pipelines), warm ${r.inference.time.median.toFixed(0)} ms`;
  try {
    const env = shaderCacheEnv(dir);
    log(`e2e: fresh process, empty shader cache (${dir})…`);
    result.coldCache = await runChild(opts, env, script);
    result.cacheBytes.afterCold = dirBytes(dir);
    log(`${done(result.coldCache)}; cache ${(result.cacheBytes.afterCold / 2 ** 20).toFixed(1)} MiB`);
    log('e2e: fresh process, the same (warm) shader cache…');
    result.warmCache = await runChild(opts, env, script);
    result.cacheBytes.afterWarm = dirBytes(dir);
    log(done(result.warmCache));
    log('e2e: fresh process, the same shader cache, pipelines prepared first…');
    result.warmCachePrepared = await runChild({ ...opts, prepare: true }, env, script);
    log(done(result.warmCachePrepared));
  } catch (e) {
    result.error = e instanceof Error ? e.message : String(e);
    log(`  ${result.error}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}
