// A detector with a freshly initialised (untrained) module: it runs the same kernels as a trained
// checkpoint, so the bench, the profiler, `hlgfa warm` and the page's warm-up use it to time or
// compile the work of an inference without a model file. Browser-safe.
import type { RgbaImage } from '../io/image.js';
import type { Backbone } from './backbone.js';
import { Detector, type BackboneIdentity } from './detector.js';
import { createLevel } from './hlgfa.js';
import type { HlgfaConfig } from './hlgfa-config.js';
import { resolveInputNorm } from './hlgfa-train.js';
import { mobilenetV2Spec } from './mobilenet-v2.js';
import { keep, zeros } from '../tensor/tensor.js';
import { createRng, deriveSeed } from '../util/random.js';

/** Channels of MobileNetV2 taps from the network's layout (no GPU work, so nothing is compiled). */
export function tapChannels(architecture: string, taps: readonly string[]): number[] {
  if (architecture !== 'mobilenet_v2') throw new Error(`e2e: backbone architecture "${architecture}" is not supported (expected mobilenet_v2)`);
  const spec = mobilenetV2Spec();
  return taps.map((tap) => {
    const name = tap.replace(/\.expand$/, '');
    const block = spec.find((b) => b.name === name);
    if (!block) throw new Error(`e2e: unknown MobileNetV2 tap "${tap}"`);
    return (tap.endsWith('.expand') ? block.layers[0] : block.layers[block.layers.length - 1]).shape[0];
  });
}

/**
 * A detector with a freshly initialised module (the seeds trainHlgfa uses) and a zero mean map, so
 * that scoring runs the same kernels as a trained checkpoint with config.mapNorm = 'mean'; inputNorm
 * is settled on `normals` as training would settle it.
 */
export function freshDetector(bb: { backbone: Backbone; id: BackboneIdentity }, requested: HlgfaConfig, normals: readonly RgbaImage[]): Detector {
  const { config: cfg, exposure } = resolveInputNorm(requested, normals);
  const levels = tapChannels(bb.backbone.architecture, cfg.taps).map((c, l) => createLevel(c, cfg, createRng(deriveSeed(cfg.seed, 100 + l))));
  const meanMap = cfg.mapNorm === 'mean' ? keep(zeros([1, 1, cfg.size, cfg.size])) : null;
  const detector = new Detector(bb.backbone, cfg, levels, bb.id, meanMap);
  detector.exposure = exposure;
  return detector;
}
