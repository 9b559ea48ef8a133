// Images as the app layers hand them to models: 8-bit RGBA pixels, row-major. Decoding lives in the
// platform adapters (png-node.ts for Node, the browser's own decoder on the page).

export interface RgbaImage {
  width: number;
  height: number;
  /** width * height * 4 bytes, RGBA. */
  data: Uint8Array | Uint8ClampedArray;
}

export function checkImage(img: RgbaImage, what = 'image'): void {
  if (!Number.isInteger(img.width) || !Number.isInteger(img.height) || img.width < 1 || img.height < 1) {
    throw new Error(`${what}: invalid size ${img.width}×${img.height}`);
  }
  if (img.data.length !== img.width * img.height * 4) {
    throw new Error(`${what}: ${img.data.length} bytes of pixels, expected ${img.width}×${img.height}×4 = ${img.width * img.height * 4} (RGBA)`);
  }
}

/**
 * Planar float RGB [3, H, W] from RGBA, with per-channel (pixel*scale - mean) / std applied.
 * `scale` maps 0..255 to the range the mean/std are expressed in.
 */
export function rgbaToPlanar(img: RgbaImage, mean: readonly number[], std: readonly number[], scale = 1): Float32Array {
  checkImage(img);
  const n = img.width * img.height;
  const out = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) {
    const m = mean[c];
    const s = 1 / std[c];
    for (let i = 0; i < n; i++) out[c * n + i] = (img.data[4 * i + c] * scale - m) * s;
  }
  return out;
}
