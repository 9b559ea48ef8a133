// 'hlgfa-webgpu/node': what only works in Node — reading and writing image files, atomic writes,
// the per-adapter tuning cache of `hlgfa tune`, MVTec AD folders, writing a procedural dataset to
// disk, and where the shipped backbone lies. Everything portable is in 'hlgfa-webgpu' (the two
// entries share their modules, so a runtime or tensor made through one is the other's too). The
// package exports this file under the "node" condition only, so a browser bundler that is asked
// for it fails at resolution instead of bundling node:fs.
//
// The references are kept in the emitted node.d.ts (`preserve`): the declarations use Node's
// types (NodeJS.ProcessEnv) and GPU types, so a consumer type-checks with skipLibCheck off as long
// as @types/node is installed, whatever its `types` list says.
/// <reference types="node" preserve="true" />
/// <reference types="@webgpu/types" preserve="true" />

export {
  readImage, readImageHeader, decodeImage, DEFAULT_MAX_PIXELS, DEFAULT_MAX_SIDE,
  type ImageReadOptions, type ImageFormat, type ImageHeader, type DecodedImage,
} from './io/image-node.js';
export { encodePng, writePng } from './io/png-node.js';
export { writeFileAtomic } from './io/node-fs.js';
export {
  tuningFilePath, readTuningCache, saveTuning, tuningStatus, useTuningCache, stopTuningCache,
  type TuningStatus,
} from './io/tuning-node.js';
export { scanMvtec, loadImage, loadMask, loadSample, type MvtecSample, type MvtecIndex, type ScanOptions } from './data/mvtec.js';
export { writeSyntheticDataset, encodeMaskPng } from './data/synthetic-node.js';
// Absolute paths of the files in the package's weights/ folder, found from this module's location
// (the same lookup the CLI uses), so a Node app needs no path arithmetic into node_modules.
export { DEFAULT_BACKBONE as DEFAULT_BACKBONE_PATH, IMAGENET_LABELS as IMAGENET_LABELS_PATH } from './cli/paths.js';
