// Usage: node dist/tools/convert-tflite.js IN.tflite OUT.safetensors
// Converts the TFLite MobileNetV2 to the engine's safetensors layout (see tools/convert/).
import { readFileSync } from 'node:fs';
import { serializeSafetensors } from '../src/io/safetensors.js';
import { writeFileAtomic } from '../src/io/node-fs.js';
import { parseTflite } from './convert/tflite.js';
import { convertMobilenetV2 } from './convert/tflite-mobilenet.js';

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node dist/tools/convert-tflite.js IN.tflite OUT.safetensors');
  process.exit(2);
}
try {
  const model = parseTflite(new Uint8Array(readFileSync(input)), input);
  const { tensors, metadata } = convertMobilenetV2(model);
  const bytes = serializeSafetensors(tensors, metadata);
  writeFileAtomic(output, bytes);
  console.log(`${output}: ${Object.keys(tensors).length} tensors, ${(bytes.byteLength / 1024 / 1024).toFixed(2)} MiB`);
} catch (e) {
  console.error(`convert-tflite: ${(e as Error).message}`);
  process.exit(1);
}
