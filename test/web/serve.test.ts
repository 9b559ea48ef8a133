// `hlgfa serve`: the static server for the browser page. Content types, the shipped weights under
// /weights/, no way out of its roots, and the CLI command itself (--port 0, Ctrl-C). No browser here.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveRequest, startServer, type RunningServer } from '../../src/cli/commands/serve.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A raw GET (no URL normalisation, so `..` reaches the server as sent). */
function get(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string; body: Buffer }> {
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks) }));
    });
    req.on('error', fail);
    req.end();
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
    const page = await get(port, '/');
    expect(page.status).toBe(200);
    expect(page.body.toString()).toContain('app.js');
    const weights = await get(port, '/weights/mobilenet_v2_imagenet.safetensors', 'HEAD');
    expect(weights.status).toBe(200);
    expect((await get(port, '/app.js')).body.length).toBeGreaterThan(10_000);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(out).toContain('server stopped');
    const bytes = readFileSync(join(ROOT, 'weights', 'mobilenet_v2_imagenet.safetensors'));
    expect(bytes.length).toBeGreaterThan(1e6);
  });

  it('rejects a bad port with a usage error', () => {
    const r = spawnSync(process.execPath, ['bin/hlgfa.js', 'serve', '--port', 'x'], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--port must be an integer >= 0');
  });
});
