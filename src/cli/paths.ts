// Files shipped with the package. The package root is the nearest folder above this module that
// holds package.json, so this works from the compiled CLI (dist/src/cli/) and from the sources
// (src/cli/, as tests import them) alike.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`hlgfa: cannot find the package root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return dir;
}

export const PACKAGE_ROOT = packageRoot();
export const DEFAULT_BACKBONE = join(PACKAGE_ROOT, 'weights', 'mobilenet_v2_imagenet.safetensors');
export const IMAGENET_LABELS = join(PACKAGE_ROOT, 'weights', 'imagenet_labels.txt');
