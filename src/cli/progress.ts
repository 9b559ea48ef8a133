// A one-line progress bar on stderr (redrawn in place on a terminal, a line every few seconds
// otherwise, so CI logs stay readable).
import { stderrIsTerminal } from './dawn-stderr.js';

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return `${h ? `${h}:` : ''}${String(m).padStart(h ? 2 : 1, '0')}:${String(r).padStart(2, '0')}`;
}

export class ProgressBar {
  private lastDraw = 0;
  private readonly tty = stderrIsTerminal();

  update(fraction: number, text: string, force = false): void {
    const now = performance.now();
    if (!force && now - this.lastDraw < (this.tty ? 100 : 5000)) return;
    this.lastDraw = now;
    const width = 24;
    const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${text}`;
    if (this.tty) process.stderr.write(`\r\x1b[2K${line}`);
    else process.stderr.write(`${line}\n`);
  }

  done(text = ''): void {
    if (this.tty) process.stderr.write(`\r\x1b[2K${text}${text ? '\n' : ''}`);
    else if (text) process.stderr.write(`${text}\n`);
  }
}

export { clock };
