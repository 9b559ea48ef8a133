// Proof 4: broken weight files fail with an Error naming the file and (where there is one) the
// tensor, through the public loadBackbone(bytes, name) — never a crash or a TypeError — and a bad
// ResNet file allocates nothing on the GPU. Uses the shipped MobileNetV2 file (corrupt copies) and
// small torchvision-style ResNet files.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { loadBackbone } from '../../src/models/backbone.js';
import { runtime } from '../../src/gpu/runtime.js';
import type { TensorToWrite } from '../../src/io/safetensors.js';
import { rng, useGpu } from '../helpers.js';
import { SMALL_BASIC, SMALL_BOTTLENECK, smallResNet, toSafetensors } from './small-resnet.js';

useGpu();

const MOBILENET = readFileSync(new URL('../../weights/mobilenet_v2_imagenet.safetensors', import.meta.url));

type Header = Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
type Entry = { dtype: string; shape: number[]; data_offsets: [number, number] };

/** A copy of a safetensors file with its JSON header edited (the data section is kept as is). */
function editHeader(bytes: Uint8Array, edit: (h: Header) => void): Uint8Array {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Header;
  edit(header);
  const json = new TextEncoder().encode(JSON.stringify(header));
  const data = bytes.subarray(8 + n);
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

/** The error loadBackbone throws for `bytes` (fails the test when it loads or throws a non-Error). */
function loadError(bytes: Uint8Array, name: string): Error {
  let model: ReturnType<typeof loadBackbone> | null = null;
  try {
    model = loadBackbone(bytes, name);
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    expect(e, `a checked error, not a crash: ${(e as Error).stack}`).not.toBeInstanceOf(TypeError);
    expect(e).not.toBeInstanceOf(RangeError);
    return e as Error;
  }
  model.dispose();
  throw new Error(`${name} loaded without an error`);
}

function expectLoadError(bytes: Uint8Array, name: string, message: RegExp): void {
  const e = loadError(bytes, name);
  const file = name.replace(/[.]/g, '\\.');
  expect(e.message).toMatch(new RegExp(`^${file}: `));
  expect(e.message).toMatch(message);
}

describe('corrupt copies of the shipped MobileNetV2 file', () => {
  it('loads intact (control)', () => {
    loadBackbone(MOBILENET, 'mobilenet.safetensors').dispose();
  });

  it('truncated: the tensor whose data runs past the end is named', () => {
    expectLoadError(MOBILENET.subarray(0, MOBILENET.byteLength >> 1), 'half.safetensors', /tensor "[\w.]+" data \[\d+, \d+\] runs past the end of the data section \(\d+ bytes\) — file truncated\?/);
    expectLoadError(MOBILENET.subarray(0, MOBILENET.byteLength - 1), 'minus-one.safetensors', /tensor "[\w.]+" data \[\d+, \d+\] runs past the end/);
  });

  it('header length past the end of the file, or no room for one', () => {
    const n = Number(new DataView(MOBILENET.buffer, MOBILENET.byteOffset).getBigUint64(0, true));
    expectLoadError(MOBILENET.subarray(0, 1000), 'cut.safetensors', new RegExp(`header length ${n} runs past the end of the file \\(1000 bytes\\) — truncated or not safetensors`));
    const huge = Uint8Array.from(MOBILENET);
    new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
    expectLoadError(huge, 'huge.safetensors', /header length 1099511627776 runs past the end of the file/);
    expectLoadError(MOBILENET.subarray(0, 5), 'tiny.safetensors', /file is 5 bytes, too short for a safetensors header/);
    const garbled = Uint8Array.from(MOBILENET);
    garbled[8 + 100] = 0xff;
    expectLoadError(garbled, 'garbled.safetensors', /header is not valid UTF-8 JSON/);
  });

  it('a weight that holds NaN or infinity (flipped bits in the data section)', () => {
    const n = Number(new DataView(MOBILENET.buffer, MOBILENET.byteOffset).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(MOBILENET.subarray(8, 8 + n))) as Header;
    const [name, entry] = Object.entries(header).find(([k, e]) => k.startsWith('features.') && (e as Entry).dtype === 'F32') as [string, Entry];
    for (const [bits, what] of [[0x7fc00000, 'NaN'], [0xff800000, '-Infinity']] as const) {
      const bytes = Uint8Array.from(MOBILENET);
      new DataView(bytes.buffer).setUint32(8 + n + entry.data_offsets[0] + 12, bits, true);
      expectLoadError(bytes, 'flipped.safetensors', new RegExp(`tensor "${name.replace(/[.]/g, '\\.')}" holds ${what} at element 3; weights must be finite`));
    }
  });

  it('preprocessing metadata that would make every pixel NaN or infinite', () => {
    const withPre = (pre: string) => editHeader(MOBILENET, (h) => ((h.__metadata__ as Record<string, string>).preprocessing = pre));
    const ok = '{"size":224,"mean":[0.485,0.456,0.406],"std":[0.229,0.224,0.225]}';
    loadBackbone(withPre(ok), 'ok.safetensors').dispose();
    for (const [name, pre] of [
      ['zero-std', '{"size":224,"mean":[0.485,0.456,0.406],"std":[0.229,0,0.225]}'],
      ['infinite-mean', '{"size":224,"mean":[1e400,0.456,0.406],"std":[0.229,0.224,0.225]}'],
      ['zero-scale', '{"size":224,"mean":[0.485,0.456,0.406],"std":[0.229,0.224,0.225],"scale":0}'],
      ['fractional-size', '{"size":22.5,"mean":[0.485,0.456,0.406],"std":[0.229,0.224,0.225]}'],
    ]) {
      expectLoadError(withPre(pre), `${name}.safetensors`, /metadata "preprocessing" is invalid \(needs a positive integer size, finite mean\[3\], finite non-zero std\[3\] and scale; got /);
    }
  });

  it('a float weight stored as an integer dtype, and an unsupported dtype string', () => {
    const i32 = editHeader(MOBILENET, (h) => ((h['classifier.1.bias'] as Entry).dtype = 'I32'));
    expectLoadError(i32, 'i32.safetensors', /tensor "classifier\.1\.bias" has dtype I32; weights must be F32, F16, BF16 or F64/);
    const q4 = editHeader(MOBILENET, (h) => ((h['features.3.conv.2.weight'] as Entry).dtype = 'Q4'));
    expectLoadError(q4, 'q4.safetensors', /tensor "features\.3\.conv\.2\.weight" has unsupported dtype "Q4"/);
    const noScale = editHeader(MOBILENET, (h) => {
      const meta = h.__metadata__ as Record<string, string>;
      const q = JSON.parse(meta.quantization);
      delete q['features.9.conv.1.0.weight'];
      meta.quantization = JSON.stringify(q);
    });
    expectLoadError(noScale, 'noscale.safetensors', /tensor "features\.9\.conv\.1\.0\.weight" is U8 but has no scale\/zero point in the metadata/);
  });

  it('a missing tensor and mis-shaped tensors', () => {
    const missing = editHeader(MOBILENET, (h) => delete h['features.7.conv.1.0.weight']);
    expectLoadError(missing, 'missing.safetensors', /missing tensor "features\.7\.conv\.1\.0\.weight"/);
    const swapped = editHeader(MOBILENET, (h) => ((h['features.5.conv.2.weight'] as Entry).shape = [192, 32, 1, 1]));
    expectLoadError(swapped, 'swapped.safetensors', /tensor "features\.5\.conv\.2\.weight" has shape \[192, 32, 1, 1\], expected \[32, 192, 1, 1\]/);
    const grown = editHeader(MOBILENET, (h) => ((h['features.5.conv.2.weight'] as Entry).shape = [32, 192, 1, 2]));
    expectLoadError(grown, 'grown.safetensors', /tensor "features\.5\.conv\.2\.weight" \(U8 \[32, 192, 1, 2\]\) needs 12288 bytes but data_offsets \[\d+, \d+\] span 6144/);
    const unknown = editHeader(MOBILENET, (h) => ((h.__metadata__ as Record<string, string>).architecture = 'vgg16'));
    expectLoadError(unknown, 'vgg.safetensors', /unknown backbone architecture "vgg16"/);
  });

  it('random truncations and header byte flips: every failure is a checked Error naming the file', () => {
    const r = rng(2024);
    const n = Number(new DataView(MOBILENET.buffer, MOBILENET.byteOffset).getBigUint64(0, true));
    let failed = 0;
    for (let trial = 0; trial < 40; trial++) {
      let bytes: Uint8Array;
      if (trial < 15) {
        bytes = MOBILENET.subarray(0, Math.floor(r() * MOBILENET.byteLength));
      } else {
        bytes = Uint8Array.from(MOBILENET);
        // Digits and JSON punctuation keep the header parseable more often than random bytes.
        const alphabet = '0123456789-,:[]"e ';
        const at = 8 + Math.floor(r() * n);
        bytes[at] = alphabet.charCodeAt(Math.floor(r() * alphabet.length));
      }
      try {
        loadBackbone(bytes, 'fuzz.safetensors').dispose();
      } catch (e) {
        failed++;
        expect(e).toBeInstanceOf(Error);
        expect(e, (e as Error).stack).not.toBeInstanceOf(TypeError);
        expect((e as Error).message).toMatch(/^fuzz\.safetensors: /);
      }
    }
    expect(failed).toBeGreaterThanOrEqual(15);
  });
});

describe('broken small ResNet files', () => {
  const base = smallResNet(SMALL_BASIC);
  const with_ = (edit: (t: Record<string, TensorToWrite>) => void, meta: Record<string, string> = {}) => {
    const t: Record<string, TensorToWrite> = { ...base };
    edit(t);
    return toSafetensors(t, meta);
  };

  it('each error names the file and the tensor, and nothing is left on the GPU', () => {
    const live = runtime().pool.getStats().liveBytes;
    const w = base['conv1.weight'];
    expectLoadError(
      with_((t) => (t['conv1.weight'] = { dtype: 'I64', shape: w.shape, data: Array.from(w.data, (v) => Math.round(v * 10)) })),
      'int-weights.safetensors',
      /tensor "conv1\.weight" has dtype I64; weights must be F32, F16, BF16 or F64/,
    );
    // Non-finite weights, stored or from folding a batch norm: a ReLU would turn a NaN into 0 and
    // the scores into finite nonsense.
    const nan = Float32Array.from(w.data);
    nan[5] = Number.NaN;
    expectLoadError(with_((t) => (t['conv1.weight'] = { dtype: 'F32', shape: w.shape, data: nan })), 'nan.safetensors', /tensor "conv1\.weight" holds NaN at element 5; weights must be finite/);
    const v = base['layer1.0.bn1.running_var'];
    const negative = Float32Array.from(v.data, (x, i) => (i === 2 ? -1 : x));
    expectLoadError(
      with_((t) => (t['layer1.0.bn1.running_var'] = { dtype: 'F32', shape: v.shape, data: negative })),
      'negative-var.safetensors',
      /tensor "layer1\.0\.conv1\.weight folded with layer1\.0\.bn1" holds NaN at element \d+; weights must be finite/,
    );
    expectLoadError(with_((t) => delete t['layer3.0.bn2.running_var']), 'no-var.safetensors', /missing tensor "layer3\.0\.bn2\.running_var" \(batch norm of layer3\.0\.conv2\)/);
    expectLoadError(with_((t) => delete t['layer2.0.downsample.0.weight']), 'no-down.safetensors', /missing tensor "layer2\.0\.downsample\.0\.weight" \(block layer2\.0 maps 8 → 16 channels at stride 2\)/);
    expectLoadError(with_((t) => delete t['layer4.1.conv1.weight']), 'no-conv.safetensors', /missing tensor "layer4\.1\.conv1\.weight"/);
    expectLoadError(
      with_((t) => (t['layer4.0.conv2.weight'] = { dtype: 'F32', shape: [64, 32, 3, 3], data: new Float32Array(64 * 32 * 9) })),
      'cin.safetensors',
      /tensor "layer4\.0\.conv2\.weight" has shape \[64, 32, 3, 3\], expected \[64, 64, 3, 3\]/,
    );
    expectLoadError(
      with_((t) => (t['layer1.0.bn1.weight'] = { dtype: 'F32', shape: [9], data: new Float32Array(9) })),
      'bn.safetensors',
      /tensor "layer1\.0\.bn1\.weight" has shape \[9\], expected \[8\]/,
    );
    expectLoadError(
      with_((t) => (t['fc.weight'] = { dtype: 'F32', shape: [10, 64, 1, 1], data: new Float32Array(640) })),
      'fc.safetensors',
      /tensor "fc\.weight" has shape \[10, 64, 1, 1\], expected \[10, 64\]/,
    );
    expectLoadError(
      with_((t) => (t['conv1.weight'] = { dtype: 'F32', shape: [8 * 3 * 49], data: w.data })),
      'rank.safetensors',
      /tensor "conv1\.weight" has shape \[1176\], expected rank 4 \[Cout, 3, 7, 7\]/,
    );
    expectLoadError(with_(() => {}, { architecture: 'resnet50' }), 'named.safetensors', /metadata architecture "resnet50" has bottleneck blocks \[3, 4, 6, 3\] but the tensors hold basic blocks \[2, 1, 1, 2\]/);
    expectLoadError(
      with_((t) => {
        for (const k of Object.keys(t)) if (k.startsWith('layer4.')) delete t[k];
      }),
      'three-stages.safetensors',
      /missing tensor "layer4\.0\.conv1\.weight"/,
    );
    const bottleneck = smallResNet(SMALL_BOTTLENECK);
    delete (bottleneck as Record<string, unknown>)['layer1.1.conv3.weight'];
    expectLoadError(toSafetensors(bottleneck), 'bottleneck.safetensors', /missing tensor "layer1\.1\.conv3\.weight"/);
    expect(runtime().pool.getStats().liveBytes, 'GPU bytes held after the failed loads').toBe(live);
  });
});
