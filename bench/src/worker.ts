/**
 * Child-process side of every measurement. The parent only hosts the services (redis-server, the
 * Upstash-compatible endpoint, DynamoDB Local), so every contender's client runs in a fresh process of
 * its own, under the same conditions, and nothing (sockets, timers, stragglers) leaks between runs.
 */
import { subscribe } from 'node:diagnostics_channel';
import { Redis as IORedis } from 'ioredis';
import { contender, type Endpoints, type LockClient } from './contenders.js';
import { type CountingProxy, startHttpCountingProxy, startRespCountingProxy } from './proxy.js';
import { busyWork, percentile, runOrder, sharedNow, sleep } from './stats.js';

export interface LatencyTask {
  readonly task: 'latency';
  readonly contenders: readonly string[];
  readonly endpoints: Endpoints;
  readonly cycles: number;
  readonly workMs: number;
}

export interface Latency {
  readonly cycles: number;
  /** acquire + release, back to back. */
  readonly cycleP50: number;
  readonly cycleP99: number;
  readonly acquireP50: number;
  readonly releaseP50: number;
  /** One client, no contention: acquire → work → release, in a loop (the best a waiter could see). */
  readonly serialPerSecond: number;
}

export interface CountTask {
  readonly task: 'count';
  readonly contender: string;
  readonly endpoints: Endpoints;
  readonly cycles: number;
}

export interface OperationCounts {
  readonly acquire: number;
  /** null: the contender has no explicit extend. */
  readonly extend: number | null;
  readonly release: number;
  /** What the proxy saw per operation, by request or command name. */
  readonly detail: Record<string, Record<string, number>>;
}

/** Store requests per operation: steady state (averaged over the counted cycles), and the first call. */
export interface Requests extends OperationCounts {
  /**
   * The first acquire, extend and release of a fresh client (a new process), on a server whose Lua
   * script cache was just flushed (`SCRIPT FLUSH`; DynamoDB has none): what a cold start after a
   * failover or a flush pays, e.g. an `EVALSHA` answered `NOSCRIPT` and then `EVAL`.
   */
  readonly first: OperationCounts;
}

export interface HotKeyTask {
  readonly task: 'hotkey';
  readonly contender: string;
  readonly endpoints: Endpoints;
  readonly key: string;
  readonly waiters: number;
  readonly workMs: number;
  readonly durationMs: number;
  readonly ttlMs: number;
  /** How long after the end waiters still blocked in acquire may take before they are cut off. */
  readonly graceMs: number;
}

export interface Section {
  /** Wall-clock ms: when acquire resolved, when release was called, when it resolved. */
  readonly grant: number;
  readonly releaseStart: number;
  readonly releaseEnd: number;
}

export interface HotKeyOutput {
  readonly sections: Section[];
  readonly errors: string[];
  /** Store requests this process sent between the start and the cut-off (HTTP requests or Redis commands). */
  readonly requests: number;
  /** Store requests this process sent between the start and the end of the run (the deadline). */
  readonly requestsInRun: number;
}

export type Task = LatencyTask | CountTask | HotKeyTask;
export type ToParent =
  | { type: 'ready' }
  | { type: 'result'; result: unknown }
  | { type: 'failed'; error: string };
export type ToWorker = { type: 'task'; task: Task } | { type: 'go'; startAt: number };

/** Every store request this process sends: HTTP (node:http, fetch) and ioredis commands. */
let requestsSent = 0;
subscribe('http.client.request.start', () => {
  requestsSent++;
});
subscribe('undici:request:create', () => {
  requestsSent++;
});
const sendCommand = IORedis.prototype.sendCommand;
IORedis.prototype.sendCommand = function (this: IORedis, ...args: Parameters<IORedis['sendCommand']>) {
  requestsSent++;
  return sendCommand.apply(this, args);
};

async function latency(task: LatencyTask): Promise<Record<string, Latency>> {
  const clients: LockClient[] = [];
  for (const id of task.contenders) clients.push(await contender(id).create(task.endpoints));
  const samples = clients.map(() => ({
    cycle: [] as number[],
    acquire: [] as number[],
    release: [] as number[],
  }));
  const serial = clients.map(() => 0);
  const key = (j: number) => `bench:uncontended:${task.contenders[j]}`;
  // Warm-up: connections, script caches, JIT, DynamoDB Local's JVM.
  for (let i = 0; i < 20; i++) {
    for (const [j, client] of clients.entries()) await (await client.acquire(key(j), 10_000)).release();
  }
  // Interleaved cycle by cycle, so that drift and bursts of load from elsewhere on the machine hit
  // every contender alike.
  const sectionMs = clients.map(() => 0);
  let sections = 0;
  for (let i = 0; i < task.cycles; i++) {
    // The order changes too, through every permutation: no contender always runs first, or always
    // right after the same other contender's release.
    for (const j of runOrder(clients.length, i)) {
      const client = clients[j]!;
      const s = samples[j]!;
      const t0 = performance.now();
      const held = await client.acquire(key(j), 10_000);
      const t1 = performance.now();
      await held.release();
      const t2 = performance.now();
      s.cycle.push(t2 - t0);
      s.acquire.push(t1 - t0);
      s.release.push(t2 - t1);
    }
    if (i % 2 === 1) continue;
    for (const j of runOrder(clients.length, sections++)) {
      const client = clients[j]!;
      const t = performance.now();
      const held = await client.acquire(key(j), 10_000);
      busyWork(task.workMs);
      await held.release();
      sectionMs[j]! += performance.now() - t;
    }
  }
  for (const j of serial.keys()) serial[j] = sections / (sectionMs[j]! / 1000);
  await Promise.all(clients.map((c) => c.close()));
  return Object.fromEntries(
    task.contenders.map((id, j) => {
      const s = samples[j]!;
      const result: Latency = {
        cycles: s.cycle.length,
        cycleP50: percentile(s.cycle, 50),
        cycleP99: percentile(s.cycle, 99),
        acquireP50: percentile(s.acquire, 50),
        releaseP50: percentile(s.release, 50),
        serialPerSecond: serial[j]!,
      };
      return [id, result];
    }),
  );
}

async function count(task: CountTask): Promise<Requests> {
  const c = contender(task.contender);
  let proxy: CountingProxy;
  let endpoints: Endpoints;
  if (c.store === 'redis') {
    proxy = await startRespCountingProxy(task.endpoints.redisPort);
    endpoints = { ...task.endpoints, redisPort: proxy.port };
  } else if (c.store === 'upstash') {
    proxy = await startHttpCountingProxy(task.endpoints.upstashUrl);
    endpoints = { ...task.endpoints, upstashUrl: proxy.url };
  } else {
    proxy = await startHttpCountingProxy(task.endpoints.dynamoEndpoint);
    endpoints = { ...task.endpoints, dynamoEndpoint: proxy.url };
  }
  if (c.store !== 'dynamodb') {
    // Every contender's first call sees the same server: one whose script cache is empty (the
    // Upstash-compatible endpoint runs on the same redis-server). Not through the proxy.
    const admin = new IORedis({ host: '127.0.0.1', port: task.endpoints.redisPort });
    await admin.script('FLUSH');
    admin.disconnect();
  }
  const client = await c.create(endpoints);
  const key = `bench:count:${c.id}`;
  await sleep(100); // connection set-up (e.g. ioredis's ready check) is not an operation
  const counts = () => {
    const detail: Record<string, Record<string, number>> = { acquire: {}, extend: {}, release: {} };
    const totals = { acquire: 0, extend: 0, release: 0 };
    let extendable = true;
    const add = (op: keyof typeof totals) => {
      totals[op] += proxy.total();
      for (const [name, n] of Object.entries(proxy.counts()))
        detail[op]![name] = (detail[op]![name] ?? 0) + n;
      proxy.reset();
    };
    const cycle = async () => {
      const held = await client.acquire(key, 10_000);
      add('acquire');
      if (held.extend) {
        await held.extend(10_000);
        add('extend');
      } else {
        extendable = false;
      }
      await held.release();
      add('release');
    };
    const result = (cycles: number): OperationCounts => {
      for (const op of Object.values(detail))
        for (const name of Object.keys(op)) op[name] = op[name]! / cycles;
      return {
        acquire: totals.acquire / cycles,
        extend: extendable ? totals.extend / cycles : null,
        release: totals.release / cycles,
        detail,
      };
    };
    return { cycle, result };
  };
  proxy.reset();
  const firstCounts = counts();
  await firstCounts.cycle();
  const first = firstCounts.result(1);
  // Warm-up, then the steady state.
  for (let i = 0; i < 3; i++) {
    const held = await client.acquire(key, 10_000);
    await held.extend?.(10_000);
    await held.release();
  }
  await sleep(50); // let stray background requests land
  proxy.reset();
  const steady = counts();
  for (let i = 0; i < task.cycles; i++) await steady.cycle();
  await client.close();
  await proxy.close();
  return { ...steady.result(task.cycles), first };
}

async function hotKey(
  task: HotKeyTask,
  send: (m: ToParent) => void,
  go: Promise<number>,
): Promise<HotKeyOutput> {
  const client = await contender(task.contender).create(task.endpoints);
  // A floor cannot wait: it runs alone (one waiter), as the yardstick of one client's section rate.
  if (!client.acquireWaiting && task.waiters > 1) throw new Error(`${task.contender} cannot wait for a lock`);
  const acquireWaiting =
    client.acquireWaiting ?? ((key: string, ttlMs: number) => client.acquire(key, ttlMs));
  for (let i = 0; i < 3; i++) {
    await (await client.acquire(`${task.key}:warm:${process.pid}`, task.ttlMs)).release();
  }
  send({ type: 'ready' });
  const startAt = await go;
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - sharedNow())));
  const sentBefore = requestsSent;
  const deadline = startAt + task.durationMs;
  const cutoff = AbortSignal.timeout(Math.max(1, Math.ceil(deadline + task.graceMs - sharedNow())));
  const sections: Section[] = [];
  const errors: string[] = [];
  // Requests sent up to the deadline, for requests per section over the same window as sections/s
  // (after it, waiters still blocked keep polling, or withdraw, until they get their turn or the cut-off).
  let requestsInRun: number | undefined;
  const endOfRun = setTimeout(
    () => {
      requestsInRun = requestsSent - sentBefore;
    },
    Math.max(0, deadline - sharedNow()),
  );
  const waiter = async () => {
    while (sharedNow() < deadline && !cutoff.aborted) {
      try {
        const held = await acquireWaiting(task.key, task.ttlMs, cutoff);
        const grant = sharedNow();
        // A section yields to the event loop once, as any section doing I/O does, then computes for
        // ~workMs. (Entirely synchronous sections would also starve the releasing waiter of the chance
        // to queue again before the next holder runs.)
        await new Promise((resolve) => setImmediate(resolve));
        busyWork(task.workMs);
        const releaseStart = sharedNow();
        await held.release();
        sections.push({ grant, releaseStart, releaseEnd: sharedNow() });
      } catch (err) {
        if (!cutoff.aborted) errors.push(String(err).slice(0, 200));
      }
    }
  };
  const all = Promise.all(Array.from({ length: task.waiters }, waiter));
  // Waiters still blocked at the cut-off (peers cannot be aborted) are abandoned.
  await Promise.race([all, new Promise((resolve) => cutoff.addEventListener('abort', resolve))]);
  clearTimeout(endOfRun);
  const requests = requestsSent - sentBefore;
  return { sections, errors, requests, requestsInRun: requestsInRun ?? requests };
}

async function worker(): Promise<void> {
  const send = (m: ToParent) => process.send?.(m);
  let resolveGo: (startAt: number) => void = () => undefined;
  const go = new Promise<number>((resolve) => {
    resolveGo = resolve;
  });
  const task = await new Promise<Task>((resolve) => {
    process.on('message', (raw) => {
      const m = raw as ToWorker;
      if (m.type === 'task') resolve(m.task);
      else resolveGo(m.startAt);
    });
  });
  let result: unknown;
  if (task.task === 'latency') result = await latency(task);
  else if (task.task === 'count') result = await count(task);
  else result = await hotKey(task, send, go);
  send({ type: 'result', result });
  setTimeout(() => process.exit(0), 50);
}

worker().catch((err: unknown) => {
  process.send?.({ type: 'failed', error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  setTimeout(() => process.exit(1), 50);
});
