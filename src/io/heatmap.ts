// Anomaly-map visualisation: a perceptual colour map blended over the image (portable, no I/O).
import { resizeRgba, type RgbaImage } from './image.js';

// Anchor colours of a turbo-like map (dark blue → cyan → green → yellow → red).
const STOPS: Array<[number, number, number]> = [
  [48, 18, 59], [50, 136, 240], [27, 229, 181], [164, 252, 60], [251, 185, 56], [228, 70, 20], [122, 4, 3],
];

export function colormap(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x));
  const f = x - i;
  const a = STOPS[i];
  const b = STOPS[i + 1];
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

/**
 * Overlays `map` (size×size) on `img` at the image's resolution. Values are scaled so that `lo`
 * is transparent blue and `hi` is full red; the blend weight grows with the value.
 */
export function heatmapOverlay(img: RgbaImage, map: Float32Array, size: number, lo: number, hi: number): RgbaImage {
  // Put the map into an RGBA carrier to reuse the antialiased resampler.
  const carrier = new Uint8Array(size * size * 4);
  const span = hi - lo || 1;
  for (let i = 0; i < size * size; i++) {
    const v = Math.round(255 * Math.min(1, Math.max(0, (map[i] - lo) / span)));
    carrier[4 * i] = carrier[4 * i + 1] = carrier[4 * i + 2] = v;
    carrier[4 * i + 3] = 255;
  }
  const up = resizeRgba({ width: size, height: size, data: carrier }, img.width, img.height);
  const out = new Uint8Array(img.width * img.height * 4);
  for (let i = 0; i < img.width * img.height; i++) {
    const t = up.data[4 * i] / 255;
    const [r, g, b] = colormap(t);
    const alpha = 0.25 + 0.5 * t;
    out[4 * i] = Math.round(img.data[4 * i] * (1 - alpha) + r * alpha);
    out[4 * i + 1] = Math.round(img.data[4 * i + 1] * (1 - alpha) + g * alpha);
    out[4 * i + 2] = Math.round(img.data[4 * i + 2] * (1 - alpha) + b * alpha);
    out[4 * i + 3] = 255;
  }
  return { width: img.width, height: img.height, data: out };
}
