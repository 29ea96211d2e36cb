import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** This package's directory: scripts run from it resolve its dependencies. */
export const PACKAGE_DIR = dirname(dirname(fileURLToPath(import.meta.url)));

/**
 * True while a process with this pid exists (signal 0 only checks). A zombie — dead, but not yet
 * reaped by its (grand)parent — counts as gone.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (macOS): signal 0 succeeded
  }
}

/** Resolves true if a TCP connection to 127.0.0.1:port succeeds. */
export function portAcceptsConnections(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Resolves with 'pending' if `promise` has not settled within `ms`. */
export async function settlesWithin<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => resolve('pending'), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until it returns true or `timeoutMs` passes; returns the last result. */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 5_000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Pids of the live (non-zombie) child processes of this process, from /proc (Linux). */
export function childPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) === process.pid && state !== 'Z') pids.push(Number(name));
    } catch {
      // exited while listing
    }
  }
  return pids;
}

/** The value of `-Djava.io.tmpdir=` on a running java's command line. */
export function javaTmpDir(pid: number): string | undefined {
  const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  return args.find((arg) => arg.startsWith('-Djava.io.tmpdir='))?.slice('-Djava.io.tmpdir='.length);
}

/** A TypeScript module run with tsx in a child process: its output so far and its exit. */
export interface RunningScript {
  child: ChildProcess;
  out: () => string;
  exit: Promise<{ code: number | null; signal: string | null }>;
}

/**
 * Writes `body` (top-level await allowed) to a module in `dir` and runs it with tsx from this
 * package's directory, stdout and stderr collected together.
 */
export async function runTsScript(dir: string, body: string): Promise<RunningScript> {
  const script = join(dir, `s-${Math.random().toString(36).slice(2)}.mts`);
  await writeFile(script, body);
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: PACKAGE_DIR,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, out: () => out, exit };
}
