// Shared set-up of the reliability tests: a tiny dataset, a trained model, a private copy of the
// backbone, the CLI runner, checkpoint tampering and input hashes. `HLGFA_BIN` runs the cases
// against another build (e.g. an older checkout, to record how it behaved); `HLGFA_MATRIX=FILE`
// appends one JSON line per CLI run (case, exit code, first line of stderr) for the report table.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDataset } from '../../src/data/synthetic.js';
import { writeSyntheticDataset } from '../../src/data/synthetic-node.js';
import { expect } from 'vitest';
import { parseSafetensors, serializeSafetensors, type TensorToWrite } from '../../src/io/safetensors.js';

export const ROOT = join(__dirname, '..', '..');

/** `expect`, or `expect.soft` when recording the matrix (so every case runs even against a build that fails some). */
export const check = (process.env.HLGFA_MATRIX ? expect.soft : expect) as typeof expect;
const BIN = process.env.HLGFA_BIN ?? join(ROOT, 'bin', 'hlgfa.js');
export const SHIPPED_BACKBONE = join(ROOT, 'weights', 'mobilenet_v2_imagenet.safetensors');

export interface Run {
  code: number | null;
  out: string;
  err: string;
  ms: number;
}

/** Runs the CLI; `label` names the case in the optional matrix file. */
export function hlgfa(label: string, ...args: string[]): Run {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, HLGFA_TUNING: 'off' } });
  const run = { code: r.status, out: r.stdout, err: r.stderr, ms: performance.now() - t0 };
  if (process.env.HLGFA_MATRIX) {
    const first = run.err.split('\n').find((l) => l.trim() && !/artificially reduced/.test(l)) ?? run.out.split('\n').find((l) => l.trim()) ?? '';
    appendFileSync(process.env.HLGFA_MATRIX, JSON.stringify({ case: label, code: run.code, line: first.slice(0, 200) }) + '\n');
  }
  return run;
}

export function sha(path: string): string {
  return existsSync(path) ? createHash('sha256').update(readFileSync(path)).digest('hex') : 'absent';
}

/** Hashes of files, to assert that a command changed none of its inputs. */
export function hashes(paths: readonly string[]): Record<string, string> {
  return Object.fromEntries(paths.map((p) => [p, sha(p)]));
}

export interface Fixture {
  dir: string;
  data: string;
  backbone: string;
  model: string;
  /** A training image and a test image of the dataset. */
  trainPng: string;
  goodPng: string;
  crackPng: string;
}

/** A 12-image 64×64 dataset and a model trained on it for one epoch, in a fresh temp folder. */
export function makeFixture(): Fixture {
  const dir = mkdtempSync(join(tmpdir(), 'hlgfa-reliability-'));
  const data = join(dir, 'metal');
  writeSyntheticDataset(data, generateDataset({ category: 'metal', trainCount: 12, testGoodCount: 3, testDefectCount: 4, size: 64, seed: 1 }));
  const backbone = join(dir, 'backbone.safetensors');
  copyFileSync(SHIPPED_BACKBONE, backbone);
  const model = join(dir, 'model.safetensors');
  const t = hlgfa('fixture: train', 'train', '--data', data, '--out', model, '--epochs', '1', '--size', '64', '--batch', '4', '--backbone', backbone);
  if (t.code !== 0) throw new Error(`fixture training failed (${t.code}): ${t.err}`);
  return {
    dir,
    data,
    backbone,
    model,
    trainPng: join(data, 'train', 'good', '000.png'),
    goodPng: join(data, 'test', 'good', '000.png'),
    crackPng: join(data, 'test', 'crack', '000.png'),
  };
}

/**
 * A copy of a checkpoint with its metadata and tensors edited: `meta` entries set (undefined
 * deletes one), `tensors` entries replaced. Returns the new file's path.
 */
export function tamper(
  source: string,
  into: string,
  edit: { meta?: Record<string, string | undefined>; tensors?: Record<string, TensorToWrite> },
): string {
  const f = parseSafetensors(new Uint8Array(readFileSync(source)), source);
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, e] of f.tensors) tensors[name] = { dtype: e.dtype, shape: e.shape, data: new Uint8Array(e.bytes) };
  Object.assign(tensors, edit.tensors ?? {});
  const meta: Record<string, string> = { ...f.metadata };
  for (const [k, v] of Object.entries(edit.meta ?? {})) {
    if (v === undefined) delete meta[k];
    else meta[k] = v;
  }
  writeFileSync(into, serializeSafetensors(tensors, meta));
  return into;
}

/** The checkpoint's config with `patch` applied, as metadata JSON. */
export function configWith(model: string, patch: Record<string, unknown>): string {
  const f = parseSafetensors(new Uint8Array(readFileSync(model)), model);
  return JSON.stringify({ ...JSON.parse(f.metadata.config), ...patch });
}
