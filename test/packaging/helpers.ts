// Shared by the packaging tests: the built package as npm would publish it, and child processes
// that behave as in a consumer's shell rather than inside `npm test`.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The subpaths the package exports and the file each resolves to (JS entries only). */
export const ENTRY_FILES = {
  '.': 'dist/src/index.js',
  './node': 'dist/src/node.js',
  './kernels': 'dist/src/kernels.js',
  './synthetic': 'dist/src/synthetic.js',
  './metrics': 'dist/src/metrics.js',
} as const;

/** Fails with what to run when the compiled package is missing (the tests pack what is built). */
export function requireBuild(): void {
  const missing = [...Object.values(ENTRY_FILES), 'dist/web/app.js'].filter((f) => !existsSync(join(ROOT, f)));
  if (missing.length) throw new Error(`${missing.join(', ')} missing in ${ROOT}: run \`npm run build\` first (npm test does)`);
}

/**
 * The environment of a command a user would type: without the npm_* variables `npm test` sets
 * (npm_config_local_prefix would point a child npm at this repository) and without vitest's
 * NODE_ENV=test (Vite would build in test mode).
 */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|VITEST|NODE_ENV$|TEST$|NODE_OPTIONS$)/i.test(k)) continue;
    env[k] = v;
  }
  return env;
}

/** Runs a command in `cwd`; on failure the error carries its output. */
export function run(cmd: string, args: string[], cwd: string, timeoutMs = 120_000): string {
  try {
    return execFileSync(cmd, args, { cwd, env: cleanEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  }
}

export interface PackResult {
  /** Path of the .tgz (absent for a dry run). */
  tarball: string | null;
  /** Compressed size in bytes. */
  size: number;
  unpackedSize: number;
  files: string[];
}

/**
 * `npm pack` of the repository as built, without the prepare script (which would rebuild: the
 * build is `npm test`'s first step). `destination` null: a dry run that only lists.
 */
export function pack(destination: string | null): PackResult {
  requireBuild();
  const args = ['pack', '--json', '--ignore-scripts', ...(destination ? ['--pack-destination', destination] : ['--dry-run'])];
  const out = run('npm', args, ROOT);
  const [info] = JSON.parse(out.slice(out.indexOf('['))) as Array<{ filename: string; size: number; unpackedSize: number; files: Array<{ path: string }> }>;
  return {
    tarball: destination ? join(destination, info.filename) : null,
    size: info.size,
    unpackedSize: info.unpackedSize,
    files: info.files.map((f) => f.path).sort(),
  };
}

/** Total size and count of the regular files under `dir` (symlinks and folders not counted). */
export function diskUsage(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) {
      const sub = diskUsage(p);
      bytes += sub.bytes;
      files += sub.files;
    } else if (entry.isFile()) {
      bytes += statSync(p).size;
      files++;
    }
  }
  return { bytes, files };
}

export const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;

export const packageJson = () => JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown> & {
  exports: Record<string, unknown>;
  files: string[];
  dependencies: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  bin: Record<string, string>;
  license: string;
};
