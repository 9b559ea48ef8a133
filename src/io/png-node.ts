// PNG encoding for Node through pngjs. Reading images (PNG, JPEG, BMP, with a pixel limit and
// bounded memory) is `readImage` in image-node.ts.
import { PNG } from 'pngjs';
import type { RgbaImage } from './image.js';
import { writeFileAtomic } from './node-fs.js';

export function encodePng(img: RgbaImage): Uint8Array {
  const png = new PNG({ width: img.width, height: img.height });
  png.data = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  return PNG.sync.write(png);
}

export function writePng(path: string, img: RgbaImage): void {
  writeFileAtomic(path, encodePng(img));
}
