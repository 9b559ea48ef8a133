// Public API of hlgfa-webgpu: the portable entry, the same in Node and in the browser. It pulls in
// no Node-only module (test/packaging/entries.test.ts bundles it for the browser to make sure), so
// a page that imports it stays lean; what needs Node (files, the tuning cache, MVTec folders) is in
// 'hlgfa-webgpu/node'. Kernel internals — float64 CPU references (`…Ref`), variant knobs, launch
// geometry — are in 'hlgfa-webgpu/kernels', procedural datasets in 'hlgfa-webgpu/synthetic',
// evaluation metrics in 'hlgfa-webgpu/metrics'. Names are listed one by one (no `export *`) so that
// whatever a module adds stays internal until it is chosen here.
//
// The reference below is kept in the emitted index.d.ts (`preserve`): the declarations name
// GPUDevice, GPUBuffer…, which come from @webgpu/types, a dependency, so a consumer type-checks
// with skipLibCheck off without listing it in `types`.
/// <reference types="@webgpu/types" preserve="true" />

// Runtime and tensors.
export { requestGpu, NoAdapterError, type Gpu, type AdapterSummary, type RequestGpuOptions } from './gpu/device.js';
export { initRuntime, runtime, hasRuntime, destroyRuntime, Runtime } from './gpu/runtime.js';
export { Tensor, tensor, empty, zeros, full, scope, keep, type Shape, type DType } from './tensor/tensor.js';
export { RecordedForward, RecordedWork, ReplayCache, ReplayedStep } from './tensor/replay.js';
export { backward, noGrad, parameter, zeroGrad, needsGrad } from './autograd/tape.js';
export { Adam, adamStep, type AdamOptions } from './nn/adam.js';

// Ops (differentiable where a gradient makes sense). Importing them also wires autograd's kernels.
export {
  add, sub, mul, div, scale, affine, relu, relu6, sigmoid, copy, expand,
  sum, mean, max, type ReduceOptions,
  reshape, flatten, concat, split, narrow,
  matmul, type MatmulOptions,
  conv2d, type Conv2dOptions, type Pair, type Padding4,
  depthwiseConv2d, multiScaleDepthwise, type DepthwiseOptions, type MultiScaleOptions,
  avgPool2d, maxPool2d, globalAvgPool, type AvgPoolOptions, type MaxPoolOptions,
  resizeBilinear, areaDownsample, type ResizeOptions,
  gaussianBlur, type BlurOptions,
  instanceNorm, modulate,
  gatedResidual,
  cosineSimilarity,
  nearestDistance, greedyCoreset, type NearestOptions,
} from './ops/index.js';

// Files and images (bytes in, bytes out: no file system).
export {
  parseSafetensors, serializeSafetensors, readF32, SafeTensorsError,
  type SafeDType, type SafeTensorEntry, type SafeTensorsFile, type TensorToWrite,
} from './io/safetensors.js';
export { resizeRgba, rgbaToPlanar, type RgbaImage } from './io/image.js';
export { heatmapOverlay, colormap } from './io/heatmap.js';

// The anomaly detector.
export { loadBackbone, imageToTensor, imagesToTensor, type Backbone, type Preprocessing } from './models/backbone.js';
export { ResNet, RESNET_ARCHITECTURES } from './models/resnet.js';
export { DEFAULT_CONFIG, resolveConfig, ConfigError, type HlgfaConfig } from './models/hlgfa-config.js';
export { Detector, sha256Hex, type AnomalyResult, type BackboneIdentity } from './models/detector.js';
export { loadDetector, parseCheckpoint, detectorFromCheckpoint, type ParsedCheckpoint } from './models/checkpoint.js';
export { calibrateThreshold, type Calibration } from './eval/calibration.js';
export {
  trainHlgfa, TrainingDivergedError,
  type TrainOptions, type TrainProgress, type TrainResult, type ResumeState,
} from './models/hlgfa-train.js';
export { replaysTraining } from './models/hlgfa-step.js';
export { noiseAugmenter, type NoiseAugmentOptions } from './data/augment.js';
