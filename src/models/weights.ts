// Reading backbone weights from safetensors as float32, whatever the storage: f32/f16, 8-bit with
// per-tensor scale and zero point (metadata "quantization"), or conv + unfolded batch norm
// (torchvision state dicts) folded at load. Errors name the file and tensor.
import { SafeTensorsError, readF32, type SafeTensorsFile } from '../io/safetensors.js';

const FLOAT_DTYPES: ReadonlySet<string> = new Set(['F32', 'F16', 'BF16', 'F64']);

export class WeightReader {
  private readonly quant: Record<string, [number, number]>;

  constructor(readonly file: SafeTensorsFile) {
    try {
      this.quant = JSON.parse(file.metadata.quantization ?? '{}');
    } catch {
      throw new SafeTensorsError(file.source, 'metadata "quantization" is not valid JSON');
    }
  }

  has(name: string): boolean {
    return this.file.tensors.has(name);
  }

  shape(name: string): number[] {
    const t = this.file.tensors.get(name);
    if (!t) throw new SafeTensorsError(this.file.source, `missing tensor "${name}"`);
    return t.shape;
  }

  /** The tensor as float32 (dequantised when stored as 8-bit), optionally checking its shape. */
  f32(name: string, shape?: readonly number[]): Float32Array {
    const v = readF32(this.file, name, shape);
    const q = this.quant[name];
    const dtype = this.file.tensors.get(name)!.dtype;
    if (!FLOAT_DTYPES.has(dtype) && dtype !== 'U8' && dtype !== 'I8') {
      throw new SafeTensorsError(this.file.source, `tensor "${name}" has dtype ${dtype}; weights must be F32, F16, BF16 or F64 (or U8/I8 with a scale and zero point)`);
    }
    if (dtype === 'U8' || dtype === 'I8') {
      if (!q) throw new SafeTensorsError(this.file.source, `tensor "${name}" is ${dtype} but has no scale/zero point in the metadata`);
      const [scale, zero] = q;
      for (let i = 0; i < v.length; i++) v[i] = (v[i] - zero) * scale;
    }
    this.requireFinite(name, v);
    return v;
  }

  /**
   * Refuses a non-finite weight: the ReLU6 and ReLU after most layers turn a NaN into 0 on some
   * drivers (lavapipe's max), so a corrupt backbone would give finite, meaningless scores.
   */
  private requireFinite(what: string, v: Float32Array): void {
    for (let i = 0; i < v.length; i++) {
      if (!Number.isFinite(v[i])) throw new SafeTensorsError(this.file.source, `tensor "${what}" holds ${v[i]} at element ${i}; weights must be finite`);
    }
  }

  /**
   * Weight and bias of a convolution (or linear layer) followed by an optional batch norm: when
   * `${bn}.running_mean` exists the norm is folded in: w' = w·γ/σ, b' = (b − μ)·γ/σ + β.
   */
  convBn(conv: string, bn: string | null, weightShape: readonly number[], eps = 1e-5): { weight: Float32Array; bias: Float32Array } {
    const weight = this.f32(`${conv}.weight`, weightShape);
    const cout = weightShape[0];
    const bias = this.has(`${conv}.bias`) ? this.f32(`${conv}.bias`, [cout]) : new Float32Array(cout);
    if (!bn || !this.has(`${bn}.running_mean`)) return { weight, bias };
    const gamma = this.has(`${bn}.weight`) ? this.f32(`${bn}.weight`, [cout]) : new Float32Array(cout).fill(1);
    const beta = this.has(`${bn}.bias`) ? this.f32(`${bn}.bias`, [cout]) : new Float32Array(cout);
    const mu = this.f32(`${bn}.running_mean`, [cout]);
    const variance = this.f32(`${bn}.running_var`, [cout]);
    const per = weight.length / cout;
    for (let o = 0; o < cout; o++) {
      const k = gamma[o] / Math.sqrt(variance[o] + eps);
      for (let i = 0; i < per; i++) weight[o * per + i] *= k;
      bias[o] = (bias[o] - mu[o]) * k + beta[o];
    }
    // A negative running variance (or one that underflows against eps) folds into a non-finite weight.
    this.requireFinite(`${conv}.weight folded with ${bn}`, weight);
    this.requireFinite(`${conv}.bias folded with ${bn}`, bias);
    return { weight, bias };
  }
}
