// The HLGFA module: per feature level, refine the upsampled low-resolution features with priors
// taken from the high-resolution ones, so that for normal images they agree with the HR features.
//   U = Up(Fl)                                   resolution alignment
//   S = relu(Conv1x1(DW3 + DW5 + DW7 (Fh)))      structure prior (fused multi-scale depthwise)
//   D = Conv1x1_{C→C/r}(DW3(Fh − Blur(Fh)))      detail prior (narrow bottleneck)
//   γ, β = Conv3x3(S);  Z = Norm(U)·(1+γ) + β     conditional modulation
//   F̂ = Z + σ(Conv1x1[Z, D]) ⊙ Conv3x3(D)        gated residual correction (Conv3x3([Z, D]) with
//                                                residualInput 'concat')
import { Tensor } from '../tensor/tensor.js';
import type { Rng } from '../util/random.js';
import { convParams } from '../nn/init.js';
import {
  add, affine, concat, conv2d, cosineSimilarity, depthwiseConv2d, div, gatedResidual, gaussianBlur,
  mean, modulate, instanceNorm, mul, multiScaleDepthwise, resizeBilinear, split, sub,
} from '../ops/index.js';
import type { HlgfaConfig } from './hlgfa-config.js';

interface Conv {
  w: Tensor;
  b: Tensor;
}

export interface LevelParams {
  channels: number;
  detailChannels: number;
  dw3: Conv;
  dw5: Conv;
  dw7: Conv;
  structure: Conv;
  detailDw: Conv;
  detail: Conv;
  modulation: Conv;
  gate: Conv;
  residual: Conv;
  /** norm 'running': fixed per-channel mean and 1/std of U over the normal training images, [1,C,1,1]. */
  norm?: { mean: Tensor; invStd: Tensor };
}

export const PARAM_NAMES = ['dw3', 'dw5', 'dw7', 'structure', 'detailDw', 'detail', 'modulation', 'gate', 'residual'] as const;

export function createLevel(channels: number, cfg: HlgfaConfig, rng: Rng): LevelParams {
  const c = channels;
  const cd = Math.max(1, Math.round(c / cfg.detailReduction));
  return {
    channels: c,
    detailChannels: cd,
    dw3: convParams(c, 1, 3, rng),
    dw5: convParams(c, 1, 5, rng),
    dw7: convParams(c, 1, 7, rng),
    structure: convParams(c, c, 1, rng),
    detailDw: convParams(c, 1, 3, rng),
    detail: convParams(cd, c, 1, rng),
    // The output convolutions start small so training begins near F̂ = Norm(U).
    modulation: convParams(2 * c, c, 3, rng, 0.1),
    gate: convParams(c, c + cd, 1, rng),
    residual: convParams(c, residualInputs(c, cd, cfg), 3, rng, 0.1),
  };
}

function residualInputs(c: number, cd: number, cfg: Pick<HlgfaConfig, 'residualInput'>): number {
  return cfg.residualInput === 'concat' ? c + cd : cd;
}

/** Parameters of a level as (name, tensor) pairs, in a fixed order (checkpoints, optimiser). */
export function levelTensors(p: LevelParams, prefix: string): Array<[string, Tensor]> {
  const out: Array<[string, Tensor]> = [];
  for (const n of PARAM_NAMES) {
    out.push([`${prefix}.${n}.weight`, p[n].w], [`${prefix}.${n}.bias`, p[n].b]);
  }
  return out;
}

export function levelShapes(channels: number, cfg: Pick<HlgfaConfig, 'detailReduction' | 'residualInput'>): Record<string, number[]> {
  const c = channels;
  const cd = Math.max(1, Math.round(c / cfg.detailReduction));
  const s: Record<string, [number, number, number]> = {
    dw3: [c, 1, 3], dw5: [c, 1, 5], dw7: [c, 1, 7], structure: [c, c, 1], detailDw: [c, 1, 3],
    detail: [cd, c, 1], modulation: [2 * c, c, 3], gate: [c, c + cd, 1], residual: [c, residualInputs(c, cd, cfg), 3],
  };
  const out: Record<string, number[]> = {};
  for (const [n, [o, i, k]] of Object.entries(s)) {
    out[`${n}.weight`] = [o, i, k, k];
    out[`${n}.bias`] = [o];
  }
  return out;
}

/** The structure prior S (also used by the reliability weight). */
export function structurePrior(p: LevelParams, fh: Tensor): Tensor {
  const ms = multiScaleDepthwise(fh, [p.dw3.w, p.dw5.w, p.dw7.w], [p.dw3.b, p.dw5.b, p.dw7.b]);
  return conv2d(ms, p.structure.w, p.structure.b, { activation: 'relu' });
}

/** Refines LR features `fl` (half the size of `fh`) into F̂ with the same shape as `fh`. */
export function refine(p: LevelParams, cfg: HlgfaConfig, fh: Tensor, fl: Tensor): Tensor {
  const [, , h, w] = fh.shape;
  const u = resizeBilinear(fl, [h, w], { alignCorners: false });
  let normed: Tensor | null = null;
  if (cfg.norm === 'running') {
    if (!p.norm) throw new Error("HLGFA refine: norm 'running' needs the level's statistics (computed by trainHlgfa, stored in checkpoints)");
    normed = mul(sub(u, p.norm.mean), p.norm.invStd);
  }
  let z: Tensor;
  if (cfg.structurePrior) {
    const gb = conv2d(structurePrior(p, fh), p.modulation.w, p.modulation.b, { padding: 1 });
    const [gamma, beta] = split(gb, [p.channels, p.channels], 1);
    z = normed ? add(mul(normed, affine(gamma, 1, 1)), beta) : modulate(u, gamma, beta);
  } else {
    z = normed ?? instanceNorm(u);
  }
  if (!cfg.detailPrior) return z;
  // Fh is frozen: the blur (forward-only) never needs a gradient.
  const highPass = sub(fh, gaussianBlur(fh, cfg.detailBlurSigma));
  const d = conv2d(depthwiseConv2d(highPass, p.detailDw.w, p.detailDw.b, { padding: 1 }), p.detail.w, p.detail.b);
  const zd = cfg.gate || cfg.residualInput === 'concat' ? concat([z, d], 1) : null;
  const r = conv2d(cfg.residualInput === 'concat' ? zd! : d, p.residual.w, p.residual.b, { padding: 1 });
  if (!cfg.gate) return add(z, r);
  const g = conv2d(zd!, p.gate.w, p.gate.b);
  return gatedResidual(z, g, r);
}

/** 1 − cos(F̂, Fh) per position: [N, 1, h, w]. */
export function discrepancy(fhat: Tensor, fh: Tensor): Tensor {
  return affine(cosineSimilarity(fhat, fh), -1, 1);
}

/** Training loss: Σ_l mean(1 − cos(F̂_l, Fh_l)). */
export function alignmentLoss(fhats: Tensor[], fhs: Tensor[]): Tensor {
  let loss: Tensor | null = null;
  fhats.forEach((f, l) => {
    const m = mean(discrepancy(f, fhs[l]));
    loss = loss ? add(loss, m) : m;
  });
  return loss!;
}

/**
 * Reliability weight w ∈ (0, 1] from the structure prior: positions where S changes fast
 * (strong edges, whose features legitimately differ between resolutions) are down-weighted:
 * w = 1 / (1 + k · e / mean(e)), e = mean_c (S − Blur(S))².
 */
export function reliabilityWeight(ps: LevelParams[], fhs: Tensor[], size: number, strength: number): Tensor {
  let acc: Tensor | null = null;
  ps.forEach((p, l) => {
    const s = structurePrior(p, fhs[l]);
    const hp = sub(s, gaussianBlur(s, 1));
    const e = mean(mul(hp, hp), 1, { keepDims: true });
    const en = div(e, affine(mean(e, [2, 3], { keepDims: true }), 1, 1e-6));
    const up = resizeBilinear(en, [size, size], { alignCorners: false });
    acc = acc ? add(acc, up) : up;
  });
  const e = affine(acc!, strength / ps.length, 1);
  return div(affine(e, 0, 1), e);
}

/**
 * Anomaly map [N, 1, S, S]: level discrepancies upsampled, averaged, weighted, blurred. The method
 * allows a sum or a mean over levels; they differ by the constant factor 1/levels, which changes
 * no ranking (AUROC, AUPRO) and no verdict (the threshold is calibrated on the same maps).
 */
export function anomalyMap(fhats: Tensor[], fhs: Tensor[], size: number, blurSigma: number, weight: Tensor | null): Tensor {
  // mean_l Up(1 − cos_l) = 1 − Σ_l Up(cos_l) / L: bilinear weights sum to 1, so the constant passes
  // through the upsampling, and through the blur (normalised weights, mirrored borders), whose
  // stores apply the affine map: one pass over the map instead of L + 1.
  let acc: Tensor | null = null;
  fhats.forEach((f, l) => {
    const up = resizeBilinear(cosineSimilarity(f, fhs[l]), [size, size], { alignCorners: false });
    acc = acc ? add(acc, up) : up;
  });
  const scale = -1 / fhats.length;
  if (blurSigma > 0 && !weight) return gaussianBlur(acc!, blurSigma, { scale, shift: 1 });
  let map = affine(acc!, scale, 1);
  if (weight) map = mul(map, weight);
  return blurSigma > 0 ? gaussianBlur(map, blurSigma) : map;
}
