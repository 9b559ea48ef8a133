// The `hlgfa` command: dispatches to one module per subcommand, turns errors into messages and
// exit codes, and always releases the WebGPU device so the process exits by itself.
import { destroyRuntime } from '../gpu/runtime.js';
import { UsageError } from './args.js';
import { ExitError } from './gpu-setup.js';

interface Command {
  summary: string;
  load: () => Promise<{ help: string; run: (argv: string[]) => Promise<number> }>;
}

const COMMANDS: Record<string, Command> = {
  info: { summary: 'show the WebGPU adapter, features and limits', load: () => import('./commands/info.js') },
  classify: { summary: 'ImageNet top-k labels for images (checks a backbone)', load: () => import('./commands/classify.js') },
  bench: { summary: 'per-kernel microbenchmarks: roofline, validation, tfjs-webgpu peer', load: () => import('./commands/bench.js') },
  tune: { summary: 'measure kernel variants on this adapter and cache the fastest', load: () => import('./commands/tune.js') },
  train: { summary: 'train HLGFA on an MVTec-layout folder of normal images', load: () => import('./commands/train.js') },
  eval: { summary: 'image AUROC, pixel AUROC and AUPRO on a test set', load: () => import('./commands/eval.js') },
  detect: { summary: 'score images, write heatmap overlays and raw maps', load: () => import('./commands/detect.js') },
  demo: { summary: 'generate a dataset, train, evaluate and detect: the whole job in one go', load: () => import('./commands/demo.js') },
  serve: { summary: 'serve the browser page (train and detect with WebGPU in a browser) on 127.0.0.1', load: () => import('./commands/serve.js') },
};

function usage(): string {
  const names = Object.keys(COMMANDS);
  const w = Math.max(...names.map((n) => n.length));
  return [
    'Usage: hlgfa <command> [options]     (hlgfa <command> --help for details)',
    '',
    'Commands:',
    ...names.map((n) => `  ${n.padEnd(w)}  ${COMMANDS[n].summary}`),
  ].join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 1;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    console.error(`hlgfa: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const mod = await cmd.load();
  if (rest.includes('--help') || rest.includes('-h')) {
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
    console.error(`hlgfa ${name}: ${e instanceof Error ? e.message : String(e)}`);
    if (process.env.HLGFA_DEBUG && e instanceof Error) console.error(e.stack);
    return 1;
  } finally {
    destroyRuntime();
  }
}
