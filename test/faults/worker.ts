/**
 * A fault-run worker: a separate process (as another Lambda instance or container would be) whose two
 * callers loop acquiring one of a few shared keys and running a fenced read-sleep-write critical
 * section, and that reports everything it does to the parent over IPC, stamped on the shared timeline.
 *
 * Started by the soak with `fork(worker.ts, { execArgv: ['--import', 'tsx'] })` and its config as
 * JSON in LEASEHOLD_SOAK_WORKER. The parent freezes (SIGSTOP/SIGCONT) and kills (SIGKILL) it.
 */
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import {
  createLocker,
  type Lease,
  type LockEvent,
  LockLostError,
  type LockStore,
  LockTimeoutError,
  StaleTokenError,
  StoreError,
} from '@leasehold/core';
import { dynamoDbStore, sendFenced } from '@leasehold/dynamodb';
import { rng, sharedNow } from '@leasehold/testkit/faults';
import { upstashStore } from '@leasehold/upstash';
import type { AttemptOutcome, ParentMessage, WorkerConfig, WorkerMessage } from './protocol.js';
import { recordingStore } from './recording-store.js';

const config = JSON.parse(process.env.LEASEHOLD_SOAK_WORKER ?? 'null') as WorkerConfig | null;
if (config === null) throw new Error('LEASEHOLD_SOAK_WORKER is not set: this file is started by the soak');
const cfg: WorkerConfig = config;
const id = cfg.id;
const random = rng(cfg.seed);

const report = (message: WorkerMessage) => {
  if (process.connected) process.send?.(message);
};
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---- the store, with this worker's clock offset ---------------------------------------------------
const realNow = Date.now;
let dynamo: DynamoDBClient | undefined;
let store: LockStore;
if (cfg.store === 'dynamodb') {
  const d = cfg.dynamodb;
  if (d === undefined) throw new Error('dynamodb config missing');
  dynamo = new DynamoDBClient({
    endpoint: d.endpoint,
    region: d.region,
    credentials: d.credentials,
    maxAttempts: 3,
  });
  store = dynamoDbStore({
    client: dynamo,
    tableName: d.lockTable,
    clockSkewMs: cfg.storeSkewMs,
    // The wall clock this "machine" has: off by clockOffsetMs.
    now: () => realNow() + cfg.clockOffsetMs,
    requestTimeoutMs: 3_000,
  });
} else {
  const u = cfg.upstash;
  if (u === undefined) throw new Error('upstash config missing');
  // The Upstash store reads Date.now() only for its token floor (expiry runs on the Redis clock):
  // give this whole process the skewed clock, as a machine with a wrong clock would have.
  Date.now = () => realNow() + cfg.clockOffsetMs;
  store = upstashStore({ url: u.url, token: u.token });
}

const onEvent = (event: LockEvent) => {
  if (event.type === 'acquired' || event.type === 'extended' || event.type === 'released') {
    report({ t: 'event', worker: id, key: event.key, token: event.token, at: sharedNow(), type: event.type });
  } else if (event.type === 'lost') {
    report({
      t: 'event',
      worker: id,
      key: event.key,
      token: event.token,
      at: sharedNow(),
      type: 'lost',
      reason: event.reason,
    });
  }
};

const locker = createLocker({
  store: recordingStore(
    store,
    id,
    (op) => report({ t: 'op', ...op }),
    0,
    (op) => report({ t: 'release-sent', ...op }),
  ),
  ttlMs: cfg.ttlMs,
  waitMs: cfg.waitMs,
  retryMaxMs: 100,
  onEvent,
});

// ---- the protected resources ----------------------------------------------------------------------
async function post(path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${cfg.resourceUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return (await res.json()) as Record<string, unknown>;
}

let writeSeq = 0;

/** A DynamoDB item of the user's own, written with `sendFenced` (DynamoDB runs only). */
async function fencedItemWrite(key: string, lease: Lease): Promise<void> {
  const d = cfg.dynamodb;
  if (dynamo === undefined || d === undefined) return;
  const sentAt = sharedNow();
  // The id goes into a string set on the item, so that durable-writes can look for this very write.
  const writeId = `${id}#${++writeSeq}`;
  let outcome: 'accepted' | 'rejected' | 'unknown';
  try {
    await sendFenced(
      dynamo,
      lease,
      new UpdateItemCommand({
        TableName: d.resourceTable,
        Key: { pk: { S: key } },
        UpdateExpression: 'SET #w = :w ADD #n :one, #i :id',
        ExpressionAttributeNames: { '#w': 'writer', '#n': 'writes', '#i': 'writeIds' },
        ExpressionAttributeValues: { ':w': { S: id }, ':one': { N: '1' }, ':id': { SS: [writeId] } },
      }),
    );
    outcome = 'accepted';
  } catch (err) {
    // A refusal of a retried copy (maybeApplied) leaves the first copy's fate open.
    outcome = err instanceof StaleTokenError && !err.maybeApplied ? 'rejected' : 'unknown';
  }
  report({
    t: 'write',
    resource: `ddb:${key}`,
    worker: id,
    token: lease.token,
    sentAt,
    receivedAt: sharedNow(),
    outcome,
    id: writeId,
  });
}

/** Reads `held` and `remainingMs` in one synchronous step and reports them. */
function observe(key: string, lease: Lease): void {
  const at = sharedNow();
  const held = lease.held;
  const remainingMs = lease.remainingMs;
  report({ t: 'obs', worker: id, key, token: lease.token, at, held, remainingMs });
}

/**
 * The critical section: read, think, write. It checks the lease before starting, but (like much real
 * code) not between the read and the write — a pause there makes a stale write that fencing must stop.
 */
async function section(key: string, lease: Lease, manual: boolean, slot: Slot): Promise<void> {
  report({ t: 'hold', key, token: lease.token });
  slot.held = lease.token;
  observe(key, lease);
  if (!lease.held) return;
  const read = await post('/read', { key });
  const value = Number(read.value);
  if (random.chance(cfg.longSectionShare)) {
    // A long section: longer than the TTL, so the lease must be extended to survive it.
    if (manual) {
      await sleep(Math.floor(cfg.ttlMs * 0.6));
      try {
        await lease.extend();
      } catch (err) {
        if (!(err instanceof LockLostError) && !(err instanceof StoreError)) throw err;
      }
      observe(key, lease);
      await sleep(Math.floor(cfg.ttlMs * 0.6));
    } else {
      await sleep(random.int(Math.floor(cfg.ttlMs * 1.1), cfg.ttlMs * 2));
    }
  } else {
    await sleep(random.int(cfg.sectionMs[0], cfg.sectionMs[1]));
  }
  observe(key, lease);
  await post('/write', { key, token: lease.token, worker: id, value: value + 1 });
  if (random.chance(0.5)) await fencedItemWrite(key, lease);
  observe(key, lease);
}

function outcomeOf(err: unknown): AttemptOutcome {
  if (err instanceof LockTimeoutError) return 'timeout';
  if (err instanceof LockLostError) return 'lost';
  if (err instanceof StoreError) return 'store-error';
  return 'other';
}

let stopping = false;
process.on('message', (message: ParentMessage) => {
  if (message.t === 'stop') stopping = true;
});

/** What one of the worker's callers holds: the token its section reported, until reported free. */
interface Slot {
  held: number | undefined;
}

/** Reports the end of the lease `slot` holds, if any. */
function free(key: string, slot: Slot): void {
  if (slot.held !== undefined) report({ t: 'free', key, token: slot.held });
  slot.held = undefined;
}

async function attempt(key: string, slot: Slot): Promise<AttemptOutcome> {
  const mode = random();
  if (mode < 0.6) {
    await locker.withLock(key, (lease) => section(key, lease, false, slot));
    return 'done';
  }
  const lease = mode < 0.9 ? await locker.acquire(key) : await locker.tryAcquire(key);
  if (lease === null) return 'busy';
  // Cleanup tied to the lease's signal, as much code has it: it runs inside core's own release (and
  // its local pass to the other caller), expiry and loss.
  if (random.chance(0.5))
    lease.signal.addEventListener('abort', () => void lease.release().catch(() => false));
  try {
    await section(key, lease, true, slot);
  } finally {
    free(key, slot);
    await lease.release().catch(() => false);
  }
  return 'done';
}

/**
 * Callers per worker, each looping on attempts: two, so that they meet on a key now and then and the
 * locker passes the lease from one to the other with no store request (core's local hand-off), under
 * the same faults as everything else.
 */
const CALLERS = 2;

async function caller(): Promise<void> {
  const slot: Slot = { held: undefined };
  while (!stopping) {
    const key = random.pick(cfg.keys);
    let outcome: AttemptOutcome;
    let detail: string | undefined;
    try {
      outcome = await attempt(key, slot);
    } catch (err) {
      outcome = outcomeOf(err);
      if (outcome === 'other') detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
    }
    free(key, slot);
    report({ t: 'attempt', outcome, ...(detail === undefined ? {} : { detail }) });
    // Don't spin while the store is down; otherwise a short breather between attempts.
    await sleep(outcome === 'store-error' || outcome === 'other' ? random.int(20, 60) : random.int(0, 4));
  }
}

async function main(): Promise<void> {
  report({ t: 'ready' });
  await Promise.all(Array.from({ length: CALLERS }, caller));
  await locker.close();
  dynamo?.destroy();
  process.disconnect?.();
  process.exit(0);
}

void main();
