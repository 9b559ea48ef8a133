import { describe, expect, it } from 'vitest';
import { f16ToF32, f32ToF16, parseSafetensors, readF32, serializeSafetensors } from '../../src/io/safetensors.js';

describe('safetensors', () => {
  const file = serializeSafetensors(
    {
      'a.weight': { dtype: 'F32', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] },
      'b.half': { dtype: 'F16', shape: [3], data: [0.5, -2, 65504] },
      'c.q': { dtype: 'U8', shape: [4], data: new Uint8Array([0, 1, 128, 255]) },
    },
    { source: 'test', licence: 'MIT' },
  );

  it('round-trips tensors and metadata, with an 8-byte aligned header and no gaps', () => {
    const f = parseSafetensors(file, 'rt.safetensors');
    expect(f.metadata).toEqual({ source: 'test', licence: 'MIT' });
    expect(Array.from(readF32(f, 'a.weight', [2, 3]))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(readF32(f, 'b.half'))).toEqual([0.5, -2, 65504]);
    expect(Array.from(readF32(f, 'c.q'))).toEqual([0, 1, 128, 255]);
    const n = Number(new DataView(file.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const spans = [...f.tensors.values()].map((t) => t.bytes.byteOffset - 8 - n).sort((x, y) => x - y);
    expect(spans[0]).toBe(0);
  });

  it('f16 conversion rounds to nearest even and handles subnormals', () => {
    for (const v of [0, 1, -1, 0.1, 1 / 3, 6.1e-5, 5.96e-8, 65504, 1e-9]) {
      expect(Math.abs(f16ToF32(f32ToF16(v)) - v)).toBeLessThanOrEqual(Math.max(Math.abs(v) * 2 ** -11, 2 ** -25));
    }
    expect(f16ToF32(f32ToF16(1e6))).toBe(Infinity);
  });

  it('rejects a truncated file, naming the file', () => {
    expect(() => parseSafetensors(file.subarray(0, file.byteLength - 3), 'cut.safetensors')).toThrow(
      /cut\.safetensors: tensor "[a-z.]+" data \[\d+, \d+\] runs past the end of the data section/,
    );
    expect(() => parseSafetensors(file.subarray(0, 5), 'tiny.safetensors')).toThrow(/tiny\.safetensors: file is 5 bytes/);
  });

  it('rejects a header length past the end of the file', () => {
    const bad = file.slice();
    new DataView(bad.buffer).setBigUint64(0, BigInt(bad.byteLength), true);
    expect(() => parseSafetensors(bad, 'hdr.safetensors')).toThrow(/hdr\.safetensors: header length \d+ runs past the end of the file/);
  });

  it('rejects unknown dtypes, bad offsets and wrong shapes, naming the tensor', () => {
    const make = (header: object) => {
      const json = new TextEncoder().encode(JSON.stringify(header));
      const out = new Uint8Array(8 + json.byteLength + 16);
      new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
      out.set(json, 8);
      return out;
    };
    expect(() => parseSafetensors(make({ w: { dtype: 'Q4', shape: [4], data_offsets: [0, 16] } }), 'x.st')).toThrow(/x\.st: tensor "w" has unsupported dtype "Q4"/);
    expect(() => parseSafetensors(make({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }), 'x.st')).toThrow(/tensor "w" \(F32 \[3\]\) needs 12 bytes but data_offsets \[0, 16\] span 16/);
    expect(() => parseSafetensors(make({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, v: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }), 'x.st')).toThrow(/overlap/);
    const f = parseSafetensors(file, 'rt.safetensors');
    expect(() => readF32(f, 'a.weight', [3, 2])).toThrow(/rt\.safetensors: tensor "a\.weight" has shape \[2, 3\], expected \[3, 2\]/);
    expect(() => readF32(f, 'missing')).toThrow(/rt\.safetensors: missing tensor "missing"/);
    const notJson = make({});
    notJson[8] = 0x7b; notJson[9] = 0xff;
    expect(() => parseSafetensors(notJson, 'j.st')).toThrow(/j\.st: header is not valid UTF-8 JSON/);
  });
});
