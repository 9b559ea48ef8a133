// safetensors: the engine's weight and checkpoint format. Pure data (a JSON header and raw
// little-endian arrays), no code execution; every offset and size is checked against the file.
// Format: u64 LE header length N | N bytes of JSON | data. Offsets in the header are relative to
// the data section.

export type SafeDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const DTYPE_BYTES: Record<SafeDType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export interface SafeTensorEntry {
  dtype: SafeDType;
  shape: number[];
  /** The raw bytes (a view into the file when parsed). */
  bytes: Uint8Array;
}

export interface SafeTensorsFile {
  source: string;
  metadata: Record<string, string>;
  tensors: Map<string, SafeTensorEntry>;
}

export class SafeTensorsError extends Error {
  constructor(source: string, message: string) {
    super(`${source}: ${message}`);
    this.name = 'SafeTensorsError';
  }
}

const MAX_HEADER = 100 * 1024 * 1024;

export function parseSafetensors(file: Uint8Array, source = '<safetensors>'): SafeTensorsFile {
  const fail = (m: string): never => {
    throw new SafeTensorsError(source, m);
  };
  if (file.byteLength < 8) fail(`file is ${file.byteLength} bytes, too short for a safetensors header (8-byte length + JSON)`);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n > file.byteLength - 8) fail(`header length ${n} runs past the end of the file (${file.byteLength} bytes) — truncated or not safetensors`);
  if (n > MAX_HEADER) fail(`header length ${n} exceeds the ${MAX_HEADER}-byte limit`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(file.subarray(8, 8 + n)));
  } catch (e) {
    return fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + n;
  const dataLen = file.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, SafeTensorEntry>();
  const spans: Array<[number, number, string]> = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!raw || typeof raw !== 'object') fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const where = `tensor "${name}"`;
    if (typeof e?.dtype !== 'string' || !(e.dtype in DTYPE_BYTES)) fail(`${where} has unsupported dtype ${JSON.stringify(e?.dtype)}`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`${where} has an invalid shape ${JSON.stringify(e.shape)}`);
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0)) fail(`${where} has invalid data_offsets ${JSON.stringify(offs)}`);
    const [begin, end] = offs as [number, number];
    const dtype = e.dtype as SafeDType;
    const shape = e.shape as number[];
    const expected = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
    if (end < begin || end - begin !== expected) fail(`${where} (${dtype} [${shape.join(', ')}]) needs ${expected} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
    if (end > dataLen) fail(`${where} data [${begin}, ${end}] runs past the end of the data section (${dataLen} bytes) — file truncated?`);
    spans.push([begin, end, name]);
    tensors.set(name, { dtype, shape, bytes: file.subarray(dataStart + begin, dataStart + end) });
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i][0] < spans[i - 1][1]) fail(`tensors "${spans[i - 1][2]}" and "${spans[i][2]}" overlap`);
  }
  return { source, metadata, tensors };
}

/** Decodes one IEEE half-precision value. */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** Encodes to half precision, round-to-nearest-even. */
export function f32ToF16(v: number): number {
  f32Scratch[0] = v;
  const x = u32Scratch[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 255) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** Reads a tensor as float32, converting from F16/BF16/F64/integer types; checks the shape. */
export function readF32(f: SafeTensorsFile, name: string, expectShape?: readonly number[]): Float32Array {
  const e = f.tensors.get(name);
  if (!e) throw new SafeTensorsError(f.source, `missing tensor "${name}"`);
  if (expectShape && (expectShape.length !== e.shape.length || expectShape.some((d, i) => d !== e.shape[i]))) {
    throw new SafeTensorsError(f.source, `tensor "${name}" has shape [${e.shape.join(', ')}], expected [${expectShape.join(', ')}]`);
  }
  const n = e.shape.reduce((a, b) => a * b, 1);
  const dv = new DataView(e.bytes.buffer, e.bytes.byteOffset, e.bytes.byteLength);
  const out = new Float32Array(n);
  switch (e.dtype) {
    case 'F32': for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true); break;
    case 'F64': for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true); break;
    case 'F16': for (let i = 0; i < n; i++) out[i] = f16ToF32(dv.getUint16(2 * i, true)); break;
    case 'BF16': {
      const u = new Uint32Array(1);
      const fv = new Float32Array(u.buffer);
      for (let i = 0; i < n; i++) { u[0] = dv.getUint16(2 * i, true) << 16; out[i] = fv[0]; }
      break;
    }
    case 'I64': for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(8 * i, true)); break;
    case 'I32': for (let i = 0; i < n; i++) out[i] = dv.getInt32(4 * i, true); break;
    case 'I16': for (let i = 0; i < n; i++) out[i] = dv.getInt16(2 * i, true); break;
    case 'I8': for (let i = 0; i < n; i++) out[i] = dv.getInt8(i); break;
    case 'U8': case 'BOOL': for (let i = 0; i < n; i++) out[i] = dv.getUint8(i); break;
  }
  return out;
}

export interface TensorToWrite {
  dtype: SafeDType;
  shape: readonly number[];
  /** Raw little-endian bytes, or float values to encode as `dtype` (F32/F16). */
  data: Uint8Array | Float32Array | ArrayLike<number>;
}

function encode(name: string, t: TensorToWrite): Uint8Array {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const bytes = n * DTYPE_BYTES[t.dtype];
  if (t.data instanceof Uint8Array && t.dtype !== 'U8') {
    if (t.data.byteLength !== bytes) throw new Error(`safetensors: tensor "${name}" has ${t.data.byteLength} bytes, expected ${bytes}`);
    return t.data;
  }
  const src = t.data as ArrayLike<number>;
  if (src.length !== n) throw new Error(`safetensors: tensor "${name}" has ${src.length} values, shape [${t.shape.join(', ')}] needs ${n}`);
  const out = new Uint8Array(bytes);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < n; i++) {
    const v = src[i];
    switch (t.dtype) {
      case 'F32': dv.setFloat32(4 * i, v, true); break;
      case 'F64': dv.setFloat64(8 * i, v, true); break;
      case 'F16': dv.setUint16(2 * i, f32ToF16(v), true); break;
      case 'I32': dv.setInt32(4 * i, v, true); break;
      case 'I64': dv.setBigInt64(8 * i, BigInt(Math.round(v)), true); break;
      case 'I8': dv.setInt8(i, v); break;
      case 'U8': case 'BOOL': dv.setUint8(i, v); break;
      default: throw new Error(`safetensors: writing ${t.dtype} from numbers is not supported (tensor "${name}")`);
    }
  }
  return out;
}

/** Serialises tensors (in name order) and string metadata into one safetensors byte array. */
export function serializeSafetensors(tensors: Record<string, TensorToWrite>, metadata: Record<string, string> = {}): Uint8Array {
  const names = Object.keys(tensors).sort();
  const blobs = names.map((n) => encode(n, tensors[n]));
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let off = 0;
  names.forEach((n, i) => {
    // Tensors are packed back to back: the reference implementation rejects gaps.
    header[n] = { dtype: tensors[n].dtype, shape: [...tensors[n].shape], data_offsets: [off, off + blobs[i].byteLength] };
    off += blobs[i].byteLength;
  });
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  if (padded !== json.byteLength) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.byteLength + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  names.forEach((n, i) => {
    const [begin] = (header[n] as { data_offsets: [number, number] }).data_offsets;
    out.set(blobs[i], 8 + json.byteLength + begin);
  });
  return out;
}
