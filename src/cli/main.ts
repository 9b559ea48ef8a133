// The `hlgfa` command: dispatches to one module per subcommand, turns errors into messages and
// exit codes, and always releases the WebGPU device so the process exits by itself.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { destroyRuntime } from '../gpu/runtime.js';
import { didYouMean } from '../util/suggest.js';
import { runWithFilteredStderr, wantsFilteredStderr, watchFilteringParent } from './dawn-stderr.js';
import { UsageError } from './args.js';
import { ExitError } from './gpu-setup.js';
import { PACKAGE_ROOT } from './paths.js';

interface Command {
  summary: string;
  /** Listed under "Developer tools:" rather than with the commands a user of the detector needs. */
  developer?: boolean;
  /** Opens the WebGPU device in this process (runs behind the Dawn-warning filter, see dawn-stderr.ts). */
  gpu?: boolean;
  load: () => Promise<{ help: string; run: (argv: string[]) => Promise<number> }>;
}

// In the order a user meets them: try it, train, check, use; then the diagnostics.
const COMMANDS: Record<string, Command> = {
  demo: { summary: 'generate a dataset, train, evaluate and detect: the whole job in one go', gpu: true, load: () => import('./commands/demo.js') },
  train: { summary: 'train HLGFA on an MVTec-layout folder of normal images', gpu: true, load: () => import('./commands/train.js') },
  eval: { summary: 'image AUROC, pixel AUROC and AUPRO on a test set', gpu: true, load: () => import('./commands/eval.js') },
  detect: { summary: 'score images, write heatmap overlays and raw maps', gpu: true, load: () => import('./commands/detect.js') },
  serve: { summary: 'serve the browser page (train and detect with WebGPU in a browser) on 127.0.0.1', load: () => import('./commands/serve.js') },
  classify: { summary: 'ImageNet top-k labels for images (checks a backbone)', gpu: true, load: () => import('./commands/classify.js') },
  info: { summary: 'show the WebGPU adapter, features and limits', gpu: true, load: () => import('./commands/info.js') },
  warm: { summary: "compile a model's pipelines once, so later processes start fast (driver shader cache)", gpu: true, load: () => import('./commands/warm.js') },
  bench: { summary: 'per-kernel microbenchmarks: roofline, validation, tfjs-webgpu peer', gpu: true, developer: true, load: () => import('./commands/bench.js') },
  profile: { summary: 'GPU and CPU time of one inference per op, layer and kernel; Chrome trace', developer: true, gpu: true, load: () => import('./commands/profile.js') },
  tune: { summary: 'measure kernel variants on this adapter and cache the fastest', gpu: true, developer: true, load: () => import('./commands/tune.js') },
};

const COMMAND_NAMES = Object.keys(COMMANDS);
const GPU_COMMANDS: ReadonlySet<string> = new Set(COMMAND_NAMES.filter((n) => COMMANDS[n].gpu));

/** Whether `hlgfa <argv>` runs in a child behind the Dawn-warning filter (see dawn-stderr.ts). */
export const needsStderrFilter = (argv: readonly string[]): boolean => wantsFilteredStderr(argv, GPU_COMMANDS);
export { runWithFilteredStderr, watchFilteringParent };
// Own properties only: "constructor" or "toString" must be unknown commands, not Object's methods.
const lookup = (name: string): Command | undefined => (Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined);

export function usage(): string {
  const w = Math.max(...COMMAND_NAMES.map((n) => n.length));
  const line = (n: string) => `  ${n.padEnd(w)}  ${COMMANDS[n].summary}`;
  return [
    'Usage: hlgfa <command> [options]     (hlgfa <command> --help, or hlgfa help <command>, for details)',
    '       hlgfa --version',
    '',
    'Commands:',
    ...COMMAND_NAMES.filter((n) => !COMMANDS[n].developer).map(line),
    '',
    'Developer tools:',
    ...COMMAND_NAMES.filter((n) => COMMANDS[n].developer).map(line),
  ].join('\n');
}

export function packageVersion(): string {
  const file = join(PACKAGE_ROOT, 'package.json');
  const version = (JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown }).version;
  if (typeof version !== 'string') throw new Error(`${file}: no "version" string`);
  return version;
}

const unknownCommand = (name: string) => `hlgfa: unknown command "${name}"${didYouMean(name, COMMAND_NAMES)}\n\n${usage()}`;

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    console.log(usage());
    return 0;
  }
  if (name === '--version' || name === '-V') {
    console.log(packageVersion());
    return 0;
  }
  if (name === 'help') {
    if (rest.length === 0) {
      console.log(usage());
      return 0;
    }
    const topic = lookup(rest[0]);
    if (!topic || rest.length > 1) {
      console.error(topic ? `hlgfa help: takes one command name, got ${rest.length}\n\n${usage()}` : unknownCommand(rest[0]));
      return 2;
    }
    console.log((await topic.load()).help);
    return 0;
  }
  const cmd = lookup(name);
  if (!cmd) {
    if (name.startsWith('-')) {
      console.error(`hlgfa: unknown option ${name}${didYouMean(name.replace(/^-+/, ''), ['help', 'version'], (s) => `--${s}`)}; a command comes first\n\n${usage()}`);
    } else {
      console.error(unknownCommand(name));
    }
    return 2;
  }
  const mod = await cmd.load();
  // After `--` everything is a positional, so a file named "--help" is not a request for help.
  const end = rest.indexOf('--');
  const options = end < 0 ? rest : rest.slice(0, end);
  if (options.includes('--help') || options.includes('-h')) {
    console.log(mod.help);
    return 0;
  }
  try {
    return await mod.run(rest);
  } catch (e) {
    if (e instanceof ExitError) {
      if (e.message) console.error(e.message);
      return e.code;
    }
    if (e instanceof UsageError) {
      console.error(`hlgfa ${name}: ${e.message}\n\n${mod.help}`);
      return 2;
    }
    // A bad value in a config file or --config: the message names the key; the help would bury it.
    // Matched by name so that the CLI does not load the model code just to recognise the class.
    if (e instanceof Error && e.name === 'ConfigError') {
      console.error(`hlgfa ${name}: ${e.message}`);
      return 2;
    }
    console.error(`hlgfa ${name}: ${e instanceof Error ? e.message : String(e)}`);
    if (process.env.HLGFA_DEBUG && e instanceof Error) console.error(e.stack);
    return 1;
  } finally {
    destroyRuntime();
  }
}
