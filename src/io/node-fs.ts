// Node file-system adapter: the only file I/O the CLI and tools use. Writes are atomic (temp file
// in the same folder, fsync, rename) so an interrupted run never leaves a half-written output, and
// a failed write leaves no temp file. A process killed mid-write (SIGKILL, power loss) can leave
// one: the next write to the same path removes temp files whose writer process is gone.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

const ERRNO_TEXT: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a parent is not a directory',
  EISDIR: 'is a directory',
  EEXIST: 'already exists',
  EMFILE: 'too many open files',
  EIO: 'input/output error',
};

/** "ENOSPC: no space left on device" for a Node errno error; the message otherwise. */
export function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code) return ERRNO_TEXT[code] ? `${code}: ${ERRNO_TEXT[code]}` : code;
  return e instanceof Error ? e.message : String(e);
}

const TEMP = /^\.(.+)\.(\d+)\.tmp$/;

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes `.<name>.<pid>.tmp` files left in `dir` for `name` by processes that no longer run. */
export function removeStaleTemps(dir: string, name: string): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const entry of entries) {
    const m = TEMP.exec(entry);
    if (m && m[1] === name && !processAlive(Number(m[2]))) rmSync(join(dir, entry), { force: true });
  }
}

export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const dir = dirname(path);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new Error(`${path}: cannot create the folder ${dir} (${errnoText(e)})`);
  }
  removeStaleTemps(dir, basename(path));
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  try {
    const fd = openSync(tmp, 'w');
    try {
      let off = 0;
      while (off < bytes.byteLength) off += writeSync(fd, bytes, off, bytes.byteLength - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new Error(`${path}: cannot write (${errnoText(e)})`);
  }
}

/** A whole file's bytes, or an error that names the file and what it was ("…: backbone weights not found"). */
export function readFileOrThrow(path: string, what: string): Uint8Array {
  if (!existsSync(path)) throw new Error(`${path}: ${what} not found`);
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new Error(`${path}: cannot read ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}
