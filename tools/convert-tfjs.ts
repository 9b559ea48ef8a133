// Usage: node dist/tools/convert-tfjs.js MODEL OUT.safetensors [--source TEXT] [--licence TEXT] [--labels a,b,…]
// Converts a Keras MobileNetV2 saved as a TF.js layers model (model.json + shards, or the UMD
// `model.min.js` + `group1-shard1of1.min.js` form npm packages ship) to the engine's safetensors
// layout (see tools/convert/tfjs-layers.ts). Source and licence default to the npm package the
// model sits in, e.g. nsfwjs:
//   node dist/tools/convert-tfjs.js node_modules/nsfwjs/dist/models/mobilenet_v2/model.min.js nsfw.safetensors \
//     --labels Drawing,Hentai,Neutral,Porn,Sexy
import { serializeSafetensors } from '../src/io/safetensors.js';
import { writeFileAtomic } from '../src/io/node-fs.js';
import { parseArgs } from 'node:util';
import { convertKerasMobilenetV2 } from './convert/tfjs-layers.js';
import { decodeTfjsWeights, readTfjsModel } from './convert/tfjs-weights.js';

const USAGE = 'usage: node dist/tools/convert-tfjs.js MODEL(.json|.js) OUT.safetensors [--source TEXT] [--licence TEXT] [--labels a,b,…]';

try {
  const args = parseArgs({
    allowPositionals: true,
    options: { source: { type: 'string' }, licence: { type: 'string' }, labels: { type: 'string' }, help: { type: 'boolean' } },
  });
  const [input, output] = args.positionals;
  if (!input || !output || args.positionals.length !== 2 || args.values.help) {
    console.error(USAGE);
    process.exit(2);
  }
  const files = readTfjsModel(input);
  const weights = decodeTfjsWeights(files.json.weightsManifest, files.groups, input);
  const pkg = files.pkg;
  const { tensors, metadata } = convertKerasMobilenetV2(files.json.modelTopology, weights, {
    source:
      args.values.source ??
      `${pkg ? `${pkg.name} ${pkg.version}, ` : ''}${input.replace(/.*node_modules\//, '')} (TF.js layers model), converted by tools/convert/tfjs-layers.ts`,
    licence: args.values.licence ?? (pkg ? `${pkg.license} (${pkg.name} ${pkg.version})` : 'unknown'),
    labels: args.values.labels?.split(','),
  });
  const bytes = serializeSafetensors(tensors, metadata);
  writeFileAtomic(output, bytes);
  console.log(`${output}: ${Object.keys(tensors).length} tensors, ${(bytes.byteLength / 1024 / 1024).toFixed(2)} MiB`);
} catch (e) {
  console.error(`convert-tfjs: ${(e as Error).message}`);
  process.exit(1);
}
