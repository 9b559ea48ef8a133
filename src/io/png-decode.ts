// Streaming PNG decoder for Node. pngjs inflates the whole file and expands it to a full-size RGBA
// bitmap (16-bit images even to a Uint16Array of it) before returning, so a 1.5 MB file that
// claims 20000×20000 costs gigabytes. Here the file is read chunk by chunk, IDAT data is inflated
// incrementally (node:zlib stream, with back-pressure), each scanline is unfiltered against the
// previous one only, expanded to 8-bit RGBA and handed to a pixel sink (which may box-downscale),
// so memory is a few scanlines plus the sink's output.
//
// The expansion matches pngjs 7 exactly (the decoder is tested bit-for-bit against it): n-bit
// samples map to 8 bits as floor(v * 255 / (2^n - 1) + 0.5); a grey/RGB pixel equal to the tRNS
// colour key becomes (0, 0, 0, 0), not the colour with alpha 0, because pngjs does that; palette
// alpha comes from tRNS. CRCs are checked on every chunk that is read (pngjs does too); ancillary
// chunks other than tRNS are skipped unread.
import * as zlib from 'node:zlib';
import type { ByteReader, PixelSink } from './image.js';

export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlaced: boolean;
}

export const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Samples per pixel by colour type; absent = invalid colour type. */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const DEPTHS: Record<number, readonly number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
/** Compressed bytes read per step: bounds the memory taken by the file side of the pipeline. */
const READ_STEP = 256 * 1024;
/** Adam7 passes: first column/row and steps. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

function corrupt(source: string, what: string): Error {
  return new Error(`${source}: corrupt or truncated PNG (${what})`);
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
// node:zlib has a native crc32 from Node 20.15; the table covers older Node 20 releases.
const nativeCrc = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
function crc32(data: Uint8Array, value = 0): number {
  if (nativeCrc) return nativeCrc(data, value) >>> 0;
  let c = (value ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const u32 = (b: Uint8Array, at: number) => ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;

/** Signature and IHDR from the first 33 bytes of a file, validated (sizes, depth, colour type, CRC). */
export function parsePngHeader(head: Uint8Array, source: string): PngHeader {
  const type = String.fromCharCode(...head.subarray(12, 16));
  if (head.length < 33 || type !== 'IHDR' || u32(head, 8) !== 13) throw corrupt(source, 'no valid IHDR header after the signature');
  if (crc32(head.subarray(12, 29)) !== u32(head, 29)) throw corrupt(source, 'IHDR chunk fails its CRC check');
  const width = u32(head, 16);
  const height = u32(head, 20);
  const [bitDepth, colorType, compression, filter, interlace] = head.subarray(24, 29);
  if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff) throw corrupt(source, `size ${width}×${height} in the IHDR header`);
  if (!(colorType in CHANNELS)) throw corrupt(source, `colour type ${colorType} in the IHDR header, expected 0, 2, 3, 4 or 6`);
  if (!DEPTHS[colorType].includes(bitDepth)) throw corrupt(source, `bit depth ${bitDepth} is invalid for colour type ${colorType}`);
  if (compression !== 0 || filter !== 0 || interlace > 1) throw corrupt(source, `compression/filter/interlace method ${compression}/${filter}/${interlace} in the IHDR header`);
  return { width, height, bitDepth, colorType, interlaced: interlace === 1 };
}

interface Pass {
  x0: number;
  y0: number;
  dx: number;
  dy: number;
  width: number;
  height: number;
}

function passesOf(h: PngHeader): Pass[] {
  if (!h.interlaced) return [{ x0: 0, y0: 0, dx: 1, dy: 1, width: h.width, height: h.height }];
  return ADAM7.map(([x0, y0, dx, dy]) => ({
    x0,
    y0,
    dx,
    dy,
    width: h.width > x0 ? Math.ceil((h.width - x0) / dx) : 0,
    height: h.height > y0 ? Math.ceil((h.height - y0) / dy) : 0,
  })).filter((p) => p.width > 0 && p.height > 0);
}

type Expander = (line: Uint8Array, n: number, out: Uint8Array) => void;

/** Expands n pixels of an unfiltered scanline to 8-bit RGBA, the way pngjs does. */
function makeExpander(h: PngHeader, palette: Uint8Array | null, key: number[] | null, source: string): Expander {
  const { bitDepth: d, colorType: ct } = h;
  const max = 2 ** d - 1;
  const scale = Uint8Array.from({ length: max + 1 }, (_, v) => Math.floor((v * 255) / max + 0.5));
  const sample = d === 16 ? (b: Uint8Array, i: number) => (b[2 * i] << 8) | b[2 * i + 1] : d === 8 ? (b: Uint8Array, i: number) => b[i] : (b: Uint8Array, i: number) => (b[(i * d) >> 3] >> (8 - d - ((i * d) & 7))) & max;
  if (ct === 3) {
    const pal = palette!;
    const entries = pal.length / 4;
    return (line, n, out) => {
      for (let x = 0; x < n; x++) {
        const k = sample(line, x);
        if (k >= entries) throw corrupt(source, `a pixel uses palette index ${k}, the PLTE chunk has ${entries} entries`);
        out[4 * x] = pal[4 * k];
        out[4 * x + 1] = pal[4 * k + 1];
        out[4 * x + 2] = pal[4 * k + 2];
        out[4 * x + 3] = pal[4 * k + 3];
      }
    };
  }
  if (ct === 6 && d === 8) return (line, n, out) => out.set(line.subarray(0, 4 * n));
  // Plain 8-bit grey, grey+alpha and RGB are most real files: loops without per-sample calls.
  if (d === 8 && !key && ct !== 6) {
    const c = CHANNELS[ct];
    return (line, n, out) => {
      for (let x = 0, i = 0, o = 0; x < n; x++, i += c, o += 4) {
        const r = line[i];
        out[o] = r;
        out[o + 1] = ct === 2 ? line[i + 1] : r;
        out[o + 2] = ct === 2 ? line[i + 2] : r;
        out[o + 3] = ct === 4 ? line[i + 1] : 255;
      }
    };
  }
  const c = CHANNELS[ct];
  return (line, n, out) => {
    for (let x = 0; x < n; x++) {
      const o = 4 * x;
      if (ct === 0 || ct === 4) {
        const g = sample(line, c * x);
        out[o] = out[o + 1] = out[o + 2] = scale[g];
        out[o + 3] = ct === 4 ? scale[sample(line, c * x + 1)] : 255;
        if (key && g === key[0]) out[o] = out[o + 1] = out[o + 2] = out[o + 3] = 0;
      } else {
        const r = sample(line, c * x);
        const g = sample(line, c * x + 1);
        const b = sample(line, c * x + 2);
        out[o] = scale[r];
        out[o + 1] = scale[g];
        out[o + 2] = scale[b];
        out[o + 3] = ct === 6 ? scale[sample(line, c * x + 3)] : 255;
        if (key && r === key[0] && g === key[1] && b === key[2]) out[o] = out[o + 1] = out[o + 2] = out[o + 3] = 0;
      }
    }
  };
}

/** Collects inflated bytes into scanlines, unfilters them and emits RGBA rows to the sink. */
class Scanlines {
  private pass = 0;
  private row = 0;
  private filled = 0;
  private line: Uint8Array;
  private prev: Uint8Array;
  private readonly rgba: Uint8Array;
  private readonly bpp: number;
  received = 0;
  readonly expected: number;

  constructor(
    private readonly passes: Pass[],
    private readonly bitsPerPixel: number,
    private readonly expand: Expander,
    private readonly sink: PixelSink,
    private readonly source: string,
  ) {
    const widest = Math.max(...passes.map((p) => p.width));
    const maxLine = this.lineBytes(widest) + 1;
    this.line = new Uint8Array(maxLine);
    this.prev = new Uint8Array(maxLine);
    this.rgba = new Uint8Array(4 * widest);
    this.bpp = Math.max(1, bitsPerPixel >> 3);
    this.expected = passes.reduce((s, p) => s + (this.lineBytes(p.width) + 1) * p.height, 0);
  }

  private lineBytes(width: number): number {
    return Math.ceil((width * this.bitsPerPixel) / 8);
  }

  get done(): boolean {
    return this.pass >= this.passes.length;
  }

  push(buf: Uint8Array): void {
    let off = 0;
    while (off < buf.length) {
      if (this.done) throw corrupt(this.source, `more image data than the ${this.expected} bytes the header implies`);
      const len = this.lineBytes(this.passes[this.pass].width) + 1;
      const n = Math.min(len - this.filled, buf.length - off);
      this.line.set(buf.subarray(off, off + n), this.filled);
      this.filled += n;
      off += n;
      this.received += n;
      if (this.filled === len) this.finishLine(len - 1);
    }
  }

  private finishLine(bytes: number): void {
    const p = this.passes[this.pass];
    const filter = this.line[0];
    const cur = this.line.subarray(1, 1 + bytes);
    const up = this.prev.subarray(1, 1 + bytes);
    const bpp = this.bpp;
    // The first row of a pass has no row above: pngjs and the spec both read it as zeros.
    if (this.row === 0) up.fill(0);
    switch (filter) {
      case 0:
        break;
      case 1:
        for (let i = bpp; i < bytes; i++) cur[i] += cur[i - bpp];
        break;
      case 2:
        for (let i = 0; i < bytes; i++) cur[i] += up[i];
        break;
      case 3:
        for (let i = 0; i < bytes; i++) cur[i] += ((i >= bpp ? cur[i - bpp] : 0) + up[i]) >> 1;
        break;
      case 4:
        for (let i = 0; i < bytes; i++) {
          const a = i >= bpp ? cur[i - bpp] : 0;
          const b = up[i];
          const c = i >= bpp ? up[i - bpp] : 0;
          const pa = Math.abs(b - c);
          const pb = Math.abs(a - c);
          const pc = Math.abs(a + b - 2 * c);
          cur[i] += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
        }
        break;
      default:
        throw corrupt(this.source, `unknown filter type ${filter} on a scanline`);
    }
    this.expand(cur, p.width, this.rgba);
    this.sink.put(p.y0 + this.row * p.dy, p.x0, p.dx, this.rgba, p.width);
    [this.line, this.prev] = [this.prev, this.line];
    this.filled = 0;
    if (++this.row === p.height) {
      this.row = 0;
      this.pass++;
    }
  }
}

/** Feeds compressed IDAT bytes through a zlib stream into the scanline collector, with back-pressure. */
class Inflater {
  private readonly z = zlib.createInflate({ chunkSize: 64 * 1024 });
  private failure: Error | null = null;
  private readonly closed: Promise<void>;

  constructor(lines: Scanlines, source: string) {
    this.z.on('data', (b: Buffer) => {
      if (this.failure) return;
      try {
        lines.push(b);
      } catch (e) {
        this.fail(e as Error);
      }
    });
    this.z.on('error', (e: Error) => {
      this.failure ??= corrupt(source, `bad zlib data: ${e.message}`);
    });
    this.closed = new Promise((resolve) => {
      this.z.once('end', resolve);
      this.z.once('close', resolve);
    });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    this.z.destroy();
  }

  async write(data: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.z.write(data)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.z.off('drain', done);
          this.z.off('close', done);
          resolve();
        };
        this.z.on('drain', done);
        this.z.on('close', done);
      });
    }
    if (this.failure) throw this.failure;
  }

  async end(): Promise<void> {
    if (!this.failure) this.z.end();
    await this.closed;
    if (this.failure) throw this.failure;
  }

  abort(): void {
    this.z.destroy();
  }
}

/**
 * Decodes a PNG whose header was already parsed (and checked against the pixel limit) into `sink`.
 * Errors name `source` and what is wrong: truncation, CRC, zlib, missing chunks.
 */
export async function decodePngInto(reader: ByteReader, source: string, header: PngHeader, sink: PixelSink): Promise<void> {
  const passes = passesOf(header);
  let palette: Uint8Array | null = null;
  let key: number[] | null = null;
  let lines: Scanlines | null = null;
  let inflater: Inflater | null = null;
  let pos = 8;
  try {
    for (;;) {
      const head = reader.readAt(pos, 8);
      if (head.length < 8) throw corrupt(source, `the file ends at byte ${reader.size} before the IEND chunk`);
      const length = u32(head, 0);
      const type = String.fromCharCode(...head.subarray(4, 8));
      if (length > 0x7fffffff) throw corrupt(source, `chunk "${type}" at byte ${pos} claims ${length} bytes`);
      if (pos + 12 + length > reader.size) throw corrupt(source, `chunk "${type}" at byte ${pos} needs ${length + 12} bytes, the file ends at byte ${reader.size}`);
      const critical = (head[4] & 0x20) === 0;
      const read = type === 'IHDR' || type === 'PLTE' || type === 'tRNS' || type === 'IDAT' || type === 'IEND';
      if (!read && critical) throw corrupt(source, `unsupported critical chunk "${type}" at byte ${pos}`);
      if (!read) {
        pos += 12 + length;
        continue;
      }
      let crc = crc32(head.subarray(4, 8));
      let data: Uint8Array | null = null;
      if (type === 'IDAT') {
        if (header.colorType === 3 && !palette) throw corrupt(source, 'palette image without a PLTE chunk before its data');
        if (!lines) {
          lines = new Scanlines(passes, header.bitDepth * CHANNELS[header.colorType], makeExpander(header, palette, key, source), sink, source);
          inflater = new Inflater(lines, source);
        }
        for (let at = 0; at < length; at += READ_STEP) {
          const piece = reader.readAt(pos + 8 + at, Math.min(READ_STEP, length - at));
          crc = crc32(piece, crc);
          await inflater!.write(piece);
        }
      } else {
        data = reader.readAt(pos + 8, length);
        crc = crc32(data, crc);
      }
      if (crc !== u32(reader.readAt(pos + 8 + length, 4), 0)) throw corrupt(source, `chunk "${type}" at byte ${pos} fails its CRC check`);
      pos += 12 + length;
      if (type === 'IEND') break;
      if (type === 'PLTE' && data && !lines) {
        const n = Math.floor(data.length / 3);
        palette = new Uint8Array(4 * n).fill(255);
        for (let i = 0; i < n; i++) palette.set(data.subarray(3 * i, 3 * i + 3), 4 * i);
      } else if (type === 'tRNS' && data && !lines) {
        if (header.colorType === 3) {
          if (!palette || data.length > palette.length / 4) throw corrupt(source, 'tRNS chunk before PLTE or with more entries than the palette');
          data.forEach((a, i) => (palette![4 * i + 3] = a));
        } else if (header.colorType === 0 || header.colorType === 2) {
          const n = header.colorType === 0 ? 1 : 3;
          if (data.length < 2 * n) throw corrupt(source, `tRNS chunk of ${data.length} bytes, expected ${2 * n}`);
          key = Array.from({ length: n }, (_, i) => (data![2 * i] << 8) | data![2 * i + 1]);
        }
      }
    }
    if (!lines || !inflater) throw corrupt(source, 'no IDAT image data');
    await inflater.end();
    if (!lines.done) throw corrupt(source, `the image data ends after ${lines.received} of the ${lines.expected} bytes the header implies`);
  } catch (e) {
    inflater?.abort();
    throw e;
  }
}
