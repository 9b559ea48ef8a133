// MVTec AD folder layout for Node (the only file access of the data layer; model code stays portable):
//   <category>/train/good/*.png
//   <category>/test/good/*.png
//   <category>/test/<defect>/<stem>.png
//   <category>/ground_truth/<defect>/<stem>_mask.png      (good test images have no mask: all zero)
// `scanMvtec` lists the files in a deterministic order (natural sort of names, good before defects,
// defects alphabetically) and checks every file's PNG signature and IHDR header, so a BMP named .png,
// a missing mask or a mask whose size differs from its image fails at once, naming the file, instead
// of in the middle of a training run. Pixels are decoded on demand by `loadImage` / `loadMask`
// (pngjs: 1/2/4/8/16-bit grey, RGB, RGBA, grey+alpha and palette all come out as 8-bit RGBA).
import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { RgbaImage } from '../io/image.js';
import { readPng } from '../io/png-node.js';

export interface MvtecSample {
  /** Path of the image file. */
  path: string;
  /** File name without the .png extension, e.g. "007". */
  name: string;
  split: 'train' | 'test';
  /** "good" or the defect folder name. */
  defect: string;
  /** 0 = good (normal), 1 = defective. */
  label: 0 | 1;
  /** Ground-truth mask file; null for good images (their mask is all zero). */
  maskPath: string | null;
  /** Image size from the PNG header. */
  width: number;
  height: number;
}

export interface MvtecIndex {
  /** The category folder as given, resolved to an absolute path. */
  root: string;
  /** Folder name of the category, e.g. "bottle". */
  category: string;
  /** train/good, sorted. */
  train: MvtecSample[];
  /** test/good first, then each defect folder in name order; each folder sorted by name. */
  test: MvtecSample[];
  /** Defect folder names found under test/ (excluding "good"), sorted. */
  defects: string[];
}

export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Deterministic natural order: digit runs compare by value ("2" < "10"), the rest by UTF-16 code units. */
export function naturalCompare(a: string, b: string): number {
  const ra = a.match(/\d+|\D+/g) ?? [];
  const rb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
    const x = ra[i];
    const y = rb[i];
    if (x === y) continue;
    const dx = /^\d/.test(x);
    const dy = /^\d/.test(y);
    if (dx && dy) {
      const sx = x.replace(/^0+(?=\d)/, '');
      const sy = y.replace(/^0+(?=\d)/, '');
      if (sx.length !== sy.length) return sx.length - sy.length;
      if (sx !== sy) return sx < sy ? -1 : 1;
      if (x.length !== y.length) return x.length - y.length; // "07" vs "7": fewer leading zeros first
      continue;
    }
    return x < y ? -1 : 1;
  }
  if (ra.length !== rb.length) return ra.length - rb.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

function describeMagic(head: Uint8Array): string {
  if (head.length === 0) return '(empty file)';
  const hex = Array.from(head.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  let kind = '';
  if (head[0] === 0x42 && head[1] === 0x4d) kind = ', looks like a BMP';
  else if (head[0] === 0xff && head[1] === 0xd8) kind = ', looks like a JPEG';
  else if (head[0] === 0x47 && head[1] === 0x49 && head[2] === 0x46) kind = ', looks like a GIF';
  else if ((head[0] === 0x49 && head[1] === 0x49) || (head[0] === 0x4d && head[1] === 0x4d)) kind = ', looks like a TIFF';
  else if (head[0] === 0x52 && head[1] === 0x49 && head[2] === 0x46 && head[3] === 0x46) kind = ', looks like a WebP/RIFF';
  return `${hex}${kind}`;
}

/** Reads and checks the PNG signature and IHDR chunk (first 33 bytes) of a file. */
export function readPngHeader(path: string): PngHeader {
  const head = new Uint8Array(33);
  let n = 0;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new Error(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    while (n < head.length) {
      const got = readSync(fd, head, n, head.length - n, n);
      if (got === 0) break;
      n += got;
    }
  } finally {
    closeSync(fd);
  }
  if (n < 8 || SIGNATURE.some((b, i) => head[i] !== b)) {
    throw new Error(`${path}: not a PNG file (starts with bytes ${describeMagic(head.subarray(0, n))}; expected the PNG signature 89 50 4e 47)`);
  }
  const dv = new DataView(head.buffer);
  const type = String.fromCharCode(...head.subarray(12, 16));
  if (n < 33 || type !== 'IHDR' || dv.getUint32(8) !== 13) {
    throw new Error(`${path}: corrupt or truncated PNG (no valid IHDR header after the signature)`);
  }
  const width = dv.getUint32(16);
  const height = dv.getUint32(20);
  if (width === 0 || height === 0) throw new Error(`${path}: corrupt PNG (size ${width}×${height} in the IHDR header)`);
  return { width, height, bitDepth: head[24], colorType: head[25] };
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function listPngs(dir: string): { pngs: string[]; others: string[] } {
  const pngs: string[] = [];
  const others: string[] = [];
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    if (ent.name.startsWith('.')) continue;
    if (!ent.isFile() && !ent.isSymbolicLink()) continue;
    if (/\.png$/i.test(ent.name)) pngs.push(ent.name);
    else others.push(ent.name);
  }
  pngs.sort(naturalCompare);
  return { pngs, others };
}

function stemOf(file: string): string {
  return file.replace(/\.png$/i, '');
}

function scanFolder(root: string, split: 'train' | 'test', defect: string, masks: Set<string> | null): MvtecSample[] {
  const dir = join(root, split, defect);
  const out: MvtecSample[] = [];
  for (const file of listPngs(dir).pngs) {
    const path = join(dir, file);
    const name = stemOf(file);
    const { width, height } = readPngHeader(path);
    let maskPath: string | null = null;
    if (defect !== 'good') {
      const gtDir = join(root, 'ground_truth', defect);
      const expected = join(gtDir, `${name}_mask.png`);
      const found = masks?.has(`${name}_mask.png`) ? `${name}_mask.png` : masks?.has(`${name}.png`) ? `${name}.png` : null;
      if (!found) throw new Error(`${path}: defective test image has no ground-truth mask (expected ${expected})`);
      maskPath = join(gtDir, found);
      const mh = readPngHeader(maskPath);
      if (mh.width !== width || mh.height !== height) {
        throw new Error(`${maskPath}: mask is ${mh.width}×${mh.height} but its image ${path} is ${width}×${height}`);
      }
    }
    out.push({ path, name, split, defect, label: defect === 'good' ? 0 : 1, maskPath, width, height });
  }
  return out;
}

/**
 * Lists an MVTec-layout category folder. Throws (naming the path) when the folder or train/good is
 * missing, train/good has no PNG, a file is not a PNG or has a broken header, a defective test image
 * has no mask, or a mask's size differs from its image's. A missing test/ folder gives an empty test list.
 */
export function scanMvtec(root: string): MvtecIndex {
  const abs = resolve(root);
  if (!isDir(abs)) throw new Error(`${root}: dataset folder not found (expected an MVTec AD category folder with train/good/*.png)`);
  const trainDir = join(abs, 'train', 'good');
  if (!isDir(trainDir)) throw new Error(`${trainDir}: folder not found (expected the MVTec AD layout <category>/train/good/*.png)`);
  const { pngs, others } = listPngs(trainDir);
  if (pngs.length === 0) {
    const hint = others.length ? ` (found ${others.length} other file(s), e.g. ${others[0]}; images must be PNG)` : '';
    throw new Error(`${trainDir}: no .png training images${hint}`);
  }
  const train = scanFolder(abs, 'train', 'good', null);
  const test: MvtecSample[] = [];
  const defects: string[] = [];
  const testDir = join(abs, 'test');
  if (isDir(testDir)) {
    const folders = readdirSync(testDir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort(naturalCompare);
    if (folders.includes('good')) test.push(...scanFolder(abs, 'test', 'good', null));
    for (const d of folders) {
      if (d === 'good') continue;
      const gtDir = join(abs, 'ground_truth', d);
      const masks = isDir(gtDir) ? new Set(listPngs(gtDir).pngs) : new Set<string>();
      const samples = scanFolder(abs, 'test', d, masks);
      if (samples.length === 0) continue;
      defects.push(d);
      test.push(...samples);
    }
  }
  return { root: abs, category: basename(abs), train, test, defects };
}

/** Decodes a PNG to 8-bit RGBA (any bit depth / colour type). Errors name the file. */
export function loadImage(path: string): RgbaImage {
  return readPng(path);
}

/**
 * A binary mask (Uint8Array of 0/1, width*height) from a mask PNG: a pixel is anomalous when any
 * colour channel, weighted by alpha, exceeds 127 (works for 1-bit, grey, RGB, palette masks).
 * `path` null gives an all-zero mask (good images). Throws if the mask's size is not width×height.
 */
export function loadMask(path: string | null, width: number, height: number, imagePath?: string): Uint8Array {
  const out = new Uint8Array(width * height);
  if (path === null) return out;
  const img = readPng(path);
  if (img.width !== width || img.height !== height) {
    throw new Error(`${path}: mask is ${img.width}×${img.height} but its image${imagePath ? ` ${imagePath}` : ''} is ${width}×${height}`);
  }
  const d = img.data;
  for (let i = 0; i < out.length; i++) {
    const m = Math.max(d[4 * i], d[4 * i + 1], d[4 * i + 2]);
    out[i] = m * d[4 * i + 3] > 127 * 255 ? 1 : 0;
  }
  return out;
}

/** Image and 0/1 mask of one sample (all-zero mask for good images). */
export function loadSample(s: MvtecSample): { image: RgbaImage; mask: Uint8Array } {
  const image = loadImage(s.path);
  return { image, mask: loadMask(s.maskPath, image.width, image.height, s.path) };
}
