// Proof 2: `hlgfa classify` with the shipped MobileNetV2 names the ImageNet check images right (as
// PNG, JPEG and a big BMP), and a file that is not a supported image fails with a non-zero exit
// and a message naming it. Spawns the built CLI (dist/ comes from `npm run build`, which `npm test`
// runs first).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';
import { describe, expect, it } from 'vitest';
import { readImage } from '../../src/io/image-node.js';
import { encodePng } from '../../src/io/png-node.js';
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

  it('formats come from the magic bytes: a BMP named x.png classifies, a GIF named x.png is refused naming it; --max-pixels', () => {
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
      const ok = hlgfa('classify', fake, '--top', '2');
      expect(ok.code, ok.stderr).toBe(0);
      expect(parse(ok.stdout).get(fake)).toHaveLength(2);
      writeFileSync(fake, Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'));
      const r = hlgfa('classify', fake);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`${fake}: not a supported image (starts with bytes 47 49 46 38, looks like a GIF; supported: PNG, JPEG, BMP)`);
      expect(r.stdout).toBe('');
      const missing = hlgfa('classify', join(dir, 'nope.png'));
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain(`${join(dir, 'nope.png')}: cannot read (ENOENT)`);
      const folder = hlgfa('classify', dir);
      expect(folder.code).not.toBe(0);
      expect(folder.stderr).toContain(`${dir}: is a directory, expected an image file`);
      writeFileSync(fake, bmp);
      const over = hlgfa('classify', fake, '--max-pixels', '0');
      expect(over.code).not.toBe(0);
      expect(over.stderr).toContain('--max-pixels must be an integer >= 1, got "0"');
      const big = join(dir, 'big.png');
      writeFileSync(big, encodePng({ width: 30, height: 20, data: new Uint8Array(30 * 20 * 4) }));
      const refused = hlgfa('classify', big, '--max-pixels', '599');
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain(`${big}: image is 30×20 = 600 pixels, over the limit of 599 (--max-pixels)`);
      expect(refused.stdout).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!haveImages)('the cat as a JPEG and as an 11 MP BMP (box-downscaled while decoding) is still a cat', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hlgfa-classify-'));
    try {
      const cat = await readImage(join(ROOT, CHECK, 'cat.png'));
      const jpg = join(dir, 'cat.jpg');
      writeFileSync(jpg, jpeg.encode({ width: cat.width, height: cat.height, data: cat.data }, 92).data);
      // 8× nearest-neighbour upscale, stored as a bottom-up 24-bit BMP: 4096×2728, about 33 MB.
      const k = 8;
      const [W, H] = [cat.width * k, cat.height * k];
      const stride = Math.ceil((3 * W) / 4) * 4;
      const bmp = Buffer.alloc(54 + stride * H);
      bmp.write('BM', 0, 'latin1');
      bmp.writeUInt32LE(bmp.length, 2);
      bmp.writeUInt32LE(54, 10);
      bmp.writeUInt32LE(40, 14);
      bmp.writeInt32LE(W, 18);
      bmp.writeInt32LE(H, 22);
      bmp.writeUInt16LE(1, 26);
      bmp.writeUInt16LE(24, 28);
      for (let y = 0; y < H; y++) {
        const row = 54 + (H - 1 - y) * stride;
        for (let x = 0; x < W; x++) {
          const s = 4 * (Math.floor(y / k) * cat.width + Math.floor(x / k));
          bmp[row + 3 * x] = cat.data[s + 2];
          bmp[row + 3 * x + 1] = cat.data[s + 1];
          bmp[row + 3 * x + 2] = cat.data[s];
        }
      }
      const big = join(dir, 'cat-big.bmp');
      writeFileSync(big, bmp);
      const r = hlgfa('classify', jpg, big, '--top', '3');
      expect(r.code, r.stderr).toBe(0);
      console.log(r.stdout);
      const res = parse(r.stdout);
      expect(res.get(jpg)![0][1]).toMatch(/^(tabby|tiger cat|Egyptian cat)\b/);
      expect(res.get(big)![0][1]).toMatch(/^(tabby|tiger cat|Egyptian cat)\b/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
