// The TF.js converter CLI and `hlgfa info --model` end to end: convert the nsfwjs MobileNetV2 with
// dist/tools/convert-tfjs.js, describe it (metadata, taps and shapes), classify with its own labels.
// Spawns the built tools (dist/ comes from `npm run build`, which `npm test` runs first).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MODEL = 'node_modules/nsfwjs/dist/models/mobilenet_v2/model.min.js';
const CAT = '../shared/data/imagenet-check/cat.png';
const dir = mkdtempSync(join(tmpdir(), 'hlgfa-info-model-'));
const out = join(dir, 'nsfw.safetensors');

function node(...args: string[]) {
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: 90_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('convert-tfjs + hlgfa info --model', () => {
  it('converts nsfwjs, then lists architecture, provenance, preprocessing and tap shapes', () => {
    const c = node('dist/tools/convert-tfjs.js', MODEL, out, '--labels', 'Drawing,Hentai,Neutral,Porn,Sexy');
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/110 tensors/);

    const j = node('bin/hlgfa.js', 'info', '--model', out, '--json');
    expect(j.code, j.stderr).toBe(0);
    const info = JSON.parse(j.stdout) as { architecture: string; metadata: Record<string, string>; taps: Array<{ name: string; shape: number[] }> };
    expect(info.architecture).toBe('mobilenet_v2');
    expect(info.metadata.source).toMatch(/^nsfwjs 4\.4\.0/);
    expect(info.metadata.licence).toBe('MIT (nsfwjs 4.4.0)');
    const taps = Object.fromEntries(info.taps.map((t) => [t.name, t.shape]));
    expect(taps['features.0']).toEqual([1, 32, 112, 112]);
    expect(taps['features.13']).toEqual([1, 96, 14, 14]);
    expect(taps['features.18']).toEqual([1, 1280, 7, 7]);
    expect(taps.logits).toEqual([1, 5]);

    const t = node('bin/hlgfa.js', 'info', '--model', out, '--size', '256');
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/licence\s+MIT \(nsfwjs 4\.4\.0\)/);
    expect(t.stdout).toMatch(/features\.18\s+\[1, 1280, 8, 8\]/);

    const bad = node('bin/hlgfa.js', 'info', '--model', join(dir, 'missing.safetensors'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('missing.safetensors: cannot read backbone (ENOENT)');
  });

  it.skipIf(!existsSync(join(ROOT, CAT)))('classify uses the labels stored in the file', () => {
    const r = node('bin/hlgfa.js', 'classify', CAT, '--top', '2', '--backbone', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/%  Neutral\n/);
  });
});
