#!/usr/bin/env node
// Entry point of the `hlgfa` command; the TypeScript sources are compiled to dist/ by `npm install`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error('hlgfa: dist/ is missing; run `npm install` (or `npm run build`) in the package folder first.');
  process.exit(1);
}
const { run } = await import(main.href);
process.exitCode = await run(process.argv.slice(2));
