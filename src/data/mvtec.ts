// MVTec AD folder layout for Node (the only file access of the data layer; model code stays portable):
//   <category>/train/good/*.png
//   <category>/test/good/*.png
//   <category>/test/<defect>/<stem>.png
//   <category>/ground_truth/<defect>/<stem>_mask.png      (good test images have no mask: all zero)
// Images and masks may be PNG, JPEG or BMP (.png, .jpg, .jpeg, .bmp, any case); the format is taken
// from the file's magic bytes. `scanMvtec` lists the files in a deterministic order (natural sort
// of names, good before defects, defects alphabetically) and reads every file's header, so an
// unsupported or broken file, one over the pixel limit, a missing mask or a mask whose size differs
// from its image's fails at once, naming the file, instead of in the middle of a training run.
// Pixels are decoded on demand by `loadImage` / `loadMask` (src/io/image-node.ts: 8-bit RGBA, big
// images box-downscaled while decoding; an image and its mask, being the same size, shrink alike).
import { readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { RgbaImage } from '../io/image.js';
import { checkPixelLimit, DEFAULT_MAX_PIXELS, readImage, readImageHeader, type ImageReadOptions } from '../io/image-node.js';

export interface MvtecSample {
  /** Path of the image file. */
  path: string;
  /** File name without its extension, e.g. "007". */
  name: string;
  split: 'train' | 'test';
  /** "good" or the defect folder name. */
  defect: string;
  /** 0 = good (normal), 1 = defective. */
  label: 0 | 1;
  /** Ground-truth mask file; null for good images (their mask is all zero). */
  maskPath: string | null;
  /** Image size from the file's header (before any downscale on load). */
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

const IMAGE_EXT = /\.(png|jpe?g|bmp)$/i;

export interface ScanOptions {
  /** Refuse images with more pixels than this (default DEFAULT_MAX_PIXELS). */
  maxPixels?: number;
}

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

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Image files (by extension) of a folder in natural order, and the names of other files. */
function listImages(dir: string): { images: string[]; others: string[] } {
  const images: string[] = [];
  const others: string[] = [];
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    if (ent.name.startsWith('.')) continue;
    const named = IMAGE_EXT.test(ent.name);
    // A folder named like an image is a mistake worth reporting, not something to skip silently.
    if (named && (ent.isDirectory() || (ent.isSymbolicLink() && isDir(join(dir, ent.name))))) {
      throw new Error(`${join(dir, ent.name)}: is a directory, expected an image file`);
    }
    if (!ent.isFile() && !ent.isSymbolicLink()) continue;
    if (named) images.push(ent.name);
    else others.push(ent.name);
  }
  images.sort(naturalCompare);
  // Samples and masks are keyed by file stem, so "001.png" beside "001.jpg" would be ambiguous.
  const seen = new Map<string, string>();
  for (const f of images) {
    const other = seen.get(stemOf(f));
    if (other) throw new Error(`${join(dir, f)}: same name as ${other} (expected one image per name)`);
    seen.set(stemOf(f), f);
  }
  return { images, others };
}

function stemOf(file: string): string {
  return file.replace(IMAGE_EXT, '');
}

function checkedHeader(path: string, maxPixels: number): { width: number; height: number } {
  const h = readImageHeader(path);
  checkPixelLimit(h, path, maxPixels);
  return h;
}

function scanFolder(root: string, split: 'train' | 'test', defect: string, masks: Map<string, string> | null, maxPixels: number): MvtecSample[] {
  const dir = join(root, split, defect);
  const out: MvtecSample[] = [];
  for (const file of listImages(dir).images) {
    const path = join(dir, file);
    const name = stemOf(file);
    const { width, height } = checkedHeader(path, maxPixels);
    let maskPath: string | null = null;
    if (defect !== 'good') {
      const gtDir = join(root, 'ground_truth', defect);
      const found = masks?.get(`${name}_mask`) ?? masks?.get(name);
      if (!found) throw new Error(`${path}: defective test image has no ground-truth mask (expected ${join(gtDir, `${name}_mask.png`)}, or .jpg, .jpeg, .bmp)`);
      maskPath = join(gtDir, found);
      const mh = checkedHeader(maskPath, maxPixels);
      if (mh.width !== width || mh.height !== height) {
        throw new Error(`${maskPath}: mask is ${mh.width}×${mh.height} but its image ${path} is ${width}×${height}`);
      }
    }
    out.push({ path, name, split, defect, label: defect === 'good' ? 0 : 1, maskPath, width, height });
  }
  return out;
}

/** Mask files of a ground-truth folder by stem. */
function masksByStem(gtDir: string): Map<string, string> {
  return new Map(isDir(gtDir) ? listImages(gtDir).images.map((f) => [stemOf(f), f]) : []);
}

/**
 * Lists an MVTec-layout category folder. Throws (naming the path) when the folder or train/good is
 * missing, train/good has no image, a file is not a supported image, has a broken header or is over
 * `maxPixels`, a defective test image has no mask, or a mask's size differs from its image's. A
 * missing test/ folder gives an empty test list.
 */
export function scanMvtec(root: string, opts: ScanOptions = {}): MvtecIndex {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const abs = resolve(root);
  if (!isDir(abs)) throw new Error(`${root}: dataset folder not found (expected an MVTec AD category folder with train/good/*.png)`);
  const trainDir = join(abs, 'train', 'good');
  if (!isDir(trainDir)) throw new Error(`${trainDir}: folder not found (expected the MVTec AD layout <category>/train/good/*.png)`);
  const { images, others } = listImages(trainDir);
  if (images.length === 0) {
    const hint = others.length ? ` (found ${others.length} other file(s), e.g. ${others[0]}; images must be PNG, JPEG or BMP)` : '';
    throw new Error(`${trainDir}: no .png, .jpg, .jpeg or .bmp training images${hint}`);
  }
  const train = scanFolder(abs, 'train', 'good', null, maxPixels);
  const test: MvtecSample[] = [];
  const defects: string[] = [];
  const testDir = join(abs, 'test');
  if (isDir(testDir)) {
    const folders = readdirSync(testDir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort(naturalCompare);
    if (folders.includes('good')) test.push(...scanFolder(abs, 'test', 'good', null, maxPixels));
    for (const d of folders) {
      if (d === 'good') continue;
      const samples = scanFolder(abs, 'test', d, masksByStem(join(abs, 'ground_truth', d)), maxPixels);
      if (samples.length === 0) continue;
      defects.push(d);
      test.push(...samples);
    }
  }
  return { root: abs, category: basename(abs), train, test, defects };
}

/** Decodes a PNG, JPEG or BMP to 8-bit RGBA (see `readImage` for limits and downscaling). Errors name the file. */
export function loadImage(path: string, opts: ImageReadOptions = {}): Promise<RgbaImage> {
  return readImage(path, opts);
}

/**
 * A binary mask (Uint8Array of 0/1, width*height) from a mask image: a pixel is anomalous when any
 * colour channel, weighted by alpha, exceeds 127 (works for 1-bit, grey, RGB, palette masks; on a
 * downscaled mask that is the box mean, so roughly "mostly anomalous"). `path` null gives an
 * all-zero mask (good images). `width`×`height` is the size its image decoded to, with the same
 * `opts`; throws if the mask's differs.
 */
export async function loadMask(path: string | null, width: number, height: number, imagePath?: string, opts: ImageReadOptions = {}): Promise<Uint8Array> {
  const out = new Uint8Array(width * height);
  if (path === null) return out;
  const img = await readImage(path, opts);
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

/** Image and 0/1 mask of one sample (all-zero mask for good images), decoded with the same options. */
export async function loadSample(s: MvtecSample, opts: ImageReadOptions = {}): Promise<{ image: RgbaImage; mask: Uint8Array }> {
  const image = await loadImage(s.path, opts);
  return { image, mask: await loadMask(s.maskPath, image.width, image.height, s.path, opts) };
}
