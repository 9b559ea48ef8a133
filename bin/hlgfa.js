#!/usr/bin/env node
// Entry point of the `hlgfa` command; the TypeScript sources are compiled to dist/ by `npm install`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error('hlgfa: dist/ is missing; run `npm install` (or `npm run build`) in the package folder first.');
  process.exit(1);
}
const cli = await import(main.href);
const argv = process.argv.slice(2);
if (cli.needsStderrFilter(argv)) {
  // GPU commands run in a child whose stderr drops Dawn's two non-actionable limit warnings.
  process.exitCode = await cli.runWithFilteredStderr(fileURLToPath(import.meta.url), argv);
} else {
  cli.watchFilteringParent();
  process.exitCode = await cli.run(argv);
}
