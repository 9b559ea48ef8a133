// Fail closed: a checkpoint, config or run that cannot support a verdict stops the command with an
// error naming the file and the field, a non-zero exit code, no output, and no input changed.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, it } from 'vitest';
import { parseSafetensors } from '../../src/io/safetensors.js';
import { check, configWith, hashes, hlgfa, makeFixture, tamper, type Fixture } from './fixtures.js';

let fx: Fixture;
beforeAll(() => {
  fx = makeFixture();
});

/** detect with `model` on one image; asserts exit 1, the message, no output and unchanged inputs. */
function refusedByDetect(label: string, model: string, message: RegExp): void {
  const out = join(fx.dir, `out-${label.replace(/\W+/g, '-')}`);
  const before = hashes([model, fx.goodPng, fx.backbone]);
  const r = hlgfa(label, 'detect', '--model', model, '--backbone', fx.backbone, '--out', out, fx.goodPng);
  check(r.code, r.err).toBe(1);
  check(r.err).toMatch(message);
  check(r.out).not.toMatch(/normal|ANOMALOUS/);
  check(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  check(hashes([model, fx.goodPng, fx.backbone])).toEqual(before);
}

describe('checkpoint metadata is validated field by field', () => {
  const cases: Array<[string, Record<string, string | undefined>, RegExp]> = [
    ['threshold missing', { threshold: undefined, calibration: undefined }, /bad\.safetensors: metadata "threshold" is missing: the checkpoint is from a training run that stopped/],
    ['threshold "NaN"', { threshold: 'NaN', calibration: undefined }, /bad\.safetensors: metadata "threshold" is "NaN", expected a finite number/],
    ['threshold "abc"', { threshold: 'abc', calibration: undefined }, /metadata "threshold" is "abc", expected a finite number/],
    ['threshold "Infinity"', { threshold: 'Infinity', calibration: undefined }, /metadata "threshold" is "Infinity", expected a finite number/],
    ['threshold "-Infinity"', { threshold: '-Infinity', calibration: undefined }, /metadata "threshold" is "-Infinity", expected a finite number/],
    ['calibration disagrees with threshold', { threshold: '0.5' }, /metadata "calibration" gives threshold .* but "threshold" is 0\.5/],
    ['channels not matching the taps', { channels: '[24, 32]' }, /metadata "channels" has 2 entries but the config has 3 taps/],
    ['channels not integers', { channels: '[24, "x", 96]' }, /metadata "channels" must be a list of positive integers/],
    ['backbone sha256 empty', { backbone: JSON.stringify({ architecture: 'mobilenet_v2', source: 'x', sha256: '' }) }, /metadata "backbone" has sha256 "", expected 64 hex digits/],
    ['backbone missing', { backbone: undefined }, /checkpoint metadata "backbone" is missing/],
    ['config not JSON', { config: '{' }, /checkpoint metadata "config" is not valid JSON/],
  ];
  for (const [label, meta, message] of cases) {
    it(label, () => refusedByDetect(label, tamper(fx.model, join(fx.dir, 'bad.safetensors'), { meta }), message));
  }

  it('config values out of range or unknown', () => {
    const bad = (patch: Record<string, unknown>) => tamper(fx.model, join(fx.dir, 'bad.safetensors'), { meta: { config: configWith(fx.model, patch) } });
    refusedByDetect('checkpoint config topkFraction 2', bad({ topkFraction: 2 }), /metadata "config": topkFraction must be a number in \(0, 1\], got 2/);
    refusedByDetect('checkpoint config blurSigma -1', bad({ blurSigma: -1 }), /metadata "config": blurSigma must be a number in \[0, 64\], got -1/);
    refusedByDetect('checkpoint config unknown key', bad({ topk: 0.1 }), /metadata "config": unknown option "topk" \(did you mean "topkFraction"\?\)/);
  });

  it('tensors: dtype F32, finite values, present', () => {
    const file = parseSafetensors(new Uint8Array(readFileSync(fx.model)), fx.model);
    const bias = file.tensors.get('level0.gate.bias')!;
    const n = bias.shape.reduce((a, b) => a * b, 1);
    const nan = Float32Array.from({ length: n }, (_, i) => (i === 3 ? NaN : 0));
    refusedByDetect('NaN weight', tamper(fx.model, join(fx.dir, 'bad.safetensors'), { tensors: { 'level0.gate.bias': { dtype: 'F32', shape: bias.shape, data: nan } } }), /tensor "level0\.gate\.bias" holds NaN at element 3/);
    const f16 = { dtype: 'F16' as const, shape: bias.shape, data: new Float32Array(n) };
    refusedByDetect('F16 weight', tamper(fx.model, join(fx.dir, 'bad.safetensors'), { tensors: { 'level0.gate.bias': f16 } }), /tensor "level0\.gate\.bias" has dtype F16, expected F32/);
    const map = file.tensors.get('stats.mean_map')!;
    const inf = Float32Array.from({ length: map.shape.reduce((a, b) => a * b, 1) }, (_, i) => (i === 7 ? Infinity : 0));
    refusedByDetect('infinite mean map', tamper(fx.model, join(fx.dir, 'bad.safetensors'), { tensors: { 'stats.mean_map': { dtype: 'F32', shape: map.shape, data: inf } } }), /tensor "stats\.mean_map" holds Infinity at element 7/);
  });

  it('a finite but exploding model gives an error, never a verdict', () => {
    const file = parseSafetensors(new Uint8Array(readFileSync(fx.model)), fx.model);
    const w = file.tensors.get('level0.modulation.weight')!;
    const huge = new Float32Array(w.shape.reduce((a, b) => a * b, 1)).fill(3e38);
    const model = tamper(fx.model, join(fx.dir, 'huge.safetensors'), { tensors: { 'level0.modulation.weight': { dtype: 'F32', shape: w.shape, data: huge } } });
    refusedByDetect('overflowing weights', model, /the anomaly map holds (NaN|Infinity|-Infinity) at pixel \(\d+, \d+\); the model or the input is broken, so no score is given/);
  });
});

describe('training that cannot produce a sound model writes none', () => {
  it('a run whose loss stops being finite stops with an error and keeps the last good checkpoint', () => {
    // Resuming a model whose (finite) weights overflow: the first loss of epoch 2 is not finite.
    const file = parseSafetensors(new Uint8Array(readFileSync(fx.model)), fx.model);
    const w = file.tensors.get('level0.modulation.weight')!;
    const huge = new Float32Array(w.shape.reduce((a, b) => a * b, 1)).fill(3e38);
    const out = tamper(fx.model, join(fx.dir, 'diverging.safetensors'), { tensors: { 'level0.modulation.weight': { dtype: 'F32', shape: w.shape, data: huge } } });
    const before = hashes([out, fx.trainPng]);
    const r = hlgfa('train diverging (resumed)', 'train', '--data', fx.data, '--out', out, '--resume', '--epochs', '2', '--backbone', fx.backbone);
    check(r.code, r.err).toBe(1);
    check(r.err).toMatch(/training diverged: the loss is (NaN|Infinity|-Infinity) at epoch 2, step 1 \(learning rate 0\.001; try a lower --lr\)\. Nothing was written for this epoch/);
    check(r.out).not.toMatch(/wrote/);
    check(hashes([out, fx.trainPng])).toEqual(before);
    check(readdirSync(fx.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('out-of-range options are usage errors (exit 2) before any work', () => {
    const out = join(fx.dir, 'never.safetensors');
    const cases: Array<[string, string[], RegExp]> = [
      ['--config topkFraction 2', ['--config', '{"topkFraction":2}'], /topkFraction must be a number in \(0, 1\], got 2/],
      ['--config blurSigma -1', ['--config', '{"blurSigma":-1}'], /blurSigma must be a number in \[0, 64\], got -1/],
      ['--config blurSigma 1e6', ['--config', '{"blurSigma":1e6}'], /blurSigma must be a number in \[0, 64\], got 1000000/],
      ['--config unknown key', ['--config', '{"blursigma":2}'], /unknown option "blursigma" \(did you mean "blurSigma"\?\)/],
      ['--config not an object', ['--config', '[1]'], /--config must be a JSON object/],
      ['--epochs ""', ['--epochs', ''], /--epochs must be an integer >= 0/],
      ['--epochs 0x1', ['--epochs', '0x1'], /--epochs must be an integer >= 0/],
      ['--lr abc', ['--lr', 'abc'], /--lr must be a number > 0/],
      ['--lr 1e30', ['--lr', '1e30'], /--lr must be a number > 0 and <= 10, got "1e30"/],
      ['--fpr 2', ['--fpr', '2'], /--fpr must be a number > 0 and <= 0\.5/],
      ['stray argument', ['stray'], /unexpected argument "stray"/],
    ];
    for (const [label, extra, message] of cases) {
      const r = hlgfa(`train ${label}`, 'train', '--data', fx.data, '--out', out, ...extra);
      check(r.code, `${label}: ${r.err}`).toBe(2);
      check(r.err, label).toMatch(message);
      check(r.err, `${label}: no GPU started`).not.toMatch(/artificially reduced/);
      check(existsSync(out), label).toBe(false);
    }
  });
});

describe('threshold calibration and verdict metrics', () => {
  it('train reports the calibration rule; eval prints and writes the verdict metrics', () => {
    const ck = parseSafetensors(new Uint8Array(readFileSync(fx.model)), fx.model);
    const cal = JSON.parse(ck.metadata.calibration);
    check(cal).toMatchObject({ rule: 'gumbel-fpr', fpr: 0.01, source: 'training' });
    check(Number(ck.metadata.threshold)).toBe(cal.threshold);
    const json = join(fx.dir, 'metrics.json');
    const e = hlgfa('eval verdict metrics', 'eval', '--data', fx.data, '--model', fx.model, '--backbone', fx.backbone, '--json', json);
    check(e.code, e.err).toBe(0);
    check(e.err).toMatch(/warning: .*calibrated on \d+ training image\(s\)/);
    check(e.out).toMatch(/verdicts at threshold -?\d.*: accuracy \d+\.\d %, precision .* recall .* F1 .* false positives .* \(TP \d+, FP \d+, TN \d+, FN \d+\)/);
    check(e.out).toMatch(/best F1 on this test set \(oracle\) at -?\d/);
    const m = JSON.parse(readFileSync(json, 'utf8'));
    check(m.verdict.tp + m.verdict.fp + m.verdict.tn + m.verdict.fn).toBe(m.images);
    check(m.verdict.threshold).toBe(cal.threshold);
    check(m.bestF1.f1).toBeGreaterThanOrEqual(Number.isFinite(m.verdict.f1) ? m.verdict.f1 : 0);
    check(m.calibration).toMatchObject({ rule: 'gumbel-fpr' });
  });

  it('detect --threshold overrides the checkpoint; a bad value is a usage error', () => {
    const out = join(fx.dir, 'thr');
    const low = hlgfa('detect --threshold -1e9', 'detect', '--model', fx.model, '--backbone', fx.backbone, '--out', out, '--threshold', '-1e9', fx.goodPng, fx.crackPng);
    check(low.code, low.err).toBe(0);
    check(low.out).toMatch(/2\/2 anomalous \(threshold -1000000000\.00000\)/);
    const high = hlgfa('detect --threshold 1e9', 'detect', '--model', fx.model, '--backbone', fx.backbone, '--out', out, '--threshold', '1e9', fx.goodPng, fx.crackPng);
    check(high.out).toMatch(/0\/2 anomalous/);
    const bad = hlgfa('detect --threshold nan', 'detect', '--model', fx.model, '--out', out, '--threshold', 'NaN', fx.goodPng);
    check(bad.code).toBe(2);
    check(bad.err).toMatch(/--threshold must be a number/);
  });

  it('one training image: trains, warns that the threshold rests on too little', () => {
    const one = join(fx.dir, 'one');
    const src = join(fx.data, 'train', 'good');
    const dst = join(one, 'train', 'good');
    mkdirSync(dst, { recursive: true });
    writeFileSync(join(dst, '000.png'), readFileSync(join(src, '000.png')));
    const out = join(fx.dir, 'one.safetensors');
    const r = hlgfa('train on one image', 'train', '--data', one, '--out', out, '--epochs', '1', '--size', '64', '--backbone', fx.backbone);
    check(r.code, r.err).toBe(0);
    check(r.err).toMatch(/warning: the threshold was calibrated on 1 training image\(s\)/);
  });
});
