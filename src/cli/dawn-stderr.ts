// Dawn prints two warnings from native code straight to file descriptor 2 whenever it opens a
// Vulkan adapter that reports more dynamic buffers per pipeline layout than Dawn supports (lavapipe
// reports 1 000 000; Dawn caps it at 16 and says so). They are not actionable, no API or toggle
// turns them off, and Node cannot redirect its own fd 2. So the commands that open the GPU run in a
// child process whose stderr passes through `StderrFilter`, which drops exactly those two lines and
// forwards everything else as it comes (progress bars redraw without newlines, so nothing waits for
// one). HLGFA_DAWN_WARNINGS=1 keeps them.
import { spawn } from 'node:child_process';

export const DAWN_LIMIT_WARNING = /^Warning: maxDynamic(?:Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.\r?$/;
const WARNING_PREFIX = 'Warning: maxDynamic';

/** Set in the child: its stderr is already filtered (and tells it whether the real stderr is a terminal). */
export const FILTERED_ENV = 'HLGFA_STDERR_FILTERED';
export const STDERR_TTY_ENV = 'HLGFA_STDERR_TTY';

/** True when this process's stderr is, or is piped to, a terminal. */
export function stderrIsTerminal(): boolean {
  return process.env[FILTERED_ENV] === '1' ? process.env[STDERR_TTY_ENV] === '1' : Boolean(process.stderr.isTTY);
}

/** Drops Dawn's limit warnings from a text stream, holding back only what could still become one. */
export class StderrFilter {
  private pending = '';

  /** The part of `chunk` (with anything held back before it) that can be written now. */
  push(chunk: string): string {
    let text = this.pending + chunk;
    let out = '';
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n')) {
      const line = text.slice(0, nl);
      if (!DAWN_LIMIT_WARNING.test(line)) out += `${line}\n`;
      text = text.slice(nl + 1);
    }
    // An unterminated tail is held only while it may be the start of a warning line.
    const mayBeWarning = text.length < WARNING_PREFIX.length ? WARNING_PREFIX.startsWith(text) : text.startsWith(WARNING_PREFIX);
    this.pending = mayBeWarning ? text : '';
    return mayBeWarning ? out : out + text;
  }

  /** Whatever is still held back, at the end of the stream. */
  flush(): string {
    const rest = this.pending;
    this.pending = '';
    return DAWN_LIMIT_WARNING.test(rest) ? '' : rest;
  }
}

/** Whether `hlgfa <argv>` should run behind the filter (a GPU command, not already filtered, not opted out). */
export function wantsFilteredStderr(argv: readonly string[], gpuCommands: ReadonlySet<string>): boolean {
  if (process.env[FILTERED_ENV] === '1' || process.env.HLGFA_DAWN_WARNINGS === '1') return false;
  const command = argv[0];
  return command !== undefined && gpuCommands.has(command) && !argv.includes('--help') && !argv.includes('-h');
}

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Runs `node <script> <argv>` with stdin and stdout inherited and stderr filtered; resolves to its
 * exit code, or re-raises the signal that ended it. The child has its own process group, so a
 * Ctrl-C reaches it once (forwarded from here), and it leaves when this process dies (IPC channel).
 */
export function runWithFilteredStderr(script: string, argv: readonly string[]): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, script, ...argv], {
    stdio: ['inherit', 'inherit', 'pipe', 'ipc'],
    detached: true,
    env: { ...process.env, [FILTERED_ENV]: '1', [STDERR_TTY_ENV]: process.stderr.isTTY ? '1' : '0', ...(process.stderr.columns ? { COLUMNS: String(process.stderr.columns) } : {}) },
  });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const s of FORWARDED_SIGNALS) process.on(s, forward);
  const filter = new StderrFilter();
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    const text = filter.push(chunk);
    if (text) process.stderr.write(text);
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      for (const s of FORWARDED_SIGNALS) process.off(s, forward);
      const rest = filter.flush();
      if (rest) process.stderr.write(rest);
      if (signal) process.kill(process.pid, signal);
      resolve(code ?? 1);
    });
  });
}

/** In the child: leave when the filtering parent is gone, without the channel keeping us alive. */
export function watchFilteringParent(): void {
  if (process.env[FILTERED_ENV] !== '1' || !process.channel) return;
  process.on('disconnect', () => process.exit(129));
  process.channel.unref();
}
