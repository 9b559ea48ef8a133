// Writes a synthetic dataset to disk in the MVTec AD layout (Node adapter for synthetic.ts):
//   <dir>/train/good/NNN.png, <dir>/test/good/NNN.png, <dir>/test/<defect>/NNN.png,
//   <dir>/ground_truth/<defect>/NNN_mask.png (8-bit grey, 0/255), <dir>/synthetic.json (how it was made).
// Every file is written atomically, so an interrupted run leaves whole files only.
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { writeFileAtomic } from '../io/node-fs.js';
import { writePng } from '../io/png-node.js';
import type { SyntheticDataset } from './synthetic.js';

/** 8-bit greyscale PNG of a 0/1 mask (0 → 0, nonzero → 255). */
export function encodeMaskPng(mask: Uint8Array, width: number, height: number): Uint8Array {
  if (mask.length !== width * height) throw new Error(`encodeMaskPng: mask has ${mask.length} values, expected ${width}×${height}`);
  const png = new PNG({ width, height, colorType: 0, inputColorType: 0, inputHasAlpha: false });
  png.data = Buffer.from(Uint8Array.from(mask, (v) => (v ? 255 : 0)));
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false });
}

/** Writes `ds` into the category folder `dir` (created if needed); returns the number of files written. */
export function writeSyntheticDataset(dir: string, ds: SyntheticDataset): number {
  let files = 0;
  for (const s of [...ds.train, ...ds.test]) {
    writePng(join(dir, s.split, s.defect, `${s.name}.png`), s.image);
    files++;
    if (s.defect !== 'good') {
      writeFileAtomic(join(dir, 'ground_truth', s.defect, `${s.name}_mask.png`), encodeMaskPng(s.mask, s.image.width, s.image.height));
      files++;
    }
  }
  const meta = {
    generator: 'hlgfa-webgpu synthetic',
    category: ds.category,
    size: ds.size,
    seed: ds.seed,
    defects: ds.defects,
    train: ds.train.length,
    testGood: ds.test.filter((s) => s.label === 0).length,
    testDefect: ds.test.filter((s) => s.label === 1).length,
  };
  writeFileAtomic(join(dir, 'synthetic.json'), JSON.stringify(meta, null, 2) + '\n');
  return files + 1;
}
