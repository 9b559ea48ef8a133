// `hlgfa serve`: a static HTTP server on 127.0.0.1 for the browser page (dist/web/) and the shipped
// weights (/weights/). The one command that keeps running until interrupted (Ctrl-C).
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { existsSync, statSync, type BigIntStats, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { hostname, networkInterfaces } from 'node:os';
import { pipeline } from 'node:stream';
import { extname, join, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlib, gzip } from 'node:zlib';
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
name). Others get 421, so that a web page cannot read the server through a DNS name of its own.

Text files go out brotli- or gzip-compressed when the browser accepts it, and every file carries
an ETag and Last-Modified, so that a reload revalidates (304) instead of downloading again.`;

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
  /** Where to open the page: for 0.0.0.0 or ::, this machine's loopback (browsers refuse 0.0.0.0). */
  url: string;
  /** For 0.0.0.0 or ::, the URLs other machines on the network can use. */
  otherUrls: string[];
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

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

/** Types worth compressing (the weights are float32: they shrink by a few percent at most). */
const COMPRESSIBLE = /^(text\/|application\/json|image\/svg\+xml)/;
/** Larger files are sent as they are: compressing them would hold that much memory per file. */
const MAX_COMPRESSED_FILE = 16 * 1024 * 1024;

export type Encoding = 'br' | 'gzip' | 'identity';

/**
 * The encoding to answer an Accept-Encoding header with (RFC 9110 §12.5.3): br or gzip, whichever
 * has the higher q-value (br on a tie: it is ~15% smaller), else identity. `q=0` refuses one;
 * `*` stands for any not named.
 */
export function negotiateEncoding(header: string | undefined): Encoding {
  if (!header) return 'identity';
  const q = new Map<string, number>();
  for (const part of header.toLowerCase().split(',')) {
    const [name, ...params] = part.split(';').map((x) => x.trim());
    if (!name) continue;
    const qv = params.map((p) => /^q=([01](?:\.\d{0,3})?)$/.exec(p.replace(/\s+/g, ''))).find(Boolean);
    q.set(name, qv ? Number(qv[1]) : params.some((p) => p.startsWith('q')) ? 0 : 1);
  }
  const of = (name: string) => q.get(name) ?? q.get('*') ?? 0;
  const br = of('br');
  const gz = Math.max(of('gzip'), q.get('x-gzip') ?? 0);
  if (br > 0 && br >= gz) return 'br';
  return gz > 0 ? 'gzip' : 'identity';
}

interface Compressed {
  br: Buffer;
  gzip: Buffer;
}

/**
 * Compressed copies of text files, made in memory once per file version (path, inode, size and
 * mtime) rather than at build time: nothing in dist/ can go stale when app.js is rebuilt while the
 * server runs, and no build step has to know about it. Brotli at quality 11 takes ~0.8 s for
 * app.js, in zlib's thread pool; startServer makes the page's copies at once, so that the first
 * request finds them ready. One entry per path: a new version replaces the old.
 */
export class CompressionCache {
  private readonly entries = new Map<string, { version: string; value: Promise<Compressed | null> }>();

  /** The copies of the file open as `fh` (stat'ed as `st`); null if it changed while being read. */
  get(file: string, fh: FileHandle, st: BigIntStats): Promise<Compressed | null> {
    const version = `${st.ino}:${st.size}:${st.mtimeNs}`;
    const hit = this.entries.get(file);
    if (hit?.version === version) return hit.value;
    const value = (async () => {
      const bytes = await fh.readFile();
      if (BigInt(bytes.length) !== st.size) return null; // written meanwhile: not a version to keep
      const params = { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_MODE]: zlib.BROTLI_MODE_TEXT, [zlib.BROTLI_PARAM_SIZE_HINT]: bytes.length };
      const [br, gz] = await Promise.all([brotli(bytes, { params }), gzipAsync(bytes, { level: 9 })]);
      return { br, gzip: gz };
    })();
    this.entries.set(file, { version, value });
    value.then(
      (v) => v === null && this.entries.get(file)?.value === value && this.entries.delete(file),
      () => this.entries.get(file)?.value === value && this.entries.delete(file),
    );
    return value;
  }

  /** Compresses `file` now (start-up warm-up); errors are left for the request to meet. */
  async warm(file: string): Promise<void> {
    if (!COMPRESSIBLE.test(contentType(file))) return;
    const fh = await open(file, 'r').catch(() => null);
    if (!fh) return;
    try {
      const st = await fh.stat({ bigint: true });
      if (st.isFile() && st.size <= MAX_COMPRESSED_FILE) await this.get(file, fh, st);
    } catch {
      // the request that needs it reports the failure
    } finally {
      await fh.close();
    }
  }
}

/** A strong validator: changes whenever the size or the modification time (ns) does; one per encoding. */
export function etagOf(st: Pick<BigIntStats, 'size' | 'mtimeNs'>, encoding: Encoding = 'identity'): string {
  return `"${st.size.toString(36)}-${st.mtimeNs.toString(36)}${encoding === 'identity' ? '' : `-${encoding === 'br' ? 'br' : 'gz'}`}"`;
}

/**
 * Whether the client's copy is current (RFC 9110 §13.1.2-3, §13.2.2): If-None-Match, by weak
 * comparison, decides when present; else If-Modified-Since, at the one-second precision of HTTP
 * dates (a date that does not parse, or lies in the future, is ignored).
 */
export function notModified(req: IncomingMessage, etag: string, mtimeMs: number, now = Date.now()): boolean {
  const inm = req.headers['if-none-match'];
  if (inm !== undefined) {
    const bare = etag.replace(/^W\//, '');
    return inm.split(',').some((t) => t.trim() === '*' || t.trim().replace(/^W\//, '') === bare);
  }
  const ims = req.headers['if-modified-since'];
  if (ims === undefined) return false;
  const since = Date.parse(ims);
  return Number.isFinite(since) && since <= now && Math.floor(mtimeMs / 1000) * 1000 <= since;
}

/**
 * Answers with the file at `file`. It is opened first and its size taken from the open descriptor,
 * so Content-Length and the bytes sent come from the same file even if the path is deleted or
 * replaced meanwhile; a file that vanished is a 404, and a read that fails or comes up short after
 * the headers went out ends the connection (the only way left to tell the client). Text goes out
 * compressed as negotiated; every answer has validators, and a current copy gets 304.
 */
export async function sendFile(req: IncomingMessage, res: ServerResponse, file: string, cache = new CompressionCache()): Promise<void> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    return sendStatus(req, res, fsErrorStatus(e));
  }
  let st: BigIntStats;
  try {
    st = await fh.stat({ bigint: true });
    if (!st.isFile()) {
      await fh.close();
      return sendStatus(req, res, 404);
    }
  } catch (e) {
    await fh.close().catch(() => undefined);
    return sendStatus(req, res, fsErrorStatus(e));
  }
  const size = Number(st.size);
  const type = contentType(file);
  const compressible = COMPRESSIBLE.test(type) && size > 0 && size <= MAX_COMPRESSED_FILE;
  let encoding = compressible ? negotiateEncoding(req.headers['accept-encoding']) : 'identity';
  let body: Buffer | null = null;
  if (encoding !== 'identity') {
    const copies = await cache.get(file, fh, st).catch(() => null);
    if (copies) body = copies[encoding];
    else encoding = 'identity'; // changing under us, or zlib failed: the plain bytes still go out
  }
  const etag = etagOf(st, encoding);
  const headers: OutgoingHttpHeaders = {
    ETag: etag,
    'Last-Modified': new Date(Number(st.mtimeMs)).toUTCString(),
    // Revalidate every time (app.js has no hash in its name); with the validators that is a 304.
    'Cache-Control': 'no-cache',
  };
  if (compressible) headers.Vary = 'Accept-Encoding';
  if (notModified(req, etag, Number(st.mtimeMs))) {
    await fh.close();
    res.writeHead(304, headers);
    return void res.end();
  }
  Object.assign(headers, { 'Content-Type': type, 'Content-Length': body ? body.length : size, 'X-Content-Type-Options': 'nosniff' });
  if (body) headers['Content-Encoding'] = encoding;
  res.writeHead(200, headers);
  if (req.method === 'HEAD' || size === 0 || body) {
    await fh.close();
    return void res.end(req.method === 'HEAD' ? undefined : body ?? undefined);
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

function handle(req: IncomingMessage, res: ServerResponse, webRoot: string, weightsRoot: string, acceptHost: (h: string | undefined) => boolean, cache: CompressionCache): void {
  // HTTP/0.9 has no status line or headers to answer with (and no Host); Node still parses it.
  if (req.httpVersionMajor < 1) return void req.socket.destroy();
  if (!acceptHost(req.headers.host)) return sendStatus(req, res, 421);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return sendStatus(req, res, 405);
  }
  const target = resolveRequest(req.url ?? '/', webRoot, weightsRoot);
  if (typeof target === 'number') return sendStatus(req, res, target);
  sendFile(req, res, target, cache).catch(() => res.destroy());
}

/** Starts the server; resolves once it listens. */
export function startServer(o: ServeOptions = {}): Promise<RunningServer> {
  const webRoot = o.webRoot ?? WEB_ROOT;
  const weightsRoot = o.weightsRoot ?? WEIGHTS_ROOT;
  const host = o.host ?? '127.0.0.1';
  const names = allowedHostNames(host);
  let port = -1; // known once listening, which is before any request arrives
  // Node's requestTimeout and headersTimeout defaults stay: they bound what a slow client can hold.
  const cache = new CompressionCache();
  const server = createServer((req, res) => handle(req, res, webRoot, weightsRoot, (h) => hostAllowed(h, names, port), cache));
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(o.port ?? 8080, host, () => {
      server.off('error', fail);
      const addr = server.address();
      port = typeof addr === 'object' && addr ? addr.port : (o.port ?? 8080);
      for (const f of ['index.html', 'app.js', 'style.css']) void cache.warm(join(webRoot, f));
      const wildcard = WILDCARD_BINDS.has(host);
      const lan = Object.values(networkInterfaces()).flatMap((l) => l ?? []).filter((a) => !a.internal && a.family === 'IPv4');
      ok({
        server,
        port,
        url: `http://${wildcard ? '127.0.0.1' : hostName(host)}:${port}/`,
        otherUrls: wildcard ? lan.map((a) => `http://${a.address}:${port}/`) : [],
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

/**
 * Why `webRoot` holds no servable page (naming the missing file and how to build it), or null.
 * serve never builds by itself: a build takes tens of seconds and needs the dev dependencies, so
 * `npm install` in a checkout does it once (the `prepare` script) and a published package ships it.
 */
export function unbuiltPage(webRoot: string): string | null {
  const missing = ['index.html', 'app.js', 'style.css'].filter((f) => !existsSync(join(webRoot, f)));
  if (missing.length === 0) return null;
  return `the browser page is not built: ${missing.map((f) => join(webRoot, f)).join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing. Build it with \`npm run build\` in ${resolve(webRoot, '..', '..')} (after \`npm install\` there, for the build tools)`;
}

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['port', 'host'] });
  const port = intOption(args, 'port', 8080, 0, 65535);
  const missing = unbuiltPage(WEB_ROOT);
  if (missing) throw new ExitError(`hlgfa serve: ${missing}`, 1);
  let srv: RunningServer;
  try {
    srv = await startServer({ port, host: args.values.host });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ExitError(`hlgfa serve: cannot listen on ${args.values.host ?? '127.0.0.1'}:${port} (${code ?? (e as Error).message})`, 1);
  }
  console.log(`serving the HLGFA page at ${srv.url}  (port ${srv.port}; Ctrl-C to stop)`);
  for (const u of srv.otherUrls) console.log(`  and to this network at ${u}`);
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
