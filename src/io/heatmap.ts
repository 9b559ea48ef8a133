// Anomaly-map visualisation: a perceptual colour map blended over the image, and the labelled
// pictures `hlgfa detect` writes (portable, no I/O: the browser page uses the same code).
import { drawText, textHeight, textWidth } from './glyphs.js';
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

/** The map (size×size) resampled to width×height as 0..255 positions on the lo → hi colour scale. */
function scaledMap(map: Float32Array, size: number, width: number, height: number, lo: number, hi: number): Uint8Array {
  // Put the map into an RGBA carrier to reuse the antialiased resampler.
  const carrier = new Uint8Array(size * size * 4);
  const span = hi - lo || 1;
  for (let i = 0; i < size * size; i++) {
    const v = Math.round(255 * Math.min(1, Math.max(0, (map[i] - lo) / span)));
    carrier[4 * i] = carrier[4 * i + 1] = carrier[4 * i + 2] = v;
    carrier[4 * i + 3] = 255;
  }
  const up = resizeRgba({ width: size, height: size, data: carrier }, width, height);
  const out = new Uint8Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = up.data[4 * i];
  return out;
}

/**
 * Overlays `map` (size×size) on `img` at the image's resolution. Values are scaled so that `lo`
 * is transparent blue and `hi` is full red; the blend weight grows with the value.
 */
export function heatmapOverlay(img: RgbaImage, map: Float32Array, size: number, lo: number, hi: number): RgbaImage {
  const scaled = scaledMap(map, size, img.width, img.height, lo, hi);
  const out = new Uint8Array(img.width * img.height * 4);
  for (let i = 0; i < img.width * img.height; i++) {
    const t = scaled[i] / 255;
    const [r, g, b] = colormap(t);
    const alpha = 0.25 + 0.5 * t;
    out[4 * i] = Math.round(img.data[4 * i] * (1 - alpha) + r * alpha);
    out[4 * i + 1] = Math.round(img.data[4 * i + 1] * (1 - alpha) + g * alpha);
    out[4 * i + 2] = Math.round(img.data[4 * i + 2] * (1 - alpha) + b * alpha);
    out[4 * i + 3] = 255;
  }
  return { width: img.width, height: img.height, data: out };
}

/** The map alone in the colour scale, opaque, at width×height (the middle panel of side-by-side). */
export function heatmapImage(map: Float32Array, size: number, width: number, height: number, lo: number, hi: number): RgbaImage {
  const scaled = scaledMap(map, size, width, height, lo, hi);
  const out = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const [r, g, b] = colormap(scaled[i] / 255);
    out[4 * i] = Math.round(r);
    out[4 * i + 1] = Math.round(g);
    out[4 * i + 2] = Math.round(b);
    out[4 * i + 3] = 255;
  }
  return { width, height, data: out };
}

/**
 * The colour scale's ends for a decision threshold: transparent/blue at half the threshold,
 * saturated at twice it, so the threshold itself sits a third of the way along the scale.
 */
export function colourScale(threshold: number): { lo: number; hi: number } {
  return { lo: 0.5 * threshold, hi: 2 * threshold };
}

export const OVERLAY_LAYOUTS = ['overlay', 'side-by-side'] as const;
/** overlay: the heatmap blended over the image; side-by-side: [image | heatmap | overlay]. */
export type OverlayLayout = (typeof OVERLAY_LAYOUTS)[number];

export interface DetectionLabel {
  score: number;
  anomalous: boolean;
  threshold: number;
}

/** A number as the labels print it: 5 decimals like the CLI's text output, exponent form outside that range. */
export function formatValue(v: number): string {
  const a = Math.abs(v);
  return a === 0 || (a >= 1e-3 && a < 1e6) ? v.toFixed(5) : v.toExponential(3);
}

/**
 * Integer text scale for a panel: 1 up to 399 px on the longest side, +1 per 200 px beyond, so
 * labels stay readable when the picture is viewed scaled to fit a screen (7-pixel glyphs × 5 at 1024).
 */
export function labelScale(width: number, height: number): number {
  return Math.max(1, Math.floor(Math.max(width, height) / 200));
}

const BACKGROUND: [number, number, number] = [24, 24, 24];
const TEXT: [number, number, number] = [235, 235, 235];
const ANOMALOUS: [number, number, number] = [255, 72, 56];
const NORMAL: [number, number, number] = [96, 224, 96];
/** Narrowest colour bar, in font pixels: below this the scale would be unreadable. */
const MIN_BAR = 32;

/** Height of the label strip under the picture at text scale `s`: score line, marker, colour bar. */
export function footerHeight(s: number): number {
  const pad = 3 * s;
  return pad + textHeight(s) + pad + 3 * s + textHeight(s) + pad;
}

function fill(img: RgbaImage, x: number, y: number, w: number, h: number, rgb: readonly number[]): void {
  for (let yy = Math.max(0, y); yy < Math.min(img.height, y + h); yy++) {
    for (let xx = Math.max(0, x); xx < Math.min(img.width, x + w); xx++) {
      const i = 4 * (yy * img.width + xx);
      img.data[i] = rgb[0];
      img.data[i + 1] = rgb[1];
      img.data[i + 2] = rgb[2];
      img.data[i + 3] = 255;
    }
  }
}

function blit(dst: RgbaImage, src: RgbaImage, x: number): void {
  for (let y = 0; y < src.height; y++) dst.data.set(src.data.subarray(4 * y * src.width, 4 * (y + 1) * src.width), 4 * (y * dst.width + x));
}

/**
 * The picture `hlgfa detect` writes for one image: the overlay (or [image | heatmap | overlay]) with
 * a strip below it giving the score and verdict, and the colour scale as a bar from half the
 * threshold to twice it (values at the ends, a white tick at the threshold, a marker at the
 * score). The canvas is widened when the image is too narrow for the labels, never scaled.
 */
export function renderDetection(img: RgbaImage, map: Float32Array, size: number, label: DetectionLabel, layout: OverlayLayout): RgbaImage {
  const { lo, hi } = colourScale(label.threshold);
  const s = labelScale(img.width, img.height);
  const gap = 2 * s;
  const overlay = heatmapOverlay(img, map, size, lo, hi);
  const panels = layout === 'side-by-side' ? [img, heatmapImage(map, size, img.width, img.height, lo, hi), overlay] : [overlay];
  const contentW = panels.length * img.width + (panels.length - 1) * gap;

  const pad = 3 * s;
  const scoreText = `score ${formatValue(label.score)}`;
  const verdictText = label.anomalous ? 'ANOMALOUS' : 'normal';
  const loText = formatValue(lo);
  const hiText = formatValue(hi);
  const line1 = textWidth(`${scoreText}  ${verdictText}`, s);
  const line2 = textWidth(loText, s) + 2 * s + MIN_BAR * s + 2 * s + textWidth(hiText, s);
  const width = Math.max(contentW, Math.max(line1, line2) + 2 * pad);
  const height = img.height + footerHeight(s);
  const out: RgbaImage = { width, height, data: new Uint8Array(width * height * 4) };
  fill(out, 0, 0, width, height, BACKGROUND);
  panels.forEach((p, k) => blit(out, p, k * (img.width + gap)));

  let y = img.height + pad;
  drawText(out, scoreText, pad, y, s, TEXT);
  drawText(out, verdictText, pad + textWidth(`${scoreText}  `, s) + s, y, s, label.anomalous ? ANOMALOUS : NORMAL);
  y += textHeight(s) + pad;
  const marker = 3 * s;
  const barY = y + marker;
  const x0 = pad + textWidth(loText, s) + 2 * s;
  const x1 = width - pad - textWidth(hiText, s) - 2 * s; // exclusive
  drawText(out, loText, pad, barY, s, TEXT);
  drawText(out, hiText, x1 + 2 * s, barY, s, TEXT);
  const barW = x1 - x0;
  for (let x = x0; x < x1; x++) fill(out, x, barY, 1, textHeight(s), colormap((x - x0) / Math.max(1, barW - 1)));
  // Same mapping as the pixels: (value - lo) / (hi - lo), clamped to the bar.
  const at = (v: number) => x0 + Math.round(Math.min(1, Math.max(0, (v - lo) / (hi - lo || 1))) * (barW - 1));
  const tx = at(label.threshold);
  fill(out, tx - Math.floor(s / 2), barY, Math.max(1, s), textHeight(s), [255, 255, 255]);
  const sx = at(label.score);
  for (let r = 0; r < marker; r++) {
    const half = Math.floor(((marker - 1 - r) * s) / Math.max(1, marker - 1));
    fill(out, sx - half, y + r, 2 * half + 1, 1, label.anomalous ? ANOMALOUS : NORMAL);
  }
  return out;
}
