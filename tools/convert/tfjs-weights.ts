// TF.js layers models: the model.json structure and its weight shards. Decoding is pure (bytes in,
// float32 out); `readTfjsModel` finds the files on disk, including the UMD-wrapped `.js` form that
// npm packages such as nsfwjs ship (model JSON and base64 shards as CommonJS modules).
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { f16ToF32 } from '../../src/io/safetensors.js';

export interface TfjsWeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  /** Weights stored quantised: value = q * scale + min (uint8/uint16), or half precision (float16). */
  quantization?: { dtype: string; min?: number; scale?: number; original_dtype?: string };
}

export interface TfjsWeightsGroup {
  paths: string[];
  weights: TfjsWeightSpec[];
}

export interface TfjsModelJson {
  format?: string;
  generatedBy?: string;
  convertedBy?: string;
  modelTopology: unknown;
  weightsManifest: TfjsWeightsGroup[];
}

export interface TfjsWeight {
  shape: number[];
  values: Float32Array;
}

const STORED_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

/**
 * Decodes every weight of the manifest; `groups[g]` is the concatenation of group g's shards.
 * Errors name `source` and the weight.
 */
export function decodeTfjsWeights(manifest: TfjsWeightsGroup[], groups: Uint8Array[], source: string): Map<string, TfjsWeight> {
  if (groups.length !== manifest.length) throw new Error(`${source}: ${groups.length} weight groups given, the manifest has ${manifest.length}`);
  const out = new Map<string, TfjsWeight>();
  manifest.forEach((group, g) => {
    const bytes = groups[g];
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let off = 0;
    for (const w of group.weights) {
      const n = w.shape.reduce((a, b) => a * b, 1);
      const q = w.quantization;
      const stored = q ? q.dtype : w.dtype;
      const size = STORED_BYTES[stored];
      if (!size) throw new Error(`${source}: weight "${w.name}" is stored as ${stored}; supported: ${Object.keys(STORED_BYTES).join(', ')}`);
      if (off + n * size > bytes.byteLength) {
        throw new Error(`${source}: weight "${w.name}" [${w.shape.join(', ')}] needs bytes ${off}..${off + n * size} but group ${g} (${group.paths.join(', ')}) has ${bytes.byteLength} — shards truncated or missing?`);
      }
      const v = new Float32Array(n);
      if (q && (q.dtype === 'uint8' || q.dtype === 'uint16')) {
        if (typeof q.scale !== 'number' || typeof q.min !== 'number') throw new Error(`${source}: weight "${w.name}" is ${q.dtype}-quantised without min/scale`);
        for (let i = 0; i < n; i++) v[i] = (q.dtype === 'uint8' ? dv.getUint8(off + i) : dv.getUint16(off + 2 * i, true)) * q.scale + q.min;
      } else {
        switch (stored) {
          case 'float32': for (let i = 0; i < n; i++) v[i] = dv.getFloat32(off + 4 * i, true); break;
          case 'int32': for (let i = 0; i < n; i++) v[i] = dv.getInt32(off + 4 * i, true); break;
          case 'float16': for (let i = 0; i < n; i++) v[i] = f16ToF32(dv.getUint16(off + 2 * i, true)); break;
          case 'bool': case 'uint8': for (let i = 0; i < n; i++) v[i] = dv.getUint8(off + i); break;
          case 'uint16': for (let i = 0; i < n; i++) v[i] = dv.getUint16(off + 2 * i, true); break;
        }
      }
      off += n * size;
      if (out.has(w.name)) throw new Error(`${source}: weight "${w.name}" appears twice in the manifest`);
      out.set(w.name, { shape: w.shape, values: v });
    }
    if (off !== bytes.byteLength) throw new Error(`${source}: group ${g} has ${bytes.byteLength} bytes but its weights use ${off}`);
  });
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

/** A loaded TF.js model: its JSON and, per manifest group, the concatenated shard bytes. */
export interface TfjsModelFiles {
  path: string;
  json: TfjsModelJson;
  groups: Uint8Array[];
  /** name, version and licence of the npm package the model sits in, when there is one. */
  pkg?: { name: string; version: string; license: string };
}

function findPackage(start: string): TfjsModelFiles['pkg'] {
  for (let dir = start, i = 0; i < 8; i++, dir = dirname(dir)) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      const j = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string; license?: string };
      if (j.name && j.version) return { name: j.name, version: j.version, license: j.license ?? 'unknown' };
    }
    if (dirname(dir) === dir) break;
  }
  return undefined;
}

/**
 * Reads `model.json` and its shards, or the UMD `.js` form (`model.min.js` exporting the JSON,
 * `<shard>.min.js` / `<shard>.js` exporting the shard as base64), loaded with createRequire.
 */
export function readTfjsModel(path: string): TfjsModelFiles {
  const abs = resolve(path);
  const dir = dirname(abs);
  const req = createRequire(abs);
  const json = (abs.endsWith('.js') ? req(abs) : JSON.parse(readFileSync(abs, 'utf8'))) as TfjsModelJson;
  if (!json || typeof json !== 'object' || !json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new Error(`${path}: not a TF.js layers model (needs modelTopology and weightsManifest)`);
  }
  const groups = json.weightsManifest.map((g) =>
    concat(
      g.paths.map((p) => {
        const candidates = [join(dir, p), join(dir, `${p}.min.js`), join(dir, `${p}.js`)];
        const file = candidates.find((c) => existsSync(c));
        if (!file) throw new Error(`${path}: weight shard "${p}" not found (looked for ${candidates.join(', ')})`);
        if (!file.endsWith('.js')) return new Uint8Array(readFileSync(file));
        const b64 = req(file) as unknown;
        if (typeof b64 !== 'string') throw new Error(`${file}: expected the module to export the shard as a base64 string`);
        return new Uint8Array(Buffer.from(b64, 'base64'));
      }),
    ),
  );
  return { path, json, groups, pkg: findPackage(dir) };
}
