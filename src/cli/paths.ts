// Files shipped with the package, located relative to the compiled CLI (dist/src/cli/).
import { fileURLToPath } from 'node:url';

const root = new URL('../../../', import.meta.url);

export const PACKAGE_ROOT = fileURLToPath(root);
export const DEFAULT_BACKBONE = fileURLToPath(new URL('weights/mobilenet_v2_imagenet.safetensors', root));
export const IMAGENET_LABELS = fileURLToPath(new URL('weights/imagenet_labels.txt', root));
