/**
 * The fault soak: real local services, a fault proxy in front of them, worker processes contending
 * for a few keys with fenced critical sections, a fault schedule on top (frozen and killed holders,
 * store stalls, store state loss, clock offsets, and wire faults on every request), then the history
 * checker over everything that happened.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  CreateTableCommand,
  DeleteItemCommand,
  DynamoDBClient,
  type DynamoDBClientConfig,
  GetItemCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { createLocker, type LockEvent, type Locker, type LockStore } from '@leasehold/core';
import { createLockTable, dynamoDbStore } from '@leasehold/dynamodb';
import { type LocalStores, startLocalStores } from '@leasehold/local';
import {
  type CheckResult,
  checkHistory,
  describeDynamoDbRequest,
  describeUpstashRequest,
  dynamoDbGrantedToken,
  emptyHistory,
  type FaultCounters,
  type FaultProxy,
  type FaultSchedule,
  type History,
  type RequestInfo,
  type ResourceState,
  type Rng,
  rng,
  type StoreOpRecord,
  sharedNow,
  startFaultProxy,
  upstashGrantedToken,
} from '@leasehold/testkit/faults';
import { upstashStore } from '@leasehold/upstash';
import type { AttemptOutcome, SoakStore, WorkerConfig, WorkerMessage } from './protocol.js';
import { recordingStore } from './recording-store.js';
import { startFencedResource } from './resource.js';

export type { SoakStore } from './protocol.js';

/**
 * - `pause`: SIGSTOP a holder in its critical section for 1.5x the TTL, then SIGCONT;
 * - `freeze-extend`: the same, at the moment its lease extension passes the proxy (the answer arrives
 *   while it is frozen);
 * - `kill`: SIGKILL a holder;
 * - `orphan`: every answer to one acquire (and to the SDK's retries of it) is lost after the store
 *   granted it: the caller gives up, and the grant must run out within its TTL;
 * - `stall`: the store stops answering for 0.6-1.6 s;
 * - `loss`: the store loses its lock state.
 */
export type DisruptiveFault = 'pause' | 'freeze-extend' | 'kill' | 'orphan' | 'stall' | 'loss';

export interface SoakOptions {
  readonly store: SoakStore;
  /** Stop once the workers have made this many acquisition attempts (and every fault ran `minEachFault` times). */
  readonly attempts: number;
  readonly seed: number;
  /** Worker processes. Default 8. */
  readonly workers?: number;
  /** Shared lock keys. Default 6. */
  readonly keys?: number;
  /** Lease TTL. Default 500 ms. */
  readonly ttlMs?: number;
  /** Workers' wall clocks are off by up to ± this. Default 50 ms. */
  readonly maxClockOffsetMs?: number;
  /**
   * The DynamoDB store's `clockSkewMs` margin. Default twice the clock offset, which keeps mutual
   * exclusion; less breaks the clock assumption on purpose (only fencing then protects), and the
   * exclusive-validity check is skipped.
   */
  readonly storeSkewMs?: number;
  /** Wire faults on every request through the proxy. */
  readonly proxySchedule?: FaultSchedule;
  /** Gap between two disruptive faults, ms. Default [500, 1500]. */
  readonly faultGapMs?: readonly [number, number];
  /** Share of critical sections longer than the TTL. Default 0.05. */
  readonly longSectionShare?: number;
  /** Think time of an ordinary critical section, ms. Default [1, 12]. */
  readonly sectionMs?: readonly [number, number];
  /** Each disruptive fault runs at least this often. Default 3. */
  readonly minEachFault?: number;
  readonly log?: (line: string) => void;
}

export interface SoakResult {
  readonly store: SoakStore;
  readonly seed: number;
  readonly durationMs: number;
  readonly attempts: number;
  readonly outcomes: Record<AttemptOutcome, number>;
  readonly faults: Record<DisruptiveFault, number> & { readonly clockOffsetsMs: number[] };
  readonly proxy: Omit<FaultCounters, 'byOp'>;
  /** Store requests seen by the proxy (lock operations). */
  readonly storeRequests: number;
  /** Unexpected worker exits and unexpected errors. */
  readonly crashes: string[];
  readonly check: CheckResult;
  readonly history: History;
}

/** The default wire-fault mix: mostly small delays, some lost answers, resets and stalls. */
export const DEFAULT_PROXY_SCHEDULE: FaultSchedule = {
  delay: 0.04,
  drop: 0.012,
  reset: 0.008,
  stall: 0.004,
  delayMs: [5, 60],
  stallMs: [200, 1200],
};

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));
/** Busy-waits inside Redis for ARGV[1] ms: the server answers nobody meanwhile (DEBUG SLEEP is disabled in Redis 7). */
const BUSY_LUA =
  "local s=redis.call('TIME') local t0=s[1]*1000000+s[2] while true do local t=redis.call('TIME') if (t[1]*1000000+t[2])-t0 >= tonumber(ARGV[1])*1000 then return 1 end end";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface WorkerHandle {
  readonly id: string;
  readonly child: ChildProcess;
  readonly offsetMs: number;
  /** The leases its callers hold, key → token (two callers per worker: see worker.ts). */
  readonly holding: Map<string, number>;
  paused: boolean;
  killed: boolean;
  exited: boolean;
  readonly exit: Promise<void>;
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const log = options.log ?? (() => {});
  const ttlMs = options.ttlMs ?? 500;
  const workerCount = options.workers ?? 8;
  const keys = Array.from({ length: options.keys ?? 6 }, (_, i) => `soak:${options.store}:k${i}`);
  const maxOffset = options.maxClockOffsetMs ?? 50;
  // DynamoDB compares client clocks: acquirers wait this margin so offsets within ±maxOffset stay safe.
  const storeSkewMs = options.storeSkewMs ?? 2 * maxOffset;
  const schedule = options.proxySchedule ?? DEFAULT_PROXY_SCHEDULE;
  const gap = options.faultGapMs ?? [500, 1500];
  const minEach = options.minEachFault ?? 3;
  const random: Rng = rng(options.seed);
  const started = sharedNow();
  log(
    `[${options.store}] soak seed ${options.seed}: ${options.attempts} attempts, ${workerCount} workers, ${keys.length} keys, TTL ${ttlMs} ms`,
  );

  const history = emptyHistory();
  const outcomes: Record<AttemptOutcome, number> = {
    done: 0,
    busy: 0,
    timeout: 0,
    lost: 0,
    'store-error': 0,
    other: 0,
  };
  const faults: Record<DisruptiveFault, number> = {
    pause: 0,
    'freeze-extend': 0,
    kill: 0,
    orphan: 0,
    stall: 0,
    loss: 0,
  };
  const crashes: string[] = [];
  const offsets: number[] = [];

  const services: LocalStores = await startLocalStores({
    services: options.store === 'dynamodb' ? ['dynamodb'] : ['upstash'],
  });
  const cleanups: Array<() => Promise<unknown>> = [() => services.stop()];
  const workers = new Map<string, WorkerHandle>();
  let stopping = false;
  /** Which worker holds which owner id (from its granted acquires), to freeze it mid-extension. */
  const ownerToWorker = new Map<string, string>();
  /** Armed by a `freeze-extend` fault: the next worker whose extension passes the proxy is frozen. */
  let freezeNextExtend: ((frozen: { worker: WorkerHandle; from: number }) => void) | undefined;
  const onProxyRequest = (info: RequestInfo) => {
    if (freezeNextExtend === undefined || info.op !== 'extend' || info.owner === undefined) return;
    const id = ownerToWorker.get(info.owner);
    const worker = id === undefined ? undefined : workers.get(id);
    if (worker === undefined || worker.paused || worker.killed || worker.exited) return;
    worker.paused = true;
    const from = sharedNow();
    worker.child.kill('SIGSTOP');
    const done = freezeNextExtend;
    freezeNextExtend = undefined;
    done({ worker, from });
  };
  try {
    const resource = await startFencedResource();
    cleanups.unshift(() => resource.close());

    // ---- the store, directly and behind the fault proxy -------------------------------------------
    let proxy: FaultProxy;
    let direct: LockStore;
    let dynamo: WorkerConfig['dynamodb'];
    let directClient: DynamoDBClient | undefined;
    let upstashCommand: ((command: string[]) => Promise<unknown>) | undefined;
    if (options.store === 'dynamodb') {
      const ddb = services.dynamodb;
      if (ddb === undefined) throw new Error('DynamoDB Local did not start');
      const config: DynamoDBClientConfig = {
        endpoint: ddb.endpoint,
        region: ddb.region,
        credentials: ddb.credentials,
      };
      directClient = new DynamoDBClient(config);
      const client = directClient;
      cleanups.unshift(async () => client.destroy());
      const lockTable = `soak-locks-${options.seed}`;
      const resourceTable = `soak-resource-${options.seed}`;
      await createLockTable(client, lockTable);
      await client.send(
        new CreateTableCommand({
          TableName: resourceTable,
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
      proxy = await startFaultProxy({
        upstream: ddb.endpoint,
        seed: options.seed,
        schedule,
        describe: describeDynamoDbRequest,
        onRequest: onProxyRequest,
      });
      dynamo = {
        endpoint: proxy.url,
        region: ddb.region,
        credentials: ddb.credentials,
        lockTable,
        resourceTable,
      };
      direct = dynamoDbStore({
        client,
        tableName: lockTable,
        clockSkewMs: storeSkewMs,
        requestTimeoutMs: 3_000,
      });
    } else {
      const upstash = services.upstash;
      if (upstash === undefined) throw new Error('the Upstash endpoint did not start');
      proxy = await startFaultProxy({
        upstream: upstash.url,
        seed: options.seed,
        schedule,
        describe: describeUpstashRequest,
        onRequest: onProxyRequest,
      });
      direct = upstashStore({ url: upstash.url, token: upstash.token });
      upstashCommand = async (command) => {
        const res = await fetch(upstash.url, {
          method: 'POST',
          headers: { authorization: `Bearer ${upstash.token}`, 'content-type': 'application/json' },
          body: JSON.stringify(command),
        });
        return res.json();
      };
    }
    const theProxy = proxy;
    const grantedToken = options.store === 'dynamodb' ? dynamoDbGrantedToken : upstashGrantedToken;
    cleanups.unshift(() => theProxy.close());
    log(`[${options.store}] fault proxy ${proxy.url}, seed ${proxy.seed}`);

    // ---- workers ------------------------------------------------------------------------------------
    let spawned = 0;
    // Releases sent but not (yet) answered: a worker killed meanwhile never reports the answer.
    const pendingReleases = new Map<string, StoreOpRecord>();
    const releaseId = (op: StoreOpRecord) => `${op.worker}\u0000${op.owner}\u0000${op.sentAt}`;
    const record = (worker: WorkerHandle, message: WorkerMessage) => {
      switch (message.t) {
        case 'op': {
          const { t: _, ...op } = message;
          if (op.op === 'release') pendingReleases.delete(releaseId(op));
          if (op.op === 'acquire' && op.outcome === 'granted') ownerToWorker.set(op.owner, worker.id);
          history.ops.push(op);
          return;
        }
        case 'release-sent': {
          const { t: _, ...op } = message;
          pendingReleases.set(releaseId(op), op);
          return;
        }
        case 'event': {
          const { t: _, ...event } = message;
          history.events.push(event);
          return;
        }
        case 'obs': {
          const { t: _, ...obs } = message;
          history.observations.push(obs);
          return;
        }
        case 'write': {
          const { t: _, ...write } = message;
          history.writes.push(write);
          return;
        }
        case 'hold':
          worker.holding.set(message.key, message.token);
          return;
        case 'free':
          // A lease passed on to the worker's other caller may be reported held before its
          // predecessor is reported free.
          if (worker.holding.get(message.key) === message.token) worker.holding.delete(message.key);
          return;
        case 'attempt':
          outcomes[message.outcome]++;
          if (message.detail !== undefined) crashes.push(`${worker.id}: ${message.detail}`);
          return;
        case 'ready':
          return;
      }
    };
    const spawnWorker = (): WorkerHandle => {
      const n = spawned++;
      const id = `w${n}`;
      // The first workers get the extreme offsets, so every run has both a fast and a slow clock.
      const offsetMs = n === 0 ? maxOffset : n === 1 ? -maxOffset : random.int(-maxOffset, maxOffset);
      offsets.push(offsetMs);
      const config: WorkerConfig = {
        id,
        store: options.store,
        seed: (options.seed + 7919 * (n + 1)) >>> 0,
        keys,
        ttlMs,
        waitMs: 2 * ttlMs,
        clockOffsetMs: offsetMs,
        storeSkewMs,
        longSectionShare: options.longSectionShare ?? 0.05,
        sectionMs: options.sectionMs ?? [1, 12],
        resourceUrl: resource.url,
        ...(dynamo === undefined ? {} : { dynamodb: dynamo }),
        ...(options.store === 'upstash' && services.upstash
          ? { upstash: { url: theProxy.url, token: services.upstash.token } }
          : {}),
      };
      const child = fork(WORKER, [], {
        cwd: REPO_ROOT,
        execArgv: ['--import', 'tsx', '--no-warnings'],
        env: { ...process.env, LEASEHOLD_SOAK_WORKER: JSON.stringify(config) },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'json',
      });
      let onExit: () => void = () => {};
      const handle: WorkerHandle = {
        id,
        child,
        offsetMs,
        holding: new Map(),
        paused: false,
        killed: false,
        exited: false,
        exit: new Promise<void>((resolve) => {
          onExit = resolve;
        }),
      };
      child.on('message', (message: WorkerMessage) => record(handle, message));
      child.on('exit', (code, signal) => {
        handle.exited = true;
        workers.delete(id);
        onExit();
        if (!handle.killed && !stopping) {
          crashes.push(`${id} exited unexpectedly (code ${code}, signal ${signal})`);
          spawnWorker();
        }
      });
      workers.set(id, handle);
      return handle;
    };
    cleanups.unshift(async () => {
      for (const w of workers.values()) {
        w.killed = true;
        w.child.kill('SIGKILL');
      }
    });
    for (let i = 0; i < workerCount; i++) spawnWorker();

    // ---- the probe: someone who wants a killed holder's key ------------------------------------------
    const probeEvents = (event: LockEvent) => {
      if (event.type === 'acquired' || event.type === 'released' || event.type === 'extended') {
        history.events.push({
          worker: 'probe',
          key: event.key,
          token: event.token,
          at: sharedNow(),
          type: event.type,
        });
      }
    };
    const probe: Locker = createLocker({
      store: recordingStore(direct, 'probe', (op) => history.ops.push(op)),
      ttlMs,
      retryMaxMs: 50,
      onEvent: probeEvents,
    });

    const attempts = () => Object.values(outcomes).reduce((a, b) => a + b, 0);
    const alive = () => [...workers.values()].filter((w) => !w.exited && !w.killed && !w.paused);
    const pickHolder = async (timeoutMs: number): Promise<WorkerHandle | undefined> => {
      const until = sharedNow() + timeoutMs;
      while (sharedNow() < until) {
        const holders = alive().filter((w) => w.holding.size > 0);
        if (holders.length > 0) return random.pick(holders);
        await sleep(3);
      }
      return undefined;
    };

    // ---- the disruptive faults -------------------------------------------------------------------------
    let upstashFlip = 0;
    const inject = async (kind: DisruptiveFault): Promise<boolean> => {
      switch (kind) {
        case 'pause': {
          // A GC pause or a frozen Lambda: SIGSTOP a holder for 1.5x its TTL, then SIGCONT.
          const candidates = alive();
          const target =
            (await pickHolder(2_000)) ?? (candidates.length > 0 ? random.pick(candidates) : undefined);
          if (target === undefined) return false;
          target.paused = true;
          const from = sharedNow();
          target.child.kill('SIGSTOP');
          await sleep(Math.round(ttlMs * 1.5));
          const to = sharedNow();
          target.child.kill('SIGCONT');
          target.paused = false;
          history.pauses.push({ worker: target.id, from, to });
          return true;
        }
        case 'freeze-extend': {
          const frozen = await new Promise<{ worker: WorkerHandle; from: number } | undefined>((resolve) => {
            const timer = setTimeout(() => {
              freezeNextExtend = undefined;
              resolve(undefined);
            }, 5_000);
            freezeNextExtend = (f) => {
              clearTimeout(timer);
              resolve(f);
            };
          });
          if (frozen === undefined) return false;
          await sleep(Math.round(ttlMs * 1.5));
          const to = sharedNow();
          frozen.worker.child.kill('SIGCONT');
          frozen.worker.paused = false;
          history.pauses.push({ worker: frozen.worker.id, from: frozen.from, to });
          return true;
        }
        case 'kill': {
          const target = await pickHolder(3_000);
          const held = target && [...target.holding][0];
          if (target === undefined || held === undefined) return false;
          const [key, token] = held;
          // No wire faults while the takeover is measured, and no stalled request of the victim's
          // may land after its death.
          theProxy.setSchedule({});
          theProxy.releaseStalled();
          target.killed = true;
          const at = sharedNow();
          target.child.kill('SIGKILL');
          history.kills.push({ worker: target.id, at, key, token });
          const wanted = probe
            .acquire(key, { waitMs: ttlMs + 1_500 })
            .then((lease) => lease.release())
            .catch(() => false);
          await sleep(ttlMs + 700);
          theProxy.setSchedule(schedule);
          await wanted;
          spawnWorker();
          return true;
        }
        case 'orphan': {
          // Try until a grant's answers were all lost and its caller gave up (an acquire that meets a
          // held key is refused, and a refusal lost is no orphan).
          for (let tries = 0; tries < 5; tries++) {
            let owner: string | undefined;
            const match = (info: RequestInfo) => {
              if (info.op !== 'acquire' || info.owner === undefined) return false;
              owner ??= info.owner;
              return info.owner === owner;
            };
            const drop = { kind: 'drop' } as const;
            theProxy.nextMatching(match, drop, drop, drop, drop);
            await sleep(2_000);
            theProxy.clearNext();
            const grantedAndLost = theProxy.records.some(
              (r) =>
                r.fault.kind === 'drop' &&
                r.info.owner === owner &&
                grantedToken(r.responseBody, r.status) !== undefined,
            );
            const gaveUp = history.ops.some(
              (o) => o.op === 'acquire' && o.owner === owner && o.outcome === 'error',
            );
            if (owner !== undefined && grantedAndLost && gaveUp) return true;
          }
          return false;
        }
        case 'stall': {
          const ms = random.int(600, 1_600);
          if (options.store === 'dynamodb') {
            services.dynamodb?.pause();
            await sleep(ms);
            services.dynamodb?.resume();
          } else if (upstashFlip++ % 2 === 0) {
            services.redis?.pause();
            await sleep(ms);
            services.redis?.resume();
          } else {
            await upstashCommand?.(['eval', BUSY_LUA, '0', String(ms)]);
          }
          return true;
        }
        case 'loss': {
          const at = sharedNow();
          let what: string;
          if (options.store === 'dynamodb' && directClient && dynamo) {
            const client = directClient;
            const table = dynamo.lockTable;
            const rows = await client.send(new ScanCommand({ TableName: table, ConsistentRead: true }));
            for (const item of rows.Items ?? []) {
              if (item.pk)
                await client.send(new DeleteItemCommand({ TableName: table, Key: { pk: item.pk } }));
            }
            what = `deleted ${rows.Items?.length ?? 0} lock rows`;
          } else if (upstashFlip++ % 2 === 0) {
            await upstashCommand?.(['flushall']);
            what = 'FLUSHALL';
          } else {
            await services.redis?.restart();
            what = 'redis-server restarted without persistence';
          }
          history.stateLosses.push({ at, until: sharedNow(), what });
          return true;
        }
      }
    };

    // Wait for the workers to be up before the clock starts counting faults.
    const readyBy = sharedNow() + 60_000;
    while (outcomes.done === 0 && sharedNow() < readyBy) await sleep(50);
    if (outcomes.done === 0) {
      throw new Error(
        `no worker completed an attempt within 60 s: ${crashes.slice(0, 3).join('; ') || 'no error'}`,
      );
    }

    let cycle: DisruptiveFault[] = [];
    let lastLog = sharedNow();
    const enough = () => attempts() >= options.attempts && Object.values(faults).every((n) => n >= minEach);
    while (!enough()) {
      if (crashes.length > 20) throw new Error(`workers keep crashing: ${crashes.slice(0, 3).join('; ')}`);
      await sleep(random.int(gap[0], gap[1]));
      if (cycle.length === 0) {
        cycle = shuffle(['pause', 'freeze-extend', 'kill', 'orphan', 'stall', 'loss'], random);
      }
      const kind = cycle.shift() as DisruptiveFault;
      if (await inject(kind)) faults[kind]++;
      if (sharedNow() - lastLog > 15_000) {
        lastLog = sharedNow();
        log(`[${options.store}] ${attempts()} attempts, faults ${JSON.stringify(faults)}`);
      }
    }

    // ---- stop, collect, check ------------------------------------------------------------------------
    stopping = true;
    theProxy.releaseStalled();
    for (const w of workers.values()) {
      if (w.paused) w.child.kill('SIGCONT');
      if (w.child.connected) w.child.send({ t: 'stop' });
    }
    const all = Promise.all([...workers.values()].map((w) => w.exit));
    const deadline = sleep(20_000).then(() => 'timeout' as const);
    if ((await Promise.race([all, deadline])) === 'timeout') {
      for (const w of workers.values()) {
        crashes.push(`${w.id} did not stop within 20 s`);
        w.killed = true;
        w.child.kill('SIGKILL');
      }
      await all;
    }
    await probe.close();

    history.ops.push(...pendingReleases.values());
    history.writes.push(...resource.writes);
    // DynamoDB: read back which fenced writes each resource item applied (durable-writes).
    if (directClient && dynamo) {
      const states: ResourceState[] = [];
      for (const key of keys) {
        const { Item } = await directClient.send(
          new GetItemCommand({
            TableName: dynamo.resourceTable,
            Key: { pk: { S: key } },
            ConsistentRead: true,
          }),
        );
        states.push({
          resource: `ddb:${key}`,
          appliedWrites: Number(Item?.writes?.N ?? 0),
          appliedIds: Item?.writeIds?.SS ?? [],
        });
      }
      Object.assign(history, { resourceStates: states });
    }
    // Grants whose answer never reached their caller: every dropped answer, and the grants of stalled
    // or delayed requests that the store applied after their caller had given up (no op of that owner
    // reports the token). Left out, their tokens escape unique-tokens, token-order and live-holders.
    const delivered = new Set(
      history.ops
        .filter((o) => o.op === 'acquire' && o.outcome === 'granted')
        .map((o) => `${o.owner}\u0000${o.token}`),
    );
    for (const r of proxy.records) {
      if (r.info.op !== 'acquire' || r.answeredAt === undefined) continue;
      if (r.info.key === undefined || r.info.owner === undefined) continue;
      const token = grantedToken(r.responseBody, r.status);
      if (
        r.fault.kind !== 'drop' &&
        (token === undefined || delivered.has(`${r.info.owner}\u0000${token}`))
      ) {
        continue;
      }
      history.lostAnswers.push({
        key: r.info.key,
        owner: r.info.owner,
        ...(token === undefined ? {} : { token }),
        sentAt: r.receivedAt,
        answeredAt: r.answeredAt,
      });
    }
    const check = checkHistory(history, {
      ttlMs,
      exclusive: options.store === 'upstash' || storeSkewMs >= 2 * maxOffset,
      takeoverSlackMs: 600,
      // DynamoDB: an acquirer treats a lease as expired only storeSkewMs after its expiry on its own
      // clock, and the clocks are off by up to ±maxOffset.
      expirySlackMs: options.store === 'dynamodb' ? storeSkewMs + 2 * maxOffset : 0,
    });
    const storeRequests = ['acquire', 'extend', 'release'].reduce(
      (n, op) => n + (proxy.counters.byOp[op] ?? 0),
      0,
    );
    const { byOp: _, ...proxyCounters } = proxy.counters;
    return {
      store: options.store,
      seed: options.seed,
      durationMs: sharedNow() - started,
      attempts: attempts(),
      outcomes,
      faults: { ...faults, clockOffsetsMs: offsets },
      proxy: { ...proxyCounters },
      storeRequests,
      crashes,
      check,
      history,
    };
  } finally {
    stopping = true;
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
  }
}

function shuffle<T>(items: T[], random: Rng): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** A fixed-width summary table of soak results. */
export function formatSoakTable(results: readonly SoakResult[]): string {
  const header = [
    'store',
    'attempts',
    'grants',
    'timeouts',
    'store errors',
    'stale writes rejected',
    'pauses',
    'frozen extends',
    'kills',
    'orphans',
    'stalls',
    'state losses',
    'wire faults d/l/r/s',
    'requests',
    'checks',
    'time',
  ];
  const rows = results.map((r) => {
    const s = r.check.stats;
    const failed = new Set(r.check.violations.map((v) => v.check)).size;
    return [
      r.store,
      String(r.attempts),
      String(s.grants),
      String(r.outcomes.timeout),
      String(r.outcomes['store-error']),
      `${s.staleWritesAfterPauseRejected}/${s.staleWritesAfterPause} (${s.writesRejected} in all)`,
      String(r.faults.pause),
      String(r.faults['freeze-extend']),
      String(r.faults.kill),
      String(r.faults.orphan),
      String(r.faults.stall),
      String(r.faults.loss),
      `${r.proxy.delay}/${r.proxy.drop}/${r.proxy.reset}/${r.proxy.stall}`,
      String(r.proxy.requests),
      failed === 0 && r.crashes.length === 0 ? 'all pass' : `${failed} FAILED`,
      `${(r.durationMs / 1000).toFixed(1)} s`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
