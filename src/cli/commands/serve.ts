// `hlgfa serve`: a static HTTP server on 127.0.0.1 for the browser page (dist/web/) and the shipped
// weights (/weights/). The one command that keeps running until interrupted (Ctrl-C).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync, statSync, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { hostname, networkInterfaces } from 'node:os';
import { pipeline } from 'node:stream';
import { extname, join, resolve, sep } from 'node:path';
import { intOption, parseArgs } from '../args.js';
import { PACKAGE_ROOT } from '../paths.js';
import { ExitError } from '../gpu-setup.js';

export const help = `Usage: hlgfa serve [--port P] [--host H]

Serves the browser page (train and detect with WebGPU in the browser) and the shipped backbone
weights over HTTP, then keeps running until Ctrl-C. Open the printed URL in a browser with WebGPU
(Chrome/Edge 113+, or Chromium started with --enable-unsafe-webgpu).

  --port P   TCP port (default 8080; 0 picks a free port and prints it)
  --host H   address to listen on (default 127.0.0.1, this machine only)

Requests must name the server in their Host header: 127.0.0.1, localhost or [::1] when it listens
on a loopback address, else H itself (for 0.0.0.0 or ::, also this machine's addresses and host
name). Others get 421, so that a web page cannot read the server through a DNS name of its own.`;

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

/** The status for a failed fs call: 404 when the file is not (or no longer) there, else 500. */
function fsErrorStatus(e: unknown): number {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' ? 404 : 500;
}

function statOrStatus(file: string): Stats | number {
  try {
    return statSync(file);
  } catch (e) {
    return fsErrorStatus(e);
  }
}

/**
 * The file a request path maps to, or a status code: 400 for a malformed path, 403 for anything
 * that tries to leave its root (`..`, encoded separators, NUL), 404 when nothing is there, 500 when
 * the file system fails otherwise. The file can still vanish before it is served; sendFile copes.
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
  const st = statOrStatus(file);
  if (typeof st === 'number') return st;
  if (st.isDirectory()) {
    if (root !== webRoot) return 404; // no listings, and no index pages among the weights
    const index = join(file, 'index.html');
    const ist = statOrStatus(index);
    return typeof ist === 'number' ? ist : ist.isFile() ? index : 404;
  }
  return st.isFile() ? file : 404;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'bad request\n',
  403: 'forbidden\n',
  404: 'not found\n',
  405: 'method not allowed\n',
  421: 'misdirected request: this server does not answer to that Host\n',
  500: 'internal server error\n',
};

function sendStatus(req: IncomingMessage, res: ServerResponse, code: number): void {
  const text = STATUS_TEXT[code] ?? `status ${code}\n`;
  res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(req.method === 'HEAD' ? undefined : text);
}

/**
 * Answers with the file at `file`. It is opened first and its size taken from the open descriptor,
 * so Content-Length and the bytes sent come from the same file even if the path is deleted or
 * replaced meanwhile; a file that vanished is a 404, and a read that fails or comes up short after
 * the headers went out ends the connection (the only way left to tell the client).
 */
export async function sendFile(req: IncomingMessage, res: ServerResponse, file: string): Promise<void> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    return sendStatus(req, res, fsErrorStatus(e));
  }
  let size: number;
  try {
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      return sendStatus(req, res, 404);
    }
    size = st.size;
  } catch (e) {
    await fh.close().catch(() => undefined);
    return sendStatus(req, res, fsErrorStatus(e));
  }
  res.writeHead(200, {
    'Content-Type': contentType(file),
    'Content-Length': size,
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  });
  if (req.method === 'HEAD' || size === 0) {
    await fh.close();
    return void res.end();
  }
  // `end` caps the bytes at the stat'ed size should the file grow while it is read.
  const stream = fh.createReadStream({ start: 0, end: size - 1 });
  let sent = 0;
  stream.on('data', (chunk: Buffer | string) => (sent += Buffer.byteLength(chunk)));
  stream.on('end', () => {
    if (sent < size) res.destroy();
  });
  pipeline(stream, res, (err) => {
    if (err) res.destroy();
  });
}

const LOOPBACK_BINDS = new Set(['127.0.0.1', '::1', 'localhost']);
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];
const WILDCARD_BINDS = new Set(['0.0.0.0', '::', '']);

const hostName = (address: string) => (address.includes(':') ? `[${address}]` : address);

/**
 * The host names a request may carry in its Host header when the server listens on `bound`. A page
 * served from attacker.example can rebind that name to 127.0.0.1, but its requests still say
 * "Host: attacker.example", which is how they are told apart from the user's own.
 */
export function allowedHostNames(bound: string): Set<string> {
  if (LOOPBACK_BINDS.has(bound.toLowerCase())) return new Set(LOOPBACK_NAMES);
  const names = new Set([hostName(bound).toLowerCase()]);
  if (WILDCARD_BINDS.has(bound)) {
    for (const n of LOOPBACK_NAMES) names.add(n);
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) names.add(hostName(a.address.split('%')[0]).toLowerCase());
    }
    names.add(hostname().toLowerCase());
  }
  return names;
}

/** Whether a Host header value names one of `names`, with the listening port or no port. */
export function hostAllowed(header: string | undefined, names: ReadonlySet<string>, port: number): boolean {
  if (header === undefined) return false;
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(header.toLowerCase());
  if (!m) return false;
  return names.has(m[1]) && (m[2] === undefined || Number(m[2]) === port);
}

function handle(req: IncomingMessage, res: ServerResponse, webRoot: string, weightsRoot: string, acceptHost: (h: string | undefined) => boolean): void {
  // HTTP/0.9 has no status line or headers to answer with (and no Host); Node still parses it.
  if (req.httpVersionMajor < 1) return void req.socket.destroy();
  if (!acceptHost(req.headers.host)) return sendStatus(req, res, 421);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return sendStatus(req, res, 405);
  }
  const target = resolveRequest(req.url ?? '/', webRoot, weightsRoot);
  if (typeof target === 'number') return sendStatus(req, res, target);
  sendFile(req, res, target).catch(() => res.destroy());
}

/** Starts the server; resolves once it listens. */
export function startServer(o: ServeOptions = {}): Promise<RunningServer> {
  const webRoot = o.webRoot ?? WEB_ROOT;
  const weightsRoot = o.weightsRoot ?? WEIGHTS_ROOT;
  const host = o.host ?? '127.0.0.1';
  const names = allowedHostNames(host);
  let port = -1; // known once listening, which is before any request arrives
  // Node's requestTimeout and headersTimeout defaults stay: they bound what a slow client can hold.
  const server = createServer((req, res) => handle(req, res, webRoot, weightsRoot, (h) => hostAllowed(h, names, port)));
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(o.port ?? 8080, host, () => {
      server.off('error', fail);
      const addr = server.address();
      port = typeof addr === 'object' && addr ? addr.port : (o.port ?? 8080);
      ok({
        server,
        port,
        url: `http://${hostName(host)}:${port}/`,
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
  const port = intOption(args, 'port', 8080, 0, 65535);
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
