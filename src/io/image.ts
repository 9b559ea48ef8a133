// Images as the app layers hand them to models: 8-bit RGBA pixels, row-major. Decoding lives in the
// platform adapters (image-node.ts for Node, the browser's own decoder on the page).

export interface RgbaImage {
  width: number;
  height: number;
  /** width * height * 4 bytes, RGBA. */
  data: Uint8Array | Uint8ClampedArray;
}

/** Random access (the streaming decoders: png-decode.ts, bmp-decode.ts) to a file's bytes; returns fewer bytes than asked at the end of the file. */
export interface ByteReader {
  readonly size: number;
  readAt(pos: number, length: number): Uint8Array;
}

/** Receives decoded RGBA pixels: `count` of them for row y, at columns x0, x0 + dx, … */
export interface PixelSink {
  put(y: number, x0: number, dx: number, rgba: Uint8Array, count: number): void;
}

export function checkImage(img: RgbaImage, what = 'image'): void {
  // Anything else (a Float32Array of 0..1 values, a plain array) would be misread as bytes.
  if (!(img?.data instanceof Uint8Array || img?.data instanceof Uint8ClampedArray)) {
    const got = img?.data === undefined ? 'no data' : ((img.data as object)?.constructor?.name ?? typeof img.data);
    throw new Error(`${what}: pixels must be 8-bit RGBA in a Uint8Array or Uint8ClampedArray, got ${got} (scale 0..1 floats by 255 into a Uint8Array first)`);
  }
  if (!Number.isInteger(img.width) || !Number.isInteger(img.height) || img.width < 1 || img.height < 1) {
    throw new Error(`${what}: invalid size ${img.width}×${img.height}`);
  }
  if (img.data.length !== img.width * img.height * 4) {
    throw new Error(`${what}: ${img.data.length} bytes of pixels, expected ${img.width}×${img.height}×4 = ${img.width * img.height * 4} (RGBA)`);
  }
}

/**
 * Planar float RGB [3, H, W] from RGBA, with per-channel (pixel*scale - mean) / std applied.
 * `scale` maps 0..255 to the range the mean/std are expressed in. Written into `out` at `offset`
 * when given (a batch's upload buffer), else into a new array.
 */
export function rgbaToPlanar(
  img: RgbaImage, mean: readonly number[], std: readonly number[], scale = 1, out?: Float32Array, offset = 0,
): Float32Array {
  checkImage(img);
  const n = img.width * img.height;
  const dst = out ?? new Float32Array(3 * n);
  if (dst.length < offset + 3 * n) throw new RangeError(`rgbaToPlanar: ${dst.length} floats cannot take ${3 * n} at offset ${offset}`);
  const px = img.data;
  const [m0, m1, m2] = mean;
  const s0 = 1 / std[0], s1 = 1 / std[1], s2 = 1 / std[2];
  const r = offset, g = offset + n, b = offset + 2 * n;
  // One pass over the pixels, filling the three planes.
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    dst[r + i] = (px[j] * scale - m0) * s0;
    dst[g + i] = (px[j + 1] * scale - m1) * s1;
    dst[b + i] = (px[j + 2] * scale - m2) * s2;
  }
  return dst;
}

/**
 * Antialiased bilinear resampling of RGBA (PIL-style: a triangle filter widened by the scale
 * factor when shrinking), separable, on the CPU. Used to bring images to the model's input size.
 */
export function resizeRgba(img: RgbaImage, width: number, height: number): RgbaImage {
  checkImage(img);
  if (img.width === width && img.height === height) return { width, height, data: new Uint8Array(img.data) };
  const horizontal = resampleAxis(img.data, img.width, img.height, width, true);
  const out = resampleAxis(horizontal, width, img.height, height, false);
  const data = new Uint8Array(out.length);
  for (let i = 0; i < out.length; i++) data[i] = Math.max(0, Math.min(255, Math.round(out[i])));
  return { width, height, data };
}

function resampleAxis(src: ArrayLike<number>, w: number, h: number, outLen: number, alongX: boolean): Float32Array {
  const inLen = alongX ? w : h;
  const scale = inLen / outLen;
  const support = Math.max(1, scale);
  const ow = alongX ? outLen : w;
  const oh = alongX ? h : outLen;
  const out = new Float32Array(ow * oh * 4);
  for (let o = 0; o < outLen; o++) {
    const centre = (o + 0.5) * scale;
    const lo = Math.max(0, Math.floor(centre - support));
    const hi = Math.min(inLen - 1, Math.ceil(centre + support));
    const taps: Array<[number, number]> = [];
    let total = 0;
    for (let i = lo; i <= hi; i++) {
      const wgt = Math.max(0, 1 - Math.abs((i + 0.5 - centre) / support));
      if (wgt > 0) {
        taps.push([i, wgt]);
        total += wgt;
      }
    }
    if (total === 0) taps.push([Math.min(inLen - 1, Math.max(0, Math.floor(centre))), (total = 1)]);
    const lines = alongX ? h : w;
    for (let line = 0; line < lines; line++) {
      for (let c = 0; c < 4; c++) {
        let acc = 0;
        for (const [i, wgt] of taps) {
          const at = alongX ? (line * w + i) * 4 + c : (i * w + line) * 4 + c;
          acc += src[at] * wgt;
        }
        const dst = alongX ? (line * ow + o) * 4 + c : (o * ow + line) * 4 + c;
        out[dst] = acc / total;
      }
    }
  }
  return out;
}

/** Mean and standard deviation of an image's luminance ((R + G + B) / 3), over all pixels. */
export function luminanceStats(img: RgbaImage): { mean: number; std: number } {
  checkImage(img);
  const n = img.width * img.height;
  let s = 0;
  let q = 0;
  for (let i = 0; i < n; i++) {
    const l = (img.data[4 * i] + img.data[4 * i + 1] + img.data[4 * i + 2]) / 3;
    s += l;
    q += l * l;
  }
  const mean = s / n;
  return { mean, std: Math.sqrt(Math.max(0, q / n - mean * mean)) };
}

/**
 * The image with its luminance brought to `target` mean and standard deviation: one shift and
 * scale applied to R, G and B alike (hues kept), rounded and clamped to 0..255; alpha kept. A flat
 * image (no contrast) is only shifted.
 */
export function standardizeExposure(img: RgbaImage, target: { mean: number; std: number }): RgbaImage {
  const { mean, std } = luminanceStats(img);
  const gain = std > 1e-6 ? target.std / std : 1;
  const data = new Uint8Array(img.data.length);
  for (let i = 0; i < data.length; i++) {
    data[i] = (i & 3) === 3 ? img.data[i] : Math.max(0, Math.min(255, Math.round((img.data[i] - mean) * gain + target.mean)));
  }
  return { width: img.width, height: img.height, data };
}
