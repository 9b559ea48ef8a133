// The side-by-side winner table of `hlgfa tune --browser`: one row per knob, one column per
// adapter (the Node run or cache entry, the browser run), each cell the winning value and its
// speed-up over the built-in default where both were measured. Node-free and pure.
import { defaultTuning, type TuningRecord } from '../ops/tuning.js';
import { KNOB_NAMES, knobLabel, type TuneMeasurements } from './tuner.js';

export interface TuneColumn {
  /** Header, e.g. "mesa/software (Node)". */
  name: string;
  /** "family.knob" → winning label; knobs absent were not measured for this adapter. */
  winners: Record<string, string>;
  measurements?: TuneMeasurements;
}

/** A cached entry as a column: winners for the knobs its measurements cover (every knob of its record without them). */
export function columnFromEntry(name: string, record: TuningRecord, measurements?: unknown): TuneColumn {
  const m = measurements && typeof measurements === 'object' ? (measurements as TuneMeasurements) : undefined;
  const winners: Record<string, string> = {};
  for (const k of KNOB_NAMES) {
    const [family, knob] = k.split('.');
    const value = knobLabel(record, family, knob);
    if (value !== null && (!m || m[family]?.[knob])) winners[k] = value;
  }
  return { name, winners, measurements: m };
}

const show = (label: string) => label.replace(/["{}]/g, '');

function cell(col: TuneColumn, k: string, dflt: string): string {
  const w = col.winners[k];
  if (w === undefined) return '—';
  const [family, knob] = k.split('.');
  const scores = col.measurements?.[family]?.[knob];
  const a = scores?.[dflt]?.ms;
  const b = scores?.[w]?.ms;
  return w !== dflt && a && b ? `${show(w)} (×${(a / b).toFixed(2)})` : show(w);
}

/** The table as text (×N: default time / winner time on that adapter). */
export function comparisonTable(columns: readonly TuneColumn[]): string {
  const dflt = defaultTuning();
  const knobs = KNOB_NAMES.filter((k) => columns.some((c) => c.winners[k] !== undefined));
  const rows = [
    ['knob', 'default', ...columns.map((c) => c.name)],
    ...knobs.map((k) => {
      const [family, knob] = k.split('.');
      const d = knobLabel(dflt, family, knob)!;
      return [k, show(d), ...columns.map((c) => cell(c, k, d))];
    }),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((s, i) => s.padEnd(widths[i])).join('  ').trimEnd();
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}
