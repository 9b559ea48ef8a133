// Progress and ETA for a training run, from trainHlgfa's reports and the estimate made before it.
// trainHlgfa gives an ETA in its training phase only, and reports feature caching per batch and
// calibration per batch of map statistics (not the threshold scoring after it). So each stage's
// remaining time comes from its own pace once a step of it is done (time per step × steps left),
// from the estimate before that (scaled by how this run compares with its estimate so far), and
// the stages still to come from the estimate scaled the same way. Pure: no DOM, no clock of its own.
import type { TrainProgress } from '../../models/hlgfa-train.js';
import type { TrainingEstimate } from './estimate.js';

/** trainHlgfa's phases, with 'calibrate' told apart: map statistics, then the threshold. */
export type Stage = 'features' | 'train' | 'statistics' | 'threshold';
const STAGES: readonly Stage[] = ['features', 'train', 'statistics', 'threshold'];

export interface ProgressView {
  stage: Stage;
  /** What is running, with its counts, elapsed time and ETA. */
  text: string;
  elapsed: number;
  /** Seconds until the whole run ends. */
  eta: number;
  /** Share of the whole run done, 0..1; never goes back. */
  fraction: number;
}

/** m:ss (h:mm:ss from an hour), or --:-- for an unknown time. */
export function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export class RunClock {
  private stage: Stage = 'features';
  private stageStart: number;
  private last: TrainProgress | null = null;
  private lastAt = 0;
  private shown = 0;

  /** `start` and every `now` are milliseconds (performance.now()). */
  constructor(
    private readonly est: TrainingEstimate,
    private readonly start: number,
  ) {
    this.stageStart = start;
  }

  get current(): Stage {
    return this.stage;
  }

  report(p: TrainProgress, now: number): void {
    const stage: Stage = p.phase === 'calibrate' ? (p.step >= this.est.fit ? 'threshold' : 'statistics') : p.phase;
    if (stage !== this.stage) {
      this.stage = stage;
      this.stageStart = now;
    }
    this.last = p;
    this.lastAt = now;
  }

  private estimateOf(s: Stage): number {
    return this.est[s];
  }

  /** Share of the current stage done according to the last report (0 before its first). */
  private share(): number {
    const p = this.last;
    if (!p) return 0;
    if (this.stage === 'features' && p.phase === 'features') return p.step / Math.max(p.steps, 1);
    if (this.stage === 'train' && p.phase === 'train') return ((p.epoch - 1) * p.steps + p.step) / Math.max(p.epochs * p.steps, 1);
    if (this.stage === 'statistics' && p.phase === 'calibrate') return p.step / Math.max(this.est.fit, 1);
    return 0;
  }

  view(now: number): ProgressView {
    const elapsed = (now - this.start) / 1000;
    const i = STAGES.indexOf(this.stage);
    const share = this.share();
    const estimatedDone = STAGES.slice(0, i).reduce((a, s) => a + this.estimateOf(s), 0) + share * this.estimateOf(this.stage);
    // This run against its estimate, once part of it is measured (1 until then).
    const lastElapsed = (this.lastAt - this.start) / 1000;
    const pace = this.last && estimatedDone > 0 ? lastElapsed / estimatedDone : 1;
    const sinceReport = (now - this.lastAt) / 1000;
    const inStage = (now - this.stageStart) / 1000;
    let remaining: number;
    if (this.stage === 'train' && this.last?.phase === 'train') remaining = this.last.etaSeconds - sinceReport;
    else if (share > 0) remaining = (((this.lastAt - this.stageStart) / 1000) * (1 - share)) / share - sinceReport;
    else remaining = this.estimateOf(this.stage) * pace - inStage;
    const later = STAGES.slice(i + 1).reduce((a, s) => a + this.estimateOf(s) * pace, 0);
    const eta = Math.max(0, remaining) + later;
    this.shown = Math.min(0.99, Math.max(this.shown, elapsed / Math.max(elapsed + eta, 1e-9)));
    return { stage: this.stage, text: `${this.stageText()} · ${clock(elapsed)} elapsed · ETA ${clock(eta)}`, elapsed, eta, fraction: this.shown };
  }

  private stageText(): string {
    const p = this.last;
    const { fit, calibration } = this.est;
    switch (this.stage) {
      case 'features':
        return `caching backbone features ${p?.phase === 'features' ? p.step : 0}/${fit}`;
      case 'train':
        return p?.phase === 'train'
          ? `epoch ${p.epoch}/${p.epochs} · step ${p.step}/${p.steps} · loss ${p.loss.toFixed(4)} · ${p.imagesPerSecond.toFixed(1)} img/s`
          : 'training';
      case 'statistics':
        return `calibrating: map statistics ${p?.phase === 'calibrate' ? p.step : 0}/${fit}`;
      case 'threshold':
        return `calibrating: the threshold on ${calibration} image${calibration === 1 ? '' : 's'}`;
    }
  }
}
