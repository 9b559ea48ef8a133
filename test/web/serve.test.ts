// `hlgfa serve`: the static server for the browser page. Content types, the shipped weights under
// /weights/, no way out of its roots, files that vanish mid-request, Host checks against DNS
// rebinding, no HTTP/0.9, brotli/gzip negotiation, ETag/Last-Modified revalidation (304), and the
// CLI command itself (--port 0, the printed URL, the real app.js compressed, Ctrl-C, an unbuilt
// page). No browser here.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { allowedHostNames, hostAllowed, negotiateEncoding, resolveRequest, startServer, unbuiltPage, type RunningServer } from '../../src/cli/commands/serve.js';

// What the server's `open` does to a file just before (or, for `truncate`, just after) opening it:
// the races between resolving a path and serving it, made to happen every time.
const race = vi.hoisted(() => ({ path: '', action: '' as '' | 'delete' | 'to-folder' | 'truncate' }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const fsp = await importOriginal<typeof import('node:fs/promises')>();
  const fs = await import('node:fs');
  const open: typeof fsp.open = async (path, ...rest) => {
    const action = path === race.path ? race.action : '';
    if (action === 'delete' || action === 'to-folder') fs.rmSync(path);
    if (action === 'to-folder') fs.mkdirSync(path);
    const fh = await fsp.open(path, ...rest);
    if (action === 'truncate') {
      const stat = fh.stat.bind(fh);
      // After the size is taken, so that fewer bytes than announced are there to send.
      fh.stat = (async (...a: Parameters<typeof stat>) => {
        const st = await stat(...a);
        fs.truncateSync(path as string, 2);
        return st;
      }) as typeof fh.stat;
    }
    return fh;
  };
  return { ...fsp, default: { ...fsp, open }, open };
});

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A raw GET (no URL normalisation, so `..` reaches the server as sent). */
function get(port: number, path: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: Buffer; complete: boolean; headers: IncomingHttpHeaders }> {
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => undefined); // a cut-off body: reported as complete false
      res.on('close', () => ok({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks), complete: res.complete, headers: res.headers }));
    });
    req.on('error', fail);
    req.end();
  });
}

/** Sends `text` as is on a fresh connection; everything the server sends until it closes (or `waitMs`). */
function raw(port: number, text: string, waitMs = 1500): Promise<{ reply: string; closedByServer: boolean }> {
  return new Promise((ok, fail) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let reply = '';
    let timedOut = false;
    socket.on('data', (d) => (reply += d));
    socket.on('error', fail);
    socket.setTimeout(waitMs, () => {
      timedOut = true;
      socket.destroy();
    });
    socket.on('close', () => ok({ reply, closedByServer: !timedOut }));
  });
}

describe('static server', () => {
  let dir: string;
  let srv: RunningServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hlgfa-serve-'));
    mkdirSync(join(dir, 'web', 'sub'), { recursive: true });
    mkdirSync(join(dir, 'weights'));
    writeFileSync(join(dir, 'web', 'index.html'), '<!doctype html><title>t</title>');
    writeFileSync(join(dir, 'web', 'app.js'), 'export {};');
    writeFileSync(join(dir, 'web', 'style.css'), 'body{}');
    writeFileSync(join(dir, 'weights', 'w.safetensors'), Buffer.from([1, 2, 3, 4]));
    writeFileSync(join(dir, 'secret.txt'), 'secret');
    srv = await startServer({ port: 0, webRoot: join(dir, 'web'), weightsRoot: join(dir, 'weights') });
  });
  afterAll(async () => {
    await srv?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the page and the weights with their content types', async () => {
    expect(srv.url).toBe(`http://127.0.0.1:${srv.port}/`);
    expect(srv.port).toBeGreaterThan(0);
    const index = await get(srv.port, '/');
    expect(index.status).toBe(200);
    expect(index.type).toBe('text/html; charset=utf-8');
    expect((await get(srv.port, '/index.html?x=1')).body.toString()).toContain('<title>t</title>');
    expect((await get(srv.port, '/app.js')).type).toBe('text/javascript; charset=utf-8');
    expect((await get(srv.port, '/style.css')).type).toBe('text/css; charset=utf-8');
    const w = await get(srv.port, '/weights/w.safetensors');
    expect([w.status, w.type, [...w.body]]).toEqual([200, 'application/octet-stream', [1, 2, 3, 4]]);
    const head = await get(srv.port, '/app.js', 'HEAD');
    expect([head.status, head.body.length]).toEqual([200, 0]);
  });

  it('answers 404, 405 and 403, and never serves files outside its roots', async () => {
    expect((await get(srv.port, '/missing.js')).status).toBe(404);
    expect((await get(srv.port, '/sub')).status).toBe(404); // a folder without index.html
    expect((await get(srv.port, '/weights/')).status).toBe(404); // no listings
    expect((await get(srv.port, '/app.js', 'POST')).status).toBe(405);
    for (const p of ['/../secret.txt', '/weights/../../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/weights/..%2f..%2fsecret.txt', '/a%00.js', '/..\\secret.txt']) {
      const r = await get(srv.port, p);
      expect(r.status, p).toBe(403);
      expect(r.body.toString(), p).not.toContain('secret');
    }
    expect((await get(srv.port, '/%E0%A4%A')).status).toBe(400);
    expect(resolveRequest('/weights/w.safetensors', join(dir, 'web'), join(dir, 'weights'))).toBe(join(dir, 'weights', 'w.safetensors'));
    expect(resolveRequest('/sub/../../secret.txt', join(dir, 'web'), join(dir, 'weights'))).toBe(403);
  });

  it('answers 404 for a file deleted or replaced by a folder after it was resolved, and keeps serving', async () => {
    for (const action of ['delete', 'to-folder'] as const) {
      const file = join(dir, 'web', `${action}.js`);
      writeFileSync(file, 'export const x = 1;');
      expect(resolveRequest(`/${action}.js`, join(dir, 'web'), join(dir, 'weights'))).toBe(file);
      race.path = file;
      race.action = action;
      const r = await get(srv.port, `/${action}.js`);
      race.path = '';
      expect([r.status, r.body.toString()], action).toEqual([404, 'not found\n']);
      expect((await get(srv.port, '/app.js')).body.toString()).toBe('export {};');
    }
    expect(resolveRequest('/delete.js', join(dir, 'web'), join(dir, 'weights'))).toBe(404);
    expect(resolveRequest('/app.js/x', join(dir, 'web'), join(dir, 'weights'))).toBe(404); // ENOTDIR
  });

  it('cuts the connection when the file shrinks below the size it announced', async () => {
    const file = join(dir, 'web', 'shrinks.txt');
    writeFileSync(file, 'x'.repeat(100_000));
    race.path = file;
    race.action = 'truncate';
    const t0 = performance.now();
    const r = await get(srv.port, '/shrinks.txt');
    race.path = '';
    expect([r.status, r.complete, r.body.length]).toEqual([200, false, 2]);
    // At once, rather than when the idle keep-alive connection times out (5 s) with the client still waiting.
    expect(performance.now() - t0).toBeLessThan(2000);
    expect((await get(srv.port, '/app.js')).status).toBe(200);
    // Asked for brotli: the copy to compress comes up short, so the plain bytes go out, cut off alike.
    writeFileSync(file, 'x'.repeat(100_000));
    race.path = file;
    race.action = 'truncate';
    const br = await get(srv.port, '/shrinks.txt', 'GET', { 'Accept-Encoding': 'br' });
    race.path = '';
    expect([br.status, br.headers['content-encoding'], br.complete, br.body.length]).toEqual([200, undefined, false, 2]);
    const again = await get(srv.port, '/shrinks.txt', 'GET', { 'Accept-Encoding': 'br' });
    expect([again.headers['content-encoding'], brotliDecompressSync(again.body).toString()]).toEqual(['br', 'xx']);
  });

  it('answers only to a Host that names this server (DNS rebinding), with the listening port or none', async () => {
    for (const host of ['evil.example', `evil.example:${srv.port}`, '127.0.0.1:1', `localhost:${srv.port + 1}`, '127.0.0.2', `127.0.0.1:${srv.port}x`, '[::2]', 'localhost.']) {
      const r = await get(srv.port, '/', 'GET', { Host: host });
      expect([r.status, r.body.toString()], host).toEqual([421, 'misdirected request: this server does not answer to that Host\n']);
    }
    for (const host of [`localhost:${srv.port}`, `LocalHost:${srv.port}`, 'localhost', `127.0.0.1:${srv.port}`, `[::1]:${srv.port}`, '[::1]']) {
      const r = await get(srv.port, '/', 'GET', { Host: host });
      expect([r.status, r.body.toString()], host).toEqual([200, '<!doctype html><title>t</title>']);
    }
    const noHost10 = await raw(srv.port, 'GET / HTTP/1.0\r\n\r\n');
    expect(noHost10.reply).toMatch(/^HTTP\/1\.1 421 Misdirected Request\r\n/);
    expect(noHost10.reply).not.toContain('<title>');
    const noHost11 = await raw(srv.port, 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n');
    expect(noHost11.reply).toMatch(/^HTTP\/1\.1 (400|421) /);
    expect(noHost11.reply).not.toContain('<title>');
    const emptyHost = await raw(srv.port, 'GET / HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n');
    expect(emptyHost.reply).toMatch(/^HTTP\/1\.1 421 /);
  });

  it('closes HTTP/0.9 connections without answering', async () => {
    for (const text of ['GET /\r\n\r\n', `GET / HTTP/0.9\r\nHost: 127.0.0.1:${srv.port}\r\n\r\n`]) {
      expect(await raw(srv.port, text), JSON.stringify(text)).toEqual({ reply: '', closedByServer: true });
    }
    const bare = await raw(srv.port, 'GET /\r\n', 500);
    expect(bare.reply).not.toMatch(/200|<title>/);
    expect((await get(srv.port, '/')).status).toBe(200);
  });

  it('negotiates br or gzip from Accept-Encoding by q-value', () => {
    const cases: Array<[string | undefined, string]> = [
      [undefined, 'identity'],
      ['', 'identity'],
      ['gzip, deflate, br, zstd', 'br'],
      ['gzip', 'gzip'],
      ['x-gzip', 'gzip'],
      ['br;q=0, gzip', 'gzip'],
      ['gzip;q=0.5, br;q=0.4', 'gzip'],
      ['BR;Q=0.2, GZIP;q=0.2', 'br'],
      ['*', 'br'],
      ['*;q=0.3, br;q=0', 'gzip'],
      ['identity', 'identity'],
      ['deflate', 'identity'],
      ['gzip;q=0, br;q=0.000', 'identity'],
      ['br;q=nonsense, gzip', 'gzip'],
    ];
    for (const [header, want] of cases) expect(negotiateEncoding(header), String(header)).toBe(want);
  });

  it('sends text compressed as accepted (Vary: Accept-Encoding), the same bytes once decoded, and binaries as they are', async () => {
    const js = `export const words = ${JSON.stringify(Array.from({ length: 4000 }, (_, i) => `word${i % 97}`))};\n`;
    writeFileSync(join(dir, 'web', 'big.js'), js);
    const plain = await get(srv.port, '/big.js');
    expect([plain.headers['content-encoding'], plain.headers.vary, plain.body.toString()]).toEqual([undefined, 'Accept-Encoding', js]);
    const br = await get(srv.port, '/big.js', 'GET', { 'Accept-Encoding': 'gzip, deflate, br' });
    expect([br.status, br.type, br.headers['content-encoding'], br.headers.vary]).toEqual([200, 'text/javascript; charset=utf-8', 'br', 'Accept-Encoding']);
    expect(Number(br.headers['content-length'])).toBe(br.body.length);
    expect(brotliDecompressSync(br.body).toString()).toBe(js);
    const gz = await get(srv.port, '/big.js', 'GET', { 'Accept-Encoding': 'gzip' });
    expect([gz.headers['content-encoding'], gunzipSync(gz.body).toString()]).toEqual(['gzip', js]);
    expect(br.body.length).toBeLessThan(gz.body.length);
    expect(gz.body.length).toBeLessThan(js.length / 5);
    const head = await get(srv.port, '/big.js', 'HEAD', { 'Accept-Encoding': 'br' });
    expect([head.status, head.headers['content-encoding'], head.headers['content-length'], head.body.length]).toEqual([200, 'br', String(br.body.length), 0]);
    const w = await get(srv.port, '/weights/w.safetensors', 'GET', { 'Accept-Encoding': 'br, gzip' });
    expect([w.headers['content-encoding'], w.headers.vary, [...w.body]]).toEqual([undefined, undefined, [1, 2, 3, 4]]);
    expect((await get(srv.port, '/missing.js', 'GET', { 'Accept-Encoding': 'br' })).headers['content-encoding']).toBeUndefined();
  });

  it('gives each file a strong ETag and Last-Modified, answers 304 to a current copy, and 200 once the file changes', async () => {
    const file = join(dir, 'web', 'cached.css');
    writeFileSync(file, 'body { color: red }\n'.repeat(200));
    utimesSync(file, new Date('2024-05-01T10:00:00Z'), new Date('2024-05-01T10:00:00.250Z'));
    const first = await get(srv.port, '/cached.css');
    const etag = String(first.headers.etag);
    expect(etag).toMatch(/^"[0-9a-z]+-[0-9a-z]+"$/); // strong: no W/
    expect([first.headers['last-modified'], first.headers['cache-control']]).toEqual(['Wed, 01 May 2024 10:00:00 GMT', 'no-cache']);
    const cond = async (headers: Record<string, string>, method = 'GET') => {
      const r = await get(srv.port, '/cached.css', method, headers);
      return [r.status, r.body.length];
    };
    expect(await cond({ 'If-None-Match': etag })).toEqual([304, 0]);
    expect(await cond({ 'If-None-Match': etag }, 'HEAD')).toEqual([304, 0]);
    expect(await cond({ 'If-None-Match': `"other", W/${etag}` })).toEqual([304, 0]); // weak comparison
    expect(await cond({ 'If-None-Match': '*' })).toEqual([304, 0]);
    expect(await cond({ 'If-None-Match': '"other"' })).toEqual([200, 4000]);
    expect(await cond({ 'If-Modified-Since': 'Wed, 01 May 2024 10:00:00 GMT' })).toEqual([304, 0]);
    expect(await cond({ 'If-Modified-Since': 'Wed, 01 May 2024 09:59:59 GMT' })).toEqual([200, 4000]);
    expect(await cond({ 'If-Modified-Since': 'yesterday' })).toEqual([200, 4000]);
    // If-None-Match decides when both are there.
    expect(await cond({ 'If-None-Match': '"other"', 'If-Modified-Since': 'Wed, 01 May 2024 10:00:00 GMT' })).toEqual([200, 4000]);
    const not = await get(srv.port, '/cached.css', 'GET', { 'If-None-Match': etag });
    expect([not.headers.etag, not.headers['last-modified'], not.headers.vary, not.headers['content-length']]).toEqual([etag, 'Wed, 01 May 2024 10:00:00 GMT', 'Accept-Encoding', undefined]);

    // Each encoding is its own representation, with its own ETag.
    const br = await get(srv.port, '/cached.css', 'GET', { 'Accept-Encoding': 'br' });
    const brTag = String(br.headers.etag);
    expect(brTag).not.toBe(etag);
    expect((await get(srv.port, '/cached.css', 'GET', { 'Accept-Encoding': 'br', 'If-None-Match': brTag })).status).toBe(304);
    expect((await get(srv.port, '/cached.css', 'GET', { 'If-None-Match': brTag })).status).toBe(200);

    // Same size, later mtime: new validators, and the compressed copy is made afresh.
    writeFileSync(file, 'body { color: tan }\n'.repeat(200));
    utimesSync(file, new Date('2024-05-02T10:00:00Z'), new Date('2024-05-02T10:00:00Z'));
    expect(statSync(file).size).toBe(4000);
    const changed = await get(srv.port, '/cached.css', 'GET', { 'Accept-Encoding': 'br', 'If-None-Match': brTag });
    expect([changed.status, changed.headers['last-modified']]).toEqual([200, 'Thu, 02 May 2024 10:00:00 GMT']);
    expect(changed.headers.etag).not.toBe(brTag);
    expect(brotliDecompressSync(changed.body).toString()).toContain('color: tan');
    expect(await cond({ 'If-None-Match': etag })).toEqual([200, 4000]);
    const w = await get(srv.port, '/weights/w.safetensors');
    expect((await get(srv.port, '/weights/w.safetensors', 'GET', { 'If-None-Match': String(w.headers.etag) })).status).toBe(304);
  });

  it('opens at a loopback URL when listening on every address', async () => {
    const any = await startServer({ port: 0, host: '0.0.0.0', webRoot: join(dir, 'web'), weightsRoot: join(dir, 'weights') });
    try {
      expect(any.url).toBe(`http://127.0.0.1:${any.port}/`);
      expect(any.otherUrls.every((u) => /^http:\/\/\d+\.\d+\.\d+\.\d+:\d+\/$/.test(u))).toBe(true);
      expect((await get(any.port, '/')).status).toBe(200);
    } finally {
      await any.close();
    }
    expect(srv.otherUrls).toEqual([]);
  });

  it('names what is missing when the page is not built, and how to build it', () => {
    const root = join(dir, 'pkg', 'dist', 'web');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'index.html'), '');
    expect(unbuiltPage(root)).toBe(
      `the browser page is not built: ${join(root, 'app.js')}, ${join(root, 'style.css')} are missing. Build it with \`npm run build\` in ${join(dir, 'pkg')} (after \`npm install\` there, for the build tools)`,
    );
    writeFileSync(join(root, 'app.js'), '');
    writeFileSync(join(root, 'style.css'), '');
    expect(unbuiltPage(root)).toBeNull();
  });

  it('lists the Host names each kind of address accepts', () => {
    expect([...allowedHostNames('127.0.0.1')]).toEqual(['127.0.0.1', 'localhost', '[::1]']);
    expect(allowedHostNames('::1')).toEqual(allowedHostNames('localhost'));
    expect([...allowedHostNames('192.168.1.5')]).toEqual(['192.168.1.5']);
    expect([...allowedHostNames('fe80::1')]).toEqual(['[fe80::1]']);
    expect([...allowedHostNames('My.Host.lan')]).toEqual(['my.host.lan']);
    const any = allowedHostNames('0.0.0.0');
    expect(['0.0.0.0', '127.0.0.1', 'localhost', '[::1]'].every((n) => any.has(n))).toBe(true);
    expect(any.has('evil.example')).toBe(false);
    const names = allowedHostNames('192.168.1.5');
    expect([hostAllowed('192.168.1.5:8080', names, 8080), hostAllowed('192.168.1.5', names, 8080), hostAllowed('192.168.1.5:80', names, 8080), hostAllowed(undefined, names, 8080)]).toEqual([true, true, false, false]);
    expect(hostAllowed('127.0.0.1:08080', allowedHostNames('127.0.0.1'), 8080)).toBe(true);
    expect(hostAllowed('127.0.0.1:8080:1', allowedHostNames('127.0.0.1'), 8080)).toBe(false);
  });
});

describe('hlgfa serve', () => {
  it('prints the URL of a free port with --port 0, serves the built page, stops on SIGINT', async () => {
    const child = spawn(process.execPath, ['bin/hlgfa.js', 'serve', '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
    const url = await new Promise<string>((ok, fail) => {
      const t = setTimeout(() => fail(new Error(`no URL printed; stdout: ${out} stderr: ${err}`)), 20_000);
      child.stdout.on('data', (d) => {
        out += d;
        const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
        if (m) {
          clearTimeout(t);
          ok(m[0]);
        }
      });
      child.on('exit', () => fail(new Error(`serve exited early; stderr: ${err}`)));
    });
    const port = Number(new URL(url).port);
    expect(port).toBeGreaterThan(0);
    expect(out.split('\n')[0]).toBe(`serving the HLGFA page at http://127.0.0.1:${port}/  (port ${port}; Ctrl-C to stop)`);
    const page = await get(port, '/');
    expect(page.status).toBe(200);
    expect(page.body.toString()).toContain('app.js');
    const weights = await get(port, '/weights/mobilenet_v2_imagenet.safetensors', 'HEAD');
    expect(weights.status).toBe(200);
    // The real page as a browser gets it: app.js compressed, then revalidated.
    const raw = await get(port, '/app.js');
    const gz = await get(port, '/app.js', 'GET', { 'Accept-Encoding': 'gzip' });
    const br = await get(port, '/app.js', 'GET', { 'Accept-Encoding': 'gzip, deflate, br, zstd' });
    console.log(`app.js: ${raw.body.length} bytes raw, ${gz.body.length} gzip, ${br.body.length} br`);
    expect(raw.body.length).toBeGreaterThan(10_000);
    expect([gz.headers['content-encoding'], br.headers['content-encoding']]).toEqual(['gzip', 'br']);
    expect(brotliDecompressSync(br.body).equals(raw.body)).toBe(true);
    expect(gunzipSync(gz.body).equals(raw.body)).toBe(true);
    expect(br.body.length).toBeLessThan(gz.body.length);
    expect(gz.body.length).toBeLessThan(raw.body.length / 3);
    const revalidated = await get(port, '/app.js', 'GET', { 'Accept-Encoding': 'gzip, deflate, br, zstd', 'If-None-Match': String(br.headers.etag) });
    expect([revalidated.status, revalidated.body.length]).toEqual([304, 0]);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(out).toContain('server stopped');
    const bytes = readFileSync(join(ROOT, 'weights', 'mobilenet_v2_imagenet.safetensors'));
    expect(bytes.length).toBeGreaterThan(1e6);
  });

  it('rejects a bad port with a usage error', () => {
    const r = spawnSync(process.execPath, ['bin/hlgfa.js', 'serve', '--port', 'x'], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--port must be an integer >= 0 and <= 65535, got "x"');
    const big = spawnSync(process.execPath, ['bin/hlgfa.js', 'serve', '--port', '65536'], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
    expect([big.status, big.stderr.split('\n')[0]]).toEqual([2, 'hlgfa serve: --port must be an integer >= 0 and <= 65535, got "65536"']);
  });
});
