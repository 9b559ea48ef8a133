// Outputs never destroy inputs. Before a command does any work it checks every path it will write:
// none may be one of its inputs (compared as real files, so symlinks, `..`, hard links and a
// case-insensitive file system cannot sneak one past), none may lie inside a folder it reads images
// from, and an existing file is only replaced when it is of the kind being written (a checkpoint
// by a checkpoint, a PNG by a PNG…) unless the user says --force. The location must be writable.
import { closeSync, existsSync, openSync, readSync, realpathSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { errnoText } from '../io/node-fs.js';
import { CHECKPOINT_FORMAT } from '../models/detector.js';
import type { MvtecIndex } from '../data/mvtec.js';
import { UsageError } from './args.js';

export type OutputKind = 'checkpoint' | 'json' | 'png' | 'anomaly-map' | 'markdown';

export interface Inputs {
  /** Files the command reads (model, backbone, images, masks). */
  files: readonly string[];
  /** Folders whose contents the command reads (a dataset's train/, test/, ground_truth/). */
  folders?: readonly string[];
}

/** A dataset's images and masks, and the folders they are read from, plus `files` (model, backbone). */
export function datasetInputs(index: MvtecIndex, files: readonly string[]): Inputs {
  const samples = [...index.train, ...index.test];
  return {
    files: [...files, ...samples.map((s) => s.path), ...samples.flatMap((s) => (s.maskPath ? [s.maskPath] : []))],
    folders: ['train', 'test', 'ground_truth'].map((f) => join(index.root, f)),
  };
}

const KIND_NAMES: Record<OutputKind, string> = {
  checkpoint: 'an HLGFA checkpoint',
  json: 'a JSON file',
  png: 'a PNG image',
  'anomaly-map': 'an hlgfa anomaly map',
  markdown: 'a text report',
};

/** The path with symlinks resolved as far as it exists (the rest appended), for comparisons. */
function realish(path: string): string {
  let head = resolve(path);
  const tail: string[] = [];
  while (!existsSync(head)) {
    const up = dirname(head);
    if (up === head) break;
    tail.unshift(basename(head));
    head = up;
  }
  try {
    head = realpathSync(head);
  } catch {
    // unreadable: compare as given
  }
  return join(head, ...tail);
}

function identity(path: string): string | null {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return null;
  }
}

function readHead(path: string, bytes: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const buf = new Uint8Array(bytes);
    const n = readSync(fd, buf, 0, bytes, 0);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** The safetensors metadata of a file, or null when it is not safetensors. */
function safetensorsMetadata(path: string): Record<string, unknown> | null {
  try {
    const head = readHead(path, 8);
    if (head.length < 8) return null;
    const n = Number(new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true));
    if (n > 100 * 1024 * 1024 || n > statSync(path).size - 8) return null;
    const json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(readHead(path, 8 + n).subarray(8)));
    return (json.__metadata__ ?? {}) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** Whether an existing file is of `kind` (what this program would have written there). */
export function isOfKind(path: string, kind: OutputKind): boolean {
  switch (kind) {
    case 'checkpoint':
      return safetensorsMetadata(path)?.format === CHECKPOINT_FORMAT;
    case 'anomaly-map': {
      const m = safetensorsMetadata(path);
      return m !== null && (m.format === ANOMALY_MAP_FORMAT || typeof m.verdict === 'string');
    }
    case 'png': {
      const h = readHead(path, 8);
      return h.length === 8 && [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].every((b, i) => h[i] === b);
    }
    case 'json':
    case 'markdown': {
      if (statSync(path).size > 64 * 1024 * 1024) return false;
      const text = readHead(path, 64 * 1024 * 1024);
      if (text.includes(0)) return false;
      if (kind === 'markdown') return true;
      try {
        const v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(text));
        return v !== null && typeof v === 'object';
      } catch {
        return false;
      }
    }
  }
}

export const ANOMALY_MAP_FORMAT = 'hlgfa-anomaly-map/1';

/**
 * Throws a UsageError (exit 2) naming the output and the input it would destroy, or the existing
 * file it would replace, before any work is done. `option` names the flag the path came from.
 */
export function checkOutput(path: string, kind: OutputKind, inputs: Inputs, opts: { option: string; force?: boolean }): void {
  const out = realish(path);
  const outId = identity(out);
  for (const f of inputs.files) {
    if (realish(f) === out || (outId !== null && identity(f) === outId)) {
      throw new UsageError(`${opts.option} ${path} is an input of this command (${f}); refusing to overwrite it — choose another output path`);
    }
  }
  for (const folder of inputs.folders ?? []) {
    const rel = relative(realish(folder), out);
    if (rel === '' || (rel.split(sep)[0] !== '..' && !isAbsolute(rel))) {
      throw new UsageError(`${opts.option} ${path} lies inside ${folder}, which this command reads images from; write outputs elsewhere`);
    }
  }
  if (!existsSync(out)) return;
  const st = statSync(out);
  if (st.isDirectory()) throw new UsageError(`${opts.option} ${path} is a directory, expected a file path (${KIND_NAMES[kind]})`);
  if (!opts.force && !isOfKind(out, kind)) {
    throw new UsageError(`${opts.option} ${path} exists and is not ${KIND_NAMES[kind]}; refusing to replace it (pass --force to overwrite)`);
  }
}

/**
 * Checks up front that files can be created in `path`'s folder, so a long run does not fail at its
 * first write. Creates nothing: a missing folder is judged by the nearest folder above it that
 * exists (where it would be created), and the writers create it when the first output is written,
 * so a run that fails before that (a bad model) leaves no empty folder behind. Throws naming the
 * path and the reason.
 */
export function checkWritable(path: string, option: string): void {
  const dir = dirname(resolve(path));
  let existing = dir;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  if (!statSync(existing).isDirectory()) {
    throw new Error(`${option} ${path}: cannot create the folder ${dir} (ENOTDIR: ${existing} is a file)`);
  }
  const probe = join(existing, `.${basename(path)}.${process.pid}.probe`);
  try {
    const fd = openSync(probe, 'w');
    try {
      writeSync(fd, new Uint8Array(1));
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw new Error(`${option} ${path}: cannot write in ${existing} (${errnoText(e)})`);
  } finally {
    rmSync(probe, { force: true });
  }
}
