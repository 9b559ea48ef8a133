// Outputs never destroy inputs: an output path equal to (or inside the folders of) an input is
// refused before any work, an existing file of another kind is only replaced with --force, detect's
// output names are unique, the output location is checked before training, failed writes leave no
// temp file, and --resume keeps its state and refuses conflicting options.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { parseSafetensors } from '../../src/io/safetensors.js';
import { writeFileAtomic } from '../../src/io/node-fs.js';
import { check, hashes, hlgfa, makeFixture, sha, SHIPPED_BACKBONE, type Fixture } from './fixtures.js';

let fx: Fixture;
const shipped = readFileSync(SHIPPED_BACKBONE);
beforeAll(() => {
  fx = makeFixture();
});
afterAll(() => {
  // Should the guard ever fail, put the shipped weights back so the rest of the suite still runs.
  if (!readFileSync(SHIPPED_BACKBONE).equals(shipped)) writeFileSync(SHIPPED_BACKBONE, shipped);
});

/** Runs a command that must be refused with exit 2 and `message`, changing none of `inputs`. */
function refused(label: string, args: string[], message: RegExp, inputs: string[]): void {
  const before = hashes(inputs);
  const r = hlgfa(label, ...args);
  check(r.code, `${label}: ${r.err}`).toBe(2);
  check(r.err, label).toMatch(message);
  check(r.err, `${label}: refused before the GPU started`).not.toMatch(/artificially reduced/);
  check(hashes(inputs), label).toEqual(before);
}

describe('an output may not be an input', () => {
  it('train --out one of its own training images', () => {
    refused('train --out = a training PNG', ['train', '--data', fx.data, '--out', fx.trainPng, '--backbone', fx.backbone], /--out .*000\.png is an input of this command/, [fx.trainPng]);
  });

  it('train --out the backbone (given, and the shipped default)', () => {
    refused('train --out = --backbone', ['train', '--data', fx.data, '--out', fx.backbone, '--backbone', fx.backbone], /--out .*backbone\.safetensors is an input of this command/, [fx.backbone]);
    refused('train --out = shipped backbone', ['train', '--data', fx.data, '--out', SHIPPED_BACKBONE], /mobilenet_v2_imagenet\.safetensors is an input of this command/, [SHIPPED_BACKBONE]);
    // Through a symlink and a `..` detour: still the same file.
    const link = join(fx.dir, 'link.safetensors');
    symlinkSync(fx.backbone, link);
    refused('train --out = symlink to the backbone', ['train', '--data', fx.data, '--out', link, '--backbone', fx.backbone], /is an input of this command/, [fx.backbone]);
    const detour = join(fx.data, '..', 'metal', '..', 'backbone.safetensors');
    refused('train --out = backbone via ..', ['train', '--data', fx.data, '--out', detour, '--backbone', fx.backbone], /is an input of this command/, [fx.backbone]);
  });

  it('train --out inside the folders images are read from', () => {
    const inside = join(fx.data, 'test', 'good', 'model.safetensors');
    refused('train --out inside test/', ['train', '--data', fx.data, '--out', inside, '--backbone', fx.backbone], /lies inside .*test, which this command reads images from/, [fx.goodPng]);
    check(existsSync(inside)).toBe(false);
  });

  it('eval --model X --json X, and eval --json over an image', () => {
    refused('eval --json = --model', ['eval', '--data', fx.data, '--model', fx.model, '--backbone', fx.backbone, '--json', fx.model], /--json .*model\.safetensors is an input of this command/, [fx.model]);
    refused('eval --json = a test image', ['eval', '--data', fx.data, '--model', fx.model, '--backbone', fx.backbone, '--json', fx.goodPng], /is an input of this command/, [fx.goodPng]);
  });

  it('detect whose output would replace one of its input images', () => {
    const out = join(fx.dir, 'det-in');
    mkdirSync(out, { recursive: true });
    // x.png's overlay would be written to DIR/x_overlay.png, which is the second input.
    const x = join(fx.dir, 'x.png');
    const image = join(out, 'x_overlay.png');
    copyFileSync(fx.goodPng, x);
    copyFileSync(fx.crackPng, image);
    refused('detect output = its input', ['detect', '--model', fx.model, '--backbone', fx.backbone, '--out', out, x, image], /--out .*det-in\/x_overlay\.png is an input of this command/, [image, x]);
  });
});

describe('existing files of another kind are replaced only with --force', () => {
  it('train --out over a text file; eval --json over a PNG, then with --force', () => {
    const notes = join(fx.dir, 'notes.txt');
    writeFileSync(notes, 'my notes');
    refused('train --out = a text file', ['train', '--data', fx.data, '--out', notes, '--backbone', fx.backbone], /--out .*notes\.txt exists and is not an HLGFA checkpoint; refusing to replace it \(pass --force to overwrite\)/, [notes]);
    const png = join(fx.dir, 'picture.png');
    copyFileSync(fx.goodPng, png);
    refused('eval --json = an unrelated PNG', ['eval', '--data', fx.data, '--model', fx.model, '--backbone', fx.backbone, '--json', png], /exists and is not a JSON file/, [png]);
    const forced = hlgfa('eval --json over a PNG with --force', 'eval', '--data', fx.data, '--model', fx.model, '--backbone', fx.backbone, '--json', png, '--force');
    check(forced.code, forced.err).toBe(0);
    check(JSON.parse(readFileSync(png, 'utf8')).images).toBe(7);
  });
});

describe('detect output names', () => {
  it('are unique for a/x.png and b/a/x.png, and for x.png beside x.PNG', () => {
    for (const d of ['a', join('b', 'a'), 'c']) mkdirSync(join(fx.dir, 'imgs', d), { recursive: true });
    const paths = [join(fx.dir, 'imgs', 'a', 'x.png'), join(fx.dir, 'imgs', 'b', 'a', 'x.png'), join(fx.dir, 'imgs', 'c', 'x.png'), join(fx.dir, 'imgs', 'c', 'x.PNG')];
    paths.forEach((p, i) => copyFileSync(i % 2 ? fx.crackPng : fx.goodPng, p));
    const out = join(fx.dir, 'names');
    const r = hlgfa('detect colliding names', 'detect', '--model', fx.model, '--backbone', fx.backbone, '--out', out, ...paths);
    check(r.code, r.err).toBe(0);
    const files = readdirSync(out).sort();
    check(files.length).toBe(8);
    check(new Set(files.map((f) => f.toLowerCase())).size).toBe(8);
    for (const p of paths) check(r.out).toContain(p);
  });
});

describe('writes', () => {
  it('an unwritable --out fails before training, naming the path and the reason', () => {
    const blocker = join(fx.dir, 'a-file');
    writeFileSync(blocker, 'x');
    const r = hlgfa('train --out under a file', 'train', '--data', fx.data, '--out', join(blocker, 'm.safetensors'), '--backbone', fx.backbone);
    check(r.code, r.err).toBe(1);
    check(r.err).toMatch(/--out .*a-file\/m\.safetensors: cannot (create the folder|write in) .*\((EEXIST|ENOTDIR)/);
    check(r.err).not.toMatch(/artificially reduced|epoch/);
  });

  it('a run that fails before its first write leaves no new folder behind; a good one creates it', () => {
    const bad = join(fx.dir, 'garbage.safetensors');
    writeFileSync(bad, Buffer.alloc(1000, 7));
    const fresh = join(fx.dir, 'new-out', 'nested');
    const r = hlgfa('detect --out NEWDIR with a corrupt model', 'detect', '--model', bad, '--backbone', fx.backbone, '--out', fresh, fx.goodPng);
    check(r.code, r.err).toBe(1);
    check(r.err).toMatch(/garbage\.safetensors/);
    check(existsSync(join(fx.dir, 'new-out'))).toBe(false);
    const ok = hlgfa('detect --out NEWDIR', 'detect', '--model', fx.model, '--backbone', fx.backbone, '--out', fresh, fx.goodPng);
    check(ok.code, ok.err).toBe(0);
    check(readdirSync(fresh).filter((f) => f.endsWith('_overlay.png')).length).toBe(1);
  });

  it('a full disk gives ENOSPC with the path and leaves no temp file', (ctx) => {
    const mnt = join(fx.dir, 'small');
    mkdirSync(mnt);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt], { stdio: 'ignore' });
    } catch {
      console.warn('reliability: cannot mount a tmpfs here (needs root); the ENOSPC case is skipped');
      ctx.skip();
    }
    try {
      try {
        writeFileSync(join(mnt, 'filler'), Buffer.alloc(128 * 1024)); // fills the disk, then fails
      } catch {
        // ENOSPC expected
      }
      const json = join(mnt, 'metrics.json');
      const r = hlgfa('eval --json on a full disk', 'eval', '--data', fx.data, '--model', fx.model, '--backbone', fx.backbone, '--json', json);
      check(r.code, r.err).toBe(1);
      // Found by the up-front check, before any scoring.
      check(r.err).toMatch(/--json .*metrics\.json: cannot write in .*small \(ENOSPC: no space left on device\)/);
      check(r.err).not.toMatch(/artificially reduced/);
      // And an atomic write that runs out of space mid-file names it and leaves no temp file.
      check(() => writeFileAtomic(join(mnt, 'big.safetensors'), new Uint8Array(1 << 20))).toThrow(/big\.safetensors: cannot write \(ENOSPC: no space left on device\)/);
      check(readdirSync(mnt).sort()).toEqual(['filler']);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });

  it('--resume: stale temp files are removed, --epochs below the done count keeps the optimiser state, conflicts are refused', () => {
    const out = join(fx.dir, 'resumable.safetensors');
    copyFileSync(fx.model, out);
    const stale = join(fx.dir, '.resumable.safetensors.999999999.tmp');
    writeFileSync(stale, 'left by a killed run');
    const r = hlgfa('train --resume --epochs 1 (already done)', 'train', '--data', fx.data, '--out', out, '--resume', '--epochs', '1', '--backbone', fx.backbone);
    check(r.code, r.err).toBe(0);
    check(existsSync(stale)).toBe(false);
    const ck = parseSafetensors(new Uint8Array(readFileSync(out)), out);
    const before = parseSafetensors(new Uint8Array(readFileSync(fx.model)), fx.model);
    check(ck.metadata.epoch).toBe('1');
    check(JSON.parse(ck.metadata.adam)).toEqual(JSON.parse(before.metadata.adam));
    for (const name of before.tensors.keys()) if (name.startsWith('optim.')) check(Buffer.from(ck.tensors.get(name)!.bytes).equals(Buffer.from(before.tensors.get(name)!.bytes)), name).toBe(true);
    refused('train --resume --size 128 (model is 64)', ['train', '--data', fx.data, '--out', out, '--resume', '--size', '128', '--backbone', fx.backbone], /--resume: size 128 conflicts with 64 in .*resumable\.safetensors; a resumed run keeps its options/, [out]);
    refused('train --resume of a missing file', ['train', '--data', fx.data, '--out', join(fx.dir, 'nothing.safetensors'), '--resume'], /--resume: .*nothing\.safetensors does not exist/, []);
    check(sha(out)).not.toBe('absent');
  });
});
