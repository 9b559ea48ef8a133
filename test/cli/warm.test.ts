// `hlgfa warm`: creates an inference's pipelines together, then runs each requested batch once (and
// a training step with --train), reporting the pipelines each step created; a later batch size
// reuses the first's pipelines. Bad options exit 2
// before any GPU work.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const hlgfa = (...args: string[]) => spawnSync(process.execPath, ['bin/hlgfa.js', 'warm', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });

describe('hlgfa warm', () => {
  it('compiles the inference and training pipelines, batch by batch', () => {
    const r = hlgfa('--size', '64', '--batches', '1,3', '--train', '--batch', '2');
    expect([r.status, r.stderr]).toEqual([0, '']);
    const runs = [...r.stdout.matchAll(/^(.+): (\d+) ms, (\d+) new pipelines$/gm)].map((m) => ({ what: m[1], pipelines: Number(m[3]) }));
    expect(runs.map((x) => x.what)).toEqual([
      'inference pipelines created together (createComputePipelineAsync)',
      'inference, batch 1 at S=64',
      'inference, batch 3 at S=64',
      'training step, batch 2 at S=64',
    ]);
    expect(runs[0].pipelines).toBeGreaterThan(20); // backbone, HLGFA module, anomaly map
    expect(runs[1].pipelines).toBe(0); // all created beforehand
    expect(runs[2].pipelines).toBeLessThan(runs[0].pipelines); // the same kernels serve every batch
    expect(runs[3].pipelines).toBeGreaterThan(0); // backward and Adam kernels
    const total = /^warm: (\d+) pipelines compiled/m.exec(r.stdout);
    expect(Number(total?.[1])).toBe(runs.reduce((s, x) => s + x.pipelines, 0));
  });

  it('refuses bad options with exit 2, naming them', () => {
    for (const [args, message] of [
      [['--batches', '0'], '--batches must be a comma-separated list of integers from 1 to 64, got "0"'],
      [['--batches', '1,x'], 'got "1,x"'],
      [['--model', 'm.safetensors', '--size', '64'], '--size and --config describe a fresh module'],
      [['--size', '64', '--config', '{"normality":"knn"}'], "normality 'knn' needs a memory bank"],
    ] as const) {
      const r = hlgfa(...args);
      expect([r.status, r.stderr], args.join(' ')).toEqual([2, expect.stringContaining(message)]);
    }
  });
});
