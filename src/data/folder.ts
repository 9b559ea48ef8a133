// Folders of images for Node: a recursive image finder with a small glob filter (what `hlgfa
// detect DIR` scores), and anomalib's "folder" dataset layout as a second scanner beside MVTec's:
//   --normal-dir DIR        normal images: training, and the normal test images unless given apart
//   --abnormal-dir DIR      anomalous test images (defect type: the folder's name)
//   --mask-dir DIR          their masks, matched by path stem: <stem>.png or <stem>_mask.png
//   --normal-test-dir DIR   normal test images; without it a fixed share of the normal images
//                           (--normal-test-split, default 0.2) is held out as the normal test set
// Like anomalib's Folder datamodule, each folder is searched recursively and every sample is a
// normal/abnormal label plus an optional mask. The scan returns the same `MvtecIndex` as
// `scanMvtec`, so training and evaluation are the same code for both layouts.
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep, isAbsolute } from 'node:path';
import { errnoText } from '../io/node-fs.js';
import { checkPixelLimit, DEFAULT_MAX_PIXELS, readImageHeader } from '../io/image-node.js';
import { hashSeed } from './prng.js';
import { naturalCompare, type MvtecIndex, type MvtecSample } from './mvtec.js';

const IMAGE_EXT = /\.(png|jpe?g|bmp)$/i;

/**
 * A glob as a matcher of '/'-separated relative paths. `*` and `?` match within one path segment,
 * `**` as a whole segment matches any number of segments (none included), `{a,b}` alternatives
 * (nestable), `[abc]`, `[a-z]`, `[!a]`/`[^a]` one character of a class (never "/"), and `\x` the
 * character x. Case-sensitive, as on the file system the paths come from. Throws on a malformed
 * pattern (an unclosed "[" or "{", a reversed range, a trailing "\"), naming the pattern.
 */
export function globMatcher(pattern: string): (path: string) => boolean {
  const fail = (why: string): never => {
    throw new Error(`glob "${pattern}": ${why}`);
  };
  // Escapes for the 'u' flag, which only accepts "\-" inside a class.
  const lit = (c: string) => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const litInClass = (c: string) => c.replace(/[\]\\^-]/g, '\\$&');
  let i = 0;
  const charClass = (): string => {
    const start = i;
    i++; // "["
    let negate = false;
    if (pattern[i] === '!' || pattern[i] === '^') {
      negate = true;
      i++;
    }
    let body = '';
    let first = true;
    while (i < pattern.length && (pattern[i] !== ']' || first)) {
      let c = pattern[i];
      if (c === '\\') c = pattern[++i] ?? fail('ends with an escape "\\"');
      if (pattern[i + 1] === '-' && pattern[i + 2] !== undefined && pattern[i + 2] !== ']') {
        let d = pattern[i + 2];
        i += 2;
        if (d === '\\') d = pattern[++i] ?? fail('ends with an escape "\\"');
        if (d < c) fail(`reversed range "${c}-${d}" in a character class`);
        body += `${litInClass(c)}-${litInClass(d)}`;
      } else body += litInClass(c);
      i++;
      first = false;
    }
    if (i >= pattern.length) fail(`unclosed "[" at position ${start + 1}`);
    i++; // "]"
    return negate ? `[^/${body}]` : `(?!/)[${body}]`;
  };
  const sequence = (inBraces: boolean): string => {
    let out = '';
    while (i < pattern.length) {
      const c = pattern[i];
      if (inBraces && (c === ',' || c === '}')) return out;
      if (c === '\\') {
        out += lit(pattern[i + 1] ?? fail('ends with an escape "\\"'));
        i += 2;
      } else if (c === '*') {
        let j = i;
        while (pattern[j] === '*') j++;
        const wholeSegment = j - i >= 2 && (i === 0 || pattern[i - 1] === '/') && (j === pattern.length || pattern[j] === '/');
        if (wholeSegment && pattern[j] === '/') {
          out += '(?:[^/]*/)*'; // "**/": any number of folders, none included
          j++;
        } else out += wholeSegment ? '.*' : '[^/]*';
        i = j;
      } else if (c === '?') {
        out += '[^/]';
        i++;
      } else if (c === '[') out += charClass();
      else if (c === '{') {
        const start = i++;
        const alternatives = [sequence(true)];
        while (pattern[i] === ',') {
          i++;
          alternatives.push(sequence(true));
        }
        if (pattern[i] !== '}') fail(`unclosed "{" at position ${start + 1}`);
        i++;
        out += `(?:${alternatives.join('|')})`;
      } else {
        out += lit(c);
        i++;
      }
    }
    return out;
  };
  const re = new RegExp(`^${sequence(false)}$`, 'u');
  return (path) => re.test(path);
}

export interface FoundImage {
  /** The file's path: the folder as given joined with `rel`. */
  path: string;
  /** Path relative to the folder searched, '/'-separated. */
  rel: string;
}

/** Orders '/'-separated paths folder by folder, each name naturally ("2" before "10"). */
export function comparePaths(a: string, b: string): number {
  const x = a.split('/');
  const y = b.split('/');
  for (let k = 0; k < Math.min(x.length, y.length); k++) {
    const c = naturalCompare(x[k], y[k]);
    if (c !== 0) return c;
  }
  return x.length - y.length;
}

/**
 * The image files (.png, .jpg, .jpeg, .bmp, any case) under `dir`, recursively, in natural path
 * order; `match` (e.g. a glob) filters by path relative to `dir`. Hidden entries (".name") are
 * skipped. Symbolic links are followed, but every folder and file is visited once by its real
 * path, so a link loop ends and a linked file is not scored twice. Unreadable folders throw,
 * naming them; `dir` itself must be a folder.
 */
export function findImages(dir: string, match?: (rel: string) => boolean): FoundImage[] {
  const seenDirs = new Set<string>();
  const seenFiles = new Set<string>();
  const found: FoundImage[] = [];
  const real = (p: string): string => {
    try {
      return realpathSync(p);
    } catch (e) {
      throw new Error(`${p}: cannot read (${errnoText(e)})`);
    }
  };
  const walk = (abs: string, rel: string): void => {
    const r = real(abs);
    if (seenDirs.has(r)) return;
    seenDirs.add(r);
    let entries;
    try {
      entries = readdirSync(abs, { withFileTypes: true });
    } catch (e) {
      throw new Error(`${abs}: cannot list the folder (${errnoText(e)})`);
    }
    // Sorted, so that which of two paths to one real file or folder is kept does not depend on
    // the order the file system lists them in.
    entries.sort((a, b) => naturalCompare(a.name, b.name));
    for (const ent of entries) {
      if (ent.name.startsWith('.')) continue;
      const path = join(abs, ent.name);
      const childRel = rel ? `${rel}/${ent.name}` : ent.name;
      let isDir = ent.isDirectory();
      let isFile = ent.isFile();
      if (ent.isSymbolicLink()) {
        try {
          const st = statSync(path);
          isDir = st.isDirectory();
          isFile = st.isFile();
        } catch (e) {
          // A broken link named like an image is a missing input; any other broken link is not ours.
          if (IMAGE_EXT.test(ent.name) && (!match || match(childRel))) throw new Error(`${path}: cannot read (${errnoText(e)})`);
          continue;
        }
      }
      if (isDir) walk(path, childRel);
      else if (isFile && IMAGE_EXT.test(ent.name) && (!match || match(childRel))) {
        const r2 = real(path);
        if (seenFiles.has(r2)) continue;
        seenFiles.add(r2);
        found.push({ path, rel: childRel });
      }
    }
  };
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    throw new Error(`${dir}: cannot read (${errnoText(e)})`);
  }
  if (!st.isDirectory()) throw new Error(`${dir}: not a folder`);
  walk(dir, '');
  return found.sort((a, b) => comparePaths(a.rel, b.rel));
}

export interface FolderLayout {
  normalDir: string;
  abnormalDir?: string;
  maskDir?: string;
  normalTestDir?: string;
  /** Share of the normal images held out for testing when there is no normalTestDir (default 0.2). */
  normalTestSplit?: number;
}

/** An index of the folder layout: `MvtecIndex` plus the folders it reads (absolute). */
export interface FolderIndex extends MvtecIndex {
  folders: string[];
}

export const DEFAULT_NORMAL_TEST_SPLIT = 0.2;
// Fixed, so that train and eval given the same folders hold out the same images without sharing
// any state; the order is by a hash of each image's path, so adding images moves few others.
const SPLIT_SEED = 'hlgfa-normal-test-split/1';

/**
 * Which of `rels` (paths relative to the normal folder) are held out for testing: the
 * round(split × n) with the smallest seeded hashes. Deterministic and independent of listing order.
 */
export function normalTestSet(rels: readonly string[], split: number): Set<string> {
  const n = Math.round(split * rels.length);
  const ranked = [...rels].sort((a, b) => hashSeed(SPLIT_SEED, a) - hashSeed(SPLIT_SEED, b) || comparePaths(a, b));
  return new Set(ranked.slice(0, n));
}

const stem = (rel: string) => rel.replace(IMAGE_EXT, '');
const inside = (parent: string, child: string) => {
  const r = relative(parent, child);
  return r === '' || (r.split(sep)[0] !== '..' && !isAbsolute(r));
};

function header(path: string, maxPixels: number): { width: number; height: number } {
  const h = readImageHeader(path);
  checkPixelLimit(h, path, maxPixels);
  return h;
}

/** The deepest folder containing all of `paths` (absolute). */
function commonFolder(paths: readonly string[]): string {
  return paths.reduce((acc, p) => {
    let d = acc;
    while (!inside(d, p)) d = dirname(d);
    return d;
  });
}

/**
 * Lists anomalib's folder layout. Reads every image's header (format, pixel limit) and pairs every
 * abnormal image with its mask, so a broken file or a missing mask fails now, naming the file.
 * Throws naming the folder when a folder is missing or has no image, when one folder lies inside
 * another (normal images would be scored as defects, or trained on), or when the split leaves no
 * training image.
 */
export function scanFolderLayout(layout: FolderLayout, opts: { maxPixels?: number } = {}): FolderIndex {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const split = layout.normalTestSplit ?? DEFAULT_NORMAL_TEST_SPLIT;
  if (!(split >= 0 && split < 1)) throw new Error(`normal test split must be >= 0 and < 1, got ${split}`);
  if (layout.normalTestDir !== undefined && layout.normalTestSplit !== undefined) {
    throw new Error(`a normal test folder (${layout.normalTestDir}) and a normal test split were both given; the split only applies without the folder`);
  }
  if (layout.maskDir !== undefined && layout.abnormalDir === undefined) throw new Error(`mask folder ${layout.maskDir} given without an abnormal folder (masks belong to abnormal images)`);
  const given: Array<[string, string | undefined]> = [
    ['normal', layout.normalDir],
    ['abnormal', layout.abnormalDir],
    ['mask', layout.maskDir],
    ['normal test', layout.normalTestDir],
  ];
  const dirs = given.filter((g): g is [string, string] => g[1] !== undefined);
  const reals = new Map<string, string>();
  for (const [what, dir] of dirs) {
    let st;
    try {
      st = statSync(dir);
    } catch (e) {
      throw new Error(`${dir}: ${what} folder not found (${errnoText(e)})`);
    }
    if (!st.isDirectory()) throw new Error(`${dir}: the ${what} folder is not a folder`);
    reals.set(dir, realpathSync(dir));
  }
  for (const [a, da] of dirs) {
    for (const [b, db] of dirs) {
      if (a !== b && inside(reals.get(da)!, reals.get(db)!)) {
        throw new Error(`${db}: the ${b} folder lies inside the ${a} folder ${da}; give folders that do not contain one another`);
      }
    }
  }
  const listed = (what: string, dir: string): FoundImage[] => {
    const found = findImages(dir);
    if (found.length === 0) throw new Error(`${dir}: no .png, .jpg, .jpeg or .bmp images in the ${what} folder (searched recursively)`);
    return found;
  };
  const sample = (f: FoundImage, split: 'train' | 'test', defect: string, label: 0 | 1, maskPath: string | null): MvtecSample => {
    const { width, height } = header(f.path, maxPixels);
    if (maskPath !== null) {
      const m = header(maskPath, maxPixels);
      if (m.width !== width || m.height !== height) throw new Error(`${maskPath}: mask is ${m.width}×${m.height} but its image ${f.path} is ${width}×${height}`);
    }
    return { path: f.path, name: stem(f.rel), split, defect, label, maskPath, width, height };
  };

  const normal = listed('normal', layout.normalDir);
  const held = layout.normalTestDir === undefined ? normalTestSet(normal.map((f) => f.rel), split) : new Set<string>();
  if (held.size === normal.length) {
    throw new Error(`${layout.normalDir}: ${normal.length} normal image(s) and a normal test split of ${split} leave none to train on; add images or lower the split`);
  }
  const train = normal.filter((f) => !held.has(f.rel)).map((f) => sample(f, 'train', 'good', 0, null));
  const test = normal.filter((f) => held.has(f.rel)).map((f) => sample(f, 'test', 'good', 0, null));
  if (layout.normalTestDir !== undefined) test.push(...listed('normal test', layout.normalTestDir).map((f) => sample(f, 'test', 'good', 0, null)));

  const defects: string[] = [];
  if (layout.abnormalDir !== undefined) {
    const abnormalDir = layout.abnormalDir;
    const defect = basename(resolve(abnormalDir));
    const abnormal = listed('abnormal', abnormalDir);
    // Masks and images are paired by stem, so "a.png" beside "a.jpg" would be ambiguous.
    const byStem = (what: string, files: FoundImage[]) => {
      const map = new Map<string, FoundImage>();
      for (const f of files) {
        const other = map.get(stem(f.rel));
        if (other) throw new Error(`${f.path}: same name as ${other.path} in the ${what} folder (images and masks are paired by name)`);
        map.set(stem(f.rel), f);
      }
      return map;
    };
    byStem('abnormal', abnormal);
    const masks = layout.maskDir === undefined ? null : byStem('mask', listed('mask', layout.maskDir));
    for (const f of abnormal) {
      let maskPath: string | null = null;
      if (masks) {
        const s = stem(f.rel);
        const m = masks.get(`${s}_mask`) ?? masks.get(s);
        if (!m) throw new Error(`${f.path}: abnormal image has no mask in ${layout.maskDir} (expected ${s}.png or ${s}_mask.png, or .jpg, .jpeg, .bmp)`);
        maskPath = m.path;
      }
      test.push(sample(f, 'test', defect, 1, maskPath));
    }
    defects.push(defect);
  }
  const folders = dirs.map(([, d]) => resolve(d));
  const root = commonFolder(folders);
  return { root, category: basename(root), train, test, defects, folders };
}
