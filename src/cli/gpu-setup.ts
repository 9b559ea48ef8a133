// Acquires the WebGPU runtime for CLI commands. When no adapter exists and we may install one
// (root on Debian/Ubuntu), installs Mesa lavapipe and re-runs the command in a fresh process, since
// Dawn enumerates Vulkan drivers once per process. Never falls back to a CPU code path.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from './paths.js';
import { NoAdapterError } from '../gpu/device.js';
import { initRuntime, type Runtime } from '../gpu/runtime.js';
import { useTuningCache } from '../io/tuning-node.js';

const SETUP_SCRIPT = join(PACKAGE_ROOT, 'tools', 'setup-vulkan.sh');
const RETRIED = 'HLGFA_VULKAN_SETUP_DONE';

export class ExitError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

export async function cliRuntime(): Promise<Runtime> {
  useTuningCache(); // this adapter's `hlgfa tune` winners, if cached (HLGFA_TUNING=off skips them)
  try {
    return await initRuntime();
  } catch (e) {
    if (!(e instanceof NoAdapterError) || process.env[RETRIED] || !existsSync(SETUP_SCRIPT)) throw e;
    process.stderr.write('hlgfa: no WebGPU adapter found; trying to install a software Vulkan driver (Mesa lavapipe)…\n');
    const setup = spawnSync('bash', [SETUP_SCRIPT], { stdio: 'inherit' });
    if (setup.status !== 0) throw new ExitError(`hlgfa: ${e.message}`, 1);
    const rerun = spawnSync(process.execPath, process.argv.slice(1), {
      stdio: 'inherit',
      env: { ...process.env, [RETRIED]: '1' },
    });
    throw new ExitError('', rerun.status ?? 1);
  }
}
