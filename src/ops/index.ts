// The op library. Importing it also hands autograd the few kernels the tape needs.
import { configureAutograd } from '../autograd/tape.js';
import { full } from '../tensor/tensor.js';
import { add, copy } from './elementwise.js';

export * from './elementwise.js';
export * from './reduce.js';
export * from './shape.js';
export * from './matmul.js';
export * from './conv2d.js';
export * from './conv2d.ref.js';
export * from './depthwise.js';
export * from './depthwise.ref.js';
export * from './pool.js';
export * from './concat.js';
export * from './resize.js';
export * from './blur.js';
export * from './norm.js';
export * from './gate.js';
export * from './cosine.js';
export * from './knn.js';
export * from './adam.js';
export * from './tunable.js';
export * from './tuning.js';

configureAutograd({ add, copy, fill: full });
