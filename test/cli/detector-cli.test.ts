// The detector commands end to end on a tiny generated dataset, and their bad-input behaviour:
// clear messages naming the file or value, non-zero exit codes, atomic outputs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateDataset } from '../../src/data/synthetic.js';
import { writeSyntheticDataset } from '../../src/data/synthetic-node.js';

const BIN = join(__dirname, '..', '..', 'bin', 'hlgfa.js');
const hlgfa = (...args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

const dir = mkdtempSync(join(tmpdir(), 'hlgfa-cli-'));
const data = join(dir, 'metal');
const model = join(dir, 'model.safetensors');

beforeAll(() => {
  writeSyntheticDataset(data, generateDataset({ category: 'metal', trainCount: 8, testGoodCount: 3, testDefectCount: 4, size: 64, seed: 1 }));
});

describe('hlgfa train / eval / detect', () => {
  it('train writes a checkpoint, eval prints and writes the metrics, detect writes overlays and maps', () => {
    const t = hlgfa('train', '--data', data, '--out', model, '--epochs', '1', '--size', '64', '--batch', '4');
    expect(t.err + t.out).toMatch(/wrote .*model\.safetensors/);
    expect(t.code).toBe(0);
    const json = join(dir, 'metrics.json');
    const e = hlgfa('eval', '--data', data, '--model', model, '--json', json);
    expect(e.code, e.err).toBe(0);
    expect(e.out).toMatch(/img AUROC/);
    const m = JSON.parse(readFileSync(json, 'utf8'));
    for (const k of ['imageAUROC', 'pixelAUROC', 'aupro', 'perDefect', 'threshold', 'msPerImage']) expect(m).toHaveProperty(k);
    expect(Object.keys(m.perDefect).sort()).toEqual(['crack', 'missing', 'scratch', 'spot']);
    expect(m.imageAUROC).toBeGreaterThanOrEqual(0);
    expect(m.imageAUROC).toBeLessThanOrEqual(1);
    const out = join(dir, 'detections');
    const d = hlgfa('detect', '--model', model, '--out', out, join(data, 'test', 'good', '000.png'), join(data, 'test', 'crack', '000.png'));
    expect(d.code, d.err).toBe(0);
    expect(d.out).toMatch(/good\/000\.png\tscore \d+\.\d+\t(normal|ANOMALOUS)/);
    expect(readdirSync(out).sort()).toEqual(['crack_000_map.safetensors', 'crack_000_overlay.png', 'good_000_map.safetensors', 'good_000_overlay.png']);
  });

  it('--resume trains a finished run further', () => {
    const r = hlgfa('train', '--data', data, '--out', model, '--epochs', '2', '--resume');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/resuming .* after epoch 1 of 2/);
  });

  it('bad input: clear messages and non-zero exit codes', () => {
    const missing = hlgfa('train', '--data', join(dir, 'nope'), '--out', join(dir, 'x.safetensors'));
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/nope: dataset folder not found/);
    expect(existsSync(join(dir, 'x.safetensors'))).toBe(false);

    const usage = hlgfa('train', '--out', model);
    expect(usage.code).toBe(2);
    expect(usage.err).toMatch(/--data DIR is required/);

    const badSize = hlgfa('train', '--data', data, '--out', join(dir, 'y.safetensors'), '--size', '100');
    expect(badSize.code).toBe(2);
    expect(badSize.err).toMatch(/size must be a multiple of 32/);

    const bmp = join(dir, 'fake.png');
    writeFileSync(bmp, Buffer.from([0x42, 0x4d, 0x36, 0, 0, 0, 0, 0, 0, 0]));
    const notPng = hlgfa('detect', '--model', model, '--out', join(dir, 'o'), bmp);
    expect(notPng.code).toBe(1);
    expect(notPng.err).toMatch(/fake\.png: corrupt or truncated BMP \(10-byte file, too short for the BMP headers\)/);

    const notModel = hlgfa('eval', '--data', data, '--model', join(__dirname, '..', '..', 'weights', 'mobilenet_v2_imagenet.safetensors'));
    expect(notModel.code).toBe(1);
    expect(notModel.err).toMatch(/mobilenet_v2_imagenet\.safetensors: not an HLGFA checkpoint/);

    const truncated = join(dir, 'cut.safetensors');
    writeFileSync(truncated, readFileSync(model).subarray(0, 1000));
    const cut = hlgfa('detect', '--model', truncated, '--out', join(dir, 'o'), join(data, 'test', 'good', '000.png'));
    expect(cut.code).toBe(1);
    expect(cut.err).toMatch(/cut\.safetensors: /);
  });
});
