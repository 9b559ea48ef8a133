// A small argument parser: `--name value`, `--name=value`, boolean `--flag`, positionals, `--`.
// Everything a command reads from its arguments is checked here, before the command touches a file
// or starts the GPU, so that a typo costs the user a second and not a dataset load.
import { didYouMean } from '../util/suggest.js';

export interface PositionalSpec {
  /** Fewest positionals accepted (default 0). */
  min?: number;
  /** Most positionals accepted (default unlimited). */
  max?: number;
  /** What one positional is, for messages, e.g. "image" (default "argument"). */
  name?: string;
}

export interface ArgSpec {
  /** Options that take a value. */
  values?: readonly string[];
  /** Options that are booleans. */
  flags?: readonly string[];
  /** Positional arguments the command takes; when absent it takes none. */
  positionals?: PositionalSpec;
}

export interface ParsedArgs {
  positionals: string[];
  values: Record<string, string>;
  flags: Set<string>;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const dashed = (s: string) => `--${s}`;
const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

export function parseArgs(argv: readonly string[], spec: ArgSpec): ParsedArgs {
  const values: Record<string, string> = {};
  const flags = new Set<string>();
  const positionals: string[] = [];
  const valueNames = new Set(spec.values ?? []);
  const flagNames = new Set([...(spec.flags ?? []), 'help']);
  const allNames = [...valueNames, ...flagNames];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a === '-h') {
      flags.add('help');
      continue;
    }
    // A lone "-" (stdin by convention) and negative numbers stay positionals; "-x" is a mistyped option.
    if (/^-[A-Za-z]/.test(a)) {
      throw new UsageError(`unknown option ${a}${didYouMean(a.slice(1), allNames, dashed) || ' (options start with --)'}`);
    }
    if (!a.startsWith('--')) {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    if (valueNames.has(name)) {
      let v: string | undefined;
      if (eq >= 0) v = a.slice(eq + 1);
      else {
        v = argv[++i];
        if (v === undefined) throw new UsageError(`option --${name} needs a value`);
        // `--data --out M` would otherwise read "--out" as the folder and then complain about "M".
        if (v.startsWith('--')) throw new UsageError(`option --${name} needs a value, got the option ${v} (write --${name}=${v} if that is the value)`);
      }
      values[name] = v;
    } else if (flagNames.has(name)) {
      if (eq >= 0) throw new UsageError(`option --${name} takes no value, got "${a.slice(eq + 1)}"`);
      flags.add(name);
    } else {
      throw new UsageError(`unknown option ${eq < 0 || name === '' ? a : a.slice(0, eq)}${didYouMean(name, allNames, dashed)}`);
    }
  }
  checkPositionals(positionals, spec.positionals, allNames);
  return { positionals, values, flags };
}

function checkPositionals(positionals: readonly string[], spec: PositionalSpec | undefined, optionNames: readonly string[]): void {
  const what = spec?.name ?? 'argument';
  const max = spec ? (spec.max ?? Infinity) : 0;
  const min = spec?.min ?? 0;
  if (positionals.length > max) {
    const extra = positionals[max];
    // A word like "epochs" is most likely an option typed without its dashes.
    const hint = (extra.startsWith('-') ? '' : didYouMean(extra, optionNames, dashed)) || (max > 0 ? ` (at most ${plural(max, what)})` : '');
    throw new UsageError(`unexpected argument "${extra}"${hint}`);
  }
  if (positionals.length < min) throw new UsageError(`expected at least ${plural(min, what)}, got ${positionals.length}`);
}

function rangeText(min: number | undefined, max: number | undefined, exclusiveMin = false): string {
  const parts: string[] = [];
  if (min !== undefined) parts.push(`${exclusiveMin ? '>' : '>='} ${min}`);
  if (max !== undefined) parts.push(`<= ${max}`);
  return parts.length ? ` ${parts.join(' and ')}` : '';
}

/**
 * Reads an integer option: decimal digits only (a sign only where `min` < 0), within [min, max].
 * `Number()` alone would take "" as 0, "0x1" as 1 and "1e3" as 1000.
 */
export function intOption(args: ParsedArgs, name: string, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const raw = args.values[name];
  if (raw === undefined) return fallback;
  const syntax = min < 0 ? /^[+-]?\d+$/ : /^[+]?\d+$/;
  const v = Number(raw);
  if (!syntax.test(raw) || !(v >= min && v <= max)) {
    throw new UsageError(`--${name} must be an integer${rangeText(min, max === Number.MAX_SAFE_INTEGER ? undefined : max)}, got "${raw}"`);
  }
  return v;
}

export interface NumberRange {
  min?: number;
  max?: number;
  /** Whether `min` itself is excluded (e.g. a learning rate must be > 0). */
  exclusiveMin?: boolean;
}

// Decimal with optional fraction and exponent; no hex, no "Infinity"/"NaN", no surrounding blanks.
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Reads a finite decimal number option within the given range. */
export function numberOption(args: ParsedArgs, name: string, fallback: number, range: NumberRange = {}): number {
  const raw = args.values[name];
  if (raw === undefined) return fallback;
  const { min, max, exclusiveMin = false } = range;
  const v = Number(raw);
  const ok =
    FLOAT.test(raw) &&
    Number.isFinite(v) &&
    (min === undefined || (exclusiveMin ? v > min : v >= min)) &&
    (max === undefined || v <= max);
  if (!ok) throw new UsageError(`--${name} must be a number${rangeText(min, max, exclusiveMin)}, got "${raw}"`);
  return v;
}
