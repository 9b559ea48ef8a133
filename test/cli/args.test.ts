// The argument parser and option readers, then the `hlgfa` dispatcher end to end: every malformed
// argument is a usage error (exit 2) that names the option and the value, raised before any work.
// The CLI half spawns the built command (dist/ comes from `npm run build`).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { intOption, numberOption, parseArgs, UsageError, type ArgSpec } from '../../src/cli/args.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TRAIN: ArgSpec = { values: ['data', 'out', 'epochs', 'lr', 'seed'], flags: ['resume'] };

/** The UsageError message parseArgs throws, or "" when it accepts `argv`. */
function usageError(argv: string[], spec: ArgSpec = TRAIN): string {
  try {
    parseArgs(argv, spec);
    return '';
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
}

const withValue = (name: string, raw: string) => parseArgs([`--${name}=${raw}`], { values: [name] });

describe('parseArgs', () => {
  it('reads --name value, --name=value, flags, -h, and lets the last of a repeated value win', () => {
    const a = parseArgs(['--data', 'D', '--out=M=1', '--resume', '-h', '--seed', '-3', '--seed', '4'], TRAIN);
    expect(a.values).toEqual({ data: 'D', out: 'M=1', seed: '4' });
    expect([...a.flags].sort()).toEqual(['help', 'resume']);
    expect(a.positionals).toEqual([]);
    expect(parseArgs(['--out='], TRAIN).values).toEqual({ out: '' });
  });

  it('names unknown options and suggests the nearest known one', () => {
    expect(usageError(['--epoch', '3'])).toBe('unknown option --epoch (did you mean --epochs?)');
    expect(usageError(['--epoch=3'])).toBe('unknown option --epoch (did you mean --epochs?)');
    expect(usageError(['--zzzzzz'])).toBe('unknown option --zzzzzz');
    expect(usageError(['-epochs', '3'])).toBe('unknown option -epochs (did you mean --epochs?)');
    expect(usageError(['-x'])).toBe('unknown option -x (options start with --)');
  });

  it('rejects a value option without its value and a flag with one', () => {
    expect(usageError(['--data'])).toBe('option --data needs a value');
    expect(usageError(['--data', '--out', 'M'])).toBe('option --data needs a value, got the option --out (write --data=--out if that is the value)');
    expect(parseArgs(['--data=--out'], TRAIN).values.data).toBe('--out');
    expect(usageError(['--resume=1'])).toBe('option --resume takes no value, got "1"');
  });

  it('takes no positionals unless the spec declares them', () => {
    expect(usageError(['--data', 'D', 'stray'])).toBe('unexpected argument "stray"');
    expect(usageError(['epochs', '3'])).toBe('unexpected argument "epochs" (did you mean --epochs?)');
    expect(usageError(['-'])).toBe('unexpected argument "-"');
    expect(usageError(['--', '--data'])).toBe('unexpected argument "--data"');
  });

  it('checks declared positionals against min and max, and ends options at --', () => {
    const images: ArgSpec = { values: ['model'], positionals: { min: 0, name: 'image' } };
    expect(parseArgs(['a.png', '--model', 'm', 'b.png'], images).positionals).toEqual(['a.png', 'b.png']);
    expect(parseArgs([], images).positionals).toEqual([]);
    const a = parseArgs(['--model', 'm', '--', '--model', '-h', '--'], images);
    expect([a.values, a.positionals, a.flags.size]).toEqual([{ model: 'm' }, ['--model', '-h', '--'], 0]);
    const two: ArgSpec = { positionals: { min: 1, max: 2, name: 'file' } };
    expect(usageError([], two)).toBe('expected at least 1 file, got 0');
    expect(usageError(['a', 'b', 'c'], two)).toBe('unexpected argument "c" (at most 2 files)');
    expect(usageError(['a'], { positionals: { min: 2 } })).toBe('expected at least 2 arguments, got 1');
    expect(parseArgs(['a', 'b'], two).positionals).toEqual(['a', 'b']);
  });
});

describe('intOption', () => {
  it('accepts decimal digits with an optional +, within [min, max], and falls back when absent', () => {
    expect(intOption(withValue('epochs', '0'), 'epochs', 7, 0)).toBe(0);
    expect(intOption(withValue('epochs', '+12'), 'epochs', 7, 0)).toBe(12);
    expect(intOption(withValue('epochs', '007'), 'epochs', 7, 0)).toBe(7);
    expect(intOption(parseArgs([], { values: ['epochs'] }), 'epochs', 7, 0)).toBe(7);
    expect(intOption(withValue('port', '65535'), 'port', 8080, 0, 65535)).toBe(65535);
    expect(intOption(withValue('n', String(Number.MAX_SAFE_INTEGER)), 'n', 1)).toBe(Number.MAX_SAFE_INTEGER);
    expect(intOption(withValue('shift', '-5'), 'shift', 0, -10)).toBe(-5);
  });

  it('rejects every other form with the option, the range and the value in the message', () => {
    for (const raw of ['', ' 1', '1 ', '0x1', '1e3', '1.0', '1.5', '-1', '-0', 'Infinity', 'NaN', '1_000', '١']) {
      expect(() => intOption(withValue('epochs', raw), 'epochs', 1, 0), JSON.stringify(raw)).toThrow(`--epochs must be an integer >= 0, got "${raw}"`);
    }
    expect(() => intOption(withValue('batch', '0'), 'batch', 8)).toThrow('--batch must be an integer >= 1, got "0"');
    expect(() => intOption(withValue('port', '65536'), 'port', 8080, 0, 65535)).toThrow('--port must be an integer >= 0 and <= 65535, got "65536"');
    expect(() => intOption(withValue('n', '9007199254740993'), 'n', 1)).toThrow('--n must be an integer >= 1, got "9007199254740993"');
    expect(() => intOption(withValue('shift', '-11'), 'shift', 0, -10)).toThrow('--shift must be an integer >= -10, got "-11"');
    expect(() => intOption(withValue('shift', '--1'), 'shift', 0, -10)).toThrow(UsageError);
  });
});

describe('numberOption', () => {
  it('accepts decimal and exponent forms within the range', () => {
    const lr = (raw: string) => numberOption(withValue('lr', raw), 'lr', 1e-3, { min: 0, exclusiveMin: true });
    expect([lr('0.5'), lr('.5'), lr('5.'), lr('+2'), lr('1e-3'), lr('2.5E+2')]).toEqual([0.5, 0.5, 5, 2, 1e-3, 250]);
    expect(numberOption(parseArgs([], { values: ['lr'] }), 'lr', 1e-3)).toBe(1e-3);
    expect(numberOption(withValue('t', '-1.5'), 't', 0)).toBe(-1.5);
    expect(numberOption(withValue('p', '0'), 'p', 0.5, { min: 0, max: 1 })).toBe(0);
    expect(numberOption(withValue('p', '1'), 'p', 0.5, { min: 0, max: 1 })).toBe(1);
  });

  it('rejects other syntax, non-finite values and values out of range', () => {
    for (const raw of ['', 'abc', '0x10', 'Infinity', '-Infinity', 'NaN', ' 1', '1 ', '1e', 'e3', '.', '1.2.3', '1e999', '0b1']) {
      expect(() => numberOption(withValue('lr', raw), 'lr', 1, { min: 0, exclusiveMin: true }), JSON.stringify(raw)).toThrow(`--lr must be a number > 0, got "${raw}"`);
    }
    expect(() => numberOption(withValue('lr', '0'), 'lr', 1, { min: 0, exclusiveMin: true })).toThrow('--lr must be a number > 0, got "0"');
    expect(() => numberOption(withValue('p', '-0.1'), 'p', 0.5, { min: 0, max: 1 })).toThrow('--p must be a number >= 0 and <= 1, got "-0.1"');
    expect(() => numberOption(withValue('p', '1.01'), 'p', 0.5, { min: 0, max: 1 })).toThrow('--p must be a number >= 0 and <= 1, got "1.01"');
    expect(() => numberOption(withValue('t', 'x'), 't', 0)).toThrow('--t must be a number, got "x"');
  });
});

function hlgfa(...args: string[]) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['bin/hlgfa.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr, ms: performance.now() - t0 };
}

describe('hlgfa (the built CLI)', () => {
  it('prints the usage, commands in the order a user needs them, for a bare `hlgfa`, exit 0', () => {
    const r = hlgfa();
    expect([r.code, r.err]).toEqual([0, '']);
    expect(r.out).toMatch(/^Usage: hlgfa <command>/);
    const listed = [...r.out.matchAll(/^ {2}(\w+) {2,}/gm)].map((m) => m[1]);
    expect(listed).toEqual(['demo', 'train', 'eval', 'detect', 'serve', 'classify', 'info', 'warm', 'bench', 'profile', 'tune']);
    expect(r.out).toMatch(/ {2}warm .*\n\nDeveloper tools:\n {2}bench /);
    expect(hlgfa('--help').out).toBe(r.out);
  });

  it('prints the package version for --version and -V', () => {
    const { version } = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string };
    expect(hlgfa('--version')).toMatchObject({ code: 0, out: `${version}\n`, err: '' });
    expect(hlgfa('-V')).toMatchObject({ code: 0, out: `${version}\n` });
  });

  it('prints one command’s help for `help CMD`, and names an unknown one', () => {
    const r = hlgfa('help', 'train');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Usage: hlgfa train --data DIR/);
    expect(r.out).toBe(hlgfa('train', '--help').out);
    const bad = hlgfa('help', 'traim');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^hlgfa: unknown command "traim" \(did you mean train\?\)\n\nUsage: /);
  });

  it('rejects an unknown command with a suggestion, exit 2', () => {
    const r = hlgfa('traim', '--data', 'x');
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^hlgfa: unknown command "traim" \(did you mean train\?\)\n\nUsage: hlgfa/);
    // A swap of two adjacent letters counts as one edit.
    expect(hlgfa('trian')).toMatchObject({ code: 2, err: expect.stringMatching(/^hlgfa: unknown command "trian" \(did you mean train\?\)/) });
    expect(hlgfa('toString').err).toMatch(/^hlgfa: unknown command "toString"/);
    expect(hlgfa('--verison')).toMatchObject({ code: 2, err: expect.stringMatching(/^hlgfa: unknown option --verison \(did you mean --version\?\)/) });
  });

  it('fails on a malformed --epochs before reading data or starting the GPU', () => {
    const r = hlgfa('train', '--data', 'x', '--out', 'y', '--epochs', '');
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(/^hlgfa train: --epochs must be an integer >= 0( and <= \d+)?, got ""\n/);
    expect(r.err).not.toMatch(/maxDynamic|dataset folder/);
    expect(r.ms).toBeLessThan(2000);
    const demo = hlgfa('demo', '--out', 'never-written', '--epochs', '0x1');
    expect(demo.code, demo.err).toBe(2);
    expect(demo.err).toMatch(/^hlgfa demo: --epochs must be an integer >= 1, got "0x1"\n/);
    expect(demo.err + demo.out).not.toMatch(/maxDynamic|generating/);
  });

  it('reports a bad config value in one line without the help, exit 2', () => {
    const r = hlgfa('train', '--data', 'x', '--out', 'y', '--config', '{"size":100}');
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(/^hlgfa train: [^\n]*size must be a multiple of 32, got 100\n$/);
  });

  it('rejects a stray argument and a mistyped option before any work', () => {
    const stray = hlgfa('train', '--data', 'x', '--out', 'y', 'stray');
    expect(stray.code).toBe(2);
    expect(stray.err).toMatch(/^hlgfa train: unexpected argument "stray"\n\nUsage: hlgfa train/);
    const typo = hlgfa('train', '--data', 'x', '--out', 'y', '--epoch', '3');
    expect(typo.code).toBe(2);
    expect(typo.err).toMatch(/^hlgfa train: unknown option --epoch \(did you mean --epochs\?\)\n/);
    expect(stray.err + typo.err).not.toMatch(/maxDynamic|dataset folder/);
  });
});
