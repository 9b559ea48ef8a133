// PNG decoding and encoding for Node through pngjs: 8- and 16-bit, grey, RGB, RGBA and palette
// images all come out as 8-bit RGBA. Errors name the file and what was expected.
import { readFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import type { RgbaImage } from './image.js';
import { writeFileAtomic } from './node-fs.js';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export function decodePng(bytes: Uint8Array, source: string): RgbaImage {
  if (bytes.byteLength < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) {
    const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new Error(`${source}: not a PNG file (starts with bytes ${head || '(empty file)'}, expected the PNG signature 89 50 4e 47)`);
  }
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    throw new Error(`${source}: corrupt or truncated PNG (${(e as Error).message})`);
  }
  return { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
}

export function readPng(path: string): RgbaImage {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new Error(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return decodePng(bytes, path);
}

export function encodePng(img: RgbaImage): Uint8Array {
  const png = new PNG({ width: img.width, height: img.height });
  png.data = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  return PNG.sync.write(png);
}

export function writePng(path: string, img: RgbaImage): void {
  writeFileAtomic(path, encodePng(img));
}
