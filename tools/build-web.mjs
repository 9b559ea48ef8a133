// Bundles the browser page (src/web/) into a self-contained folder, dist/web/: index.html, style.css
// and app.js (all kernels are embedded as strings via src/gpu/shaders.gen.ts; nothing is fetched
// from elsewhere except the backbone weights, served by `hlgfa serve` at /weights/). Run by
// `npm run build`; fails if anything Node-only (src/cli, *-node.ts, node: builtins) gets bundled.
import { copyFileSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src', 'web');
const out = join(root, 'dist', 'web');

await import('./gen-shaders.mjs'); // writes src/gpu/shaders.gen.ts when the shaders changed

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const result = await build({
  entryPoints: [join(src, 'main.ts')],
  outfile: join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022', 'chrome113'],
  minify: true,
  sourcemap: 'linked',
  metafile: true,
  logLevel: 'warning',
  legalComments: 'none',
});

const forbidden = Object.keys(result.metafile.inputs).filter(
  (p) => /(^|\/)src\/cli\//.test(p) || /-node\.ts$/.test(p) || p.startsWith('node:') || /(^|\/)node_modules\/webgpu\//.test(p),
);
if (forbidden.length) {
  console.error(`build-web: Node-only modules ended up in the browser bundle:\n  ${forbidden.join('\n  ')}`);
  process.exit(1);
}
for (const f of ['index.html', 'style.css']) copyFileSync(join(src, f), join(out, f));
const kb = (f) => (statSync(join(out, f)).size / 1024).toFixed(0);
console.log(`build-web: ${relative(root, out)}/ (app.js ${kb('app.js')} KiB, ${Object.keys(result.metafile.inputs).length} modules)`);
