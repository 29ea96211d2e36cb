import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve, sep } from 'node:path';

/** How long `stop()` waits after SIGTERM before it sends SIGKILL. */
export const STOP_GRACE_MS = 5_000;

const TAIL_LINES = 40;

/** Keeps the last lines a child wrote to stdout and stderr, for error messages. */
class OutputTail {
  private readonly lines: string[] = [];
  private partial = '';

  push(chunk: Buffer): void {
    const text = this.partial + chunk.toString('utf8');
    const parts = text.split(/\r?\n/);
    this.partial = parts.pop() ?? '';
    if (this.partial.length > 4096) this.partial = this.partial.slice(-4096);
    for (const line of parts) {
      if (line.trim() === '') continue;
      this.lines.push(line.length > 500 ? `${line.slice(0, 500)}…` : line);
      if (this.lines.length > TAIL_LINES) this.lines.shift();
    }
  }

  text(): string {
    const all = this.partial.trim() === '' ? this.lines : [...this.lines, this.partial];
    return all.length === 0 ? '(no output)' : all.map((line) => `  ${line}`).join('\n');
  }
}

/** How a child ended. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A spawned service process that is killed on `stop()` and when this process exits. */
export interface ManagedChild {
  readonly pid: number;
  /** Resolves when the process has exited and been reaped. */
  readonly exited: Promise<ChildExit>;
  /** True once the process has exited. */
  hasExited(): boolean;
  /** The last lines of the child's stdout and stderr, indented, for error messages. */
  outputTail(): string;
  /** SIGCONT + SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
  /** SIGSTOP: the process stays alive but stops answering. */
  pause(): void;
  /** SIGCONT after {@link ManagedChild.pause}. */
  resume(): void;
}

const live = new Set<ChildProcess>();
/** Watchdogs of live children, killed before them so that they never act on a reused pid. */
const watchdogs = new Map<ChildProcess, ChildProcess>();
const HANDLED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let exitHookInstalled = false;
let signalHooksInstalled = false;

const exitCleanups = new Set<() => void>();

function killAllNow(): void {
  for (const watchdog of watchdogs.values()) {
    try {
      watchdog.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  watchdogs.clear();
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
  for (const cleanup of exitCleanups) {
    try {
      cleanup();
    } catch {
      // best effort while exiting
    }
  }
  exitCleanups.clear();
}

/**
 * Runs `cleanup` synchronously if this process exits (or is terminated by a SIGINT, SIGTERM or
 * SIGHUP that the application does not handle) before the returned function is called to cancel it.
 */
export function onProcessExit(cleanup: () => void): () => void {
  installExitHook();
  exitCleanups.add(cleanup);
  return () => {
    exitCleanups.delete(cleanup);
  };
}

function onSignal(signal: NodeJS.Signals): void {
  // If the application has its own handler, it owns shutdown: its services must keep answering
  // while it drains work and calls stop() (or ignores the signal altogether). If it then exits
  // without stop(), the 'exit' hook still kills them.
  if (process.listenerCount(signal) !== 1) return;
  // Nobody else handles it: the default behaviour (terminate) kills this process without an 'exit'
  // event, so kill the services now, then restore that behaviour by re-raising the signal.
  killAllNow();
  removeSignalHooks();
  process.kill(process.pid, signal);
}

function installExitHook(): void {
  if (!exitHookInstalled) {
    process.on('exit', killAllNow);
    exitHookInstalled = true;
  }
}

function installHooks(): void {
  installExitHook();
  if (!signalHooksInstalled && process.platform !== 'win32') {
    for (const signal of HANDLED_SIGNALS) process.on(signal, onSignal);
    signalHooksInstalled = true;
  }
}

function removeSignalHooks(): void {
  if (!signalHooksInstalled) return;
  for (const signal of HANDLED_SIGNALS) process.off(signal, onSignal);
  signalHooksInstalled = false;
}

function forget(child: ChildProcess): void {
  live.delete(child);
  const watchdog = watchdogs.get(child);
  watchdogs.delete(child);
  try {
    watchdog?.kill('SIGKILL');
  } catch {
    // already gone
  }
  if (live.size === 0) removeSignalHooks();
}

function unrefStream(stream: unknown): void {
  const maybe = stream as { unref?: () => void } | null;
  maybe?.unref?.();
}

/**
 * What a watchdog runs: it waits for end-of-file on its stdin, which comes when this process is gone
 * (even after SIGKILL, when no exit hook can run), then kills the service process and removes its
 * directory. While this process lives the service pid cannot be reused: only we can reap it, and we
 * kill the watchdog as soon as we do.
 */
const WATCHDOG_SCRIPT = 'read _; kill -9 "$1" 2>/dev/null; [ -z "$2" ] || rm -rf -- "$2"';

function startWatchdog(pid: number, cleanupDir: string | undefined): ChildProcess | undefined {
  if (process.platform === 'win32') return undefined;
  try {
    const watchdog = spawn(
      '/bin/sh',
      ['-c', WATCHDOG_SCRIPT, 'leasehold-watchdog', String(pid), cleanupDir ?? ''],
      {
        stdio: ['pipe', 'ignore', 'ignore'],
      },
    );
    watchdog.on('error', () => {}); // best effort: no /bin/sh, no watchdog
    watchdog.stdin?.on('error', () => {});
    watchdog.unref();
    unrefStream(watchdog.stdin);
    return watchdog;
  } catch {
    return undefined;
  }
}

/**
 * Makes a path to an executable absolute, against the current working directory; a bare name
 * (`redis-server`) is kept for the PATH lookup. Services are spawned with another working directory,
 * against which a relative path would be resolved instead: ENOENT, reported as a missing prerequisite.
 */
export function resolveExecutable(command: string): string {
  return command.includes('/') || command.includes(sep) ? resolve(command) : command;
}

/**
 * Spawns a service process. Resolves once it has started; rejects with the spawn error (e.g.
 * ENOENT) if it could not be started. The child and its pipes are `unref`'d so that they never keep
 * this process alive on their own; they are killed when this process exits, and by a watchdog
 * process if this process is killed without a chance to clean up (SIGKILL). The watchdog also
 * removes `cleanupDir`, if given, in that case.
 */
export async function spawnManaged(
  command: string,
  args: string[],
  cwd?: string,
  cleanupDir?: string,
): Promise<ManagedChild> {
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(cwd === undefined ? {} : { cwd }),
    windowsHide: true,
  });
  const tail = new OutputTail();
  child.stdout?.on('data', (chunk: Buffer) => tail.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => tail.push(chunk));

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => {
      child.off('spawn', onSpawn);
      reject(error);
    };
    const onSpawn = (): void => {
      child.off('error', onError);
      resolve();
    };
    child.once('error', onError);
    child.once('spawn', onSpawn);
  });

  const pid = child.pid;
  if (pid === undefined) throw new Error(`${command} started without a pid`);
  live.add(child);
  installHooks();
  const watchdog = startWatchdog(pid, cleanupDir);
  if (watchdog !== undefined) watchdogs.set(child, watchdog);

  let exitInfo: ChildExit | undefined;
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      forget(child);
      resolve(exitInfo);
    });
  });
  // Errors after spawn (e.g. a failed kill) must not crash the process.
  child.on('error', () => {});

  child.unref();
  unrefStream(child.stdout);
  unrefStream(child.stderr);

  const signal = (name: NodeJS.Signals): void => {
    if (exitInfo !== undefined) return;
    try {
      process.kill(pid, name);
    } catch {
      // exited in the meantime
    }
  };

  return {
    pid,
    exited,
    hasExited: () => exitInfo !== undefined,
    outputTail: () => tail.text(),
    pause: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
    async stop(graceMs = STOP_GRACE_MS): Promise<void> {
      if (exitInfo !== undefined) return;
      // Keep the event loop alive until the exit is observed, so `await stop()` always resumes.
      child.ref();
      signal('SIGCONT'); // a paused process would not act on SIGTERM
      signal('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), graceMs);
      });
      const first = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (first === 'timeout') {
        signal('SIGKILL');
        await exited;
      }
    },
  };
}

/** Finds a free TCP port on 127.0.0.1 by binding port 0. */
export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('could not determine a free port'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
