// Loading backbones and checkpoints from disk for CLI commands, with errors that name the file.
import { basename } from 'node:path';
import { loadBackbone, type Backbone } from '../models/backbone.js';
import { sha256Hex, type BackboneIdentity, type Detector } from '../models/detector.js';
import { detectorFromCheckpoint, parseCheckpoint, type ParsedCheckpoint } from '../models/checkpoint.js';
import { calibrationWarning } from '../eval/calibration.js';
import { readFileOrThrow } from '../io/node-fs.js';
import { cliRuntime } from './gpu-setup.js';
import { DEFAULT_BACKBONE } from './paths.js';

export { readFileOrThrow };

export interface LoadedBackbone {
  backbone: Backbone;
  id: BackboneIdentity;
  path: string;
}

export async function openBackbone(path = DEFAULT_BACKBONE): Promise<LoadedBackbone> {
  const bytes = readFileOrThrow(path, 'backbone weights');
  const backbone = loadBackbone(bytes, path);
  const id: BackboneIdentity = {
    architecture: backbone.architecture,
    source: backbone.metadata.source ?? basename(path),
    sha256: await sha256Hex(bytes),
  };
  return { backbone, id, path };
}

export interface LoadedDetector {
  detector: Detector;
  checkpoint: ParsedCheckpoint;
  backbone: LoadedBackbone;
}

/** Reads and fully validates a checkpoint (no GPU needed: call it before starting one). */
export function readCheckpoint(modelPath: string): ParsedCheckpoint {
  return parseCheckpoint(readFileOrThrow(modelPath, 'model checkpoint'), modelPath);
}

/** A detector from a checkpoint (a path, or one read by `readCheckpoint`) and its backbone. */
export async function openDetector(model: string | ParsedCheckpoint, backbonePath?: string): Promise<LoadedDetector> {
  const ck = typeof model === 'string' ? readCheckpoint(model) : model;
  const bb = await openBackbone(backbonePath ?? DEFAULT_BACKBONE);
  return { detector: detectorFromCheckpoint(ck, bb.backbone, bb.id.sha256), checkpoint: ck, backbone: bb };
}

/**
 * What `detect` and `eval` do before scoring: read the checkpoint (errors before any GPU work),
 * start the runtime, open the detector, apply `--threshold`, and warn on stderr when the
 * checkpoint's calibration is doubtful and no threshold replaces it.
 */
export async function openDetectorForCommand(modelPath: string, backbonePath: string | undefined, threshold: number | undefined): Promise<LoadedDetector> {
  const checkpoint = readCheckpoint(modelPath);
  await cliRuntime();
  const loaded = await openDetector(checkpoint, backbonePath);
  await loaded.detector.preparePipelines(); // in parallel, where the driver compiles at creation
  if (threshold !== undefined) loaded.detector.setThreshold(threshold);
  const warning = checkpoint.calibration && threshold === undefined ? calibrationWarning(checkpoint.calibration) : null;
  if (warning) console.error(`warning: ${modelPath}: ${warning}`);
  return loaded;
}
