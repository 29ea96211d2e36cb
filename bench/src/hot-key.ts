/**
 * Parent side of the measurements: starts workers (worker.ts) and, for the hot key, lets W waiters in
 * one or several processes loop acquire → ~1 ms of CPU work → release on one key, then works out
 * sections per second and the release-to-next-grant handoff from everyone's timestamps.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { percentile, sharedNow } from './stats.js';
import type { HotKeyOutput, HotKeyTask, Task, ToParent, ToWorker } from './worker.js';

const SRC = dirname(fileURLToPath(import.meta.url));
const WORKER = join(SRC, '..', 'dist', 'worker.mjs');

let compiled: Promise<unknown> | undefined;
/**
 * The worker, compiled to plain JavaScript once per run: the bench's own files only, while every
 * package (Leasehold's included) is imported from node_modules as an application would. So contenders
 * run under plain `node`, as in production: in a worker under tsx's loader, Leasehold's uncontended
 * Upstash cycle measured 2–4% slower against `@upstash/lock`'s in the same process than under `node`.
 */
const compileWorker = () =>
  (compiled ??= build({
    entryPoints: [join(SRC, 'worker.ts')],
    outfile: WORKER,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'silent',
  }));

async function startWorker(): Promise<ChildProcess> {
  await compileWorker();
  return fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function nextMessage(child: ChildProcess): Promise<ToParent> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`bench worker exited early (code ${code})`));
    child.once('exit', onExit);
    child.once('message', (m) => {
      child.off('exit', onExit);
      const message = m as ToParent;
      if (message.type === 'failed') reject(new Error(message.error));
      else resolve(message);
    });
  });
}

const send = (child: ChildProcess, m: ToWorker) => child.send(m);

/** Runs one task in a fresh worker process and returns its result. */
export async function runTask<T>(task: Task): Promise<T> {
  const child = await startWorker();
  try {
    const done = nextMessage(child);
    send(child, { type: 'task', task });
    const m = await done;
    return (m as Extract<ToParent, { type: 'result' }>).result as T;
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

export interface HotKeyResult {
  readonly processes: number;
  readonly waiters: number;
  /** Sections completed within the run. */
  readonly sections: number;
  readonly perSecond: number;
  /** Release called → next holder's acquire resolved, ms. */
  readonly handoffP50: number;
  readonly handoffP99: number;
  /**
   * Handoffs between processes only (the next holder runs in another process than the last one):
   * p50/p99 in ms, and their share of all handoffs. NaN with one process.
   */
  readonly crossHandoffP50: number;
  readonly crossHandoffP99: number;
  readonly crossShare: number;
  /** Sections completed by the least and the most served process (fairness across processes). */
  readonly fewestByProcess: number;
  readonly mostByProcess: number;
  /** Of the handoff: the release call itself, and from its answer to the next grant (p50, ms). */
  readonly releaseP50: number;
  readonly afterReleaseP50: number;
  /**
   * Store requests (HTTP requests or Redis commands) all processes sent during the run, per section
   * granted during the run.
   */
  readonly requestsPerSection: number;
  /** Consecutive sections whose grant came before the previous release was even sent: must be 0. */
  readonly overlaps: number;
  readonly errors: string[];
}

/** Runs one hot-key scenario: `task.waiters` waiters spread over `processes` worker processes. */
export async function runHotKey(task: HotKeyTask, processes: number): Promise<HotKeyResult> {
  const perChild = Math.ceil(task.waiters / processes);
  const children = await Promise.all(Array.from({ length: processes }, startWorker));
  try {
    const ready = children.map(nextMessage);
    for (const child of children) send(child, { type: 'task', task: { ...task, waiters: perChild } });
    await Promise.all(ready);
    const results = children.map(nextMessage);
    const startAt = sharedNow() + 100;
    for (const child of children) send(child, { type: 'go', startAt });
    const outputs = (await Promise.all(results)).map(
      (m) => (m as Extract<ToParent, { type: 'result' }>).result as HotKeyOutput,
    );
    return summarize(outputs, startAt, task, processes, perChild * processes);
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  }
}

export function summarize(
  outputs: HotKeyOutput[],
  startAt: number,
  task: HotKeyTask,
  processes: number,
  waiters: number,
): HotKeyResult {
  const sections = outputs
    .flatMap((o, proc) => o.sections.map((s) => ({ ...s, proc })))
    .sort((a, b) => a.grant - b.grant);
  const deadline = startAt + task.durationMs;
  const handoffs: number[] = [];
  const crossHandoffs: number[] = [];
  const afterRelease: number[] = [];
  let overlaps = 0;
  for (let i = 1; i < sections.length; i++) {
    const previous = sections[i - 1]!;
    const gap = sections[i]!.grant - previous.releaseStart;
    // Clocks of different processes on one machine agree to well under 0.5 ms.
    if (gap < -0.5) overlaps++;
    // Handoffs within the run only, the window of sections/s: after the deadline no waiter queues
    // again, and those still blocked (a peer's waiter sleeping out a lease or a retry delay) take the
    // lock one by one at their own pace, which would weigh in the p99 of a run of a few hundred.
    if (sections[i]!.grant > deadline) continue;
    handoffs.push(Math.max(0, gap));
    if (sections[i]!.proc !== previous.proc) crossHandoffs.push(Math.max(0, gap));
    afterRelease.push(sections[i]!.grant - previous.releaseEnd);
  }
  const inTime = sections.filter((s) => s.releaseEnd <= deadline);
  const counted = inTime.length;
  const byProcess = outputs.map((_, proc) => inTime.filter((s) => s.proc === proc).length);
  // Requests sent by the deadline per section granted by then: the window of sections/s, so that the
  // polling (or withdrawing) of waiters still blocked after the end counts for no contender.
  const requests = outputs.reduce((sum, o) => sum + o.requestsInRun, 0);
  const grantedInRun = sections.filter((s) => s.grant <= deadline).length;
  return {
    processes,
    waiters,
    sections: counted,
    perSecond: counted / (task.durationMs / 1000),
    handoffP50: percentile(handoffs, 50),
    handoffP99: percentile(handoffs, 99),
    crossHandoffP50: processes > 1 ? percentile(crossHandoffs, 50) : Number.NaN,
    crossHandoffP99: processes > 1 ? percentile(crossHandoffs, 99) : Number.NaN,
    crossShare: processes > 1 && handoffs.length > 0 ? crossHandoffs.length / handoffs.length : Number.NaN,
    fewestByProcess: Math.min(...byProcess),
    mostByProcess: Math.max(...byProcess),
    releaseP50: percentile(
      inTime.map((s) => s.releaseEnd - s.releaseStart),
      50,
    ),
    afterReleaseP50: percentile(afterRelease, 50),
    requestsPerSection: grantedInRun === 0 ? Number.NaN : requests / grantedInRun,
    overlaps,
    errors: [...new Set(outputs.flatMap((o) => o.errors))],
  };
}
