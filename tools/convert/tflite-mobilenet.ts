// Converts the TFLite MobileNetV2 (uint8, per-tensor quantised, batch-norm folded) to our
// safetensors layout: torchvision MobileNetV2 tensor names, OIHW / [C,1,k,k] weights, folded biases.
// Weights stay in their original 8-bit form with per-tensor scale and zero point (stored in the
// metadata), so the conversion adds no error on top of the quantised model's own.
import type { TensorToWrite } from '../../src/io/safetensors.js';
import { activationName, paddingName, type TfliteModel, type TfliteTensor } from './tflite.js';

export interface ConvertedModel {
  tensors: Record<string, TensorToWrite>;
  metadata: Record<string, string>;
}

/** Maps a TFLite layer scope to the torchvision module path (without `.weight`). */
function torchvisionName(tensorName: string): string {
  if (/MobilenetV2\/Conv\//.test(tensorName)) return 'features.0.0';
  if (/MobilenetV2\/Conv_1\//.test(tensorName)) return 'features.18.0';
  if (/MobilenetV2\/Logits\//.test(tensorName)) return 'classifier.1';
  const m = /MobilenetV2\/expanded_conv(?:_(\d+))?\/(expand|depthwise|project)\//.exec(tensorName);
  if (!m) throw new Error(`unexpected MobileNetV2 layer name "${tensorName}"`);
  const block = m[1] ? Number(m[1]) : 0;
  const feature = block + 1;
  if (block === 0) return m[2] === 'depthwise' ? 'features.1.conv.0.0' : 'features.1.conv.1';
  return { expand: `features.${feature}.conv.0.0`, depthwise: `features.${feature}.conv.1.0`, project: `features.${feature}.conv.2` }[m[2]]!;
}

/** Reorders a TFLite weight [O, kh, kw, I] (conv) or [1, kh, kw, C] (depthwise) to [O, I, kh, kw]. */
function toOIHW(t: TfliteTensor, depthwise: boolean): { shape: number[]; data: Uint8Array } {
  const [a, kh, kw, b] = t.shape;
  const [O, I] = depthwise ? [b, 1] : [a, b];
  const src = t.data!;
  const out = new Uint8Array(src.length);
  for (let o = 0; o < O; o++)
    for (let i = 0; i < I; i++)
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++) {
          const from = depthwise ? (y * kw + x) * b + o : ((o * kh + y) * kw + x) * I + i;
          out[((o * I + i) * kh + y) * kw + x] = src[from];
        }
  return { shape: [O, I, kh, kw], data: out };
}

function dequantizeBias(t: TfliteTensor): Float32Array {
  if (t.type !== 'INT32' || !t.data) throw new Error(`bias ${t.name} is ${t.type}, expected constant INT32`);
  const dv = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return Float32Array.from({ length: t.data.byteLength / 4 }, (_, i) => dv.getInt32(4 * i, true) * t.scale[0]);
}

export function convertMobilenetV2(model: TfliteModel): ConvertedModel {
  const tensors: Record<string, TensorToWrite> = {};
  const quant: Record<string, [number, number]> = {};
  const layers: Array<Record<string, string | number>> = [];
  for (const op of model.operators) {
    if (op.op === 'CONV_2D' || op.op === 'DEPTHWISE_CONV_2D') {
      const [, wi, bi] = op.inputs;
      const w = model.tensors[wi];
      const b = model.tensors[bi];
      if (w.type !== 'UINT8' || w.scale.length !== 1) throw new Error(`${model.source}: weight ${w.name} is not per-tensor uint8`);
      const name = torchvisionName(w.name);
      const depthwise = op.op === 'DEPTHWISE_CONV_2D';
      const { shape, data } = toOIHW(w, depthwise);
      const isHead = name === 'classifier.1';
      tensors[`${name}.weight`] = { dtype: 'U8', shape: isHead ? [shape[0], shape[1]] : shape, data };
      tensors[`${name}.bias`] = { dtype: 'F32', shape: [shape[0]], data: dequantizeBias(b) };
      quant[`${name}.weight`] = [w.scale[0], w.zeroPoint[0]];
      layers.push({
        name,
        op: depthwise ? 'depthwise' : isHead ? 'linear' : 'conv',
        stride: op.options.strideH,
        padding: paddingName(op.options.padding),
        activation: activationName(op.options.activation),
      });
    } else if (!['ADD', 'AVERAGE_POOL_2D', 'RESHAPE', 'SOFTMAX'].includes(op.op)) {
      throw new Error(`${model.source}: unsupported operator ${op.op} for MobileNetV2`);
    }
  }
  const input = model.tensors[model.inputs[0]];
  const [, h, w] = input.shape;
  const metadata = {
    format: 'hlgfa-backbone/1',
    architecture: 'mobilenet_v2',
    width_multiplier: '1.0',
    classes: String(tensors['classifier.1.bias'].shape[0]),
    labels: 'imagenet-1001 (index 0 = background)',
    source: 'TFLite mobilenet_v2_1.0_224_quant.tflite (TensorFlow / Coral), converted by tools/convert/tflite-mobilenet.ts',
    licence: 'Apache-2.0 (see weights/NOTICE)',
    // The model's uint8 input means x = (pixel - 128) / 128 on RGB pixels in 0..255.
    preprocessing: JSON.stringify({ size: h, width: w, resize: 'bilinear', channels: 'RGB', mean: [128, 128, 128], std: [128, 128, 128], scale: 255 }),
    // TensorFlow SAME padding: for stride 2 on even sizes the extra row/column goes bottom/right.
    padding: 'tf-same',
    quantization: JSON.stringify(quant),
    layers: JSON.stringify(layers),
  };
  return { tensors, metadata };
}
