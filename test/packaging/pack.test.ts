// What `npm pack` puts in the tarball: the compiled package, the page, shaders, weights, README and
// LICENSE, and nothing else — no tests, no TypeScript sources, no CI files, no source maps (their
// sources are not shipped, so a bundler would only warn about them). Before the `files` list the
// tarball held 534 files, 4.05 MiB packed / 9.08 MiB unpacked.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENTRY_FILES, mib, pack, packageJson, ROOT, type PackResult } from './helpers.js';

/** Files under `dir` (relative to ROOT, '/'-separated) whose names end with `ext`. */
function walk(dir: string, ext: string): string[] {
  if (!existsSync(join(ROOT, dir))) return [];
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(ext))
    .map((e) => posix.join(posix.relative(ROOT, e.parentPath).split('\\').join('/'), e.name));
}

/** The compiled JS tsc makes from a folder's TypeScript sources (declaration files excluded). */
const compiledFrom = (dir: string) => walk(dir, '.ts').filter((f) => !f.endsWith('.d.ts')).map((f) => `dist/${f.replace(/\.ts$/, '.js')}`);

let packed: PackResult;
beforeAll(() => {
  packed = pack(null);
  console.log(`npm pack: ${packed.files.length} files, ${mib(packed.size)} packed, ${mib(packed.unpackedSize)} unpacked`);
}, 120_000);

describe('npm pack contents', () => {
  it('ships the package files the CLI and the entries need', () => {
    const required = [
      'package.json', 'README.md', 'LICENSE', 'bin/hlgfa.js',
      // gpu-setup.ts runs it when dawn.node finds no adapter
      'tools/setup-vulkan.sh',
      // `hlgfa serve` serves the page from dist/web
      'dist/web/app.js', 'dist/web/index.html', 'dist/web/style.css',
      ...Object.values(ENTRY_FILES),
      ...Object.values(ENTRY_FILES).map((f) => f.replace(/\.js$/, '.d.ts')),
      ...readdirSync(join(ROOT, 'shaders')).filter((f) => f.endsWith('.wgsl')).map((f) => `shaders/${f}`),
      ...readdirSync(join(ROOT, 'weights')).map((f) => `weights/${f}`),
      // README points to them
      'docs/METHOD.md', 'docs/WEBGPU.md',
    ];
    expect(required.filter((f) => !packed.files.includes(f))).toEqual([]);
    expect(required).toContain('weights/mobilenet_v2_imagenet.safetensors');
  });

  it('ships every compiled module of src/ (not the page sources), bench/ and tools/, and nothing stale', () => {
    // bench/ and tools/ ship compiled: `hlgfa bench` and `hlgfa tune` run the benchmark suite,
    // which reads TF.js models through tools/convert.
    const expected = [
      ...compiledFrom('src').filter((f) => !f.startsWith('dist/src/web/')),
      ...compiledFrom('bench'),
      ...compiledFrom('tools'),
    ].sort();
    const shippedJs = packed.files.filter((f) => f.startsWith('dist/') && f.endsWith('.js') && !f.startsWith('dist/web/'));
    // A shipped file without a source is a leftover of a deleted module: rebuild from an empty dist/.
    expect(shippedJs.filter((f) => !expected.includes(f)), 'compiled files without a source').toEqual([]);
    expect(expected.filter((f) => !shippedJs.includes(f)), 'compiled files missing').toEqual([]);
    const dts = packed.files.filter((f) => f.endsWith('.d.ts'));
    expect(dts.length).toBeGreaterThan(0);
    expect(dts.filter((f) => !f.startsWith('dist/src/') || f.startsWith('dist/src/web/'))).toEqual([]);
  });

  it('ships no tests, sources, CI files, examples, configs or source maps', () => {
    const allowed = [
      /^dist\/src\/(?!web\/).*\.(js|d\.ts)$/,
      /^dist\/(bench|tools)\/.*\.js$/,
      /^dist\/web\/(app\.js|index\.html|style\.css)$/,
      /^shaders\/[\w-]+\.wgsl$/,
      /^weights\/[^/]+$/,
      /^(package\.json|README\.md|LICENSE|bin\/hlgfa\.js|tools\/setup-vulkan\.sh)$/,
      /^docs\/[\w-]+\.md$/,
    ];
    expect(packed.files.filter((f) => !allowed.some((re) => re.test(f)))).toEqual([]);
    expect(packed.files.filter((f) => /\.map$|^(test|src|bench|examples|\.ci)\/|tsconfig|vitest/.test(f))).toEqual([]);
  });

  it('every relative import of a shipped module resolves to a shipped file', () => {
    const files = new Set(packed.files);
    const broken: string[] = [];
    for (const f of packed.files.filter((p) => p.endsWith('.js'))) {
      const text = readFileSync(join(ROOT, f), 'utf8');
      // static imports and re-exports, dynamic import() and new URL(…, import.meta.url)
      const specs = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|new URL\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1]);
      for (const spec of specs) {
        const target = posix.normalize(posix.join(dirname(f), spec));
        // bench/backbone.js reads TF.js's model from node_modules for the developer benchmark only
        if (!files.has(target) && !target.includes('node_modules/')) broken.push(`${f} → ${spec}`);
      }
    }
    expect(broken).toEqual([]);
    // The bin script's own target, named through new URL().
    expect(readFileSync(join(ROOT, 'bin/hlgfa.js'), 'utf8')).toContain("new URL('../dist/src/cli/main.js', import.meta.url)");
    expect(files.has('dist/src/cli/main.js')).toBe(true);
  });

  it('is far smaller than before the files list', () => {
    // Ceilings with room for growth; the old tarball had 534 files and 9.08 MiB unpacked. The
    // backbone alone is 3.40 MiB.
    expect(packed.files.length).toBeLessThan(350);
    expect(packed.unpackedSize).toBeLessThan(6.5 * 2 ** 20);
    expect(packed.size).toBeLessThan(3.6 * 2 ** 20);
  });

  it('has the MIT LICENSE that package.json declares', () => {
    const text = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
    expect(packageJson().license).toBe('MIT');
    expect(text.split('\n')[0]).toBe('MIT License');
    expect(text).toMatch(/^Copyright \(c\) \d{4} hlgfa-webgpu contributors$/m);
    expect(text).toContain('THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND');
  });

  it('keeps dawn.node (webgpu) a dependency, so `npx hlgfa` works in Node out of the box', () => {
    // Measured (tarball into an empty project): with it 140.1 MiB installed, as an optional peer
    // 8.9 MiB — but npm does not install optional peers, and `npx hlgfa info` then fails with
    // "Cannot find package 'webgpu'". Browser-only apps ship only what their bundler takes.
    const pkg = packageJson();
    expect(pkg.dependencies.webgpu).toMatch(/^\^0\.6\./);
    expect(pkg.peerDependencies?.webgpu).toBeUndefined();
    expect(pkg.optionalDependencies?.webgpu).toBeUndefined();
    expect(pkg.dependencies['@webgpu/types'], 'the .d.ts files reference it').toBeDefined();
  });
});
