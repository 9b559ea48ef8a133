import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import jpeg from 'jpeg-js';
import { afterAll, describe, expect, it } from 'vitest';
import { loadImage, loadMask, loadSample, naturalCompare, scanMvtec } from '../../src/data/mvtec.js';
import { readImageHeader } from '../../src/io/image-node.js';
import { bmp, crc32 as crc, pngjsWrite, rawPng as buildPng } from '../io/image-builders.js';

// ---- image writers (test/io/image-builders.ts), in the shapes these tests use

const pngjs = pngjsWrite;

/** Raw PNG of `indices` (one sample per pixel) at bit depth 1/2/4/8, grey (0) or palette (3). */
function rawPng(w: number, h: number, colorType: 0 | 3, bitDepth: 1 | 2 | 4 | 8, indices: number[], palette?: number[][], trns?: number[]): Buffer {
  return buildPng({ w, h, colorType, depth: bitDepth, samples: indices, palette, trns });
}

/** A bottom-up 24-bit BMP of RGBA pixels (alpha dropped). */
function bmp24(w: number, h: number, rgba: number[]): Buffer {
  return bmp({ w, h, bpp: 24, px: Array.from({ length: w * h }, (_, i) => [rgba[4 * i + 2], rgba[4 * i + 1], rgba[4 * i]]) as unknown as number[] });
}
const jpegOf = (w: number, h: number, rgba: number[]) => jpeg.encode({ width: w, height: h, data: Uint8Array.from(rgba) }, 95).data;

const root = mkdtempSync(join(tmpdir(), 'hlgfa-mvtec-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function put(path: string, bytes: Uint8Array | string): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
  return path;
}

const W = 5;
const H = 4;
const N = W * H;
const grey8 = Array.from({ length: N }, (_, i) => i * 13);
const grey16 = Array.from({ length: N }, (_, i) => i * 3000 + 7);
const rgb = Array.from({ length: N * 3 }, (_, i) => (i * 37) % 256);
const rgba = Array.from({ length: N * 4 }, (_, i) => (i % 4 === 3 ? 200 : (i * 11) % 256));
const pal = [
  [10, 20, 30],
  [200, 100, 50],
  [0, 255, 0],
];
const palIdx = Array.from({ length: N }, (_, i) => i % 3);
const maskBits = Array.from({ length: N }, (_, i) => (i % 7 === 0 ? 1 : 0));
const scale16 = (v: number) => Math.floor((v * 255) / 65535 + 0.5);

function makeCategory(dir: string): void {
  put(join(dir, 'train/good/1.png'), pngjs(W, H, 0, 8, grey8));
  put(join(dir, 'train/good/10.png'), pngjs(W, H, 6, 8, rgba));
  put(join(dir, 'train/good/2.png'), pngjs(W, H, 2, 8, rgb));
  put(join(dir, 'train/good/3.png'), pngjs(W, H, 0, 16, grey16));
  put(join(dir, 'train/good/Thumbs.db'), 'junk');
  put(join(dir, 'train/good/.DS_Store'), 'junk');
  put(join(dir, 'test/good/000.png'), rawPng(W, H, 3, 8, palIdx, pal));
  put(join(dir, 'test/crack/000.png'), pngjs(W, H, 0, 8, grey8));
  put(join(dir, 'ground_truth/crack/000_mask.png'), rawPng(W, H, 0, 1, maskBits)); // 1-bit like magnetic-tile
  put(join(dir, 'test/crack/001.png'), pngjs(W, H, 2, 16, rgb.map((v) => v * 257)));
  put(join(dir, 'ground_truth/crack/001_mask.png'), rawPng(W, H, 3, 8, maskBits, [[0, 0, 0], [255, 255, 255]])); // palette like glass
  put(join(dir, 'test/stain/000.png'), pngjs(W, H, 2, 8, rgb));
  // RGBA mask: white but transparent where alpha is 0 → not anomalous there
  put(join(dir, 'ground_truth/stain/000_mask.png'), pngjs(W, H, 6, 8, Array.from({ length: N }, (_, i) => [255, 255, 255, i < 10 ? 255 : 0]).flat()));
  put(join(dir, 'test/stain/001.png'), pngjs(W, H, 0, 8, grey8));
  put(join(dir, 'ground_truth/stain/001_mask.png'), pngjs(W, H, 0, 16, maskBits.map((b) => b * 65535)));
  // JPEG and BMP: a .JPG training image, a BMP test image with a BMP mask, a PNG test image with a JPEG mask named <stem>.jpeg
  put(join(dir, 'train/good/4.JPG'), jpegOf(W, H, rgba));
  put(join(dir, 'test/stain/002.bmp'), bmp24(W, H, rgba));
  put(join(dir, 'ground_truth/stain/002_mask.bmp'), bmp24(W, H, maskBits.flatMap((b) => [b * 255, b * 255, b * 255, 255])));
  put(join(dir, 'test/stain/003.png'), pngjs(W, H, 0, 8, grey8));
  put(join(dir, 'ground_truth/stain/003.jpeg'), jpegOf(W, H, maskBits.flatMap((b) => [b * 255, b * 255, b * 255, 255])));
}

describe('scanMvtec', () => {
  const cat = join(root, 'widget');
  makeCategory(cat);

  it('lists train/test samples in natural order with labels, masks and sizes', () => {
    const ix = scanMvtec(cat);
    expect(ix.category).toBe('widget');
    expect(ix.train.map((s) => s.name)).toEqual(['1', '2', '3', '4', '10']);
    expect(ix.train[3].path).toBe(join(ix.root, 'train/good/4.JPG'));
    expect(ix.train.every((s) => s.label === 0 && s.maskPath === null && s.split === 'train' && s.width === W && s.height === H)).toBe(true);
    expect(ix.test.map((s) => `${s.defect}/${s.name}`)).toEqual(['good/000', 'crack/000', 'crack/001', 'stain/000', 'stain/001', 'stain/002', 'stain/003']);
    expect(ix.test.map((s) => s.label)).toEqual([0, 1, 1, 1, 1, 1, 1]);
    expect(ix.test[1].maskPath).toBe(join(ix.root, 'ground_truth/crack/000_mask.png'));
    expect(ix.test[5].maskPath).toBe(join(ix.root, 'ground_truth/stain/002_mask.bmp'));
    expect(ix.test[6].maskPath).toBe(join(ix.root, 'ground_truth/stain/003.jpeg'));
    expect(ix.defects).toEqual(['crack', 'stain']);
    expect(scanMvtec(cat)).toEqual(ix); // deterministic
  });

  it('natural order is deterministic and numeric-aware', () => {
    expect(['b10', 'a', 'b2', 'b02', 'B1', '010', '9'].sort(naturalCompare)).toEqual(['9', '010', 'B1', 'a', 'b2', 'b02', 'b10']);
  });
});

describe('loadImage / loadMask', () => {
  const cat = join(root, 'widget');

  it('decodes 8-bit grey, RGB, RGBA, 16-bit grey/RGB and palette (8/4-bit, tRNS) PNGs to 8-bit RGBA', async () => {
    const px = async (p: string) => Array.from((await loadImage(join(cat, p))).data);
    expect(await px('train/good/1.png')).toEqual(grey8.flatMap((v) => [v, v, v, 255]));
    expect(await px('train/good/2.png')).toEqual(Array.from({ length: N }, (_, i) => [...rgb.slice(3 * i, 3 * i + 3), 255]).flat());
    expect(await px('train/good/10.png')).toEqual(rgba);
    expect(await px('train/good/3.png')).toEqual(grey16.flatMap((v) => [scale16(v), scale16(v), scale16(v), 255]));
    expect(await px('test/good/000.png')).toEqual(palIdx.flatMap((k) => [...pal[k], 255]));
    expect(await px('test/crack/001.png')).toEqual(Array.from({ length: N }, (_, i) => [...rgb.slice(3 * i, 3 * i + 3), 255]).flat());
    // palette with transparency (tRNS) and a 4-bit palette
    const t = put(join(root, 'trns.png'), rawPng(W, H, 3, 4, palIdx, pal, [255, 128, 0]));
    expect(Array.from((await loadImage(t)).data)).toEqual(palIdx.flatMap((k) => [...pal[k], [255, 128, 0][k]]));
    const img = await loadImage(join(cat, 'train/good/1.png'));
    expect([img.width, img.height]).toEqual([W, H]);
  });

  it('decodes BMP exactly and JPEG near its source (lossy)', async () => {
    expect(Array.from((await loadImage(join(cat, 'test/stain/002.bmp'))).data)).toEqual(rgba.map((v, i) => (i % 4 === 3 ? 255 : v)));
    const j = await loadImage(join(cat, 'train/good/4.JPG'));
    expect([j.width, j.height]).toEqual([W, H]);
    // q95, but a 5×4 image of unrelated colours with 4:2:0 chroma: the mean error stays under 16 levels
    const err = rgba.reduce((a, v, i) => a + (i % 4 === 3 ? 0 : Math.abs(j.data[i] - v)), 0) / (N * 3);
    expect(err).toBeLessThan(16);
  });

  it('downscales an image and its mask alike (maxSide)', async () => {
    const ix = scanMvtec(cat);
    const { image, mask } = await loadSample(ix.test[1], { maxSide: 3 }); // 5×4 → factor 2 → 3×2
    expect([image.width, image.height]).toEqual([3, 2]);
    // 2×2 bins of the 1-bit mask (partial bins at the right edge): anomalous when the bin's rounded mean exceeds 127
    const want = [0, 1].flatMap((by) =>
      [0, 1, 2].map((bx) => {
        const px: number[] = [];
        for (let y = 2 * by; y < Math.min(H, 2 * by + 2); y++) for (let x = 2 * bx; x < Math.min(W, 2 * bx + 2); x++) px.push(maskBits[y * W + x] * 255);
        return Math.round(px.reduce((a, b) => a + b, 0) / px.length) > 127 ? 1 : 0;
      }),
    );
    expect(want).toContain(1);
    expect(Array.from(mask)).toEqual(want);
  });

  it('binarises 1-bit, palette, RGBA (alpha-weighted), 16-bit, BMP and JPEG masks; good images get zeros', async () => {
    const ix = scanMvtec(cat);
    const masks = await Promise.all(ix.test.map(async (s) => Array.from((await loadSample(s)).mask)));
    expect(masks[0]).toEqual(new Array(N).fill(0));
    expect(masks[1]).toEqual(maskBits);
    expect(masks[2]).toEqual(maskBits);
    expect(masks[3]).toEqual(Array.from({ length: N }, (_, i) => (i < 10 ? 1 : 0)));
    expect(masks[4]).toEqual(maskBits);
    expect(masks[5]).toEqual(maskBits);
    expect(masks[6]).toEqual(maskBits);
    expect(Array.from(await loadMask(null, 3, 2))).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('checks the mask size when called directly', async () => {
    await expect(loadMask(join(cat, 'ground_truth/crack/000_mask.png'), 6, 4, 'x.png')).rejects.toThrow(/000_mask\.png: mask is 5×4 but its image x\.png is 6×4/);
  });
});

describe('errors name the file', () => {
  let n = 0;
  const fresh = () => {
    const dir = join(root, `bad${n++}`);
    makeCategory(dir);
    return dir;
  };

  it('missing root, missing or empty train/good', () => {
    expect(() => scanMvtec(join(root, 'nope'))).toThrow(/nope: dataset folder not found/);
    const a = join(root, 'no-train');
    put(join(a, 'test/good/000.png'), pngjs(W, H, 0, 8, grey8));
    expect(() => scanMvtec(a)).toThrow(/no-train[/\\]train[/\\]good: folder not found \(expected the MVTec AD layout/);
    const b = join(root, 'empty-train');
    put(join(b, 'train/good/a.tif'), 'tiff');
    expect(() => scanMvtec(b)).toThrow(/empty-train[/\\]train[/\\]good: no \.png, \.jpg, \.jpeg or \.bmp training images \(found 1 other file\(s\), e\.g\. a\.tif; images must be PNG, JPEG or BMP\)/);
  });

  it('a BMP named .png decodes; a broken BMP, a GIF, an empty file, a header-less PNG fail at scan time', async () => {
    const d = fresh();
    const p = put(join(d, 'train/good/5.png'), bmp24(W, H, rgba));
    expect(scanMvtec(d).train.map((s) => s.name)).toContain('5');
    expect((await loadImage(p)).data.length).toBe(N * 4);
    put(p, Buffer.from('BM6\x00\x00\x00\x00\x00', 'latin1'));
    expect(() => scanMvtec(d)).toThrow(new RegExp(`${p.replace(/[\\/.]/g, '.')}: corrupt or truncated BMP \\(8-byte file, too short for the BMP headers\\)`));
    await expect(loadImage(p)).rejects.toThrow(/5\.png: corrupt or truncated BMP/);
    put(p, 'GIF89a\x01\x00\x01\x00');
    expect(() => scanMvtec(d)).toThrow(/5\.png: not a supported image \(starts with bytes 47 49 46 38, looks like a GIF; supported: PNG, JPEG, BMP\)/);
    put(p, '');
    expect(() => scanMvtec(d)).toThrow(/5\.png: not a supported image \(empty file; supported: PNG, JPEG, BMP\)/);
    put(p, pngjs(W, H, 0, 8, grey8).subarray(0, 20));
    expect(() => scanMvtec(d)).toThrow(/5\.png: corrupt or truncated PNG \(no valid IHDR header/);
  });

  it('an image over the pixel limit fails at scan time, naming it', () => {
    const d = fresh();
    expect(() => scanMvtec(d, { maxPixels: 19 })).toThrow(/train[/\\]good[/\\]1\.png: image is 5×4 = 20 pixels, over the limit of 19 \(--max-pixels\)/);
    expect(scanMvtec(d, { maxPixels: 20 }).train).toHaveLength(5);
    // 20000×20000 in the header of a tiny file
    const huge = Buffer.from(pngjs(W, H, 0, 8, grey8));
    huge.writeUInt32BE(20000, 16);
    huge.writeUInt32BE(20000, 20);
    huge.writeUInt32BE(crc(huge.subarray(12, 29)), 29);
    put(join(d, 'test/crack/002.png'), huge);
    expect(() => scanMvtec(d)).toThrow(/crack[/\\]002\.png: image is 20000×20000 = 400 000 000 pixels, over the limit of 100 000 000 \(--max-pixels\)/);
  });

  it('a directory or a symlink to one, named like an image', () => {
    const d = fresh();
    mkdirSync(join(d, 'train/good/6.png'));
    expect(() => scanMvtec(d)).toThrow(new RegExp(`${join(d, 'train/good/6.png').replace(/[\\/.]/g, '.')}: is a directory, expected an image file`));
    const e = fresh();
    symlinkSync(join(e, 'test'), join(e, 'ground_truth/crack/009_mask.bmp'));
    expect(() => scanMvtec(e)).toThrow(/009_mask\.bmp: is a directory, expected an image file/);
    const f = fresh();
    mkdirSync(join(f, 'train/good/notes'));
    expect(scanMvtec(f).train).toHaveLength(5); // other folders are skipped, as before
  });

  it('two images with one name (001.png and 001.bmp) are ambiguous', () => {
    const d = fresh();
    put(join(d, 'test/crack/001.bmp'), bmp24(W, H, rgba));
    expect(() => scanMvtec(d)).toThrow(/crack[/\\]001\.png: same name as 001\.bmp \(expected one image per name\)/);
  });

  it('a corrupt PNG (valid header, truncated data) fails on load, naming the file', async () => {
    const d = fresh();
    const good = pngjs(W, H, 0, 8, grey8);
    const p = put(join(d, 'train/good/7.png'), good.subarray(0, good.length - 20));
    const ix = scanMvtec(d); // the header is intact
    expect(ix.train.map((s) => s.name)).toContain('7');
    await expect(loadImage(p)).rejects.toThrow(/7\.png: corrupt or truncated PNG/);
    const q = put(join(d, 'train/good/8.png'), Buffer.concat([good.subarray(0, 41), Buffer.alloc(30, 7), good.subarray(71)]));
    await expect(loadImage(q)).rejects.toThrow(/8\.png: corrupt or truncated PNG/);
  });

  it('a defective image without its mask, and a mask of the wrong size', () => {
    const d = fresh();
    put(join(d, 'test/hole/004.png'), pngjs(W, H, 0, 8, grey8));
    expect(() => scanMvtec(d)).toThrow(/hole[/\\]004\.png: defective test image has no ground-truth mask \(expected .*ground_truth[/\\]hole[/\\]004_mask\.png, or \.jpg, \.jpeg, \.bmp\)/);
    const e = fresh();
    put(join(e, 'ground_truth/crack/001_mask.png'), rawPng(W + 1, H, 0, 1, new Array((W + 1) * H).fill(0)));
    expect(() => scanMvtec(e)).toThrow(/001_mask\.png: mask is 6×4 but its image .*crack[/\\]001\.png is 5×4/);
  });

  it('readImageHeader reports format and size; a missing file is named', () => {
    const p = put(join(root, 'hdr.png'), pngjs(W, H, 2, 16, rgb.map((v) => v * 257)));
    expect(readImageHeader(p)).toEqual({ format: 'png', width: W, height: H });
    expect(() => readImageHeader(join(root, 'missing.png'))).toThrow(/missing\.png: cannot read \(ENOENT\)/);
  });
});

const shared = new URL('../../../shared/data/', import.meta.url).pathname;
describe.skipIf(!existsSync(join(shared, 'glass')))('real data (../shared/data)', () => {
  it('scans magnetic-tile (1-bit masks, varied sizes) and glass (palette masks)', async () => {
    const mt = scanMvtec(join(shared, 'magnetic-tile'));
    expect([mt.train.length, mt.test.length, mt.defects.length]).toEqual([300, 472, 5]);
    const gl = scanMvtec(join(shared, 'glass'));
    expect(gl.defects).toEqual(['angle', 'edge']);
    for (const s of [mt.test.find((x) => x.label === 1)!, gl.test.find((x) => x.label === 1)!]) {
      const { image, mask } = await loadSample(s);
      expect(mask.length).toBe(image.width * image.height);
      const on = mask.reduce((a, b) => a + b, 0);
      expect(on).toBeGreaterThan(0);
      expect(on).toBeLessThan(mask.length);
    }
  });
});
