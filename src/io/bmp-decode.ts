// BMP decoder: uncompressed (BI_RGB) 1/4/8-bit palette, 16-bit (5-5-5), 24-bit and 32-bit, and
// BI_BITFIELDS / BI_ALPHABITFIELDS 16/32-bit; bottom-up and top-down; Windows (40..124-byte) and
// OS/2 1.x (12-byte) headers. Rows are read a block at a time at their file offsets (bottom-up
// files from the end), so memory is one block plus the sink's output, whatever the image size.
//
// Alpha: BI_RGB's fourth byte of 32-bit pixels is "reserved" in the format and usually 0, so it is
// ignored (opaque); only a BITFIELDS alpha mask gives alpha. An n-bit field maps to 8 bits as
// round(v * 255 / (2^n - 1)).
import type { ByteReader, PixelSink } from './image.js';

export interface BmpHeader {
  width: number;
  height: number;
  topDown: boolean;
  bitsPerPixel: number;
  /** Byte offset of the first stored row. */
  dataOffset: number;
  /** Bytes per stored row (padded to 4). */
  stride: number;
  /** RGBA entries for 1/4/8-bit images. */
  palette: Uint8Array | null;
  /** R, G, B, A bit masks for 16/32-bit images (A = 0: opaque). */
  masks: [number, number, number, number] | null;
}

/** Bytes read per block of rows. */
const BLOCK = 1 << 20;
const COMPRESSION_NAMES: Record<number, string> = { 1: 'BI_RLE8', 2: 'BI_RLE4', 4: 'BI_JPEG', 5: 'BI_PNG' };

function corrupt(source: string, what: string): Error {
  return new Error(`${source}: corrupt or truncated BMP (${what})`);
}

const u16 = (b: Uint8Array, at: number) => b[at] | (b[at + 1] << 8);
const u32 = (b: Uint8Array, at: number) => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
const i32 = (b: Uint8Array, at: number) => b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24);

/** Reads and validates the file and DIB headers, bit masks and palette. */
export function parseBmpHeader(reader: ByteReader, source: string): BmpHeader {
  const head = reader.readAt(0, 14 + 124 + 16);
  if (head.length < 18) throw corrupt(source, `${head.length}-byte file, too short for the BMP headers`);
  const dibSize = u32(head, 14);
  const core = dibSize === 12;
  if (!core && dibSize < 40) throw corrupt(source, `DIB header of ${dibSize} bytes, expected 12 or 40..124`);
  const need = 14 + Math.min(dibSize, 124);
  if (head.length < need) throw corrupt(source, `the file ends at byte ${head.length} inside the ${dibSize}-byte DIB header`);
  const width = core ? u16(head, 18) : i32(head, 18);
  const rawHeight = core ? u16(head, 20) : i32(head, 22);
  const bitsPerPixel = core ? u16(head, 24) : u16(head, 28);
  const compression = core ? 0 : u32(head, 30);
  const colorsUsed = core ? 0 : u32(head, 46);
  const height = Math.abs(rawHeight);
  if (width <= 0 || height === 0) throw corrupt(source, `size ${width}×${rawHeight} in the header`);
  if (compression in COMPRESSION_NAMES) {
    const kind = compression <= 2 ? 'RLE-compressed' : 'embedded-image';
    throw new Error(`${source}: ${kind} BMP (compression ${compression} = ${COMPRESSION_NAMES[compression]}) is not supported; supported: uncompressed BI_RGB and BI_BITFIELDS`);
  }
  if (compression !== 0 && compression !== 3 && compression !== 6) throw new Error(`${source}: BMP compression ${compression} is not supported; supported: uncompressed BI_RGB and BI_BITFIELDS`);
  const paletted = bitsPerPixel === 1 || bitsPerPixel === 4 || bitsPerPixel === 8;
  const fields = compression === 3 || compression === 6;
  if (!(paletted && !fields) && !(bitsPerPixel === 24 && !fields) && bitsPerPixel !== 16 && bitsPerPixel !== 32) {
    throw new Error(`${source}: BMP with ${bitsPerPixel} bits per pixel${fields ? ' and BI_BITFIELDS' : ''} is not supported; supported: 1/4/8/24-bit BI_RGB, 16/32-bit BI_RGB or BI_BITFIELDS`);
  }

  let masks: BmpHeader['masks'] = null;
  // With the 40-byte header the masks follow it; V2 (52) and later headers hold them.
  let after = 14 + dibSize;
  if (fields) {
    const inHeader = dibSize >= 52;
    const at = inHeader ? 14 + 40 : after;
    const m = inHeader ? head : reader.readAt(at, 16);
    const o = inHeader ? at : 0;
    const count = compression === 6 || dibSize >= 56 ? 4 : 3;
    if (m.length < o + 4 * count) throw corrupt(source, 'the file ends inside the BITFIELDS masks');
    masks = [u32(m, o), u32(m, o + 4), u32(m, o + 8), count === 4 ? u32(m, o + 12) : 0];
    if (!inHeader) after += 4 * (compression === 6 ? 4 : 3);
    for (const mask of masks) {
      const shifted = mask >>> ctz(mask);
      if (mask !== 0 && ((shifted + 1) & shifted) !== 0) throw corrupt(source, `bit mask ${hex(mask)} is not one contiguous run of bits`);
      if (bitsPerPixel === 16 && mask > 0xffff) throw corrupt(source, `bit mask ${hex(mask)} does not fit a 16-bit pixel`);
    }
  } else if (bitsPerPixel === 16) {
    masks = [0x7c00, 0x03e0, 0x001f, 0];
  } else if (bitsPerPixel === 32) {
    masks = [0xff0000, 0xff00, 0xff, 0];
  }

  const dataOffset = u32(head, 10);
  let palette: Uint8Array | null = null;
  if (paletted) {
    const entry = core ? 3 : 4;
    // OS/2 headers (and some writers) give no colour count: the palette then fills the gap before the pixels.
    const room = dataOffset > after ? Math.floor((dataOffset - after) / entry) : Infinity;
    const count = Math.max(1, Math.min(colorsUsed || 2 ** bitsPerPixel, 2 ** bitsPerPixel, room));
    const raw = reader.readAt(after, count * entry);
    if (raw.length < count * entry) throw corrupt(source, `the file ends inside the ${count}-colour palette`);
    palette = new Uint8Array(4 * count).fill(255);
    for (let i = 0; i < count; i++) {
      palette[4 * i] = raw[entry * i + 2];
      palette[4 * i + 1] = raw[entry * i + 1];
      palette[4 * i + 2] = raw[entry * i];
    }
  }

  const stride = Math.ceil((width * bitsPerPixel) / 32) * 4;
  // The last stored row's padding is sometimes left out by writers; its pixels are what count.
  const end = dataOffset + stride * (height - 1) + Math.ceil((width * bitsPerPixel) / 8);
  if (end > reader.size) throw corrupt(source, `${width}×${height} pixels at ${bitsPerPixel} bits need the file to reach byte ${end} (pixel data from byte ${dataOffset}), it has ${reader.size} bytes`);
  return { width, height, topDown: rawHeight < 0, bitsPerPixel, dataOffset, stride, palette, masks };
}

function ctz(v: number): number {
  if (v === 0) return 0;
  let n = 0;
  while (((v >>> n) & 1) === 0) n++;
  return n;
}

const hex = (v: number) => `0x${v.toString(16).padStart(8, '0')}`;

type RowConverter = (row: Uint8Array, out: Uint8Array) => void;

function converter(h: BmpHeader, source: string): RowConverter {
  const { width, bitsPerPixel: bpp } = h;
  if (h.palette) {
    const pal = h.palette;
    const colours = pal.length / 4;
    const mask = 2 ** bpp - 1;
    return (row, out) => {
      for (let x = 0; x < width; x++) {
        const bit = x * bpp;
        const k = (row[bit >> 3] >> (8 - bpp - (bit & 7))) & mask;
        if (k >= colours) throw corrupt(source, `a pixel uses palette index ${k}, the palette has ${colours} colours`);
        out.set(pal.subarray(4 * k, 4 * k + 4), 4 * x);
      }
    };
  }
  if (bpp === 24) {
    return (row, out) => {
      for (let x = 0, i = 0, o = 0; x < width; x++, i += 3, o += 4) {
        out[o] = row[i + 2];
        out[o + 1] = row[i + 1];
        out[o + 2] = row[i];
        out[o + 3] = 255;
      }
    };
  }
  const fields = h.masks!.map((m) => ({ mask: m, shift: ctz(m), max: m >>> ctz(m) }));
  const bytes = bpp >> 3;
  return (row, out) => {
    for (let x = 0; x < width; x++) {
      const px = bytes === 2 ? u16(row, 2 * x) : u32(row, 4 * x);
      for (let c = 0; c < 4; c++) {
        const f = fields[c];
        out[4 * x + c] = f.mask === 0 ? (c === 3 ? 255 : 0) : Math.round((((px & f.mask) >>> f.shift) * 255) / f.max);
      }
    }
  };
}

/** Decodes the pixel rows of a BMP whose header was parsed (and checked against the pixel limit). */
export function decodeBmpInto(reader: ByteReader, source: string, h: BmpHeader, sink: PixelSink): void {
  const convert = converter(h, source);
  const rgba = new Uint8Array(4 * h.width);
  const rowBytes = Math.ceil((h.width * h.bitsPerPixel) / 8);
  const perBlock = Math.max(1, Math.floor(BLOCK / h.stride));
  for (let y = 0; y < h.height; y += perBlock) {
    const k = Math.min(perBlock, h.height - y);
    // Rows y..y+k-1 of the image; a bottom-up file stores them in reverse, ending at row h-1-y.
    const first = h.topDown ? y : h.height - y - k;
    const block = reader.readAt(h.dataOffset + first * h.stride, k * h.stride);
    for (let j = 0; j < k; j++) {
      const at = (h.topDown ? j : k - 1 - j) * h.stride;
      if (at + rowBytes > block.length) throw corrupt(source, `the file ends inside pixel row ${y + j}`);
      convert(block.subarray(at, at + rowBytes), rgba);
      sink.put(y + j, 0, 1, rgba, h.width);
    }
  }
}
