// 'hlgfa-webgpu/synthetic': the deterministic procedural datasets `hlgfa demo` trains on —
// industrial textures (fabric, metal, wood) with scratches, spots, cracks and missing patches and
// their exact masks — plus the noise augmentation. Portable: no Node API (write a dataset to disk
// with writeSyntheticDataset from 'hlgfa-webgpu/node'). A separate entry because a detector app
// does not need the texture generators, while a demo, a test or a tutorial needs no download.
export {
  generateDataset, generateSample, SYNTHETIC_CATEGORIES, SYNTHETIC_DEFECTS,
  type SyntheticCategory, type SyntheticDefect, type SyntheticOptions, type SyntheticSample,
  type SyntheticDataset, type SampleSpec,
} from './data/synthetic.js';
export {
  noiseAugment, noiseAugmenter, addSparsePointNoise, addStripeNoise, DEFAULT_POINT_NOISE, DEFAULT_STRIPE_NOISE,
  type NoiseAugmentOptions, type PointNoiseOptions, type StripeNoiseOptions, type AugmentImage, type PlanarImage,
  type RandomFn, type Range,
} from './data/augment.js';
