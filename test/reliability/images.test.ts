// Hostile and oversized inputs through the CLI: pixel limits checked on headers before decoding or
// the GPU, formats named, directories refused with their path, sizes checked against the device.
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { beforeAll, describe, it } from 'vitest';
import { hugePng } from '../io/image-builders.js';
import { initRuntime, destroyRuntime } from '../../src/gpu/runtime.js';
import { check, hashes, hlgfa, makeFixture, type Fixture } from './fixtures.js';

let fx: Fixture;
let bindingLimit = 0;
beforeAll(async () => {
  fx = makeFixture();
  bindingLimit = (await initRuntime()).limits.maxStorageBufferBindingSize;
  destroyRuntime();
});

describe('hostile images', () => {
  it('a 20000×20000 PNG header is refused by detect and by the dataset scan, fast, naming the limit', () => {
    const bomb = join(fx.dir, 'bomb.png');
    writeFileSync(bomb, hugePng(20000, 20000, 8, 6));
    const d = hlgfa('detect a 20000² PNG', 'detect', '--model', fx.model, '--backbone', fx.backbone, '--out', join(fx.dir, 'o'), bomb);
    check(d.code, d.err).toBe(1);
    check(d.err).toMatch(/bomb\.png: image is 20000×20000 = 400 000 000 pixels, over the limit of 100 000 000 \(--max-pixels\)/);
    check(d.err).not.toMatch(/artificially reduced/); // refused before the GPU started
    check(d.ms).toBeLessThan(5000);
    const data = join(fx.dir, 'bombed');
    mkdirSync(join(data, 'train', 'good'), { recursive: true });
    copyFileSync(fx.trainPng, join(data, 'train', 'good', '000.png'));
    copyFileSync(bomb, join(data, 'train', 'good', '001.png'));
    const t = hlgfa('train on a folder with a 20000² PNG', 'train', '--data', data, '--out', join(fx.dir, 'b.safetensors'));
    check(t.code, t.err).toBe(1);
    check(t.err).toMatch(/001\.png: image is 20000×20000 = 400 000 000 pixels, over the limit/);
    const lower = hlgfa('detect --max-pixels below an image', 'detect', '--model', fx.model, '--backbone', fx.backbone, '--out', join(fx.dir, 'o'), '--max-pixels', '100', fx.goodPng);
    check(lower.code).toBe(1);
    check(lower.err).toMatch(/000\.png: image is 64×64 = 4 096 pixels, over the limit of 100/);
  });

  it('JPEG and BMP are decoded; other formats are named as unsupported', () => {
    const png = PNG.sync.read(readFileSync(fx.crackPng));
    const jpg = join(fx.dir, 'crack.jpg');
    writeFileSync(jpg, jpeg.encode({ width: png.width, height: png.height, data: png.data }, 95).data);
    const gif = join(fx.dir, 'anim.png');
    writeFileSync(gif, Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1'));
    const ok = hlgfa('detect a JPEG', 'detect', '--model', fx.model, '--backbone', fx.backbone, '--out', join(fx.dir, 'jpg-out'), jpg);
    check(ok.code, ok.err).toBe(0);
    check(ok.out).toMatch(/crack\.jpg\tscore -?\d+\.\d+\t(normal|ANOMALOUS)/);
    const no = hlgfa('detect a GIF named .png', 'detect', '--model', fx.model, '--backbone', fx.backbone, '--out', join(fx.dir, 'gif-out'), gif);
    check(no.code).toBe(1);
    check(no.err).toMatch(/anim\.png: not a supported image \(starts with bytes 47 49 46 38, looks like a GIF; supported: PNG, JPEG, BMP\)/);
  });

  it('a directory, or a symlink to one, named like an image: an error with its path', () => {
    const dir = join(fx.dir, 'folder.png');
    mkdirSync(dir);
    const link = join(fx.dir, 'link.png');
    symlinkSync(dir, link);
    for (const p of [dir, link]) {
      const r = hlgfa('detect a directory', 'detect', '--model', fx.model, '--backbone', fx.backbone, '--out', join(fx.dir, 'o'), p);
      check(r.code).toBe(1);
      check(r.err).toMatch(new RegExp(`${p.replace(/[.]/g, '\\.')}: is a directory, expected an image file`));
    }
  });
});

describe('sizes are checked against the device before training', () => {
  it('--size 8192 is refused up front with what fits', () => {
    const before = hashes([fx.trainPng]);
    const r = hlgfa('train --size 8192 --batch 1', 'train', '--data', fx.data, '--out', join(fx.dir, 'huge.safetensors'), '--size', '8192', '--batch', '1', '--backbone', fx.backbone);
    check(r.code, r.err).toBe(1);
    check(r.err).toMatch(/hlgfa train: S=8192 with batch 1 does not fit this adapter \(.*over (the device's )?(maxStorageBufferBindingSize|maxBufferSize).*\); S=8192 does not fit even at batch 1; at batch 1 the largest size that fits is S=\d+/);
    check(r.ms).toBeLessThan(60_000);
    check(hashes([fx.trainPng])).toEqual(before);
  });

  it('--size 1024 --batch 2 is refused up front where a batch of two does not fit', (ctx) => {
    // MobileNetV2's largest activation at S=1024 is 96 × 512² floats (100.7 MB) per image.
    if (bindingLimit >= 2 * 96 * 512 * 512 * 4) ctx.skip();
    const r = hlgfa('train --size 1024 --batch 2', 'train', '--data', fx.data, '--out', join(fx.dir, 'big.safetensors'), '--size', '1024', '--batch', '2', '--backbone', fx.backbone);
    check(r.code, r.err).toBe(1);
    check(r.err).toMatch(/hlgfa train: S=1024 with batch 2 does not fit this adapter .*; at S=1024 the largest batch that fits is 1; at batch 2 the largest size that fits is S=\d+/);
  });
});
