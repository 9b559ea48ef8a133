// Public API of hlgfa-webgpu.
export { requestGpu, NoAdapterError, type Gpu, type AdapterSummary } from './gpu/device.js';
export { initRuntime, runtime, destroyRuntime, Runtime } from './gpu/runtime.js';
export { Tensor, tensor, empty, zeros, full, scope, keep, type Shape, type DType } from './tensor/tensor.js';
export { backward, noGrad, parameter, zeroGrad, needsGrad } from './autograd/tape.js';
export * from './ops/index.js';
