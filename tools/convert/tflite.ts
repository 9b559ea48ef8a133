// Reads a TFLite flatbuffer model into plain objects: tensors (shape, type, quantisation, raw data)
// and operators (builtin name, inputs, outputs, options). Field numbers follow TFLite's schema.fbs.
import { FlatBuffer, FlatBufferError, type FbTable } from './flatbuffer.js';

export const TENSOR_TYPES = ['FLOAT32', 'FLOAT16', 'INT32', 'UINT8', 'INT64', 'STRING', 'BOOL', 'INT16', 'COMPLEX64', 'INT8'] as const;

/** The builtin operators our converters understand (code → name). */
const BUILTIN: Record<number, string> = {
  0: 'ADD', 1: 'AVERAGE_POOL_2D', 2: 'CONCATENATION', 3: 'CONV_2D', 4: 'DEPTHWISE_CONV_2D',
  6: 'DEQUANTIZE', 9: 'FULLY_CONNECTED', 14: 'LOGISTIC', 17: 'MAX_POOL_2D', 18: 'MUL', 19: 'RELU',
  21: 'RELU6', 22: 'RESHAPE', 25: 'SOFTMAX', 40: 'MEAN', 114: 'QUANTIZE',
};

export interface TfliteTensor {
  index: number;
  name: string;
  shape: number[];
  type: string;
  /** Raw bytes of a constant tensor, or null for activations. */
  data: Uint8Array | null;
  scale: number[];
  zeroPoint: number[];
  quantizedDimension: number;
}

export interface TfliteOperator {
  op: string;
  inputs: number[];
  outputs: number[];
  options: Record<string, number>;
}

export interface TfliteModel {
  source: string;
  description: string;
  tensors: TfliteTensor[];
  operators: TfliteOperator[];
  inputs: number[];
  outputs: number[];
}

const PADDING = ['SAME', 'VALID'];
const ACTIVATION = ['NONE', 'RELU', 'RELU_N1_TO_1', 'RELU6', 'TANH', 'SIGN_BIT'];

function options(op: string, t: FbTable | null): Record<string, number> {
  if (!t) return {};
  switch (op) {
    case 'CONV_2D':
      return { padding: t.i8(0), strideW: t.i32(1), strideH: t.i32(2), activation: t.i8(3), dilationW: t.i32(4, 1), dilationH: t.i32(5, 1) };
    case 'DEPTHWISE_CONV_2D':
      return { padding: t.i8(0), strideW: t.i32(1), strideH: t.i32(2), depthMultiplier: t.i32(3), activation: t.i8(4), dilationW: t.i32(5, 1), dilationH: t.i32(6, 1) };
    case 'AVERAGE_POOL_2D':
    case 'MAX_POOL_2D':
      return { padding: t.i8(0), strideW: t.i32(1), strideH: t.i32(2), filterW: t.i32(3), filterH: t.i32(4), activation: t.i8(5) };
    case 'ADD':
    case 'MUL':
      return { activation: t.i8(0) };
    case 'FULLY_CONNECTED':
      return { activation: t.i8(0) };
    case 'SOFTMAX':
      return { beta: t.f32(0) };
    default:
      return {};
  }
}

export function paddingName(code: number): string {
  return PADDING[code] ?? `padding#${code}`;
}

export function activationName(code: number): string {
  return ACTIVATION[code] ?? `activation#${code}`;
}

export function parseTflite(data: Uint8Array, source: string): TfliteModel {
  const fb = new FlatBuffer(data, source);
  if (data.byteLength < 8 || fb.identifier() !== 'TFL3') {
    throw new FlatBufferError(`${source}: not a TFLite model (file identifier is not "TFL3")`);
  }
  const model = fb.root();
  const codes = model.tables(1).map((c) => {
    const deprecated = c.i8(0);
    const builtin = c.i32(3);
    const code = Math.max(deprecated, builtin);
    return BUILTIN[code] ?? (c.string(1) ? `CUSTOM:${c.string(1)}` : `BUILTIN#${code}`);
  });
  const buffers = model.tables(4).map((b) => b.bytes(0));
  const subgraphs = model.tables(2);
  if (subgraphs.length !== 1) throw new FlatBufferError(`${source}: expected one subgraph, found ${subgraphs.length}`);
  const g = subgraphs[0];
  const tensors: TfliteTensor[] = g.tables(0).map((t, index) => {
    const q = t.table(4);
    const bufIndex = t.u32(2);
    const raw = buffers[bufIndex] ?? null;
    return {
      index,
      name: t.string(3) ?? `tensor${index}`,
      shape: t.i32s(0),
      type: TENSOR_TYPES[t.i8(1)] ?? `type#${t.i8(1)}`,
      data: raw && raw.byteLength > 0 ? raw : null,
      scale: q ? q.f32s(2) : [],
      zeroPoint: q ? q.i64s(3) : [],
      quantizedDimension: q ? q.i32(6) : 0,
    };
  });
  const operators: TfliteOperator[] = g.tables(3).map((o) => {
    const op = codes[o.u32(0)] ?? `opcode#${o.u32(0)}`;
    return { op, inputs: o.i32s(1), outputs: o.i32s(2), options: options(op, o.table(4)) };
  });
  return { source, description: model.string(3) ?? '', tensors, operators, inputs: g.i32s(1), outputs: g.i32s(2) };
}
