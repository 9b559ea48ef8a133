// Converts a Keras MobileNetV2 saved as a TF.js layers model (keras.applications layout, any head
// of Dense layers) to our safetensors layout: torchvision MobileNetV2 names, batch norm folded into
// the convolutions (epsilon from each layer's config), Keras HWIO / depthwise [k,k,C,1] kernels
// reordered to OIHW / [C,1,k,k], Dense kernels [in,out] transposed to [out,in]. Stored as F32.
//
// The Keras graph is matched structurally against `mobilenetV2Spec()`: every convolution must read
// the previous unit's output (through at most one ZeroPadding2D), be followed by exactly one
// BatchNormalization and, where the spec says so, a ReLU(max_value=6); residual blocks must end in
// an Add of the block input and the projection. The head, from `out_relu` to the model output, may
// be GlobalAveragePooling2D or an AveragePooling2D covering the whole final map, Flatten, Dropout
// (identity at inference) and Dense layers (ReLU between, any activation on the last: logits are
// its pre-activation). Anything else is refused with the layer's name.
//
// Padding: our model uses TensorFlow SAME ('tf-same'). Keras uses padding='same' at stride 1 and an
// explicit ZeroPadding2D((0,1),(0,1)) + 'valid' at stride 2, which equals SAME when the layer's
// input is even — true for every stride-2 layer when the input size is a multiple of 32. Each
// layer's effective padding is compared with TF SAME at the model's declared input size.
import type { TensorToWrite } from '../../src/io/safetensors.js';
import { mobilenetV2Spec, padFor, type LayerSpec } from '../../src/models/mobilenet-v2.js';
import type { TfjsWeight } from './tfjs-weights.js';
import type { ConvertedModel } from './tflite-mobilenet.js';

interface KerasLayer {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes?: unknown[];
}

type Pad4 = readonly [number, number, number, number];

interface Node {
  kind: 'input' | 'pad' | 'conv' | 'bn' | 'relu6' | 'add' | 'pool' | 'identity' | 'dense';
  layer: KerasLayer;
  srcs: Node[];
}

export interface TfjsConvertOptions {
  /** Where the weights come from (metadata "source"). */
  source: string;
  /** Their licence (metadata "licence"). */
  licence: string;
  /** Class names of the head, stored as JSON in metadata "labels". */
  labels?: string[];
}

/** Keras 2 (`[[name, node, tensor, kwargs], …]`) and Keras 3 (`{args: [{…keras_history}]}`) inbound nodes. */
function inboundNames(l: KerasLayer): string[] {
  const nodes = l.inbound_nodes ?? [];
  if (nodes.length === 0) return [];
  if (nodes.length > 1) throw new Error(`layer "${l.name}" is called ${nodes.length} times; shared layers are not supported`);
  const node = nodes[0];
  if (Array.isArray(node)) return node.map((e) => String((e as unknown[])[0]));
  const names: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const hist = (v as { config?: { keras_history?: unknown[] } }).config?.keras_history;
      if (Array.isArray(hist)) names.push(String(hist[0]));
      else Object.values(v).forEach(walk);
    }
  };
  walk((node as { args?: unknown }).args);
  return names;
}

function pair(v: unknown, what: string): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return v as [number, number];
  throw new Error(`${what}: expected a number or a pair, got ${JSON.stringify(v)}`);
}

/** ZeroPadding2D config → [top, bottom, left, right]. */
function zeroPadding(l: KerasLayer): Pad4 {
  const p = l.config.padding;
  if (Array.isArray(p) && p.length === 2 && p.every(Array.isArray)) {
    const [[t, b], [le, r]] = p as number[][];
    return [t, b, le, r];
  }
  const [h, w] = pair(p, `layer "${l.name}" padding`);
  return [h, h, w, w];
}

function modelConfig(topology: unknown): { layers: KerasLayer[]; inputs: string[]; outputs: string[]; inputSize: [number, number] | null } {
  const t = topology as { model_config?: unknown; class_name?: string; config?: unknown };
  const mc = (t.model_config ?? t) as { class_name?: string; config?: { layers?: KerasLayer[]; input_layers?: unknown[]; output_layers?: unknown[] } };
  if (mc.class_name !== 'Model' && mc.class_name !== 'Functional') {
    throw new Error(`modelTopology is a Keras ${mc.class_name ?? '(unknown)'} model; expected a functional Model (keras.applications MobileNetV2)`);
  }
  const cfg = mc.config!;
  const ends = (v: unknown[] | undefined, what: string): string[] => {
    if (!Array.isArray(v) || v.length === 0) throw new Error(`modelTopology has no ${what}`);
    return v.map((e) => String((e as unknown[])[0]));
  };
  const inputs = ends(cfg.input_layers, 'input_layers');
  const outputs = ends(cfg.output_layers, 'output_layers');
  if (inputs.length !== 1 || outputs.length !== 1) throw new Error(`the model has ${inputs.length} inputs and ${outputs.length} outputs; expected 1 and 1`);
  const layers = cfg.layers ?? [];
  const inLayer = layers.find((l) => l.name === inputs[0]);
  const shape = (inLayer?.config.batch_input_shape ?? inLayer?.config.batch_shape) as Array<number | null> | undefined;
  const inputSize = shape && typeof shape[1] === 'number' && typeof shape[2] === 'number' ? ([shape[1], shape[2]] as [number, number]) : null;
  if (shape && shape[3] !== 3) throw new Error(`input "${inputs[0]}" has shape ${JSON.stringify(shape)}; expected NHWC with 3 channels`);
  return { layers, inputs, outputs, inputSize };
}

function buildGraph(layers: KerasLayer[]): { nodes: Map<string, Node>; consumers: Map<Node, Node[]> } {
  const nodes = new Map<string, Node>();
  const consumers = new Map<Node, Node[]>();
  for (const l of layers) {
    const srcs = inboundNames(l).map((n) => {
      const s = nodes.get(n);
      if (!s) throw new Error(`layer "${l.name}" reads "${n}", which is not defined before it`);
      return s;
    });
    const c = l.config;
    const fail = (why: string): never => {
      throw new Error(`layer "${l.name}" (${l.class_name}): ${why}`);
    };
    let kind: Node['kind'];
    switch (l.class_name) {
      case 'InputLayer': kind = 'input'; break;
      case 'ZeroPadding2D': kind = 'pad'; break;
      case 'Conv2D':
      case 'DepthwiseConv2D':
        if (c.activation !== 'linear') fail(`activation "${c.activation}" inside the convolution; expected linear (batch norm follows)`);
        if (pair(c.dilation_rate ?? 1, l.name).some((d) => d !== 1)) fail(`dilation ${JSON.stringify(c.dilation_rate)} is not supported`);
        if ((c.groups ?? 1) !== 1) fail(`grouped convolution (groups ${c.groups}) is not supported`);
        if (l.class_name === 'DepthwiseConv2D' && (c.depth_multiplier ?? 1) !== 1) fail(`depth_multiplier ${c.depth_multiplier}; expected 1`);
        kind = 'conv';
        break;
      case 'BatchNormalization': {
        const axis = Array.isArray(c.axis) ? c.axis : [c.axis];
        if (axis.length !== 1 || (axis[0] !== -1 && axis[0] !== 3)) fail(`axis ${JSON.stringify(c.axis)}; expected the channel axis (-1 or 3)`);
        kind = 'bn';
        break;
      }
      case 'ReLU':
        if (c.max_value !== 6 || (c.negative_slope ?? 0) !== 0 || (c.threshold ?? 0) !== 0) {
          fail(`ReLU(max_value=${c.max_value}, negative_slope=${c.negative_slope}, threshold=${c.threshold}); expected ReLU6`);
        }
        kind = 'relu6';
        break;
      case 'Activation':
        if (c.activation !== 'relu6') fail(`activation "${c.activation}"; only relu6 is supported here`);
        kind = 'relu6';
        break;
      case 'Add': kind = 'add'; break;
      case 'AveragePooling2D':
      case 'GlobalAveragePooling2D': kind = 'pool'; break;
      case 'Flatten':
      case 'Dropout': kind = 'identity'; break;
      case 'Dense': kind = 'dense'; break;
      default:
        return fail('layer class not supported by the MobileNetV2 converter');
    }
    if (kind === 'input' ? srcs.length !== 0 : kind === 'add' ? srcs.length !== 2 : srcs.length !== 1) {
      fail(`has ${srcs.length} inputs`);
    }
    const node: Node = { kind, layer: l, srcs };
    nodes.set(l.name, node);
    consumers.set(node, []);
    for (const s of srcs) consumers.get(s)!.push(node);
  }
  return { nodes, consumers };
}

interface Unit {
  spec: LayerSpec;
  conv: KerasLayer;
  bn: KerasLayer;
  relu: KerasLayer | null;
  pad: KerasLayer | null;
  out: Node;
}

/** Follows the MobileNetV2 spec through the graph; returns the matched units and `out_relu`. */
function matchBackbone(
  graph: ReturnType<typeof buildGraph>,
  input: Node,
  inputSize: [number, number],
  used: Set<string>,
): { units: Unit[]; out: Node } {
  const { consumers } = graph;
  const only = (n: Node, kinds: Node['kind'][], what: string): Node => {
    const cs = consumers.get(n)!.filter((c) => kinds.includes(c.kind));
    if (cs.length !== 1) {
      throw new Error(`expected ${what} reading "${n.layer.name}", found ${cs.length ? cs.map((c) => `"${c.layer.name}"`).join(', ') : 'none'}`);
    }
    return cs[0];
  };
  const units: Unit[] = [];
  let cur = input;
  let [h, w] = inputSize;
  let channels = 3;
  for (const block of mobilenetV2Spec()) {
    const blockIn = cur;
    let x = cur;
    for (const spec of block.layers) {
      const where = `${spec.conv} (${spec.depthwise ? 'depthwise' : 'conv'} ${spec.shape[2]}×${spec.shape[3]}, stride ${spec.stride})`;
      let first = only(x, ['pad', 'conv'], `one convolution for ${where}`);
      let pad: KerasLayer | null = null;
      if (first.kind === 'pad') {
        pad = first.layer;
        first = only(first, ['conv'], `the convolution of ${where} after ZeroPadding2D`);
        if (consumers.get(graph.nodes.get(pad.name)!)!.length !== 1) throw new Error(`ZeroPadding2D "${pad.name}" feeds more than one layer`);
      }
      const conv = first.layer;
      const c = conv.config;
      const depthwise = conv.class_name === 'DepthwiseConv2D';
      const [kh, kw] = pair(c.kernel_size, `${conv.name} kernel_size`);
      const [sh, sw] = pair(c.strides ?? 1, `${conv.name} strides`);
      const filters = depthwise ? channels : Number(c.filters);
      if (depthwise !== spec.depthwise || kh !== spec.shape[2] || kw !== spec.shape[3] || sh !== spec.stride || sw !== spec.stride || filters !== spec.shape[0]) {
        throw new Error(
          `layer "${conv.name}" is ${conv.class_name} ${kh}×${kw} stride ${sh}×${sw} with ${filters} outputs; expected ${where} with ${spec.shape[0]} outputs`,
        );
      }
      if (c.data_format && c.data_format !== 'channels_last') throw new Error(`layer "${conv.name}": data_format ${c.data_format}; expected channels_last`);
      // Effective padding at this layer vs TensorFlow SAME, the mode our model runs.
      const mode = String(c.padding);
      if (mode !== 'same' && mode !== 'valid') throw new Error(`layer "${conv.name}": padding "${mode}" is not supported`);
      if (pad && mode !== 'valid') throw new Error(`layer "${conv.name}": padding "same" after ZeroPadding2D "${pad.name}" pads twice`);
      const tfSame = padFor('tf-same', kh, sh, h, w);
      const actual: Pad4 = pad ? zeroPadding(pad) : mode === 'same' ? tfSame : [0, 0, 0, 0];
      if (actual.some((v, i) => v !== tfSame[i])) {
        throw new Error(
          `layer "${conv.name}": padding [top, bottom, left, right] = [${actual.join(', ')}] on a ${h}×${w} input` +
            `${pad ? ` (ZeroPadding2D "${pad.name}" + valid)` : ` (padding "${mode}")`} differs from TensorFlow SAME [${tfSame.join(', ')}], ` +
            `the only padding this converter writes`,
        );
      }
      h = Math.ceil(h / sh);
      w = Math.ceil(w / sw);
      const firstNode = first;
      const bnNode = only(firstNode, ['bn'], `a BatchNormalization after "${conv.name}"`);
      if (consumers.get(firstNode)!.length !== 1) throw new Error(`convolution "${conv.name}" feeds more than its batch norm`);
      let out = bnNode;
      let relu: KerasLayer | null = null;
      if (spec.relu6) {
        out = only(bnNode, ['relu6'], `a ReLU6 after "${bnNode.layer.name}"`);
        if (consumers.get(bnNode)!.length !== 1) throw new Error(`batch norm "${bnNode.layer.name}" feeds more than its ReLU6`);
        relu = out.layer;
      } else if (consumers.get(bnNode)!.some((n) => n.kind === 'relu6')) {
        throw new Error(`"${bnNode.layer.name}" is followed by a ReLU6, but ${spec.conv} is a linear bottleneck`);
      }
      for (const l of [pad, conv, bnNode.layer, relu]) if (l) used.add(l.name);
      units.push({ spec, conv, bn: bnNode.layer, relu, pad, out });
      x = out;
      channels = spec.shape[0];
    }
    if (block.residual) {
      const add = only(x, ['add'], `an Add closing the residual block ${block.name}`);
      if (!add.srcs.includes(blockIn)) {
        throw new Error(`Add "${add.layer.name}" sums ${add.srcs.map((s) => `"${s.layer.name}"`).join(' + ')}; expected the input of ${block.name} ("${blockIn.layer.name}") and its projection`);
      }
      used.add(add.layer.name);
      x = add;
    }
    cur = x;
  }
  return { units, out: cur };
}

/** From the model output back to `out_relu`: Dense layers in order, and the pooling found. */
function matchHead(output: Node, backboneOut: Node, finalSize: [number, number], used: Set<string>): { dense: KerasLayer[]; pool: KerasLayer | null } {
  const dense: KerasLayer[] = [];
  let n = output;
  for (;;) {
    if (n === backboneOut) {
      if (dense.length) throw new Error(`Dense "${dense[0].name}" reads the 4-D feature map directly; expected a pooling layer first`);
      return { dense, pool: null };
    }
    used.add(n.layer.name);
    if (n.kind === 'dense') dense.unshift(n.layer);
    else if (n.kind === 'pool') break;
    else if (n.kind !== 'identity') throw new Error(`head layer "${n.layer.name}" (${n.layer.class_name}) is not supported (expected Dense, Dropout, Flatten, pooling)`);
    n = n.srcs[0];
  }
  const pool = n.layer;
  if (n.srcs[0] !== backboneOut) throw new Error(`pooling "${pool.name}" reads "${n.srcs[0].layer.name}"; expected the backbone output "${backboneOut.layer.name}"`);
  if (pool.class_name === 'AveragePooling2D') {
    const [ph, pw] = pair(pool.config.pool_size, `${pool.name} pool_size`);
    if (ph !== finalSize[0] || pw !== finalSize[1] || pool.config.padding !== 'valid') {
      throw new Error(`AveragePooling2D "${pool.name}" (${ph}×${pw}, ${pool.config.padding}) does not cover the final ${finalSize.join('×')} map; only global average pooling is supported`);
    }
  }
  dense.forEach((d, i) => {
    const act = String(d.config.activation);
    if (i < dense.length - 1 && act !== 'relu') throw new Error(`Dense "${d.name}" has activation "${act}"; hidden head layers must use relu`);
  });
  return { dense, pool };
}

function weight(weights: Map<string, TfjsWeight>, layer: string, name: string, shape?: number[]): Float32Array {
  let w = weights.get(`${layer}/${name}`);
  if (!w) {
    const hits = [...weights.keys()].filter((k) => k.endsWith(`/${layer}/${name}`));
    if (hits.length === 1) w = weights.get(hits[0]);
  }
  if (!w) throw new Error(`weight "${layer}/${name}" is missing from the manifest`);
  if (shape && (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i]))) {
    throw new Error(`weight "${layer}/${name}" has shape [${w.shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
  return w.values;
}

/** Folded, reordered weights of one unit: OIHW (or [C,1,k,k]) and a bias. */
function foldUnit(u: Unit, weights: Map<string, TfjsWeight>): { weight: Float32Array; bias: Float32Array } {
  const [O, I, kh, kw] = u.spec.shape;
  const c = u.conv.config;
  const kernel = u.spec.depthwise
    ? weight(weights, u.conv.name, 'depthwise_kernel', [kh, kw, O, 1])
    : weight(weights, u.conv.name, 'kernel', [kh, kw, I, O]);
  const convBias = c.use_bias ? weight(weights, u.conv.name, 'bias', [O]) : new Float32Array(O);
  const b = u.bn.config;
  const eps = Number(b.epsilon ?? 1e-3);
  const gamma = b.scale === false ? new Float32Array(O).fill(1) : weight(weights, u.bn.name, 'gamma', [O]);
  const beta = b.center === false ? new Float32Array(O) : weight(weights, u.bn.name, 'beta', [O]);
  const mean = weight(weights, u.bn.name, 'moving_mean', [O]);
  const variance = weight(weights, u.bn.name, 'moving_variance', [O]);
  const out = new Float32Array(O * I * kh * kw);
  const bias = new Float32Array(O);
  for (let o = 0; o < O; o++) {
    const k = gamma[o] / Math.sqrt(variance[o] + eps);
    bias[o] = (convBias[o] - mean[o]) * k + beta[o];
    for (let i = 0; i < I; i++)
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++) {
          const from = u.spec.depthwise ? (y * kw + x) * O + o : ((y * kw + x) * I + i) * O + o;
          out[((o * I + i) * kh + y) * kw + x] = kernel[from] * k;
        }
  }
  return { weight: out, bias };
}

/** Converts a Keras MobileNetV2 TF.js layers model (topology + decoded weights). */
export function convertKerasMobilenetV2(topology: unknown, weights: Map<string, TfjsWeight>, opts: TfjsConvertOptions): ConvertedModel {
  const cfg = modelConfig(topology);
  const graph = buildGraph(cfg.layers);
  const input = graph.nodes.get(cfg.inputs[0]);
  const output = graph.nodes.get(cfg.outputs[0]);
  if (!input || input.kind !== 'input') throw new Error(`input layer "${cfg.inputs[0]}" is missing`);
  if (!output) throw new Error(`output layer "${cfg.outputs[0]}" is missing`);
  // Unknown input size: check padding at 224 (the result holds for every multiple of 32).
  const size = cfg.inputSize ?? [224, 224];
  const used = new Set<string>([input.layer.name]);
  const { units, out } = matchBackbone(graph, input, size, used);
  const finalSize: [number, number] = [size[0], size[1]];
  for (const u of units) if (u.spec.stride === 2) for (const a of [0, 1]) finalSize[a] = Math.ceil(finalSize[a] / 2);
  const { dense: head, pool } = matchHead(output, out, finalSize, used);
  const unused = cfg.layers.filter((l) => !used.has(l.name)).map((l) => `${l.name} (${l.class_name})`);
  if (unused.length) throw new Error(`layers outside the recognised MobileNetV2 graph: ${unused.join(', ')}`);

  const tensors: Record<string, TensorToWrite> = {};
  const layers: Array<Record<string, string | number>> = [];
  for (const u of units) {
    const { weight: wt, bias } = foldUnit(u, weights);
    tensors[`${u.spec.conv}.weight`] = { dtype: 'F32', shape: u.spec.shape, data: wt };
    tensors[`${u.spec.conv}.bias`] = { dtype: 'F32', shape: [u.spec.shape[0]], data: bias };
    layers.push({
      name: u.spec.conv,
      keras: [u.pad?.name, u.conv.name, u.bn.name, u.relu?.name].filter(Boolean).join(' + '),
      op: u.spec.depthwise ? 'depthwise' : 'conv',
      stride: u.spec.stride,
      padding: u.pad ? `ZeroPadding2D ${JSON.stringify(u.pad.config.padding)} + valid` : String(u.conv.config.padding),
      activation: u.spec.relu6 ? 'relu6' : 'none',
      bn_epsilon: Number(u.bn.config.epsilon ?? 1e-3),
    });
  }
  // nn.Sequential numbering of Linear, ReLU, Dropout triples: classifier.1, .4, .7, …
  let features = 1280;
  head.forEach((d, i) => {
    const units = Number(d.config.units);
    const name = `classifier.${1 + 3 * i}`;
    const kernel = weight(weights, d.name, 'kernel', [features, units]);
    const t = new Float32Array(units * features);
    for (let o = 0; o < units; o++) for (let j = 0; j < features; j++) t[o * features + j] = kernel[j * units + o];
    tensors[`${name}.weight`] = { dtype: 'F32', shape: [units, features], data: t };
    tensors[`${name}.bias`] = { dtype: 'F32', shape: [units], data: d.config.use_bias === false ? new Float32Array(units) : weight(weights, d.name, 'bias', [units]) };
    layers.push({ name, keras: d.name, op: 'linear', activation: i < head.length - 1 ? 'relu' : `none (Keras: ${d.config.activation})` });
    features = units;
  });
  const metadata: Record<string, string> = {
    format: 'hlgfa-backbone/1',
    architecture: 'mobilenet_v2',
    width_multiplier: '1.0',
    source: opts.source,
    licence: opts.licence,
    // Inputs are RGB in [0, 1] (pixel / 255), resized to the model's size.
    preprocessing: JSON.stringify({ size: size[0], mean: [0, 0, 0], std: [1, 1, 1], scale: 1 }),
    padding: 'tf-same',
    padding_note: cfg.inputSize
      ? `Keras explicit padding equals TF SAME at ${size.join('×')} and every input size divisible by 32`
      : 'input size not fixed in the Keras model; padding checked at 224×224 (equal to TF SAME for sizes divisible by 32)',
    batch_norm: 'folded at conversion (epsilon from each Keras layer)',
    layers: JSON.stringify(layers),
  };
  if (head.length) {
    metadata.classes = String(features);
    // Keras' AveragePooling2D(7×7) is global only at 224×224; ours pools globally at every size.
    const kerasPool = pool!.class_name === 'AveragePooling2D' ? ` (Keras: AveragePooling2D ${JSON.stringify(pool!.config.pool_size)}, global at ${size.join('×')})` : '';
    metadata.head = `global average pool${kerasPool} → ${head.map((d) => d.config.units).join(' → ')} (ReLU between); logits are pre-${head[head.length - 1].config.activation}`;
    metadata.output_activation = String(head[head.length - 1].config.activation);
    if (opts.labels) {
      if (opts.labels.length !== features) throw new Error(`${opts.labels.length} labels given for a ${features}-class head`);
      metadata.labels = JSON.stringify(opts.labels);
    }
  }
  return { tensors, metadata };
}
