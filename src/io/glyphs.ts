// A tiny built-in bitmap font for labelling overlays (portable, no I/O). Overlays are written
// without any font library or system font, so the few characters they need — digits and numbers
// signs, "score", "ANOMALOUS", "normal" — are drawn from 5×7 cells, scaled by an integer factor.
import type { RgbaImage } from './image.js';

export const GLYPH_WIDTH = 5;
export const GLYPH_HEIGHT = 7;
/** Horizontal step per character, in font pixels (one column of spacing). */
export const GLYPH_ADVANCE = GLYPH_WIDTH + 1;

// Each glyph: 7 rows of 5 columns, '#' = ink. Only what overlay labels use: a missing character
// is an error (see drawText), so a new label cannot silently render blanks.
const FONT: Record<string, readonly string[]> = {
  ' ': ['.....', '.....', '.....', '.....', '.....', '.....', '.....'],
  '0': ['.###.', '#...#', '#..##', '#.#.#', '##..#', '#...#', '.###.'],
  '1': ['..#..', '.##..', '..#..', '..#..', '..#..', '..#..', '.###.'],
  '2': ['.###.', '#...#', '....#', '...#.', '..#..', '.#...', '#####'],
  '3': ['#####', '...#.', '..#..', '...#.', '....#', '#...#', '.###.'],
  '4': ['...#.', '..##.', '.#.#.', '#..#.', '#####', '...#.', '...#.'],
  '5': ['#####', '#....', '####.', '....#', '....#', '#...#', '.###.'],
  '6': ['..##.', '.#...', '#....', '####.', '#...#', '#...#', '.###.'],
  '7': ['#####', '....#', '...#.', '..#..', '.#...', '.#...', '.#...'],
  '8': ['.###.', '#...#', '#...#', '.###.', '#...#', '#...#', '.###.'],
  '9': ['.###.', '#...#', '#...#', '.####', '....#', '...#.', '.##..'],
  '.': ['.....', '.....', '.....', '.....', '.....', '.##..', '.##..'],
  '-': ['.....', '.....', '.....', '#####', '.....', '.....', '.....'],
  '+': ['.....', '..#..', '..#..', '#####', '..#..', '..#..', '.....'],
  ':': ['.....', '.##..', '.##..', '.....', '.##..', '.##..', '.....'],
  A: ['.###.', '#...#', '#...#', '#####', '#...#', '#...#', '#...#'],
  L: ['#....', '#....', '#....', '#....', '#....', '#....', '#####'],
  M: ['#...#', '##.##', '#.#.#', '#.#.#', '#...#', '#...#', '#...#'],
  N: ['#...#', '##..#', '#.#.#', '#..##', '#...#', '#...#', '#...#'],
  O: ['.###.', '#...#', '#...#', '#...#', '#...#', '#...#', '.###.'],
  S: ['.####', '#....', '#....', '.###.', '....#', '....#', '####.'],
  U: ['#...#', '#...#', '#...#', '#...#', '#...#', '#...#', '.###.'],
  a: ['.....', '.....', '.###.', '....#', '.####', '#...#', '.####'],
  c: ['.....', '.....', '.###.', '#....', '#....', '#...#', '.###.'],
  e: ['.....', '.....', '.###.', '#...#', '#####', '#....', '.###.'],
  l: ['.##..', '..#..', '..#..', '..#..', '..#..', '..#..', '.###.'],
  m: ['.....', '.....', '##.#.', '#.#.#', '#.#.#', '#...#', '#...#'],
  n: ['.....', '.....', '#.##.', '##..#', '#...#', '#...#', '#...#'],
  o: ['.....', '.....', '.###.', '#...#', '#...#', '#...#', '.###.'],
  r: ['.....', '.....', '#.##.', '##..#', '#....', '#....', '#....'],
  s: ['.....', '.....', '.####', '#....', '.###.', '....#', '####.'],
};

/** Whether the font can draw every character of `text`. */
export function canDraw(text: string): boolean {
  return [...text].every((ch) => Object.hasOwn(FONT, ch));
}

/** Width in pixels of `text` drawn at `scale` (no trailing spacing column). */
export function textWidth(text: string, scale: number): number {
  return text.length === 0 ? 0 : (text.length * GLYPH_ADVANCE - 1) * scale;
}

/** Height in pixels of one line of text at `scale`. */
export function textHeight(scale: number): number {
  return GLYPH_HEIGHT * scale;
}

/**
 * Draws `text` into `img` in place with its top-left corner at (x, y), each font pixel a
 * scale×scale square of `rgb` (opaque). Pixels outside the image are clipped. Throws on a
 * character the font lacks rather than leaving a gap that would misstate a number.
 */
export function drawText(img: RgbaImage, text: string, x: number, y: number, scale: number, rgb: readonly [number, number, number]): void {
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`drawText: scale must be an integer >= 1, got ${scale}`);
  const missing = [...text].find((ch) => !Object.hasOwn(FONT, ch));
  if (missing !== undefined) throw new Error(`drawText: the overlay font has no glyph for ${JSON.stringify(missing)} (in ${JSON.stringify(text)})`);
  const { width, height, data } = img;
  [...text].forEach((ch, k) => {
    const rows = FONT[ch];
    const x0 = x + k * GLYPH_ADVANCE * scale;
    for (let r = 0; r < GLYPH_HEIGHT; r++) {
      for (let c = 0; c < GLYPH_WIDTH; c++) {
        if (rows[r][c] !== '#') continue;
        for (let dy = 0; dy < scale; dy++) {
          const py = y + r * scale + dy;
          if (py < 0 || py >= height) continue;
          for (let dx = 0; dx < scale; dx++) {
            const px = x0 + c * scale + dx;
            if (px < 0 || px >= width) continue;
            const i = 4 * (py * width + px);
            data[i] = rgb[0];
            data[i + 1] = rgb[1];
            data[i + 2] = rgb[2];
            data[i + 3] = 255;
          }
        }
      }
    }
  });
}
