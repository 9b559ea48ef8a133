// Image files built byte by byte for the decoder tests: PNGs of every colour type, bit depth,
// filter, tRNS and Adam7 (what pngjs's encoder cannot write), BMP variants, synthetic photos.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { createRng as rng } from '../../src/util/random.js';

// ---- a PNG writer for what pngjs's encoder cannot produce: palettes, 1/2/4-bit, tRNS, Adam7, every filter

export const CRC = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
/** CRC-32 (PNG's chunk checksum) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of bytes) c = CRC[(c ^ x) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function chunk(type: string, data: Uint8Array): Buffer {
  const b = Buffer.alloc(12 + data.length);
  b.writeUInt32BE(data.length, 0);
  b.write(type, 4, 'latin1');
  Buffer.from(data).copy(b, 8);
  b.writeUInt32BE(crc32(b.subarray(4, 8 + data.length)), 8 + data.length);
  return b;
}
export const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
export const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];

export interface RawPng {
  w: number;
  h: number;
  colorType: 0 | 2 | 3 | 4 | 6;
  depth: 1 | 2 | 4 | 8 | 16;
  /** w*h*channels sample values at `depth`. */
  samples: number[];
  interlace?: boolean;
  palette?: number[][];
  /** tRNS payload bytes. */
  trns?: number[];
}

export function ihdr(w: number, h: number, depth: number, colorType: number, interlace: number): Buffer {
  const b = Buffer.alloc(13);
  b.writeUInt32BE(w, 0);
  b.writeUInt32BE(h, 4);
  b[8] = depth;
  b[9] = colorType;
  b[12] = interlace;
  return chunk('IHDR', b);
}
export const SIG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Scanlines (filter byte + filtered bytes) for pixels at `xs` × `ys`; filter type cycles 0..4 by row. */
export function scanlines(p: RawPng, xs: number[], ys: number[], firstFilter: number): Buffer[] {
  const c = CHANNELS[p.colorType];
  const bitsPP = c * p.depth;
  const bpp = Math.max(1, bitsPP >> 3);
  const len = Math.ceil((xs.length * bitsPP) / 8);
  let prev: Uint8Array | null = null;
  return ys.map((y, r) => {
    const cur = new Uint8Array(len);
    xs.forEach((x, i) => {
      for (let k = 0; k < c; k++) {
        const v = p.samples[(y * p.w + x) * c + k];
        const bit = (i * c + k) * p.depth;
        if (p.depth === 16) cur.set([v >> 8, v & 255], bit >> 3);
        else cur[bit >> 3] |= v << (8 - p.depth - (bit & 7));
      }
    });
    const type = (firstFilter + r) % 5;
    const out = Buffer.alloc(len + 1);
    out[0] = type;
    for (let i = 0; i < len; i++) {
      const a = i >= bpp ? cur[i - bpp] : 0;
      const b = prev ? prev[i] : 0;
      const cc = prev && i >= bpp ? prev[i - bpp] : 0;
      const pa = Math.abs(b - cc);
      const pb = Math.abs(a - cc);
      const pc = Math.abs(a + b - 2 * cc);
      const pred = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : cc][type];
      out[1 + i] = (cur[i] - pred) & 255;
    }
    prev = cur;
    return out;
  });
}

export function rawPng(p: RawPng): Buffer {
  const range = (n: number, start = 0, step = 1) => Array.from({ length: Math.max(0, Math.ceil((n - start) / step)) }, (_, i) => start + i * step);
  const passes = p.interlace ? ADAM7.map(([x0, y0, dx, dy]) => [range(p.w, x0, dx), range(p.h, y0, dy)]) : [[range(p.w), range(p.h)]];
  const raw = Buffer.concat(passes.filter(([xs, ys]) => xs.length && ys.length).flatMap(([xs, ys], i) => scanlines(p, xs, ys, i)));
  const z = deflateSync(raw);
  const half = z.length >> 1; // two IDAT chunks: the decoder must join them
  const parts = [SIG, ihdr(p.w, p.h, p.depth, p.colorType, p.interlace ? 1 : 0), chunk('tEXt', Buffer.from('Comment\0hi', 'latin1'))];
  if (p.palette) parts.push(chunk('PLTE', Uint8Array.from(p.palette.flat())));
  if (p.trns) parts.push(chunk('tRNS', Uint8Array.from(p.trns)));
  parts.push(chunk('IDAT', z.subarray(0, half)), chunk('IDAT', z.subarray(half)), chunk('IEND', new Uint8Array(0)));
  return Buffer.concat(parts);
}

export function pngjsWrite(w: number, h: number, colorType: 0 | 2 | 4 | 6, bitDepth: 8 | 16, samples: number[]): Buffer {
  const alpha = colorType === 4 || colorType === 6;
  const png = new PNG({ width: w, height: h, colorType, inputColorType: colorType, bitDepth, inputHasAlpha: alpha });
  png.data = bitDepth === 16 ? Buffer.from(Uint16Array.from(samples).buffer) : Buffer.from(Uint8Array.from(samples));
  return PNG.sync.write(png, { colorType, inputColorType: colorType, bitDepth, inputHasAlpha: alpha });
}

export function hugePng(w: number, h: number, depth: number, colorType: number): Buffer {
  return Buffer.concat([SIG, ihdr(w, h, depth, colorType, 0), chunk('IDAT', deflateSync(Buffer.alloc(1000))), chunk('IEND', new Uint8Array(0))]);
}


// ---- BMP, built byte by byte

export interface BmpSpec {
  w: number;
  h: number;
  bpp: 1 | 4 | 8 | 16 | 24 | 32;
  /** 12 (OS/2 core), 40, 108 (V4) or 124 (V5). */
  dib?: 12 | 40 | 108 | 124;
  compression?: number;
  topDown?: boolean;
  masks?: number[];
  palette?: number[][];
  /** Raw pixel values (palette index or packed pixel, or [b, g, r] for 24-bit), row-major, top row first. */
  px: number[];
}

export function bmp(s: BmpSpec): Buffer {
  const dib = s.dib ?? 40;
  const comp = s.compression ?? 0;
  const maskBytes = dib === 40 && (comp === 3 || comp === 6) ? 4 * s.masks!.length : 0;
  const entry = dib === 12 ? 3 : 4;
  const pal = s.palette ?? [];
  const offset = 14 + dib + maskBytes + pal.length * entry;
  const stride = Math.ceil((s.w * s.bpp) / 32) * 4;
  const b = Buffer.alloc(offset + stride * s.h);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(offset, 10);
  b.writeUInt32LE(dib, 14);
  if (dib === 12) {
    b.writeUInt16LE(s.w, 18);
    b.writeUInt16LE(s.h, 20);
    b.writeUInt16LE(1, 22);
    b.writeUInt16LE(s.bpp, 24);
  } else {
    b.writeInt32LE(s.w, 18);
    b.writeInt32LE(s.topDown ? -s.h : s.h, 22);
    b.writeUInt16LE(1, 26);
    b.writeUInt16LE(s.bpp, 28);
    b.writeUInt32LE(comp, 30);
    b.writeUInt32LE(pal.length, 46);
    if (s.masks) s.masks.forEach((m, i) => b.writeUInt32LE(m >>> 0, (dib === 40 ? 14 + 40 : 14 + 40) + 4 * i));
  }
  pal.forEach(([r, g, bl], i) => b.set([bl, g, r], 14 + dib + maskBytes + entry * i));
  for (let y = 0; y < s.h; y++) {
    const row = offset + (s.topDown ? y : s.h - 1 - y) * stride;
    for (let x = 0; x < s.w; x++) {
      const v = s.px[y * s.w + x];
      if (s.bpp < 8) b[row + ((x * s.bpp) >> 3)] |= v << (8 - s.bpp - ((x * s.bpp) & 7));
      else if (s.bpp === 8) b[row + x] = v;
      else if (s.bpp === 16) b.writeUInt16LE(v, row + 2 * x);
      else if (s.bpp === 24) b.set(v as unknown as number[], row + 3 * x);
      else b.writeUInt32LE(v >>> 0, row + 4 * x);
    }
  }
  return b;
}

export function photo(w: number, h: number, seed: number): Uint8Array {
  const r = rng(seed);
  const d = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = 4 * (y * w + x);
      d[o] = Math.round(128 + 100 * Math.sin(x / 9) * Math.cos(y / 13));
      d[o + 1] = Math.round((255 * x) / w);
      d[o + 2] = Math.round((255 * y) / h * 0.8 + 20 * r());
      d[o + 3] = 255;
    }
  }
  return d;
}

export const pngjsPixels = (bytes: Uint8Array) => new Uint8Array(PNG.sync.read(Buffer.from(bytes)).data);

/** A path as a literal inside a RegExp. */
export const esc = (s: string) => s.replace(/[\\/.()[\]]/g, '\\$&');

/** A fresh temp folder and a writer into it; `remove` deletes the folder (call it in afterAll). */
export function tempFiles(prefix: string): { root: string; put: (name: string, bytes: Uint8Array | string) => string; remove: () => void } {
  const root = mkdtempSync(join(tmpdir(), prefix));
  return {
    root,
    put: (name, bytes) => {
      const p = join(root, name);
      writeFileSync(p, bytes);
      return p;
    },
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}
