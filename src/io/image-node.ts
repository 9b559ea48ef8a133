// Reading images in Node: PNG, JPEG and BMP to 8-bit RGBA, bounded in memory and size. The format
// comes from the magic bytes, not the name (a BMP named .png decodes as BMP). Every path goes:
// header → pixel limit (refused before any pixel is decoded) → decode into a box-downscaling sink,
// so an image whose longest side exceeds `maxSide` is shrunk by an integer factor while its rows
// are decoded and the full-size bitmap never exists (PNG and BMP; jpeg-js decodes a JPEG whole,
// which its own resolution and memory caps, set from our limit, bound).
//
// JPEG EXIF orientation is ignored: pixels come out in stored order. Honouring it would make the
// same sensor data differ by how a camera tagged it; rotate such photos before use if it matters.
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import jpeg from 'jpeg-js';
import type { ByteReader, PixelSink, RgbaImage } from './image.js';

export type { ByteReader, PixelSink };
import { decodeBmpInto, parseBmpHeader } from './bmp-decode.js';
import { decodePngInto, parsePngHeader, PNG_SIGNATURE } from './png-decode.js';

/** Default refusal threshold for width × height (400 MB of RGBA at full size). */
export const DEFAULT_MAX_PIXELS = 100_000_000;
/** Default longest side after decoding; up to it images come out pixel-exact at their own size. */
export const DEFAULT_MAX_SIDE = 2048;

export interface ImageReadOptions {
  /** Refuse images with more pixels than this (default DEFAULT_MAX_PIXELS). */
  maxPixels?: number;
  /** Box-downscale by the smallest integer factor that brings the longest side to at most this (default DEFAULT_MAX_SIDE; Infinity: never). */
  maxSide?: number;
}

export type ImageFormat = 'png' | 'jpeg' | 'bmp';

export interface ImageHeader {
  format: ImageFormat;
  width: number;
  height: number;
}

export interface DecodedImage extends RgbaImage {
  data: Uint8Array;
  /** Size stored in the file, before any downscale. */
  sourceWidth: number;
  sourceHeight: number;
  format: ImageFormat;
}

const SUPPORTED = 'supported: PNG, JPEG, BMP';

const group = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ' ');

/** Throws, naming the file, its size and the limit, when width × height exceeds `maxPixels`. */
export function checkPixelLimit(header: { width: number; height: number }, path: string, maxPixels = DEFAULT_MAX_PIXELS): void {
  if (!Number.isInteger(maxPixels) || maxPixels < 1) throw new Error(`maxPixels must be an integer >= 1, got ${maxPixels}`);
  const n = header.width * header.height;
  if (n > maxPixels) {
    throw new Error(`${path}: image is ${header.width}×${header.height} = ${group(n)} pixels, over the limit of ${group(maxPixels)} (--max-pixels)`);
  }
}

/** The smallest integer f with ceil(longest / f) <= maxSide. */
export function downscaleFactor(width: number, height: number, maxSide = DEFAULT_MAX_SIDE): number {
  if (maxSide !== Infinity && (!Number.isInteger(maxSide) || maxSide < 1)) throw new Error(`maxSide must be an integer >= 1 or Infinity, got ${maxSide}`);
  const longest = Math.max(width, height);
  if (longest <= maxSide) return 1;
  let f = Math.ceil(longest / maxSide);
  while (Math.ceil(longest / (f - 1)) <= maxSide) f--;
  return f;
}

function describeMagic(head: Uint8Array): string {
  const b = (i: number, v: number) => head[i] === v;
  const hex = Array.from(head.subarray(0, 4), (x) => x.toString(16).padStart(2, '0')).join(' ');
  const ascii = (at: number, s: string) => [...s].every((c, i) => head[at + i] === c.charCodeAt(0));
  let kind = '';
  if (ascii(0, 'GIF8')) kind = 'a GIF';
  else if ((b(0, 0x49) && b(1, 0x49) && b(2, 0x2a) && b(3, 0)) || (b(0, 0x4d) && b(1, 0x4d) && b(2, 0) && b(3, 0x2a))) kind = 'a TIFF';
  else if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) kind = 'a WebP';
  else if (ascii(4, 'ftyp')) kind = 'a HEIF/AVIF or MP4';
  else if (ascii(0, '8BPS')) kind = 'a Photoshop PSD';
  else if (ascii(0, 'qoif')) kind = 'a QOI';
  else if (b(0, 0) && b(1, 0) && b(2, 1) && b(3, 0)) kind = 'an ICO';
  else if (b(0, 0xff) && b(1, 0x0a)) kind = 'a JPEG XL';
  else if (b(0, 0x50) && head[1] >= 0x31 && head[1] <= 0x37) kind = 'a PNM';
  return kind ? `${hex}, looks like ${kind}` : hex;
}

function sniff(reader: ByteReader, source: string): ImageFormat {
  const head = reader.readAt(0, 12);
  if (head.length === 0) throw new Error(`${source}: not a supported image (empty file; ${SUPPORTED})`);
  // A file cut short inside its signature still gets its format's "truncated" message.
  const n = Math.min(8, head.length);
  if (n >= 2 && PNG_SIGNATURE.slice(0, n).every((b, i) => head[i] === b)) return 'png';
  if (head[0] === 0xff && head[1] === 0xd8 && (head.length === 2 || head[2] === 0xff)) return 'jpeg';
  if (head[0] === 0x42 && head[1] === 0x4d) return 'bmp';
  throw new Error(`${source}: not a supported image (starts with bytes ${describeMagic(head)}; ${SUPPORTED})`);
}

const JPEG_UNSUPPORTED: Record<number, string> = { 0xc3: 'lossless', 0xc5: 'hierarchical', 0xc6: 'hierarchical', 0xc7: 'hierarchical lossless', 0xc9: 'arithmetic-coded', 0xca: 'arithmetic-coded', 0xcb: 'arithmetic-coded lossless', 0xcd: 'arithmetic-coded hierarchical', 0xce: 'arithmetic-coded hierarchical', 0xcf: 'arithmetic-coded hierarchical lossless' };

/** Walks JPEG segments to the frame header (SOF); reads only the segment headers on the way. */
function readJpegHeader(reader: ByteReader, source: string): { width: number; height: number; components: number } {
  const corrupt = (what: string) => new Error(`${source}: corrupt or truncated JPEG (${what})`);
  let pos = 2;
  for (;;) {
    const m = reader.readAt(pos, 4);
    if (m.length < 2) throw corrupt(`the file ends at byte ${reader.size} before the frame header`);
    if (m[0] !== 0xff) {
      // Stray bytes between segments: libjpeg (and jpeg-js) skip to the next marker, so do we, a little way.
      const skip = reader.readAt(pos, 4096).indexOf(0xff);
      if (skip < 0) throw corrupt(`expected a marker at byte ${pos}, found byte ${m[0].toString(16).padStart(2, '0')}`);
      pos += skip;
      continue;
    }
    const marker = m[1];
    if (marker === 0xff) {
      pos++; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      pos += 2;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) throw corrupt(`no frame header (SOF) before the ${marker === 0xda ? 'scan data' : 'end of image'}`);
    if (m.length < 4) throw corrupt(`the file ends inside the segment at byte ${pos}`);
    const length = (m[2] << 8) | m[3];
    if (length < 2) throw corrupt(`segment ff${marker.toString(16)} at byte ${pos} has length ${length}`);
    const sof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (sof) {
      if (marker in JPEG_UNSUPPORTED) throw new Error(`${source}: ${JPEG_UNSUPPORTED[marker]} JPEG (SOF marker ff${marker.toString(16)}) is not supported; supported: baseline and progressive JPEG`);
      const f = reader.readAt(pos + 4, 6);
      if (f.length < 6) throw corrupt('the file ends inside the frame header');
      const [precision, h1, h0, w1, w0, components] = f;
      const width = (w1 << 8) | w0;
      const height = (h1 << 8) | h0;
      if (precision !== 8) throw new Error(`${source}: ${precision}-bit JPEG is not supported; supported: 8-bit baseline and progressive JPEG`);
      if (width === 0 || height === 0) throw corrupt(`size ${width}×${height} in the frame header`);
      if (components !== 1 && components !== 3 && components !== 4) throw new Error(`${source}: JPEG with ${components} colour components is not supported; supported: grey, YCbCr/RGB, CMYK`);
      return { width, height, components };
    }
    pos += 2 + length;
  }
}

type Parsed =
  | { format: 'png'; width: number; height: number; png: ReturnType<typeof parsePngHeader> }
  | { format: 'bmp'; width: number; height: number; bmp: ReturnType<typeof parseBmpHeader> }
  | { format: 'jpeg'; width: number; height: number; components: number };

function parseHeader(reader: ByteReader, source: string): Parsed {
  const format = sniff(reader, source);
  if (format === 'png') {
    const png = parsePngHeader(reader.readAt(0, 33), source);
    return { format, width: png.width, height: png.height, png };
  }
  if (format === 'bmp') {
    const bmp = parseBmpHeader(reader, source);
    return { format, width: bmp.width, height: bmp.height, bmp };
  }
  return { format, ...readJpegHeader(reader, source) };
}

/**
 * Box downscale by an integer factor (1 = plain copy): each output pixel is the rounded mean of
 * its f×f bin, edge bins averaged over the pixels they hold. Rows arriving in order need one
 * band of sums; out-of-order rows (Adam7) keep sums for the whole output.
 */
class BoxSink implements PixelSink {
  readonly out: Uint8Array;
  readonly width: number;
  readonly height: number;
  private readonly sums: Uint32Array | Float64Array | null = null;

  constructor(
    private readonly srcW: number,
    private readonly srcH: number,
    private readonly f: number,
    private readonly inOrder: boolean,
  ) {
    this.width = Math.ceil(srcW / f);
    this.height = Math.ceil(srcH / f);
    this.out = new Uint8Array(this.width * this.height * 4);
    if (f > 1) {
      const n = (inOrder ? 1 : this.height) * this.width * 4;
      // Uint32 holds f² × 255 up to f = 4104; beyond, exact float64 integers.
      this.sums = f * f * 255 < 2 ** 32 ? new Uint32Array(n) : new Float64Array(n);
    }
  }

  put(y: number, x0: number, dx: number, rgba: Uint8Array, count: number): void {
    const f = this.f;
    if (f === 1) {
      if (dx === 1) this.out.set(rgba.subarray(0, 4 * count), 4 * (y * this.width + x0));
      else {
        for (let i = 0, o = 4 * (y * this.width + x0); i < count; i++, o += 4 * dx) {
          this.out[o] = rgba[4 * i];
          this.out[o + 1] = rgba[4 * i + 1];
          this.out[o + 2] = rgba[4 * i + 2];
          this.out[o + 3] = rgba[4 * i + 3];
        }
      }
      return;
    }
    const sums = this.sums!;
    const by = Math.floor(y / f);
    const base = this.inOrder ? 0 : by * this.width * 4;
    for (let i = 0; i < count; i++) {
      const o = base + 4 * Math.floor((x0 + i * dx) / f);
      sums[o] += rgba[4 * i];
      sums[o + 1] += rgba[4 * i + 1];
      sums[o + 2] += rgba[4 * i + 2];
      sums[o + 3] += rgba[4 * i + 3];
    }
    if (this.inOrder && (y % f === f - 1 || y === this.srcH - 1)) {
      this.emit(by, sums, 0);
      sums.fill(0);
    }
  }

  private emit(by: number, sums: Uint32Array | Float64Array, base: number): void {
    const f = this.f;
    const rows = Math.min(this.srcH, (by + 1) * f) - by * f;
    const o = by * this.width * 4;
    for (let bx = 0; bx < this.width; bx++) {
      const n = rows * (Math.min(this.srcW, (bx + 1) * f) - bx * f);
      for (let c = 0; c < 4; c++) this.out[o + 4 * bx + c] = Math.round(sums[base + 4 * bx + c] / n);
    }
  }

  finish(): Uint8Array {
    if (this.f > 1 && !this.inOrder) for (let by = 0; by < this.height; by++) this.emit(by, this.sums!, by * this.width * 4);
    return this.out;
  }
}

async function decodeFrom(reader: ByteReader, source: string, opts: ImageReadOptions): Promise<DecodedImage> {
  const h = parseHeader(reader, source);
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  checkPixelLimit(h, source, maxPixels);
  const f = downscaleFactor(h.width, h.height, opts.maxSide ?? DEFAULT_MAX_SIDE);
  const result = (sink: BoxSink): DecodedImage => ({ width: sink.width, height: sink.height, data: sink.finish(), sourceWidth: h.width, sourceHeight: h.height, format: h.format });
  if (h.format === 'png') {
    const sink = new BoxSink(h.width, h.height, f, !h.png.interlaced);
    await decodePngInto(reader, source, h.png, sink);
    return result(sink);
  }
  if (h.format === 'bmp') {
    const sink = new BoxSink(h.width, h.height, f, true);
    decodeBmpInto(reader, source, h.bmp, sink);
    return result(sink);
  }
  // Every 8×8 block of the first component costs at least one bit (its DC Huffman code), so the
  // file size bounds the real pixel count. jpeg-js allocates every block when it reads the frame
  // header; this stops a small file that claims a huge frame before that.
  const blocks = Math.ceil(h.width / 8) * Math.ceil(h.height / 8);
  if (blocks > 8 * reader.size) {
    throw new Error(`${source}: corrupt or truncated JPEG (the frame header claims ${h.width}×${h.height} pixels, which need at least ${Math.ceil(blocks / 8)} bytes of scan data; the file has ${reader.size} bytes)`);
  }
  // jpeg-js counts its allocations against maxMemoryUsageInMB: 8×8 Int32 blocks (4 bytes per
  // sample, padded to whole MCUs of up to 4×4 blocks), component lines, the interleaved copy and
  // the RGBA output. Sizing the cap from the frame header keeps a file from allocating more than
  // an honest image of its claimed size would.
  const padded = (h.width + 32) * (h.height + 32);
  const budget = padded * h.components * 6 + h.width * h.height * 4;
  let img: { width: number; height: number; data: Uint8Array };
  try {
    img = jpeg.decode(reader.readAt(0, reader.size), {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: maxPixels / 1e6,
      maxMemoryUsageInMB: Math.ceil(budget / 2 ** 20) + 16,
    });
  } catch (e) {
    throw new Error(`${source}: corrupt or truncated JPEG (${(e as Error).message})`);
  }
  if (f === 1) return { width: img.width, height: img.height, data: img.data, sourceWidth: img.width, sourceHeight: img.height, format: 'jpeg' };
  const sink = new BoxSink(img.width, img.height, f, true);
  for (let y = 0; y < img.height; y++) sink.put(y, 0, 1, img.data.subarray(4 * y * img.width, 4 * (y + 1) * img.width), img.width);
  return result(sink);
}

function bytesReader(bytes: Uint8Array): ByteReader {
  return { size: bytes.length, readAt: (pos, length) => bytes.subarray(Math.min(pos, bytes.length), Math.min(pos + length, bytes.length)) };
}

/** Opens an image file for positional reads; fs errors name the path and what was expected. */
function openImage(path: string): { reader: ByteReader; close: () => void } {
  let fd: number;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new Error(`${path}: is a directory, expected an image file`);
    if (!st.isFile()) throw new Error(`${path}: is not a regular file, expected an image file`);
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!code) throw e;
    throw new Error(`${path}: cannot read (${code === 'EISDIR' ? 'is a directory, expected an image file' : code})`);
  }
  const size = fstatSync(fd).size;
  const reader: ByteReader = {
    size,
    readAt(pos, length) {
      const n = Math.max(0, Math.min(length, size - pos));
      const buf = new Uint8Array(n);
      let got = 0;
      while (got < n) {
        let k: number;
        try {
          k = readSync(fd, buf, got, n - got, pos + got);
        } catch (e) {
          throw new Error(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
        }
        if (k === 0) break;
        got += k;
      }
      return got === n ? buf : buf.subarray(0, got);
    },
  };
  return { reader, close: () => closeSync(fd) };
}

/** Format and size of an image file, from its first bytes (JPEG: its segment headers up to the frame header). */
export function readImageHeader(path: string): ImageHeader {
  const file = openImage(path);
  try {
    const { format, width, height } = parseHeader(file.reader, path);
    return { format, width, height };
  } finally {
    file.close();
  }
}

/** Decodes a PNG, JPEG or BMP file to 8-bit RGBA. Errors name the file and what was expected. */
export async function readImage(path: string, opts: ImageReadOptions = {}): Promise<DecodedImage> {
  const file = openImage(path);
  try {
    return await decodeFrom(file.reader, path, opts);
  } finally {
    file.close();
  }
}

/** `readImage` for bytes already in memory; `source` names them in errors. */
export function decodeImage(bytes: Uint8Array, source: string, opts: ImageReadOptions = {}): Promise<DecodedImage> {
  return decodeFrom(bytesReader(bytes), source, opts);
}
