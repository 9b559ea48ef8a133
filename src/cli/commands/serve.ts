// `hlgfa serve`: a static HTTP server on 127.0.0.1 for the browser page (dist/web/) and the shipped
// weights (/weights/). The one command that keeps running until interrupted (Ctrl-C).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import { intOption, parseArgs } from '../args.js';
import { PACKAGE_ROOT } from '../paths.js';
import { ExitError } from '../gpu-setup.js';

export const help = `Usage: hlgfa serve [--port P] [--host H]

Serves the browser page (train and detect with WebGPU in the browser) and the shipped backbone
weights over HTTP, then keeps running until Ctrl-C. Open the printed URL in a browser with WebGPU
(Chrome/Edge 113+, or Chromium started with --enable-unsafe-webgpu).

  --port P   TCP port (default 8080; 0 picks a free port and prints it)
  --host H   address to listen on (default 127.0.0.1, this machine only)`;

export const WEB_ROOT = join(PACKAGE_ROOT, 'dist', 'web');
export const WEIGHTS_ROOT = join(PACKAGE_ROOT, 'weights');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.safetensors': 'application/octet-stream',
};

export function contentType(path: string): string {
  return CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

export interface ServeOptions {
  port?: number;
  host?: string;
  webRoot?: string;
  weightsRoot?: string;
}

export interface RunningServer {
  server: Server;
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * The file a request path maps to, or a status code: 400 for a malformed path, 403 for anything
 * that tries to leave its root (`..`, encoded separators, NUL), 404 when nothing is there.
 */
export function resolveRequest(urlPath: string, webRoot: string, weightsRoot: string): string | number {
  let path: string;
  try {
    path = decodeURIComponent(urlPath.split('?')[0].split('#')[0]);
  } catch {
    return 400;
  }
  if (!path.startsWith('/') || path.includes('\0') || path.includes('\\')) return 403;
  const segments = path.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '..' || s === '.')) return 403;
  let root = webRoot;
  if (segments[0] === 'weights') {
    root = weightsRoot;
    segments.shift();
  }
  if (segments.length === 0) segments.push('index.html');
  const base = resolve(root);
  const file = resolve(base, ...segments);
  if (!file.startsWith(base + sep)) return 403;
  if (!existsSync(file)) return 404;
  const st = statSync(file);
  if (st.isDirectory()) {
    const index = join(file, 'index.html');
    return root === webRoot && existsSync(index) ? index : 404;
  }
  return st.isFile() ? file : 404;
}

function handle(req: IncomingMessage, res: ServerResponse, webRoot: string, weightsRoot: string): void {
  const send = (code: number, text: string) => {
    res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
    res.end(req.method === 'HEAD' ? undefined : text);
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(405, 'method not allowed\n');
  }
  const target = resolveRequest(req.url ?? '/', webRoot, weightsRoot);
  if (typeof target === 'number') {
    return send(target, target === 404 ? 'not found\n' : target === 403 ? 'forbidden\n' : 'bad request\n');
  }
  res.writeHead(200, {
    'Content-Type': contentType(target),
    'Content-Length': statSync(target).size,
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  });
  if (req.method === 'HEAD') return void res.end();
  const stream = createReadStream(target);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

/** Starts the server; resolves once it listens. */
export function startServer(o: ServeOptions = {}): Promise<RunningServer> {
  const webRoot = o.webRoot ?? WEB_ROOT;
  const weightsRoot = o.weightsRoot ?? WEIGHTS_ROOT;
  const host = o.host ?? '127.0.0.1';
  const server = createServer((req, res) => handle(req, res, webRoot, weightsRoot));
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(o.port ?? 8080, host, () => {
      server.off('error', fail);
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : (o.port ?? 8080);
      const shown = host.includes(':') ? `[${host}]` : host;
      ok({
        server,
        port,
        url: `http://${shown}:${port}/`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['port', 'host'] });
  const port = intOption(args, 'port', 8080, 0);
  if (port > 65535) throw new ExitError(`hlgfa serve: --port must be at most 65535, got ${port}`, 2);
  if (!existsSync(join(WEB_ROOT, 'index.html'))) {
    throw new ExitError(`hlgfa serve: ${WEB_ROOT} has no index.html; build the page first with \`npm run build\``, 1);
  }
  let srv: RunningServer;
  try {
    srv = await startServer({ port, host: args.values.host });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ExitError(`hlgfa serve: cannot listen on ${args.values.host ?? '127.0.0.1'}:${port} (${code ?? (e as Error).message})`, 1);
  }
  console.log(`serving the HLGFA page at ${srv.url}  (port ${srv.port}; Ctrl-C to stop)`);
  await new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await srv.close();
  console.log('server stopped');
  return 0;
}
