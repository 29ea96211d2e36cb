import { FENCE_STEP, type LockState, type LockStore, StoreError } from '../../src/index.js';

interface Row {
  owner?: string;
  expiresAt: number;
  fence: number;
}

/** How an injected failure behaves: the request is lost, or it is applied and only the answer is lost. */
export type FailureMode = 'before' | 'after';

/** One operation as the store applied it (failures of mode `before` are never applied). */
export interface AppliedOp {
  readonly op: 'acquire' | 'extend' | 'release' | 'inspect' | 'takeover' | 'lose';
  readonly key: string;
  readonly owner?: string;
  /** Store time (Date.now()) of the apply. */
  readonly at: number;
  /** acquire/takeover: the token granted, if granted. */
  readonly granted?: number;
  /** extend/release: the store's answer. */
  readonly ok?: boolean;
  /** The answer will be lost (failure mode `after`). */
  readonly answerLost: boolean;
}

export interface MemoryStoreOptions {
  /**
   * Start a key's fence counter from a clock floor (epoch ms × 1000), like the real stores, so tokens
   * keep increasing after the key's state is lost. Default false: counters start at 1.
   */
  readonly clockFloor?: boolean;
  /** Implement `waitForRelease` (release announcements, like Upstash pub/sub). Default false. */
  readonly announceReleases?: boolean;
}

/** In-memory store for core unit tests only: real stores are tested against real services. */
export interface MemoryStore extends LockStore {
  readonly rows: Map<string, Row>;
  readonly calls: { acquire: number; extend: number; release: number; inspect: number };
  /**
   * Makes the next `n` calls of any kind reject with a StoreError: with mode `before` (default) the
   * request never reaches the store; with `after` it is applied and the answer is lost.
   */
  failNext(n?: number, mode?: FailureMode): void;
  /** Simulates another client taking the key over regardless of expiry (our lease is lost). */
  steal(key: string, ttlMs?: number): void;
  /** Another client acquires the key the ordinary way (only when free or expired): its token, or null. */
  takeOver(key: string, ttlMs: number, owner?: string): number | null;
  /** Data loss: the store forgets everything about the key (row and fence counter). */
  lose(key: string): void;
  /** Adds latency before every call reaches the store (read when the call is made). */
  latencyMs: number;
  /** Adds up to this many ms of extra, random request latency per call: concurrent calls may be reordered. */
  jitterMs: number;
  /** Source of the jitter; seed it for reproducible runs. */
  random: () => number;
  /** Adds latency between the store applying a call and the caller getting the answer. */
  replyLatencyMs: number;
  /** Observes every applied operation, in apply order. */
  onApply?: (op: AppliedOp) => void;
}

export function memoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  const rows = new Map<string, Row>();
  const calls = { acquire: 0, extend: 0, release: 0, inspect: 0 };
  const releaseListeners = new Map<string, Set<() => void>>();
  let failures = 0;
  let failureMode: FailureMode = 'before';
  const delay = (ms: number) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : undefined);
  const failure = () => new StoreError('memory', 'unreachable', 'injected failure');
  /** Request latency, injected failure, apply, reply latency: the shape of one round trip. */
  const roundTrip = async <T>(apply: (answerLost: boolean) => T): Promise<T> => {
    const replyLatency = store.replyLatencyMs;
    const jitter = store.jitterMs > 0 ? Math.floor(store.random() * (store.jitterMs + 1)) : 0;
    await delay(store.latencyMs + jitter);
    let answerLost = false;
    if (failures > 0) {
      failures--;
      if (failureMode === 'before') throw failure();
      answerLost = true;
    }
    const out = apply(answerLost);
    await delay(replyLatency);
    if (answerLost) throw failure();
    return out;
  };
  const emit = (op: AppliedOp) => store.onApply?.(op);
  const newFence = () => (options.clockFloor ? Date.now() * 1000 : 0) + 1;
  const announce = (key: string) => {
    for (const wake of [...(releaseListeners.get(key) ?? [])]) wake();
  };
  const store: MemoryStore = {
    name: 'memory',
    rows,
    calls,
    latencyMs: 0,
    jitterMs: 0,
    random: Math.random,
    replyLatencyMs: 0,
    failNext(n = 1, mode = 'before') {
      failures = n;
      failureMode = mode;
    },
    steal(key, ttlMs = 60_000) {
      const row = rows.get(key) ?? { expiresAt: 0, fence: 0 };
      rows.set(key, { owner: 'thief', expiresAt: Date.now() + ttlMs, fence: row.fence + FENCE_STEP });
    },
    takeOver(key, ttlMs, owner = 'thief') {
      const now = Date.now();
      const row = rows.get(key);
      if (row?.owner !== undefined && row.expiresAt > now) return null;
      const fence = row ? row.fence + FENCE_STEP : newFence();
      rows.set(key, { owner, expiresAt: now + ttlMs, fence });
      emit({ op: 'takeover', key, owner, at: now, granted: fence, answerLost: false });
      return fence;
    },
    lose(key) {
      rows.delete(key);
      emit({ op: 'lose', key, at: Date.now(), answerLost: false });
    },
    async acquire({ key, owner, ttlMs }) {
      calls.acquire++;
      return roundTrip((answerLost) => {
        const now = Date.now();
        const row = rows.get(key);
        if (row?.owner !== undefined && row.owner !== owner && row.expiresAt > now) {
          emit({ op: 'acquire', key, owner, at: now, answerLost });
          return { acquired: false, holderRemainingMs: row.expiresAt - now, holderToken: row.fence };
        }
        const fence = row?.owner === owner ? row.fence : row ? row.fence + FENCE_STEP : newFence();
        rows.set(key, { owner, expiresAt: now + ttlMs, fence });
        emit({ op: 'acquire', key, owner, at: now, granted: fence, answerLost });
        return { acquired: true, token: fence };
      });
    },
    async extend({ key, owner, token, ttlMs }) {
      calls.extend++;
      return roundTrip((answerLost) => {
        const now = Date.now();
        const row = rows.get(key);
        const ok = row?.owner === owner && row.fence === token && row.expiresAt > now;
        if (ok) row.expiresAt = now + ttlMs;
        emit({ op: 'extend', key, owner, at: now, ok, answerLost });
        return ok;
      });
    },
    async release({ key, owner, token }) {
      calls.release++;
      return roundTrip((answerLost) => {
        const row = rows.get(key);
        const ok = row?.owner === owner && row.fence === token;
        if (ok) {
          delete row.owner;
          row.expiresAt = 0;
        }
        emit({ op: 'release', key, owner, at: Date.now(), ok, answerLost });
        if (ok && options.announceReleases) announce(key);
        return ok;
      });
    },
    async inspect(key): Promise<LockState> {
      calls.inspect++;
      return roundTrip((answerLost) => {
        const row = rows.get(key);
        const now = Date.now();
        emit({ op: 'inspect', key, at: now, answerLost });
        if (!row) return { key, held: false };
        const held = row.owner !== undefined && row.expiresAt > now;
        return held
          ? { key, held, token: row.fence, expiresAt: row.expiresAt, remainingMs: row.expiresAt - now }
          : { key, held, token: row.fence };
      });
    },
  };
  if (options.announceReleases) {
    store.waitForRelease = (key, timeoutMs, signal) =>
      new Promise<void>((resolve) => {
        let listeners = releaseListeners.get(key);
        if (!listeners) {
          listeners = new Set();
          releaseListeners.set(key, listeners);
        }
        const set = listeners;
        const done = () => {
          set.delete(done);
          if (set.size === 0 && releaseListeners.get(key) === set) releaseListeners.delete(key);
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        set.add(done);
        signal?.addEventListener('abort', done, { once: true });
      });
  }
  return store;
}
