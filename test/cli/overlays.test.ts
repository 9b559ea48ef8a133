// The pictures `hlgfa detect` writes: the built-in bitmap font, the overlay and side-by-side layouts,
// and the label strip (score, verdict, colour scale from half the threshold to twice it).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canDraw, drawText, GLYPH_ADVANCE, textHeight, textWidth } from '../../src/io/glyphs.js';
import { colormap, colourScale, footerHeight, formatValue, heatmapImage, heatmapOverlay, labelScale, renderDetection } from '../../src/io/heatmap.js';
import type { RgbaImage } from '../../src/io/image.js';

const same = (a: Uint8Array | Uint8ClampedArray, b: Uint8Array | Uint8ClampedArray) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
const blank = (w: number, h: number, v = 0): RgbaImage => ({ width: w, height: h, data: new Uint8Array(w * h * 4).fill(v) });
const px = (img: RgbaImage, x: number, y: number) => [...img.data.subarray(4 * (y * img.width + x), 4 * (y * img.width + x) + 3)];
const crop = (img: RgbaImage, x: number, y: number, w: number, h: number): RgbaImage => {
  const out = blank(w, h);
  for (let r = 0; r < h; r++) out.data.set(img.data.subarray(4 * ((y + r) * img.width + x), 4 * ((y + r) * img.width + x + w)), 4 * r * w);
  return out;
};
/** Where `text` drawn at scale s would put ink, as a 0/1 grid. */
const inkOf = (text: string, s: number): number[] => {
  const img = blank(textWidth(text, s), textHeight(s));
  drawText(img, text, 0, 0, s, [255, 255, 255]);
  return Array.from({ length: img.width * img.height }, (_, i) => (img.data[4 * i] === 255 ? 1 : 0));
};
/** Whether the region at (x, y) has exactly `text`'s ink in colour `rgb` (and nothing of that colour elsewhere in it). */
const showsText = (img: RgbaImage, text: string, x: number, y: number, s: number, rgb: number[]) => {
  const region = crop(img, x, y, textWidth(text, s), textHeight(s));
  const got = Array.from({ length: region.width * region.height }, (_, i) => (px(region, i % region.width, Math.floor(i / region.width)).join() === rgb.join() ? 1 : 0));
  return got.join('') === inkOf(text, s).join('');
};

const TEXT = [235, 235, 235];
const RED = [255, 72, 56];
const GREEN = [96, 224, 96];

describe('bitmap font', () => {
  it('draws a glyph as scale×scale blocks, clipped at the edges', () => {
    const img = blank(12, 16);
    drawText(img, '1', 0, 0, 2, [9, 8, 7]);
    const rows = Array.from({ length: 14 }, (_, y) => Array.from({ length: 10 }, (_, x) => (img.data[4 * (y * 12 + x) + 3] ? '#' : '.')).join(''));
    expect(rows).toEqual([
      '....##....', '....##....',
      '..####....', '..####....',
      '....##....', '....##....',
      '....##....', '....##....',
      '....##....', '....##....',
      '....##....', '....##....',
      '..######..', '..######..',
    ]);
    expect(px(img, 4, 0)).toEqual([9, 8, 7]);
    const edge = blank(3, 3);
    drawText(edge, '8', -2, -2, 1, [1, 1, 1]); // partly outside: no throw, only the visible part
    expect(edge.data.filter((v, i) => i % 4 === 3 && v === 255).length).toBeGreaterThan(0);
  });

  it('measures text and refuses characters it has no glyph for', () => {
    expect(textWidth('ab', 3)).toBe((2 * GLYPH_ADVANCE - 1) * 3);
    expect(textWidth('', 3)).toBe(0);
    expect(textHeight(2)).toBe(14);
    expect(() => drawText(blank(50, 10), 'score x', 0, 0, 1, [0, 0, 0])).toThrow('drawText: the overlay font has no glyph for "x" (in "score x")');
    expect(() => drawText(blank(5, 7), '1', 0, 0, 1.5, [0, 0, 0])).toThrow('drawText: scale must be an integer >= 1, got 1.5');
  });

  it('has every character the labels can contain', () => {
    const values = [0, 1e-9, -1e-9, 0.000999, 0.001, 0.0123456, 1, -2.5, 99999.99, 1e6, -3.3e12, Number.MAX_VALUE];
    for (const v of values) expect(canDraw(formatValue(v)), formatValue(v)).toBe(true);
    for (const t of ['score ', 'ANOMALOUS', 'normal']) expect(canDraw(t), t).toBe(true);
  });
});

describe('formatValue and the scales', () => {
  it('prints 5 decimals like the CLI, exponent form for tiny and huge values', () => {
    expect(formatValue(0.0123456)).toBe('0.01235');
    expect(formatValue(0)).toBe('0.00000');
    expect(formatValue(-0.5)).toBe('-0.50000');
    expect(formatValue(123.456789)).toBe('123.45679');
    expect(formatValue(0.00001234)).toBe('1.234e-5');
    expect(formatValue(2.5e7)).toBe('2.500e+7');
  });
  it('colour scale: half the threshold to twice it; text scale grows with the image', () => {
    expect(colourScale(0.4)).toEqual({ lo: 0.2, hi: 0.8 });
    expect([labelScale(64, 64), labelScale(399, 10), labelScale(400, 10), labelScale(100, 1024)]).toEqual([1, 1, 2, 5]);
    expect(footerHeight(1)).toBe(3 + 7 + 3 + 3 + 7 + 3);
    expect(footerHeight(2)).toBe(2 * footerHeight(1));
  });
});

describe('renderDetection', () => {
  // A 400×200 image of a horizontal ramp, a 4×4 map rising to the right.
  const W = 400;
  const H = 200;
  const img = blank(W, H);
  for (let i = 0; i < W * H; i++) img.data.set([(i % W) % 256, 90, 160, 255], 4 * i);
  const map = Float32Array.from({ length: 16 }, (_, i) => (i % 4) / 3);
  const threshold = 0.4;
  const { lo, hi } = colourScale(threshold);
  const s = labelScale(W, H); // 2: the label strip's geometry scales with it
  const pad = 3 * s;

  /** Checks the label strip: texts, verdict colour, bar ends, threshold tick, score marker. */
  function checkStrip(out: RgbaImage, score: number, anomalous: boolean) {
    const y1 = H + pad;
    const scoreText = `score ${formatValue(score)}`;
    expect(showsText(out, scoreText, pad, y1, s, TEXT)).toBe(true);
    const verdict = anomalous ? 'ANOMALOUS' : 'normal';
    expect(showsText(out, verdict, pad + (scoreText.length + 2) * GLYPH_ADVANCE * s, y1, s, anomalous ? RED : GREEN)).toBe(true);
    const barY = y1 + textHeight(s) + pad + 3 * s;
    const loText = formatValue(lo);
    const hiText = formatValue(hi);
    expect(showsText(out, loText, pad, barY, s, TEXT)).toBe(true);
    const x0 = pad + textWidth(loText, s) + 2 * s;
    const x1 = out.width - pad - textWidth(hiText, s) - 2 * s;
    expect(showsText(out, hiText, x1 + 2 * s, barY, s, TEXT)).toBe(true);
    expect(px(out, x0, barY + 1)).toEqual(colormap(0).map(Math.round));
    expect(px(out, x1 - 1, barY + 1)).toEqual(colormap(1).map(Math.round));
    // The threshold sits a third of the way along the bar, drawn white over its full height.
    const tx = x0 + Math.round((1 / 3) * (x1 - x0 - 1));
    for (let y = barY; y < barY + textHeight(s); y++) expect(px(out, tx, y)).toEqual([255, 255, 255]);
    // The score marker's tip touches the bar at the score's place on the scale (clamped).
    const sx = x0 + Math.round(Math.min(1, Math.max(0, (score - lo) / (hi - lo))) * (x1 - x0 - 1));
    expect(px(out, sx, barY - 1)).toEqual(anomalous ? RED : GREEN);
    expect(out.height).toBe(H + footerHeight(s));
  }

  it('overlay: the heatmap over the image, then the label strip', () => {
    const out = renderDetection(img, map, 4, { score: 0.65, anomalous: true, threshold }, 'overlay');
    expect(out.width).toBe(W);
    expect(same(crop(out, 0, 0, W, H).data, heatmapOverlay(img, map, 4, lo, hi).data)).toBe(true);
    checkStrip(out, 0.65, true);
  });

  it('side-by-side: image | heatmap | overlay with a gap, then the label strip', () => {
    const out = renderDetection(img, map, 4, { score: 0.1, anomalous: false, threshold }, 'side-by-side');
    const gap = 2 * s;
    expect(out.width).toBe(3 * W + 2 * gap);
    expect(same(crop(out, 0, 0, W, H).data, img.data)).toBe(true);
    expect(same(crop(out, W + gap, 0, W, H).data, heatmapImage(map, 4, W, H, lo, hi).data)).toBe(true);
    expect(same(crop(out, 2 * (W + gap), 0, W, H).data, heatmapOverlay(img, map, 4, lo, hi).data)).toBe(true);
    expect(px(out, W, 10)).toEqual([24, 24, 24]); // the gap
    checkStrip(out, 0.1, false);
  });

  it('widens the canvas for a small image instead of shrinking the labels', () => {
    const small = blank(16, 16, 200);
    const out = renderDetection(small, map, 4, { score: 0.01234, anomalous: false, threshold: 0.02 }, 'overlay');
    const needed = textWidth('score 0.01234  normal', 1) + 6;
    expect(out.width).toBe(needed);
    expect(out.height).toBe(16 + footerHeight(1));
    expect(same(crop(out, 0, 0, 16, 16).data, heatmapOverlay(small, map, 4, 0.01, 0.04).data)).toBe(true);
    expect(px(out, 16, 0)).toEqual([24, 24, 24]);
    expect(showsText(out, 'score 0.01234', 3, 16 + 3, 1, TEXT)).toBe(true);
  });

  it('the heatmap panel maps lo → the first colour and hi → the last', () => {
    const flat = (v: number) => heatmapImage(new Float32Array(4).fill(v), 2, 3, 3, lo, hi);
    expect(px(flat(lo), 1, 1)).toEqual(colormap(0).map(Math.round));
    expect(px(flat(hi * 5), 1, 1)).toEqual(colormap(1).map(Math.round));
  });

  it('heatmap.ts and glyphs.ts stay portable (no Node imports: the browser page uses them)', () => {
    for (const f of ['heatmap.ts', 'glyphs.ts']) {
      const src = readFileSync(join(__dirname, '..', '..', 'src', 'io', f), 'utf8');
      expect(src, f).not.toMatch(/from ['"](node:|fs|path|os)/);
      expect(src, f).not.toMatch(/\bprocess\.|\bBuffer\b/);
    }
  });
});
