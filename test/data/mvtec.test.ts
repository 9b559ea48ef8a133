import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { loadImage, loadMask, loadSample, naturalCompare, readPngHeader, scanMvtec } from '../../src/data/mvtec.js';

// ---- PNG writers: pngjs for 8/16-bit grey, RGB, RGBA; a minimal encoder for what pngjs cannot write (palette, 1-bit grey)

function pngjs(w: number, h: number, colorType: 0 | 2 | 4 | 6, bitDepth: 8 | 16, samples: number[]): Buffer {
  const png = new PNG({ width: w, height: h, colorType, inputColorType: colorType, bitDepth, inputHasAlpha: colorType === 4 || colorType === 6 });
  png.data = bitDepth === 16 ? Buffer.from(Uint16Array.from(samples).buffer) : Buffer.from(Uint8Array.from(samples));
  return PNG.sync.write(png, { colorType, inputColorType: colorType, bitDepth, inputHasAlpha: colorType === 4 || colorType === 6 });
}

const CRC = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function chunk(type: string, data: Uint8Array): Buffer {
  const b = Buffer.alloc(12 + data.length);
  b.writeUInt32BE(data.length, 0);
  b.write(type, 4, 'ascii');
  Buffer.from(data).copy(b, 8);
  let c = 0xffffffff;
  for (const x of b.subarray(4, 8 + data.length)) c = CRC[(c ^ x) & 255] ^ (c >>> 8);
  b.writeUInt32BE((c ^ 0xffffffff) >>> 0, 8 + data.length);
  return b;
}
/** Raw PNG of `indices` (one sample per pixel) at bit depth 1/2/4/8, grey (0) or palette (3). */
function rawPng(w: number, h: number, colorType: 0 | 3, bitDepth: 1 | 2 | 4 | 8, indices: number[], palette?: number[][], trns?: number[]): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = colorType;
  const stride = Math.ceil((w * bitDepth) / 8);
  const raw = Buffer.alloc(h * (stride + 1));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const bit = x * bitDepth;
      raw[y * (stride + 1) + 1 + (bit >> 3)] |= indices[y * w + x] << (8 - bitDepth - (bit & 7));
    }
  }
  const parts = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr)];
  if (palette) parts.push(chunk('PLTE', Uint8Array.from(palette.flat())));
  if (trns) parts.push(chunk('tRNS', Uint8Array.from(trns)));
  parts.push(chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0)));
  return Buffer.concat(parts);
}

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
}

describe('scanMvtec', () => {
  const cat = join(root, 'widget');
  makeCategory(cat);

  it('lists train/test samples in natural order with labels, masks and sizes', () => {
    const ix = scanMvtec(cat);
    expect(ix.category).toBe('widget');
    expect(ix.train.map((s) => s.name)).toEqual(['1', '2', '3', '10']);
    expect(ix.train.every((s) => s.label === 0 && s.maskPath === null && s.split === 'train' && s.width === W && s.height === H)).toBe(true);
    expect(ix.test.map((s) => `${s.defect}/${s.name}`)).toEqual(['good/000', 'crack/000', 'crack/001', 'stain/000', 'stain/001']);
    expect(ix.test.map((s) => s.label)).toEqual([0, 1, 1, 1, 1]);
    expect(ix.test[1].maskPath).toBe(join(ix.root, 'ground_truth/crack/000_mask.png'));
    expect(ix.defects).toEqual(['crack', 'stain']);
    expect(scanMvtec(cat)).toEqual(ix); // deterministic
  });

  it('natural order is deterministic and numeric-aware', () => {
    expect(['b10', 'a', 'b2', 'b02', 'B1', '010', '9'].sort(naturalCompare)).toEqual(['9', '010', 'B1', 'a', 'b2', 'b02', 'b10']);
  });
});

describe('loadImage / loadMask', () => {
  const cat = join(root, 'widget');

  it('decodes 8-bit grey, RGB, RGBA, 16-bit grey/RGB and palette (8/4-bit, tRNS) PNGs to 8-bit RGBA', () => {
    const px = (p: string) => Array.from(loadImage(join(cat, p)).data);
    expect(px('train/good/1.png')).toEqual(grey8.flatMap((v) => [v, v, v, 255]));
    expect(px('train/good/2.png')).toEqual(Array.from({ length: N }, (_, i) => [...rgb.slice(3 * i, 3 * i + 3), 255]).flat());
    expect(px('train/good/10.png')).toEqual(rgba);
    expect(px('train/good/3.png')).toEqual(grey16.flatMap((v) => [scale16(v), scale16(v), scale16(v), 255]));
    expect(px('test/good/000.png')).toEqual(palIdx.flatMap((k) => [...pal[k], 255]));
    expect(px('test/crack/001.png')).toEqual(Array.from({ length: N }, (_, i) => [...rgb.slice(3 * i, 3 * i + 3), 255]).flat());
    // palette with transparency (tRNS) and a 4-bit palette
    const t = put(join(root, 'trns.png'), rawPng(W, H, 3, 4, palIdx, pal, [255, 128, 0]));
    expect(Array.from(loadImage(t).data)).toEqual(palIdx.flatMap((k) => [...pal[k], [255, 128, 0][k]]));
    const img = loadImage(join(cat, 'train/good/1.png'));
    expect([img.width, img.height]).toEqual([W, H]);
  });

  it('binarises 1-bit, palette, RGBA (alpha-weighted) and 16-bit masks; good images get zeros', () => {
    const ix = scanMvtec(cat);
    const masks = ix.test.map((s) => Array.from(loadSample(s).mask));
    expect(masks[0]).toEqual(new Array(N).fill(0));
    expect(masks[1]).toEqual(maskBits);
    expect(masks[2]).toEqual(maskBits);
    expect(masks[3]).toEqual(Array.from({ length: N }, (_, i) => (i < 10 ? 1 : 0)));
    expect(masks[4]).toEqual(maskBits);
    expect(Array.from(loadMask(null, 3, 2))).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('checks the mask size when called directly', () => {
    expect(() => loadMask(join(cat, 'ground_truth/crack/000_mask.png'), 6, 4, 'x.png')).toThrow(/000_mask\.png: mask is 5×4 but its image x\.png is 6×4/);
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
    put(join(b, 'train/good/a.jpg'), 'jpeg');
    expect(() => scanMvtec(b)).toThrow(/empty-train[/\\]train[/\\]good: no \.png training images \(found 1 other file\(s\), e\.g\. a\.jpg; images must be PNG\)/);
  });

  it('a BMP named .png, an empty file, a header-less PNG', () => {
    const d = fresh();
    const bmp = put(join(d, 'train/good/5.png'), Buffer.from('BM6\x00\x00\x00\x00\x00', 'latin1'));
    expect(() => scanMvtec(d)).toThrow(new RegExp(`${bmp.replace(/[\\/.]/g, '.')}: not a PNG file \\(starts with bytes 42 4d 36 00, looks like a BMP`));
    expect(() => loadImage(bmp)).toThrow(/5\.png: not a PNG file/);
    put(bmp, '');
    expect(() => scanMvtec(d)).toThrow(/5\.png: not a PNG file \(starts with bytes \(empty file\)/);
    put(bmp, pngjs(W, H, 0, 8, grey8).subarray(0, 20));
    expect(() => scanMvtec(d)).toThrow(/5\.png: corrupt or truncated PNG \(no valid IHDR header/);
  });

  it('a corrupt PNG (valid header, truncated data) fails on load, naming the file', () => {
    const d = fresh();
    const good = pngjs(W, H, 0, 8, grey8);
    const p = put(join(d, 'train/good/7.png'), good.subarray(0, good.length - 20));
    const ix = scanMvtec(d); // the header is intact
    expect(ix.train.map((s) => s.name)).toContain('7');
    expect(() => loadImage(p)).toThrow(/7\.png: corrupt or truncated PNG/);
    const q = put(join(d, 'train/good/8.png'), Buffer.concat([good.subarray(0, 41), Buffer.alloc(30, 7), good.subarray(71)]));
    expect(() => loadImage(q)).toThrow(/8\.png: corrupt or truncated PNG/);
  });

  it('a defective image without its mask, and a mask of the wrong size', () => {
    const d = fresh();
    put(join(d, 'test/hole/004.png'), pngjs(W, H, 0, 8, grey8));
    expect(() => scanMvtec(d)).toThrow(/hole[/\\]004\.png: defective test image has no ground-truth mask \(expected .*ground_truth[/\\]hole[/\\]004_mask\.png\)/);
    const e = fresh();
    put(join(e, 'ground_truth/crack/001_mask.png'), rawPng(W + 1, H, 0, 1, new Array((W + 1) * H).fill(0)));
    expect(() => scanMvtec(e)).toThrow(/001_mask\.png: mask is 6×4 but its image .*crack[/\\]001\.png is 5×4/);
  });

  it('readPngHeader reports size, bit depth and colour type', () => {
    const p = put(join(root, 'hdr.png'), pngjs(W, H, 2, 16, rgb.map((v) => v * 257)));
    expect(readPngHeader(p)).toEqual({ width: W, height: H, bitDepth: 16, colorType: 2 });
    expect(() => readPngHeader(join(root, 'missing.png'))).toThrow(/missing\.png: cannot read \(ENOENT\)/);
  });
});

const shared = new URL('../../../shared/data/', import.meta.url).pathname;
describe.skipIf(!existsSync(join(shared, 'glass')))('real data (../shared/data)', () => {
  it('scans magnetic-tile (1-bit masks, varied sizes) and glass (palette masks)', () => {
    const mt = scanMvtec(join(shared, 'magnetic-tile'));
    expect([mt.train.length, mt.test.length, mt.defects.length]).toEqual([300, 472, 5]);
    const gl = scanMvtec(join(shared, 'glass'));
    expect(gl.defects).toEqual(['angle', 'edge']);
    for (const s of [mt.test.find((x) => x.label === 1)!, gl.test.find((x) => x.label === 1)!]) {
      const { image, mask } = loadSample(s);
      expect(mask.length).toBe(image.width * image.height);
      const on = mask.reduce((a, b) => a + b, 0);
      expect(on).toBeGreaterThan(0);
      expect(on).toBeLessThan(mask.length);
    }
  });
});
