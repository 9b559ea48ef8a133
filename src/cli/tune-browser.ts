// The browser side of `hlgfa tune --browser` (and of test/web/tune.test.ts): serves the built page
// (dist/web/, with the server of `hlgfa serve`), opens it in headless Chromium through
// playwright-core with WebGPU on (SwiftShader on machines without a GPU), and runs the page's tuner
// (window.hlgfaTune, src/web/tune-hook.ts). Node-only. playwright-core is a devDependency: it is
// imported on demand, with a clear error where it is missing.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { WEB_ROOT, WEIGHTS_ROOT, startServer, type RunningServer } from './commands/serve.js';
import type { PageTuneOptions, PageTuneResult, TuningStoreStatus } from '../web/tune-hook.js';

/** The flags the page tests use: new headless mode with WebGPU (docs/WEBGPU.md). */
export const CHROMIUM_ARGS = ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
/** For tuning also unquantised timestamp queries (Chromium rounds them to 100 µs otherwise). */
export const TUNE_ARGS = [...CHROMIUM_ARGS, '--enable-webgpu-developer-features'];

export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.HLGFA_CHROMIUM || '/usr/bin/chromium';
}

export interface OpenPageOptions {
  chromium?: string;
  args?: string[];
  webRoot?: string;
  weightsRoot?: string;
  /** Receives the tuner's progress lines printed by the page. */
  log?: (line: string) => void;
}

export interface BrowserPage {
  page: Page;
  context: BrowserContext;
  url: string;
  /** The page's uncaught errors and console errors. */
  errors: string[];
  close(): Promise<void>;
}

const PREFIX = 'hlgfa-tune: ';

/** Serves the page, opens it in a fresh Chromium profile and waits until its WebGPU runtime is up. */
export async function openPage(o: OpenPageOptions = {}): Promise<BrowserPage> {
  const chromium = o.chromium ?? chromiumPath();
  const webRoot = o.webRoot ?? WEB_ROOT;
  if (!existsSync(chromium)) throw new Error(`Chromium not found at ${chromium}: install it (apt-get install chromium) or name the binary in HLGFA_CHROMIUM`);
  if (!existsSync(join(webRoot, 'index.html'))) throw new Error(`${webRoot} has no index.html: build the page first with \`npm run build\``);
  let pw: typeof import('playwright-core');
  try {
    pw = await import('playwright-core');
  } catch (e) {
    throw new Error(`the browser tuner needs the playwright-core package (a devDependency: run \`npm install\` in a checkout, or \`npm install playwright-core\`): ${(e as Error).message}`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'hlgfa-chromium-'));
  let server: RunningServer | null = null;
  let context: BrowserContext | null = null;
  const close = async () => {
    await context?.close().catch(() => undefined);
    await server?.close();
    rmSync(profile, { recursive: true, force: true });
  };
  try {
    server = await startServer({ port: 0, webRoot, weightsRoot: o.weightsRoot ?? WEIGHTS_ROOT });
    context = await pw.chromium.launchPersistentContext(profile, { executablePath: chromium, headless: true, args: o.args ?? TUNE_ARGS });
    const page = context.pages()[0] ?? (await context.newPage());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => {
      const text = m.text();
      if (text.startsWith(PREFIX)) o.log?.(text.slice(PREFIX.length));
      else if (m.type() === 'error') errors.push(text);
    });
    // warm=0: the page's warm-up (a training run's kernels) would only delay the tuner's first case.
    await page.goto(`${server.url}?warm=0`);
    await page.waitForFunction(() => window.hlgfaTune !== undefined);
    await pageStatus(page); // rejects when the page has no WebGPU adapter
    return { page, context, url: server.url, errors, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** The page's tuning store and the knobs in force. */
export function pageStatus(page: Page): Promise<TuningStoreStatus> {
  return page.evaluate(() => window.hlgfaTune!.status());
}

/** Runs the tuner in the page (progress goes to the `log` given to openPage). */
export function tuneInPage(page: Page, opts: PageTuneOptions = {}): Promise<PageTuneResult> {
  return page.evaluate((o) => window.hlgfaTune!.run(o), opts);
}
