// Public API of hlgfa-webgpu.
export { requestGpu, NoAdapterError, type Gpu, type AdapterSummary } from './gpu/device.js';
export { initRuntime, runtime, destroyRuntime, Runtime } from './gpu/runtime.js';
export { Tensor, tensor, empty, zeros, full, scope, keep, type Shape, type DType } from './tensor/tensor.js';
export { backward, noGrad, parameter, zeroGrad, needsGrad } from './autograd/tape.js';
export * from './ops/index.js';
export { Adam, adamStep } from './nn/adam.js';
export { parseSafetensors, serializeSafetensors, readF32 } from './io/safetensors.js';
export { resizeRgba, rgbaToPlanar, type RgbaImage } from './io/image.js';
export { heatmapOverlay } from './io/heatmap.js';
export { loadBackbone, imageToTensor, type Backbone, type Preprocessing } from './models/backbone.js';
export { ResNet, RESNET_ARCHITECTURES } from './models/resnet.js';
export { DEFAULT_CONFIG, resolveConfig, ConfigError, type HlgfaConfig } from './models/hlgfa-config.js';
export { Detector, sha256Hex, type AnomalyResult } from './models/detector.js';
export { loadDetector, parseCheckpoint, detectorFromCheckpoint, type ParsedCheckpoint } from './models/checkpoint.js';
export { calibrateThreshold, type Calibration } from './eval/calibration.js';
export { trainHlgfa, TrainingDivergedError, type TrainOptions, type TrainProgress, type TrainResult } from './models/hlgfa-train.js';
