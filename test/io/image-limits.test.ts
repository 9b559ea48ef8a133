// The image readers refuse what they must: pixel limits checked on the header before anything is
// decoded, zlib bombs, truncated and unsupported files, directories — each naming the file.
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { checkPixelLimit, decodeImage, DEFAULT_MAX_PIXELS, readImage, readImageHeader } from '../../src/io/image-node.js';
import { bmp, chunk, esc, hugePng, ihdr, pngjsPixels, pngjsWrite, rawPng, SIG , tempFiles } from './image-builders.js';

const { root, put, remove } = tempFiles('hlgfa-image-');
afterAll(remove);

describe('limits', () => {
  it.each([
    [20000, 20000, 8, 6, '20000×20000 = 400 000 000'],
    [100000, 100000, 1, 0, '100000×100000 = 10 000 000 000'],
  ])('a %i×%i PNG header is refused before anything is inflated (< 1 s, RSS + < 50 MB)', async (w, h, depth, ct, size) => {
    const p = put(`huge-${w}.png`, hugePng(w, h, depth, ct));
    const rss0 = process.memoryUsage().rss;
    const t0 = performance.now();
    await expect(readImage(p)).rejects.toThrow(new RegExp(`^${esc(p)}: image is ${size} pixels, over the limit of 100 000 000 \\(--max-pixels\\)$`));
    const ms = performance.now() - t0;
    const grew = (process.memoryUsage().rss - rss0) / 2 ** 20;
    console.log(`${w}×${h} refused in ${ms.toFixed(1)} ms, RSS +${grew.toFixed(1)} MB`);
    expect(ms).toBeLessThan(1000);
    expect(grew).toBeLessThan(50);
    expect(readImageHeader(p)).toEqual({ format: 'png', width: w, height: h });
    expect(() => checkPixelLimit(readImageHeader(p), p)).toThrow(/over the limit of 100 000 000/);
  });

  it('maxPixels is exact and configurable', async () => {
    const bytes = pngjsWrite(5, 4, 0, 8, Array.from({ length: 20 }, (_, i) => i));
    await expect(decodeImage(bytes, 'a.png', { maxPixels: 19 })).rejects.toThrow(/^a\.png: image is 5×4 = 20 pixels, over the limit of 19 \(--max-pixels\)$/);
    expect((await decodeImage(bytes, 'a.png', { maxPixels: 20 })).width).toBe(5);
    expect(DEFAULT_MAX_PIXELS).toBe(100_000_000);
    expect(() => checkPixelLimit({ width: 1, height: 1 }, 'a.png', 0)).toThrow(/maxPixels must be an integer >= 1/);
  });

  it('a zlib bomb (data past what the header implies) is corrupt, and stops early', async () => {
    const bomb = Buffer.concat([SIG, ihdr(10, 10, 8, 0, 0), chunk('IDAT', deflateSync(Buffer.alloc(50 << 20))), chunk('IEND', new Uint8Array(0))]);
    const rss0 = process.memoryUsage().rss;
    await expect(decodeImage(bomb, 'bomb.png')).rejects.toThrow(/^bomb\.png: corrupt or truncated PNG \(more image data than the 110 bytes the header implies\)$/);
    expect((process.memoryUsage().rss - rss0) / 2 ** 20).toBeLessThan(50);
  });
});


describe('errors name the file and what was expected', () => {
  const good = rawPng({ w: 6, h: 5, colorType: 2, depth: 8, samples: Array.from({ length: 90 }, (_, i) => i) });

  it('truncated and damaged PNGs', async () => {
    const cases: Array<[Uint8Array, RegExp]> = [
      [good.subarray(0, 20), /\(no valid IHDR header after the signature\)/],
      [good.subarray(0, good.length - 12), /\(the file ends at byte \d+ before the IEND chunk\)/],
      [good.subarray(0, good.length - 20), /\(chunk "IDAT" at byte \d+ needs \d+ bytes, the file ends at byte \d+\)/],
      [Buffer.concat([good.subarray(0, good.length - 17), Buffer.from([good[good.length - 17] ^ 1]), good.subarray(good.length - 16)]), /\(chunk "IDAT" at byte \d+ fails its CRC check\)/],
    ];
    for (const [bytes, why] of cases) await expect(decodeImage(bytes, 'd/x.png')).rejects.toThrow(new RegExp(`^d/x\\.png: corrupt or truncated PNG ${why.source}`));
    // A valid zlib stream that stops short: too few rows.
    const short = Buffer.concat([SIG, ihdr(6, 5, 8, 2, 0), chunk('IDAT', deflateSync(Buffer.alloc(40))), chunk('IEND', new Uint8Array(0))]);
    await expect(decodeImage(short, 's.png')).rejects.toThrow(/^s\.png: corrupt or truncated PNG \(the image data ends after 40 of the 95 bytes the header implies\)$/);
    const garbage = Buffer.concat([SIG, ihdr(6, 5, 8, 2, 0), chunk('IDAT', Buffer.from('not zlib data at all')), chunk('IEND', new Uint8Array(0))]);
    await expect(decodeImage(garbage, 'z.png')).rejects.toThrow(/^z\.png: corrupt or truncated PNG \(bad zlib data: /);
    const noPalette = rawPng({ w: 2, h: 2, colorType: 3, depth: 8, samples: [0, 0, 0, 0] });
    await expect(decodeImage(noPalette, 'p.png')).rejects.toThrow(/^p\.png: corrupt or truncated PNG \(palette image without a PLTE chunk before its data\)$/);
    const overIndex = rawPng({ w: 2, h: 2, colorType: 3, depth: 8, samples: [0, 1, 2, 3], palette: [[1, 2, 3], [4, 5, 6]] });
    await expect(decodeImage(overIndex, 'q.png')).rejects.toThrow(/^q\.png: corrupt or truncated PNG \(a pixel uses palette index 2, the PLTE chunk has 2 entries\)$/);
  });

  it('other formats are named; an empty file says so; the magic bytes win over the extension', async () => {
    const cases: Array<[string, string]> = [
      ['GIF89a\x01\x00\x01\x00', '47 49 46 38, looks like a GIF'],
      ['II*\x00\x08\x00\x00\x00', '49 49 2a 00, looks like a TIFF'],
      ['MM\x00*\x00\x00\x00\x08', '4d 4d 00 2a, looks like a TIFF'],
      ['RIFF\x10\x00\x00\x00WEBPVP8 ', '52 49 46 46, looks like a WebP'],
      ['hello world', '68 65 6c 6c'],
    ];
    for (const [content, said] of cases) {
      const p = put('x.png', Buffer.from(content, 'latin1'));
      await expect(readImage(p)).rejects.toThrow(`${p}: not a supported image (starts with bytes ${said}; supported: PNG, JPEG, BMP)`);
      expect(() => readImageHeader(p)).toThrow(`${p}: not a supported image (starts with bytes ${said}`);
    }
    // cut inside the signature: still named as the truncated format it is
    await expect(decodeImage(good.subarray(0, 5), 'five.png')).rejects.toThrow(/^five\.png: corrupt or truncated PNG \(no valid IHDR header/);
    await expect(decodeImage(Uint8Array.from([0xff, 0xd8]), 'two.jpg')).rejects.toThrow(/^two\.jpg: corrupt or truncated JPEG \(the file ends at byte 2 before the frame header\)$/);
    const empty = put('empty.jpg', '');
    await expect(readImage(empty)).rejects.toThrow(`${empty}: not a supported image (empty file; supported: PNG, JPEG, BMP)`);
    const b = put('really-a-bmp.png', bmp({ w: 2, h: 1, bpp: 24, px: [[1, 2, 3], [4, 5, 6]] as unknown as number[] }));
    const img = await readImage(b);
    expect([img.format, ...img.data]).toEqual(['bmp', 3, 2, 1, 255, 6, 5, 4, 255]);
    expect(readImageHeader(b)).toEqual({ format: 'bmp', width: 2, height: 1 });
  });

  it('a directory, a symlink to one, a missing file', async () => {
    const dir = join(root, 'folder.png');
    mkdirSync(dir);
    const link = join(root, 'link.png');
    symlinkSync(dir, link);
    for (const p of [dir, link]) {
      await expect(readImage(p)).rejects.toThrow(`${p}: is a directory, expected an image file`);
      expect(() => readImageHeader(p)).toThrow(`${p}: is a directory, expected an image file`);
    }
    const missing = join(root, 'missing.png');
    await expect(readImage(missing)).rejects.toThrow(`${missing}: cannot read (ENOENT)`);
  });

  it('readImage from a file equals decodeImage of its bytes and pngjs', async () => {
    const p = put('ok.png', good);
    const a = await readImage(p);
    const b = await decodeImage(good, 'ok.png');
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    expect(Array.from(a.data)).toEqual(Array.from(pngjsPixels(good)));
  });
});
