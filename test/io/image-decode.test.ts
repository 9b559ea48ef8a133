// The image readers (src/io/image-node.ts) decode right: the streaming PNG decoder bit for bit against
// pngjs on every colour type, bit depth, filter, tRNS and Adam7; JPEG through jpeg-js; BMP variants
// built byte by byte; the box downscale against a float64 reference. Limits and errors: image-limits.test.ts.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeImage, downscaleFactor, readImage, readImageHeader } from '../../src/io/image-node.js';
import { createRng as rng } from '../../src/util/random.js';
import { bmp, CHANNELS, esc, photo, pngjsWrite, rawPng, type RawPng , tempFiles } from './image-builders.js';

const { put, remove } = tempFiles('hlgfa-image-');
afterAll(remove);
const full = { maxSide: Infinity };


async function expectSameAsPngjs(bytes: Uint8Array, what: string): Promise<void> {
  const ours = await decodeImage(bytes, what, full);
  const ref = PNG.sync.read(Buffer.from(bytes));
  expect([ours.width, ours.height], what).toEqual([ref.width, ref.height]);
  expect(Buffer.compare(Buffer.from(ours.data), ref.data), what).toBe(0);
}


describe('PNG: the streaming decoder matches pngjs bit for bit', () => {
  const DEPTHS: Array<[RawPng['colorType'], Array<RawPng['depth']>]> = [
    [0, [1, 2, 4, 8, 16]],
    [2, [8, 16]],
    [3, [1, 2, 4, 8]],
    [4, [8, 16]],
    [6, [8, 16]],
  ];
  const SIZES = [
    [1, 1],
    [13, 11],
    [9, 3],
    [3, 17],
  ];

  it('every colour type × bit depth × Adam7, every filter type, with and without tRNS', async () => {
    let cases = 0;
    for (const [colorType, depths] of DEPTHS) {
      for (const depth of depths) {
        for (const [w, h] of SIZES) {
          for (const interlace of [false, true]) {
            for (const withTrns of [false, true]) {
              if (withTrns && (colorType === 4 || colorType === 6)) continue;
              const r = rng(cases + 1);
              const c = CHANNELS[colorType];
              const max = colorType === 3 ? Math.min(2 ** depth, 7) - 1 : 2 ** depth - 1;
              const samples = Array.from({ length: w * h * c }, () => Math.floor(r() * (max + 1)));
              const p: RawPng = { w, h, colorType, depth, samples, interlace };
              if (colorType === 3) p.palette = Array.from({ length: max + 1 }, (_, i) => [i * 30, 255 - i * 20, (i * 77) % 256]);
              if (withTrns) {
                // a colour key that some pixels hit: the first pixel's value
                const key = samples.slice(0, c);
                p.trns = colorType === 3 ? [0, 128, 255, 7] .slice(0, max + 1) : key.flatMap((v) => [v >> 8, v & 255]);
              }
              await expectSameAsPngjs(rawPng(p), `ct${colorType} d${depth} ${w}×${h}${interlace ? ' adam7' : ''}${withTrns ? ' tRNS' : ''}`);
              cases++;
            }
          }
        }
      }
    }
    expect(cases).toBe(4 * 2 * (2 * 5 + 2 * 2 + 2 * 4 + 2 + 2));
  });

  it('files written by pngjs (its own filter choice and zlib settings), 8 and 16 bit', async () => {
    const r = rng(9);
    for (const ct of [0, 2, 4, 6] as const) {
      for (const depth of [8, 16] as const) {
        const n = 37 * 29 * CHANNELS[ct];
        const samples = Array.from({ length: n }, (_, i) => Math.floor((depth === 16 ? 65536 : 256) * ((i % 50) / 50 + r() * 0.02) ) % (depth === 16 ? 65536 : 256));
        await expectSameAsPngjs(pngjsWrite(37, 29, ct, depth, samples), `pngjs ct${ct} d${depth}`);
      }
    }
  });

  const shared = new URL('../../../shared/data/', import.meta.url).pathname;
  it.skipIf(!existsSync(join(shared, 'glass')))('the real PNGs in ../shared/data: train/good of both datasets, palette and 1-bit masks, the ImageNet check images', async () => {
    const files = [
      ...['magnetic-tile', 'glass'].flatMap((d) => readdirSync(join(shared, d, 'train/good')).map((f) => join(shared, d, 'train/good', f))),
      ...readdirSync(join(shared, 'glass/ground_truth/edge')).slice(0, 10).map((f) => join(shared, 'glass/ground_truth/edge', f)),
      ...readdirSync(join(shared, 'magnetic-tile/ground_truth')).flatMap((d) => readdirSync(join(shared, 'magnetic-tile/ground_truth', d)).slice(0, 4).map((f) => join(shared, 'magnetic-tile/ground_truth', d, f))),
      join(shared, 'imagenet-check/cat.png'),
      join(shared, 'imagenet-check/grace_hopper.png'),
    ].filter((f) => f.endsWith('.png'));
    expect(files.length).toBeGreaterThan(318);
    for (const f of files) {
      const ours = await readImage(f, full);
      expect(ours.format).toBe('png');
      const ref = PNG.sync.read(readFileSync(f));
      expect(Buffer.compare(Buffer.from(ours.data), ref.data), f).toBe(0);
    }
  });
});


const field = (px: number, mask: number) => {
  if (mask === 0) return null;
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  return Math.round((((px & mask) >>> shift) * 255) / (mask >>> shift));
};

describe('BMP', () => {
  const W = 7;
  const H = 5;
  const r = rng(21);
  const rand = (n: number) => Array.from({ length: W * H }, () => Math.floor(r() * n));
  const pal = Array.from({ length: 16 }, (_, i) => [i * 16, 255 - i * 9, (i * 53) % 256]);

  it('1/4/8-bit palettes (bottom-up, top-down, OS/2 header), 24-bit, 32-bit and 16-bit 5-5-5 BI_RGB decode pixel-exactly', async () => {
    for (const bpp of [1, 4, 8] as const) {
      for (const variant of ['bottom-up', 'top-down', 'os2'] as const) {
        const n = Math.min(2 ** bpp, 16);
        const px = rand(n);
        const bytes = bmp({ w: W, h: H, bpp, px, palette: pal.slice(0, n), topDown: variant === 'top-down', dib: variant === 'os2' ? 12 : 40 });
        const img = await decodeImage(bytes, `p${bpp}.bmp`);
        expect(img.format).toBe('bmp');
        expect(Array.from(img.data), `${bpp}-bit ${variant}`).toEqual(px.flatMap((k) => [...pal[k], 255]));
      }
    }
    const bgr = Array.from({ length: W * H }, () => [Math.floor(r() * 256), Math.floor(r() * 256), Math.floor(r() * 256)]);
    for (const topDown of [false, true]) {
      const img = await decodeImage(bmp({ w: W, h: H, bpp: 24, px: bgr as unknown as number[], topDown }), 'rgb.bmp');
      expect(Array.from(img.data)).toEqual(bgr.flatMap(([b, g, rr]) => [rr, g, b, 255]));
    }
    // 32-bit BI_RGB: the fourth byte is reserved, so alpha is opaque whatever it holds
    const px32 = Array.from({ length: W * H }, () => Math.floor(r() * 2 ** 32));
    const img32 = await decodeImage(bmp({ w: W, h: H, bpp: 32, px: px32 }), 'x.bmp');
    expect(Array.from(img32.data)).toEqual(px32.flatMap((v) => [(v >>> 16) & 255, (v >>> 8) & 255, v & 255, 255]));
    const px16 = rand(65536);
    const img16 = await decodeImage(bmp({ w: W, h: H, bpp: 16, px: px16 }), 'x.bmp');
    expect(Array.from(img16.data)).toEqual(px16.flatMap((v) => [field(v, 0x7c00), field(v, 0x3e0), field(v, 0x1f), 255]));
  });

  it('BI_BITFIELDS 16-bit 5-6-5, 32-bit with an alpha mask (V4, V5 headers), BI_ALPHABITFIELDS', async () => {
    const px16 = rand(65536);
    const m565 = [0xf800, 0x07e0, 0x001f];
    const a = await decodeImage(bmp({ w: W, h: H, bpp: 16, compression: 3, masks: m565, px: px16 }), 'x.bmp');
    expect(Array.from(a.data)).toEqual(px16.flatMap((v) => [field(v, m565[0]), field(v, m565[1]), field(v, m565[2]), 255]));
    const px32 = Array.from({ length: W * H }, () => Math.floor(r() * 2 ** 32));
    for (const [dib, compression, masks] of [
      [108, 3, [0x00ff0000, 0x0000ff00, 0x000000ff, 0xff000000]],
      [124, 3, [0x000000ff, 0x0000ff00, 0x00ff0000, 0xff000000]],
      [40, 6, [0x3ff00000, 0x000ffc00, 0x000003ff, 0xc0000000]], // 10-10-10-2
      [40, 3, [0x00ff0000, 0x0000ff00, 0x000000ff]],
    ] as Array<[108 | 124 | 40, number, number[]]>) {
      const img = await decodeImage(bmp({ w: W, h: H, bpp: 32, dib, compression, masks, px: px32, topDown: dib === 124 }), 'x.bmp');
      const want = px32.flatMap((v) => [field(v, masks[0]), field(v, masks[1]), field(v, masks[2]), masks[3] ? field(v, masks[3]) : 255]);
      expect(Array.from(img.data), `dib ${dib} compression ${compression}`).toEqual(want);
    }
  });

  it('refuses RLE, names a truncated file, a bad palette index, a short header', async () => {
    const px = rand(4);
    const rle = bmp({ w: W, h: H, bpp: 8, px, palette: pal.slice(0, 4), compression: 1 });
    await expect(decodeImage(rle, 'rle.bmp')).rejects.toThrow(/^rle\.bmp: RLE-compressed BMP \(compression 1 = BI_RLE8\) is not supported; supported: uncompressed BI_RGB and BI_BITFIELDS$/);
    const good = bmp({ w: W, h: H, bpp: 8, px, palette: pal.slice(0, 4) });
    await expect(decodeImage(good.subarray(0, good.length - 10), 'cut.bmp')).rejects.toThrow(/^cut\.bmp: corrupt or truncated BMP \(7×5 pixels at 8 bits need the file to reach byte \d+ .*it has \d+ bytes\)$/);
    await expect(decodeImage(good.subarray(0, 30), 'short.bmp')).rejects.toThrow(/^short\.bmp: corrupt or truncated BMP \(the file ends at byte 30 inside the 40-byte DIB header\)$/);
    const bad = bmp({ w: W, h: H, bpp: 8, px: px.map((v, i) => (i === 3 ? 9 : v)), palette: pal.slice(0, 4) });
    await expect(decodeImage(bad, 'idx.bmp')).rejects.toThrow(/^idx\.bmp: corrupt or truncated BMP \(a pixel uses palette index 9, the palette has 4 colours\)$/);
  });
});


describe('JPEG', () => {
  const W = 61;
  const H = 45;
  const src = photo(W, H, 4);
  const bytes = new Uint8Array(jpeg.encode({ width: W, height: H, data: src }, 90).data);

  it('decodes through jpeg-js, close to the source pixels', async () => {
    const img = await decodeImage(bytes, 'a.jpg');
    expect([img.width, img.height, img.format]).toEqual([W, H, 'jpeg']);
    // Exactly what jpeg-js itself gives…
    expect(Buffer.compare(Buffer.from(img.data), Buffer.from(jpeg.decode(bytes, { useTArray: true }).data))).toBe(0);
    // …and near the source: quality 90 quantises each 8×8 block's DCT coefficients, and smooth
    // content like this loses ~1 grey level on average; 3 catches a swapped channel or a shifted row.
    let err = 0;
    for (let i = 0; i < src.length; i++) err += Math.abs(img.data[i] - src[i]);
    const mae = err / src.length;
    console.log(`JPEG q90 round trip: mean abs difference ${mae.toFixed(3)}`);
    expect(mae).toBeLessThan(3);
    expect(mae).toBeGreaterThan(0);
  });

  it('refuses a frame header over the pixel limit before decoding, and names truncated files', async () => {
    const big = Uint8Array.from(bytes);
    let sof = 2;
    while (!(big[sof] === 0xff && big[sof + 1] === 0xc0)) sof += 2 + ((big[sof + 2] << 8) | big[sof + 3]);
    big.set([30000 >> 8, 30000 & 255, 30000 >> 8, 30000 & 255], sof + 5);
    const p = put('huge.jpg', big);
    expect(readImageHeader(p)).toEqual({ format: 'jpeg', width: 30000, height: 30000 });
    const t0 = performance.now();
    await expect(readImage(p)).rejects.toThrow(new RegExp(`^${esc(p)}: image is 30000×30000 = 900 000 000 pixels, over the limit of 100 000 000 \\(--max-pixels\\)$`));
    expect(performance.now() - t0).toBeLessThan(1000);
    // Under a raised limit, the file is far too small to hold that many 8×8 blocks: refused from the header too.
    const t1 = performance.now();
    await expect(decodeImage(big, 'big.jpg', { maxPixels: 1e9 })).rejects.toThrow(/^big\.jpg: corrupt or truncated JPEG \(the frame header claims 30000×30000 pixels, which need at least 1757813 bytes of scan data; the file has \d+ bytes\)$/);
    expect(performance.now() - t1).toBeLessThan(1000);
    for (const cut of [1, 100, bytes.length >> 1, bytes.length - 2]) {
      await expect(decodeImage(bytes.subarray(0, cut), 'cut.jpg')).rejects.toThrow(/^cut\.jpg: (corrupt or truncated JPEG|not a supported image)/);
    }
    const lossless = Uint8Array.from(bytes);
    lossless[sof + 1] = 0xc3;
    await expect(decodeImage(lossless, 'l.jpg')).rejects.toThrow(/^l\.jpg: lossless JPEG \(SOF marker ffc3\) is not supported/);
  });
});


// ---- box downscale

/** The f×f box mean, in float64, of an RGBA image. */
function boxReference(d: Uint8Array, w: number, h: number, f: number): number[] {
  const ow = Math.ceil(w / f);
  const oh = Math.ceil(h / f);
  const out: number[] = [];
  for (let by = 0; by < oh; by++) {
    for (let bx = 0; bx < ow; bx++) {
      for (let c = 0; c < 4; c++) {
        let s = 0;
        let n = 0;
        for (let y = by * f; y < Math.min(h, by * f + f); y++) for (let x = bx * f; x < Math.min(w, bx * f + f); x++, n++) s += d[4 * (y * w + x) + c];
        out.push(Math.round(s / n));
      }
    }
  }
  return out;
}

describe('box downscale while decoding', () => {
  it('downscaleFactor is the smallest integer f with ceil(longest / f) <= maxSide', () => {
    expect(downscaleFactor(2048, 100)).toBe(1);
    expect(downscaleFactor(2049, 100)).toBe(2);
    expect(downscaleFactor(8000, 6000)).toBe(4);
    expect(downscaleFactor(7, 5, 3)).toBe(3);
    expect(downscaleFactor(13, 1, 3)).toBe(5);
    expect(downscaleFactor(10, 10, 4)).toBe(3); // ceil(10/3) = 4
    expect(downscaleFactor(5, 5, Infinity)).toBe(1);
    expect(() => downscaleFactor(5, 5, 0)).toThrow(/maxSide must be an integer >= 1/);
  });

  it('matches a float64 box mean on odd sizes and partial edge bins: PNG (in order and Adam7), BMP, JPEG', async () => {
    let checked = 0;
    for (const [w, h, maxSide, f] of [
      [1, 1, 1, 1],
      [7, 5, 4, 2],
      [7, 5, 3, 3],
      [13, 1, 3, 5],
      [11, 17, 4, 5],
      [9, 9, 1, 9],
    ]) {
      const r = rng(w * 100 + h);
      const samples = Array.from({ length: w * h * 4 }, () => Math.floor(r() * 256));
      const want = boxReference(Uint8Array.from(samples), w, h, f);
      const sources: Array<[string, Uint8Array]> = [
        ['png', rawPng({ w, h, colorType: 6, depth: 8, samples })],
        ['png adam7', rawPng({ w, h, colorType: 6, depth: 8, samples, interlace: true })],
        ['bmp', bmp({ w, h, bpp: 32, dib: 108, compression: 3, masks: [0xff, 0xff00, 0xff0000, 0xff000000], px: Array.from({ length: w * h }, (_, i) => samples[4 * i] | (samples[4 * i + 1] << 8) | (samples[4 * i + 2] << 16) | (samples[4 * i + 3] << 24)) })],
      ];
      for (const [what, bytes] of sources) {
        const img = await decodeImage(bytes, what, { maxSide });
        expect([img.width, img.height, img.sourceWidth, img.sourceHeight], `${what} ${w}×${h}`).toEqual([Math.ceil(w / f), Math.ceil(h / f), w, h]);
        expect(Array.from(img.data), `${what} ${w}×${h} f=${f}`).toEqual(want);
        checked++;
      }
      if (w >= 8) {
        const jb = new Uint8Array(jpeg.encode({ width: w, height: h, data: Uint8Array.from(samples) }, 95).data);
        const decoded = (await decodeImage(jb, 'j.jpg', full)).data;
        const small = await decodeImage(jb, 'j.jpg', { maxSide });
        expect(Array.from(small.data)).toEqual(boxReference(decoded, w, h, f));
        checked++;
      }
    }
    expect(checked).toBe(6 * 3 + 3);
  });
});
