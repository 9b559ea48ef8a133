// Backbones as frozen feature extractors, loaded from safetensors. The file's metadata says which
// architecture it holds and how images must be preprocessed, so callers never hard-code either.
import { parseSafetensors, SafeTensorsError } from '../io/safetensors.js';
import { checkImage, resizeRgba, rgbaToPlanar, standardizeExposure, type RgbaImage } from '../io/image.js';
import { Tensor, tensor } from '../tensor/tensor.js';
import { MobileNetV2, type PaddingMode } from './mobilenet-v2.js';
import { ResNet, RESNET_ARCHITECTURES, isResNetArchitecture } from './resnet.js';
import { WeightReader } from './weights.js';

export interface Preprocessing {
  /** Default square input size. */
  size: number;
  channels: 'RGB';
  /** Per-channel mean and std, in the units of pixel * scale / 255. */
  mean: [number, number, number];
  std: [number, number, number];
  /** Pixel values are first mapped to [0, scale]. */
  scale: number;
}

export interface Backbone {
  readonly architecture: string;
  readonly metadata: Record<string, string>;
  readonly preprocessing: Preprocessing;
  /** Feature taps available to `features()`, in network order. */
  readonly taps: readonly string[];
  /** Runs the frozen network on normalised images [N,3,H,W]; never records gradients. */
  features(images: Tensor, taps: readonly string[]): Record<string, Tensor>;
  dispose(): void;
}

const TORCHVISION_PREPROCESSING: Preprocessing = {
  size: 224,
  channels: 'RGB',
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  scale: 1,
};

function parsePreprocessing(meta: Record<string, string>, source: string): Preprocessing {
  if (!meta.preprocessing) return TORCHVISION_PREPROCESSING;
  try {
    const p = JSON.parse(meta.preprocessing) as Partial<Preprocessing>;
    // Every value finite, std and scale non-zero: a zero or infinite one turns every pixel into NaN
    // or infinity, which the ReLU6 after the stem can turn into finite, meaningless features.
    const finite = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
    const triple = (v: unknown, ok: (x: unknown) => boolean) => Array.isArray(v) && v.length === 3 && v.every(ok);
    const nonZero = (x: unknown) => finite(x) && x !== 0;
    if (!triple(p.mean, finite) || !triple(p.std, nonZero) || !(Number.isInteger(p.size) && p.size! > 0) || !(p.scale === undefined || nonZero(p.scale))) {
      throw new Error(`needs a positive integer size, finite mean[3], finite non-zero std[3] and scale; got ${meta.preprocessing}`);
    }
    return { size: p.size!, channels: 'RGB', mean: p.mean as Preprocessing['mean'], std: p.std as Preprocessing['std'], scale: p.scale ?? 1 };
  } catch (e) {
    throw new SafeTensorsError(source, `metadata "preprocessing" is invalid (${(e as Error).message})`);
  }
}

/** Loads a backbone from safetensors bytes; `source` names the file in errors. */
export function loadBackbone(bytes: Uint8Array, source: string): Backbone {
  const file = parseSafetensors(bytes, source);
  const reader = new WeightReader(file);
  const meta = file.metadata;
  const arch =
    meta.architecture ??
    (reader.has('features.0.0.weight') ? 'mobilenet_v2' : reader.has('layer1.0.conv1.weight') ? 'resnet' : 'unknown');
  const preprocessing = parsePreprocessing(meta, source);
  const wrap = (net: ResNet | MobileNetV2): Backbone => ({
    architecture: arch,
    metadata: meta,
    preprocessing,
    taps: net.taps,
    features: (images, taps) => net.features(images, taps),
    dispose: () => net.dispose(),
  });
  if (isResNetArchitecture(arch)) return wrap(new ResNet(reader, arch));
  switch (arch) {
    case 'mobilenet_v2': {
      const padding: PaddingMode = meta.padding === 'tf-same' ? 'tf-same' : 'symmetric';
      return wrap(new MobileNetV2(reader, padding));
    }
    default:
      throw new SafeTensorsError(
        source,
        `unknown backbone architecture "${arch}" (expected mobilenet_v2, resnet or ${Object.keys(RESNET_ARCHITECTURES).join(', ')})`,
      );
  }
}

/** Target luminance mean and standard deviation of per-image exposure normalisation. */
export interface Exposure {
  mean: number;
  std: number;
}

/**
 * RGBA images → one normalised tensor [N, 3, size, size] for a backbone: each image resized to
 * size×size on the CPU (antialiased), brought to the `exposure` targets if given, then normalised. The one preprocessing path of every model:
 * resizing first keeps the upload at size² whatever the photo's resolution (a full-size 12 MP
 * upload exceeded maxStorageBufferBindingSize) and, unlike a plain bilinear GPU resize, does not
 * alias when shrinking by a large factor.
 */
export function imagesToTensor(images: readonly RgbaImage[], pre: Preprocessing, size = pre.size, exposure: Exposure | null = null): Tensor {
  return tensor(imagesToPlanar(images, pre, size, exposure), [images.length, 3, size, size]);
}

/** The values of `imagesToTensor`'s tensor, on the CPU. */
export function imagesToPlanar(images: readonly RgbaImage[], pre: Preprocessing, size = pre.size, exposure: Exposure | null = null): Float32Array {
  const plane = 3 * size * size;
  const data = new Float32Array(images.length * plane);
  images.forEach((img, i) => {
    checkImage(img, images.length > 1 ? `image ${i}` : 'image');
    const resized = img.width === size && img.height === size ? img : resizeRgba(img, size, size);
    const r = exposure ? standardizeExposure(resized, exposure) : resized;
    rgbaToPlanar(r, pre.mean, pre.std, pre.scale / 255, data, i * plane);
  });
  return data;
}

/** One image → [1, 3, size, size] (see `imagesToTensor`). */
export function imageToTensor(img: RgbaImage, pre: Preprocessing, size = pre.size): Tensor {
  return imagesToTensor([img], pre, size);
}
