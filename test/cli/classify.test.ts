// Proof 2: `hlgfa classify` with the shipped MobileNetV2 names the ImageNet check images right,
// and a file that is not a PNG fails with a non-zero exit and a message naming it. Spawns the
// built CLI (dist/ comes from `npm run build`, which `npm test` runs first).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SMALL_BASIC, smallResNet, toSafetensors } from '../models/small-resnet.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHECK = '../shared/data/imagenet-check';
const haveImages = existsSync(join(ROOT, CHECK, 'cat.png')) && existsSync(join(ROOT, CHECK, 'grace_hopper.png'));
if (!haveImages) console.warn(`classify.test: skipping the ImageNet check, ${join(ROOT, CHECK)} is missing (the shared data folder is not checked out)`);

function hlgfa(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/hlgfa.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 90_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `path → [[percent, label], …]` from the classify output. */
function parse(stdout: string): Map<string, Array<[number, string]>> {
  const out = new Map<string, Array<[number, string]>>();
  let cur: Array<[number, string]> | null = null;
  for (const line of stdout.split('\n')) {
    const m = /^\s+([\d.]+) %  (.+)$/.exec(line);
    if (m && cur) cur.push([Number(m[1]), m[2]]);
    else if (line.trim()) out.set(line.trim(), (cur = []));
  }
  return out;
}

describe('hlgfa classify', () => {
  it.skipIf(!haveImages)('cat → a cat class, Grace Hopper → military uniform (top 5 each)', () => {
    const cat = `${CHECK}/cat.png`;
    const hopper = `${CHECK}/grace_hopper.png`;
    const r = hlgfa('classify', cat, hopper, '--top', '5');
    expect(r.code, r.stderr).toBe(0);
    console.log(r.stdout);
    const res = parse(r.stdout);
    expect([...res.keys()]).toEqual([cat, hopper]);
    for (const rows of res.values()) {
      expect(rows).toHaveLength(5);
      for (let i = 1; i < rows.length; i++) expect(rows[i][0]).toBeLessThanOrEqual(rows[i - 1][0]);
    }
    expect(res.get(cat)![0][1]).toMatch(/^(tabby|tiger cat|Egyptian cat)\b/);
    expect(res.get(hopper)![0][1]).toMatch(/^military uniform\b/);
  });

  it.skipIf(!haveImages)('--backbone takes a torchvision ResNet file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hlgfa-classify-'));
    try {
      const file = join(dir, 'tiny-resnet.safetensors');
      writeFileSync(file, toSafetensors(smallResNet(SMALL_BASIC), { architecture: 'resnet' }));
      const r = hlgfa('classify', `${CHECK}/cat.png`, '--top', '3', '--backbone', file);
      expect(r.code, r.stderr).toBe(0);
      const rows = parse(r.stdout).get(`${CHECK}/cat.png`)!;
      expect(rows).toHaveLength(3);
      const headless = join(dir, 'headless.safetensors');
      writeFileSync(headless, toSafetensors(smallResNet({ ...SMALL_BASIC, classes: 0 })));
      const h = hlgfa('classify', `${CHECK}/cat.png`, '--backbone', headless);
      expect(h.code).toBe(1);
      expect(h.stderr).toContain(`${headless}: this backbone has no classifier head`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a BMP named x.png: non-zero exit and a message naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hlgfa-classify-'));
    try {
      const fake = join(dir, 'x.png');
      // A 1×1 BMP: "BM" signature, file and DIB headers, one pixel.
      const bmp = Buffer.alloc(58);
      bmp.write('BM', 0, 'latin1');
      bmp.writeUInt32LE(58, 2);
      bmp.writeUInt32LE(54, 10);
      bmp.writeUInt32LE(40, 14);
      bmp.writeInt32LE(1, 18);
      bmp.writeInt32LE(1, 22);
      bmp.writeUInt16LE(1, 26);
      bmp.writeUInt16LE(24, 28);
      writeFileSync(fake, bmp);
      const r = hlgfa('classify', fake);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(fake);
      expect(r.stderr).toMatch(/not a PNG file \(starts with bytes 42 4d /);
      expect(r.stdout).toBe('');
      const missing = hlgfa('classify', join(dir, 'nope.png'));
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain(`${join(dir, 'nope.png')}: cannot read (ENOENT)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
