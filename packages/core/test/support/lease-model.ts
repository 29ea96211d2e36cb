/**
 * A reference model of core's lease state machine, run side by side with the real implementation
 * (several lockers = several clients over one fault-injecting memory store, fake timers).
 *
 * The model mirrors what each lease must be at every instant: held until `sentAt + ttl − drift` of its
 * last successful grant or extension (on the monotonic clock, capped at the invocation deadline),
 * unless an extension answered "not yours" (`taken`) or a release was sent (`released`). It learns
 * about store traffic through a per-locker wrapper (each call is attributed to the operation that made
 * it through AsyncLocalStorage) and through the store's apply hook, and it checks after every command:
 *
 * - the real lease agrees with the model: `held`, `signal.aborted`, the abort reason and the instant
 *   of the abort, `remainingMs` to the millisecond;
 * - no two leases are held on a key at the same time (nor a lease while another client holds the key)
 *   unless the store lost the key's state in between; tokens strictly increase per key in grant order;
 * - every grant is handed to a caller or handed back (aborted or worthless grants are released);
 * - local passes: when a lease handed to a caller is released while its locker has a waiter queued for
 *   the key, the model decides by itself (tokens left in the store grant, extension in flight, validity
 *   left against the waiter's TTL, deadline and drift) whether the lease must go straight to the FIFO
 *   head with no store request. A passed lease is a grant: token = previous + 1, strictly above every
 *   earlier token of the key and below the store's next grant, same store lease (owner, store token,
 *   local validity capped at the waiter's deadline), the waiter's TTL. The releasing `release()` resolves
 *   true with no request; a pass the model did not call for, or a missing one, is a violation. Extends
 *   and releases of a passed lease carry the store's token and owner. (A waiter whose signal aborts
 *   while it is queued leaves the queue at once, so the "aborted when its passed lease arrives" path of
 *   the implementation cannot be reached from here: commands never run between a pass and its delivery.)
 * - acquire/tryAcquire/withLock settle only as documented: StoreError exactly when a store call failed,
 *   LockTimeoutError only after the wait and only when the key was held by someone else, the signal's
 *   reason on abort, and at most one acquire request in flight per key per locker, FIFO per locker;
 * - extend/release outcomes match the model exactly; release resolves true at most once;
 * - withLock releases, rethrows the callback's error, reports a loss, and keeps a healthy lease alive.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { vi } from 'vitest';
import {
  createLocker,
  FENCE_STEP,
  type Lease,
  type LockEvent,
  type Locker,
  LockLostError,
  type LockStore,
  LockTimeoutError,
  type LostReason,
  type StoreAcquireResult,
  StoreError,
} from '../../src/index.js';
import { type AppliedOp, type FailureMode, type MemoryStore, memoryStore } from './memory-store.js';

export const KEYS = ['a', 'b'] as const;
export type Key = (typeof KEYS)[number];

export interface LockerConfig {
  readonly clockSkewMs: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
}

export interface RunConfig {
  readonly lockers: readonly LockerConfig[];
  readonly announceReleases: boolean;
  readonly seed: number;
}

export interface AcquireArgs {
  readonly locker: number;
  readonly key: Key;
  readonly ttl: number;
  readonly wait: number;
  readonly signal: boolean;
  /** Lambda-like remaining time, or undefined for no context. */
  readonly remaining: number | undefined;
}

export interface WithLockArgs extends AcquireArgs {
  /** How long the callback works, or 'remaining': exactly the lease's `remainingMs` at its start. */
  readonly fnMs: number | 'remaining';
  readonly throws: boolean;
  /** withLock's `extendEveryMs`, or undefined for the default (a third of the TTL). */
  readonly extendEveryMs: number | undefined;
}

/** A healthy store answers within this many ms; auto-extension must then keep a lease alive. */
export const HEALTHY_RTT_MS = 20;

type Outcome =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: unknown };
type ModelState = 'held' | LostReason;

interface Call {
  readonly kind: 'acquire' | 'extend' | 'release' | 'inspect';
  readonly locker: number;
  readonly key: string;
  readonly owner: string;
  readonly token: number | undefined;
  readonly ttl: number | undefined;
  readonly issuedAt: number;
  readonly op: Op | undefined;
  repliedAt?: number;
  outcome?: Outcome;
  /** extend: the model's state of the lease once the answer was processed. */
  stateAfter?: ModelState;
  /** extend/release: the handed-over lease that sent it (none for a grant handed back). */
  lease?: LeaseModel;
}

type OpKind = 'acquire' | 'tryAcquire' | 'withLock' | 'extend' | 'release';

interface Op {
  readonly id: number;
  readonly kind: OpKind;
  readonly locker: number;
  readonly key: string;
  readonly ttl: number;
  readonly wait: number;
  readonly startedAt: number;
  readonly deadline: number;
  readonly controller: AbortController | undefined;
  readonly calls: Call[];
  readonly owners: Set<string>;
  abortedAt?: number;
  settledAt?: number;
  /** Saw the key held by someone else (a store row or a lease) while waiting. */
  evidence: boolean;
  busyAtStart: boolean;
  fnLease?: LeaseModel;
  fnStartedAt?: number;
  fnEndedAt?: number;
  fnStateAtEnd?: ModelState;
  fnError?: Error;
  extendEveryMs?: number;
  verify?: (outcome: Outcome) => void;
  /** Runs once this op has settled (the next extension of the same lease starts then). */
  next?: () => void;
  /** extend/release commands: the lease they act on. */
  lease?: LeaseModel;
  /** The lease the model passed to this waiter when its locker's holder released the key. */
  passed?: Pass;
}

/** A local pass, as the model decided it at the release. */
interface Pass {
  readonly from: LeaseModel;
  readonly to: Op;
  readonly token: number;
  readonly at: number;
  readonly bound: number;
  readonly deadlineBound: boolean;
  /** The waiter's lease once it reached the waiter. */
  lease?: LeaseModel;
}

interface LeaseModel {
  readonly real: Lease;
  readonly op: Op;
  readonly locker: number;
  readonly key: string;
  readonly token: number;
  readonly ttl: number;
  readonly deadline: number;
  readonly epoch: number;
  readonly handedAt: number;
  /** The store grant of this lease, or of the lease it was passed on from. */
  readonly grant: Call;
  /** Owner id and token of the store lease: what extend and release must send. */
  readonly owner: string;
  readonly storeToken: number;
  /** The lease this one was passed on from, with no store request. */
  readonly from: LeaseModel | undefined;
  readonly calls: Call[];
  bound: number;
  deadlineBound: boolean;
  state: ModelState;
  lostAt?: number;
  realLoss?: { readonly at: number; readonly reason: unknown };
  release: 'none' | 'pending' | 'succeeded' | 'failed';
  pendingRelease?: Call;
  /** The last extend command on this lease: extensions of one lease go to the store one at a time. */
  lastExtend?: Op;
  /** A release attempt has settled: the lease no longer keeps its locker's queue for the key. */
  releaseSettled: boolean;
  releaseTrue: number;
  /** Passed on to a local waiter when released. */
  passedTo?: Pass;
  /** Why the model declined to pass it at its release, if it did. */
  declined?: string;
}

interface Contention {
  readonly locker: number;
  readonly key: string;
  readonly at: number;
  readonly until: number;
}

interface Thief {
  readonly key: string;
  readonly token: number;
  readonly from: number;
  readonly until: number;
  readonly epoch: number;
}

const opContext = new AsyncLocalStorage<Op>();
const now = () => performance.now();
const tk = (key: string, token: number) => `${key}|${token}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Deterministic PRNG (mulberry32) so that jitter and backoff replay from fast-check's seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Why the model declines a local pass (when a waiter is queued). */
export type DeclineReason = 'tokens' | 'extending' | 'validity' | 'drift';

/** How often each pass decision came up, over all runs of this process: the runs must exercise each one. */
export const passStats: { passes: number; declined: Record<DeclineReason, number> } = {
  passes: 0,
  declined: { tokens: 0, extending: 0, validity: 0, drift: 0 },
};

export function resetPassStats(): void {
  passStats.passes = 0;
  passStats.declined = { tokens: 0, extending: 0, validity: 0, drift: 0 };
}

function describeError(e: unknown): string {
  if (e instanceof LockLostError) return `LockLostError(${e.reason})`;
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

export class World {
  readonly store: MemoryStore;
  readonly lockers: Locker[];
  readonly config: RunConfig;
  readonly violations: string[] = [];
  readonly ops: Op[] = [];
  readonly leases: LeaseModel[] = [];
  /** Leases from acquire/tryAcquire: the targets of extend and release commands. */
  readonly userLeases: LeaseModel[] = [];
  readonly #byToken = new Map<string, LeaseModel>();
  readonly #grantCalls: Call[] = [];
  /** Releases of grants handed back (no lease sent them): each keeps its locker's key busy until answered. */
  readonly #handBacks: Call[] = [];
  readonly #handedTokens = new Set<string>();
  readonly #releasedTokens = new Set<string>();
  readonly #inFlight = new Map<string, number>();
  readonly #epoch = new Map<string, number>();
  readonly #lastToken = new Map<string, number>();
  readonly #tokenEpoch = new Map<string, number>();
  readonly #contentions: Contention[] = [];
  readonly #thieves: Thief[] = [];
  readonly #losses: { readonly key: string; readonly at: number }[] = [];
  readonly #fifo: { readonly later: Op; readonly earlier: Op; readonly at: number }[] = [];
  readonly #passes: Pass[] = [];
  readonly #events: { readonly locker: number; readonly at: number; readonly event: LockEvent }[] = [];
  #nextOp = 1;

  constructor(config: RunConfig) {
    this.config = config;
    this.store = memoryStore({ clockFloor: true, announceReleases: config.announceReleases });
    this.store.random = prng(config.seed ^ 0x5eed);
    this.store.onApply = (e) => this.#onApply(e);
    this.lockers = config.lockers.map((c, i) =>
      createLocker({
        store: this.#client(i),
        ttlMs: 1_000,
        retryBaseMs: c.retryBaseMs,
        retryMaxMs: c.retryMaxMs,
        clockSkewMs: c.clockSkewMs,
        onEvent: (event) => this.#events.push({ locker: i, at: now(), event }),
      }),
    );
  }

  violate(message: string): void {
    this.violations.push(`t=${now()}: ${message}`);
  }

  drift(locker: number, ttl: number): number {
    return Math.floor(ttl * 0.01) + 2 + (this.config.lockers[locker]?.clockSkewMs ?? 0);
  }

  // ---------------------------------------------------------------- the store, as each client sees it

  #client(locker: number): LockStore {
    const inner = this.store;
    const client: LockStore = {
      name: 'memory',
      acquire: (r) =>
        this.#call(
          { kind: 'acquire', locker, key: r.key, owner: r.owner, token: undefined, ttl: r.ttlMs },
          () => inner.acquire(r),
        ),
      extend: (r) =>
        this.#call({ kind: 'extend', locker, key: r.key, owner: r.owner, token: r.token, ttl: r.ttlMs }, () =>
          inner.extend(r),
        ),
      release: (r) =>
        this.#call(
          { kind: 'release', locker, key: r.key, owner: r.owner, token: r.token, ttl: undefined },
          () => inner.release(r),
        ),
      inspect: (key) =>
        this.#call({ kind: 'inspect', locker, key, owner: '', token: undefined, ttl: undefined }, () =>
          inner.inspect(key),
        ),
    };
    const waitForRelease = inner.waitForRelease;
    if (waitForRelease) client.waitForRelease = (key, ms, signal) => waitForRelease(key, ms, signal);
    return client;
  }

  async #call<T>(base: Omit<Call, 'issuedAt' | 'op'>, send: () => Promise<T>): Promise<T> {
    const call: Call = { ...base, issuedAt: now(), op: opContext.getStore() };
    this.#onIssue(call);
    try {
      const value = await send();
      call.repliedAt = now();
      call.outcome = { ok: true, value };
      this.#onReply(call);
      return value;
    } catch (error) {
      call.repliedAt = now();
      call.outcome = { ok: false, error };
      this.#onReply(call);
      throw error;
    }
  }

  #onIssue(call: Call): void {
    const op = call.op;
    if (process.env.TRACE)
      console.log(
        call.issuedAt,
        'issue',
        call.kind,
        call.key,
        call.owner.slice(0, 6),
        call.token,
        op?.kind,
        op?.id,
      );
    if (op && (op.kind === 'acquire' || op.kind === 'tryAcquire' || op.kind === 'withLock')) {
      op.calls.push(call);
      op.owners.add(call.owner);
    } else if (op && call.kind !== 'inspect') {
      op.calls.push(call);
    }
    if (call.kind === 'acquire') {
      const slot = `${call.locker}|${call.key}`;
      const inFlight = this.#inFlight.get(slot) ?? 0;
      if (inFlight > 0)
        this.violate(`locker ${call.locker} sent a second acquire for "${call.key}" while one is in flight`);
      this.#inFlight.set(slot, inFlight + 1);
      for (const lm of this.leases) {
        if (lm.locker === call.locker && lm.key === call.key && lm.real.held) {
          this.violate(
            `locker ${call.locker} sent an acquire for "${call.key}" while its own lease ${lm.token} is held`,
          );
        }
      }
      if (!op) this.violate('an acquire request outside any operation');
      if (op?.abortedAt !== undefined) this.violate(`op ${op.id} sent an acquire after it was aborted`);
      if (op?.passed) {
        this.violate(
          `op ${op.id} sent an acquire although lease ${op.passed.from.token} was passed to it at ${op.passed.at}`,
        );
      }
      if (op && op.calls.filter((c) => c.kind === 'acquire').length === 1) {
        // FIFO per locker and key: nobody who asked earlier and is still waiting may be skipped.
        for (const other of this.ops) {
          if (
            other.id < op.id &&
            other.locker === op.locker &&
            other.key === op.key &&
            other.settledAt === undefined &&
            (other.kind === 'acquire' || other.kind === 'withLock' || other.kind === 'tryAcquire') &&
            other.calls.length === 0 &&
            other.passed === undefined // got its lease from a local pass: not waiting any more
          ) {
            // Fine only if the earlier one gave up in this same instant without a request (checked later).
            this.#fifo.push({ later: op, earlier: other, at: call.issuedAt });
          }
        }
      }
      if (op) {
        const expectTtl = Math.min(op.ttl, Math.floor(op.deadline - call.issuedAt));
        if (call.ttl !== expectTtl)
          this.violate(`op ${op.id} asked for ttl ${call.ttl}, expected ${expectTtl}`);
      }
      return;
    }
    if (call.token === undefined) return;
    if (call.kind === 'release') this.#releasedTokens.add(tk(call.key, call.token));
    const lm = this.#sender(call);
    if (!lm) {
      if (call.kind === 'extend') this.violate(`extend of a lease never handed over (token ${call.token})`);
      if (call.kind === 'release') this.#handBacks.push(call);
      return;
    }
    call.lease = lm;
    if (call.token !== lm.storeToken || call.owner !== lm.owner) {
      this.violate(
        `${call.kind} of lease ${lm.key}/${lm.token} sent token ${call.token}${call.owner === lm.owner ? '' : ' and another owner'}, expected the store's token ${lm.storeToken} and owner`,
      );
    }
    lm.calls.push(call);
    this.#touch(lm, call.issuedAt);
    if (call.kind === 'extend') {
      if (lm.state !== 'held') this.violate(`extend sent for lease ${lm.token}, which is ${lm.state}`);
    } else if (call.kind === 'release') {
      if (lm.state === 'taken') this.violate(`release sent for lease ${lm.token}, which was taken`);
      if (lm.release === 'pending') this.violate(`second concurrent release call for lease ${lm.token}`);
      if (lm.passedTo) {
        this.violate(
          `release call for lease ${lm.token}, which the model passed to op ${lm.passedTo.to.id} at ${lm.passedTo.at}`,
        );
      } else if (lm.release === 'succeeded')
        this.violate(`release call for lease ${lm.token} after a successful one`);
      if (lm.state === 'held') this.#lose(lm, 'released', call.issuedAt);
      lm.release = 'pending';
      lm.pendingRelease = call;
    }
  }

  /**
   * The handed-over lease an extend or release was sent for: the one its operation acts on. Fake timers
   * do not carry the async context, so auto-extension ticks come with no operation: theirs is the lease
   * of the store lease (key, owner, store token) that holds it now.
   */
  #sender(call: Call): LeaseModel | undefined {
    const op = call.op;
    const lm = op?.lease ?? op?.fnLease;
    if (lm) return lm;
    const same = this.leases.filter(
      (l) => l.key === call.key && l.storeToken === call.token && l.owner === call.owner,
    );
    if (same.length === 0) return undefined; // a grant handed back
    if (op) {
      // An acquire may only hand back a grant it never handed over.
      this.violate(
        `${call.kind} for lease ${call.key}/${call.token} sent by op ${op.id}, which does not hold it`,
      );
      return undefined;
    }
    for (const l of same) this.#touch(l, call.issuedAt);
    return same.find((l) => l.state === 'held') ?? same.at(-1);
  }

  #onReply(call: Call): void {
    const at = call.repliedAt ?? now();
    const outcome = call.outcome;
    if (call.kind === 'acquire') {
      const slot = `${call.locker}|${call.key}`;
      this.#inFlight.set(slot, (this.#inFlight.get(slot) ?? 1) - 1);
      if (outcome?.ok) {
        const result = outcome.value as StoreAcquireResult;
        if (result.acquired) this.#grantCalls.push(call);
        else {
          const remaining = result.holderRemainingMs;
          this.#contentions.push({
            locker: call.locker,
            key: call.key,
            at,
            until: remaining === undefined ? Number.POSITIVE_INFINITY : call.issuedAt + remaining,
          });
        }
      }
      return;
    }
    const lm = call.lease;
    if (!lm) return;
    this.#touch(lm, at);
    if (call.kind === 'extend') {
      if (outcome && !outcome.ok && lm.state === 'held') {
        // Unknown outcome: it may have been applied, so the lease keeps the shorter of both validities.
        const ttl = call.ttl ?? lm.ttl;
        const bound = Math.min(call.issuedAt + ttl - this.drift(lm.locker, ttl), lm.deadline);
        if (bound < lm.bound) {
          lm.bound = bound;
          lm.deadlineBound = call.issuedAt + ttl >= lm.deadline - 1;
          if (bound <= at) this.#lose(lm, lm.deadlineBound ? 'deadline' : 'expired', at);
        }
      }
      if (outcome?.ok && lm.state === 'held') {
        const ttl = call.ttl ?? lm.ttl;
        if (outcome.value === false) this.#lose(lm, 'taken', at);
        else {
          const bound = Math.min(call.issuedAt + ttl - this.drift(lm.locker, ttl), lm.deadline);
          const deadlineBound = call.issuedAt + ttl >= lm.deadline - 1;
          if (bound <= at) this.#lose(lm, deadlineBound ? 'deadline' : 'expired', at);
          else {
            lm.bound = bound;
            lm.deadlineBound = deadlineBound;
          }
        }
      }
      call.stateAfter = lm.state;
    } else if (call.kind === 'release') {
      lm.release = outcome?.ok ? 'succeeded' : 'failed';
      lm.releaseSettled = true;
    }
  }

  #onApply(e: AppliedOp): void {
    if (process.env.TRACE)
      console.log(now(), e.op, e.key, e.owner?.slice(0, 6), e.granted ?? e.ok, e.answerLost);
    if (e.op === 'lose') {
      this.#epoch.set(e.key, (this.#epoch.get(e.key) ?? 0) + 1);
      return;
    }
    if (e.granted !== undefined) {
      const last = this.#lastToken.get(e.key) ?? 0;
      if (!(e.granted > last)) this.violate(`key "${e.key}" granted token ${e.granted} after ${last}`);
      this.#lastToken.set(e.key, Math.max(last, e.granted));
      this.#tokenEpoch.set(tk(e.key, e.granted), this.#epoch.get(e.key) ?? 0);
    }
    this.#sample();
  }

  // ---------------------------------------------------------------- the model of one lease

  /** Applies what time alone does to the model (expiry), and accepts the one loss the model can't see. */
  #touch(lm: LeaseModel, t: number): void {
    if (lm.state !== 'held') return;
    const loss = lm.realLoss;
    if (
      loss &&
      loss.at < lm.bound &&
      loss.at <= t &&
      loss.reason instanceof LockLostError &&
      loss.reason.reason === 'deadline' &&
      Math.floor(lm.deadline - loss.at) <= this.drift(lm.locker, Math.floor(lm.deadline - loss.at))
    ) {
      // Auto-extension found the invocation deadline too close to extend at all.
      this.#lose(lm, 'deadline', loss.at);
      return;
    }
    if (t >= lm.bound) this.#lose(lm, lm.deadlineBound ? 'deadline' : 'expired', lm.bound);
  }

  #lose(lm: LeaseModel, reason: LostReason, at: number): void {
    if (lm.state !== 'held') return;
    lm.state = reason;
    lm.lostAt = at;
  }

  /** The real lease must be exactly what the model says, now. */
  #compare(lm: LeaseModel): void {
    const t = now();
    this.#touch(lm, t);
    const real = lm.real;
    const held = lm.state === 'held';
    const label = `lease ${lm.key}/${lm.token}`;
    if (real.held !== held) this.violate(`${label}: held is ${real.held}, model says ${lm.state}`);
    if (real.signal.aborted === held) {
      this.violate(`${label}: signal.aborted is ${real.signal.aborted}, model says ${lm.state}`);
    }
    if (held) {
      const expected = Math.floor(lm.bound - t);
      if (real.remainingMs !== expected)
        this.violate(`${label}: remainingMs ${real.remainingMs}, model ${expected}`);
      return;
    }
    const reason = real.signal.reason as unknown;
    if (!(reason instanceof LockLostError)) {
      if (real.signal.aborted) this.violate(`${label}: signal reason is ${describeError(reason)}`);
      return;
    }
    if (reason.reason !== lm.state || reason.key !== lm.key || reason.token !== lm.token) {
      this.violate(
        `${label}: lost as ${reason.reason} (${reason.key}/${reason.token}), model says ${lm.state}`,
      );
    }
    if (lm.realLoss?.at !== lm.lostAt) {
      this.violate(`${label}: signal aborted at ${lm.realLoss?.at}, model says ${lm.lostAt}`);
    }
    if (real.remainingMs !== 0) this.violate(`${label}: remainingMs ${real.remainingMs} after loss`);
  }

  #handOver(op: Op, lease: unknown): LeaseModel | undefined {
    const t = now();
    if (typeof lease !== 'object' || lease === null || !('token' in lease)) {
      this.violate(`op ${op.id} resolved with ${String(lease)}`);
      return undefined;
    }
    const real = lease as Lease;
    if (op.passed) return this.#takePass(op, op.passed, real, t);
    const grant = op.calls.filter((c) => c.kind === 'acquire').at(-1);
    const result = grant?.outcome?.ok ? (grant.outcome.value as StoreAcquireResult) : undefined;
    if (!grant || !result?.acquired || result.token !== real.token || grant.repliedAt !== t) {
      this.violate(
        `op ${op.id} handed over token ${real.token} without a matching grant just now${this.#unduePass(op, real.token)}`,
      );
      return undefined;
    }
    const ttl = grant.ttl ?? op.ttl;
    const bound = Math.min(grant.issuedAt + ttl - this.drift(op.locker, ttl), op.deadline);
    return this.#register(
      {
        real,
        op,
        locker: op.locker,
        key: op.key,
        token: real.token,
        ttl,
        deadline: op.deadline,
        epoch: this.#tokenEpoch.get(tk(op.key, real.token)) ?? -1,
        handedAt: t,
        grant,
        owner: grant.owner,
        storeToken: real.token,
        from: undefined,
        calls: [],
        bound,
        deadlineBound: grant.issuedAt + ttl >= op.deadline - 1,
        state: 'held',
        release: 'none',
        releaseSettled: false,
        releaseTrue: 0,
      },
      t,
    );
  }

  /** Explains a lease that reached a waiter with no store grant: a pass the model did not call for. */
  #unduePass(op: Op, token: number): string {
    if (op.calls.some((c) => c.kind === 'acquire')) return '';
    const from = this.#byToken.get(tk(op.key, token - 1));
    if (!from) return ' (nor a local pass of a lease the model knows)';
    return ` (a local pass of lease ${from.token}, which the model declined: ${from.declined ?? 'it was not released while held with this waiter at the head of the queue'})`;
  }

  /** The waiter got the lease the model passed to it: it must be exactly the one the model built. */
  #takePass(op: Op, pass: Pass, real: Lease, t: number): LeaseModel | undefined {
    const from = pass.from;
    const label = `op ${op.id}`;
    if (pass.lease) {
      this.violate(`${label} got a passed lease twice`);
      return undefined;
    }
    if (real.token !== pass.token || t !== pass.at) {
      this.violate(
        `${label} got token ${real.token} at ${t}; the model passed it lease ${from.token} as ${pass.token} at ${pass.at}`,
      );
    }
    if (op.calls.length > 0) this.violate(`${label} made store requests, yet got a passed lease`);
    const lm: LeaseModel = {
      real,
      op,
      locker: op.locker,
      key: op.key,
      token: real.token,
      ttl: op.ttl,
      deadline: op.deadline,
      epoch: from.epoch,
      handedAt: t,
      grant: from.grant,
      owner: from.owner,
      storeToken: from.storeToken,
      from,
      calls: [],
      bound: pass.bound,
      deadlineBound: pass.deadlineBound,
      state: 'held',
      release: 'none',
      releaseSettled: false,
      releaseTrue: 0,
    };
    pass.lease = lm;
    // A pass is a grant: above every token of the key so far (unless the store lost the key since the
    // store grant it comes from, and granted from a new clock floor); the store's next grant must be above
    // it, which #onApply checks against #lastToken.
    const last = this.#lastToken.get(op.key) ?? 0;
    if (real.token <= last && from.epoch === (this.#epoch.get(op.key) ?? 0)) {
      this.violate(`key "${op.key}" passed token ${real.token} after ${last}`);
    }
    this.#lastToken.set(op.key, Math.max(last, real.token));
    this.#checkPassEvents(pass, real.token, t);
    return this.#register(lm, t);
  }

  /** A pass emits `released` (true) for the old lease and `acquired` (no request, contended) for the new. */
  #checkPassEvents(pass: Pass, token: number, t: number): void {
    const op = pass.to;
    const from = pass.from;
    let acquired = 0;
    let released = 0;
    for (const { locker, at, event } of this.#events) {
      if (locker !== op.locker || event.key !== op.key) continue;
      if (event.type === 'acquired' && event.token === token) {
        acquired++;
        const waitedMs = Math.round(t - op.startedAt);
        if (at !== t || event.attempts !== 0 || !event.contended || event.waitedMs !== waitedMs) {
          this.violate(
            `op ${op.id}: passed lease ${token} emitted acquired at ${at} (attempts ${event.attempts}, contended ${event.contended}, waited ${event.waitedMs}), expected at ${t}, 0 attempts, contended, waited ${waitedMs}`,
          );
        }
      } else if (event.type === 'released' && event.token === from.token) {
        released++;
        if (at !== pass.at || !event.released) {
          this.violate(
            `lease ${from.token} passed at ${pass.at} emitted released (${event.released}) at ${at}`,
          );
        }
      }
    }
    if (acquired !== 1) this.violate(`op ${op.id}: ${acquired} acquired events for passed lease ${token}`);
    if (released !== 1) this.violate(`lease ${from.token}: ${released} released events for its pass`);
  }

  /** Checks a lease as it reaches its caller and starts tracking it. */
  #register(lm: LeaseModel, t: number): LeaseModel {
    const { real, op } = lm;
    const key = tk(lm.key, lm.token);
    if (real.key !== op.key) this.violate(`op ${op.id} handed over a lease on "${real.key}"`);
    if (op.abortedAt !== undefined) this.violate(`op ${op.id} handed over a lease after it was aborted`);
    if (this.#byToken.has(key)) this.violate(`token ${lm.token} on "${op.key}" handed over twice`);
    if (!real.held || lm.bound <= t)
      this.violate(`op ${op.id} handed over lease ${lm.token} that is not held`);
    // Mutual exclusion: nobody else may hold the key now, unless the store lost its state since.
    for (const other of this.leases) {
      if (other.key !== lm.key || other.epoch !== lm.epoch) continue;
      if (other.real.held) {
        this.violate(`leases ${other.token} and ${lm.token} on "${lm.key}" are both held`);
      }
    }
    for (const thief of this.#thieves) {
      if (thief.key === lm.key && thief.epoch === lm.epoch && thief.until > t) {
        this.violate(`lease ${lm.token} on "${lm.key}" granted while another client holds it`);
      }
    }
    real.signal.addEventListener('abort', () => {
      lm.realLoss = { at: now(), reason: real.signal.reason };
    });
    this.leases.push(lm);
    this.#byToken.set(key, lm);
    this.#handedTokens.add(key);
    return lm;
  }

  // ---------------------------------------------------------------- local passes

  /** The waiter at the head of a locker's FIFO for a key: the one a releasing lease is offered to. */
  #queueHead(locker: number, key: string): Op | undefined {
    return this.ops.find(
      (o) =>
        o.locker === locker &&
        o.key === key &&
        (o.kind === 'acquire' || o.kind === 'withLock') && // tryAcquire never queues
        o.busyAtStart && // it queued (otherwise it went straight to the store)
        o.calls.length === 0 && // its turn never came
        o.settledAt === undefined && // nor did it time out
        o.abortedAt === undefined && // nor give up
        o.fnStartedAt === undefined &&
        o.passed === undefined,
    );
  }

  /** Extensions of the lease not yet settled: their outcome could still move the store's expiry. */
  #extending(lm: LeaseModel): boolean {
    return (
      (lm.lastExtend !== undefined && lm.lastExtend.settledAt === undefined) ||
      lm.calls.some((c) => c.kind === 'extend' && c.repliedAt === undefined)
    );
  }

  /**
   * A caller releases `lm` now. When it is still held and its locker has a waiter queued for the key,
   * the model decides whether the lease must go to that waiter with no store request, and applies it.
   */
  #decidePass(lm: LeaseModel, t: number): Pass | undefined {
    this.#touch(lm, t);
    if (lm.state !== 'held' || lm.release !== 'none') return undefined;
    const head = this.#queueHead(lm.locker, lm.key);
    if (!head) return undefined;
    const left = Math.min(lm.bound, head.deadline) - t;
    const wanted = Math.min(head.ttl, head.deadline - t);
    let reason: DeclineReason | undefined;
    if (lm.token + 1 - lm.storeToken >= FENCE_STEP) reason = 'tokens';
    else if (this.#extending(lm)) reason = 'extending';
    else if (left < wanted / 2) reason = 'validity';
    else if (left <= this.drift(lm.locker, head.ttl)) reason = 'drift';
    if (reason !== undefined) {
      passStats.declined[reason]++;
      lm.declined = `${reason} (token ${lm.token} of store grant ${lm.storeToken}, ${left} ms left for op ${head.id} wanting ${wanted})`;
      return undefined;
    }
    passStats.passes++;
    const pass: Pass = {
      from: lm,
      to: head,
      token: lm.token + 1,
      at: t,
      bound: Math.min(lm.bound, head.deadline),
      deadlineBound: head.deadline <= lm.bound,
    };
    this.#lose(lm, 'released', t);
    lm.release = 'succeeded';
    lm.releaseSettled = true;
    lm.passedTo = pass;
    head.passed = pass;
    this.#passes.push(pass);
    return pass;
  }

  // ---------------------------------------------------------------- evidence that a key was held

  #sample(): void {
    const storeNow = Date.now();
    for (const op of this.ops) {
      if (op.evidence || op.settledAt !== undefined || op.fnStartedAt !== undefined) continue;
      if (op.kind !== 'acquire' && op.kind !== 'tryAcquire' && op.kind !== 'withLock') continue;
      const row = this.store.rows.get(op.key);
      if (row?.owner !== undefined && row.expiresAt > storeNow && !op.owners.has(row.owner))
        op.evidence = true;
      else if (
        this.leases.some(
          (lm) =>
            lm.key === op.key && (lm.real.held || (lm.state === 'released' && lm.release === 'pending')),
        )
      ) {
        op.evidence = true; // held, or being handed back by another caller: contention, not an outage
      }
    }
  }

  #knewHeld(op: Op, until: number): boolean {
    return this.#contentions.some(
      (c) => c.locker === op.locker && c.key === op.key && c.at <= until && c.until > op.startedAt,
    );
  }

  busy(locker: number, key: string): boolean {
    const t = now();
    return (
      this.ops.some(
        (o) =>
          o.locker === locker &&
          o.key === key &&
          (o.kind === 'acquire' || o.kind === 'tryAcquire' || o.kind === 'withLock') &&
          ((o.settledAt === undefined &&
            o.fnStartedAt === undefined) /* a running withLock keeps the key busy through its lease only */ ||
            // an aborted caller's request still in flight keeps the key busy until it is answered
            o.calls.some((c) => c.kind === 'acquire' && c.repliedAt === undefined)),
      ) ||
      // and a grant handed back (too late, or after an abort) until the store answered its release
      this.#handBacks.some((c) => c.locker === locker && c.key === key && c.repliedAt === undefined) ||
      this.leases.some((lm) => {
        if (lm.locker !== locker || lm.key !== key) return false;
        this.#touch(lm, t);
        return (
          lm.state === 'held' || (lm.state === 'released' && lm.release === 'pending' && !lm.releaseSettled)
        );
      })
    );
  }

  // ---------------------------------------------------------------- commands

  #newOp(kind: OpKind, locker: number, key: string, a: Partial<AcquireArgs>): Op {
    const t = now();
    const op: Op = {
      id: this.#nextOp++,
      kind,
      locker,
      key,
      ttl: a.ttl ?? 0,
      wait: a.wait ?? 0,
      startedAt: t,
      deadline: a.remaining === undefined ? Number.POSITIVE_INFINITY : t + a.remaining,
      controller: a.signal ? new AbortController() : undefined,
      calls: [],
      owners: new Set(),
      evidence: false,
      busyAtStart: false,
    };
    this.ops.push(op);
    return op;
  }

  #track(op: Op, promise: Promise<unknown>): void {
    promise.then(
      (value) => this.#settle(op, { ok: true, value }),
      (error: unknown) => this.#settle(op, { ok: false, error }),
    );
  }

  startAcquire(kind: 'acquire' | 'tryAcquire' | 'withLock', a: AcquireArgs | WithLockArgs): void {
    const locker = a.locker % this.lockers.length;
    const real = this.lockers[locker];
    if (!real) return;
    const busy = this.busy(locker, a.key);
    const op = this.#newOp(kind, locker, a.key, a);
    const deadline = op.deadline;
    const options = {
      ttlMs: a.ttl,
      ...(kind === 'tryAcquire' ? {} : { waitMs: a.wait }),
      ...(op.controller ? { signal: op.controller.signal } : {}),
      ...(a.remaining === undefined
        ? {}
        : { context: { getRemainingTimeInMillis: () => Math.max(0, deadline - now()) } }),
    };
    op.busyAtStart = busy;
    const run = (): Promise<unknown> => {
      if (kind === 'acquire') return real.acquire(a.key, options);
      if (kind === 'tryAcquire') return real.tryAcquire(a.key, options);
      const w = a as WithLockArgs;
      if (w.extendEveryMs !== undefined) op.extendEveryMs = w.extendEveryMs;
      const every = w.extendEveryMs === undefined ? {} : { extendEveryMs: w.extendEveryMs };
      return real.withLock(a.key, (lease) => this.#fn(op, lease, w.fnMs, w.throws), { ...options, ...every });
    };
    this.#track(op, opContext.run(op, run));
  }

  async #fn(op: Op, lease: Lease, fnMs: number | 'remaining', throws: boolean): Promise<string> {
    if (op.fnStartedAt !== undefined) this.violate(`withLock op ${op.id} ran its callback twice`);
    const lm = this.#handOver(op, lease);
    if (lm) op.fnLease = lm;
    op.fnStartedAt = now();
    await sleep(fnMs === 'remaining' ? lease.remainingMs : fnMs);
    op.fnEndedAt = now();
    if (lm) {
      this.#compare(lm);
      op.fnStateAtEnd = lm.state;
      // withLock releases the lease as soon as the callback settles, in this same instant.
      this.#decidePass(lm, op.fnEndedAt);
    }
    if (throws) {
      op.fnError = new Error(`callback of op ${op.id} failed`);
      throw op.fnError;
    }
    return `value of op ${op.id}`;
  }

  #pickLease(pick: number): LeaseModel | undefined {
    if (this.userLeases.length === 0) return undefined;
    return this.userLeases[pick % this.userLeases.length];
  }

  extend(pick: number, ttlArg: number | undefined): void {
    const lm = this.#pickLease(pick);
    if (!lm) return;
    this.#compare(lm);
    const op = this.#newOp('extend', lm.locker, lm.key, {});
    op.lease = lm;
    let t = Number.NaN;
    let noCall: LostReason | undefined;
    let expectTtl = 0;
    // What the extension does is decided when it starts: now, or once the one before it has settled.
    const start = () => {
      t = now();
      this.#touch(lm, t);
      if (lm.state !== 'held') noCall = lm.state;
      else {
        const ttl = ttlArg ?? lm.ttl;
        const untilDeadline = Math.floor(lm.deadline - t);
        expectTtl = ttl;
        if (untilDeadline < ttl) {
          // The allowance of the capped TTL, not of the one asked for.
          if (untilDeadline <= this.drift(lm.locker, untilDeadline)) {
            noCall = 'deadline';
            this.#lose(lm, 'deadline', t);
          } else expectTtl = untilDeadline;
        }
      }
    };
    const previous = lm.lastExtend;
    lm.lastExtend = op;
    if (previous && previous.settledAt === undefined) previous.next = start;
    else start();
    op.verify = (out) => {
      const label = `extend op ${op.id} of lease ${lm.token}`;
      if (!out.ok && !(out.error instanceof LockLostError) && !(out.error instanceof StoreError)) {
        this.violate(`${label} rejected with ${describeError(out.error)}`);
      }
      if (noCall !== undefined) {
        if (op.calls.length !== 0) this.violate(`${label} sent a request for a ${noCall} lease`);
        if (out.ok || !(out.error instanceof LockLostError) || out.error.reason !== noCall) {
          this.violate(
            `${label}: expected LockLostError(${noCall}), got ${out.ok ? 'success' : describeError(out.error)}`,
          );
        }
        return;
      }
      const call = op.calls[0];
      if (op.calls.length !== 1 || !call || call.kind !== 'extend' || call.issuedAt !== t) {
        this.violate(`${label} made ${op.calls.length} requests, expected one extend at once`);
        return;
      }
      if (call.ttl !== expectTtl) this.violate(`${label} asked for ttl ${call.ttl}, expected ${expectTtl}`);
      if (!call.outcome?.ok && call.stateAfter !== 'held') {
        // Failed, and not held any more when the failure came: lost, with the store's error as the cause.
        if (
          out.ok ||
          !(out.error instanceof LockLostError) ||
          out.error.reason !== call.stateAfter ||
          !(out.error.cause instanceof StoreError)
        ) {
          this.violate(
            `${label}: store failed on a ${call.stateAfter} lease, expected LockLostError(${call.stateAfter}) caused by a StoreError, got ${out.ok ? 'success' : describeError(out.error)}`,
          );
        }
      } else if (!call.outcome?.ok) {
        if (out.ok || !(out.error instanceof StoreError)) {
          this.violate(
            `${label}: store failed, expected StoreError, got ${out.ok ? 'success' : describeError(out.error)}`,
          );
        }
      } else if (call.stateAfter !== 'held') {
        if (out.ok || !(out.error instanceof LockLostError) || out.error.reason !== call.stateAfter) {
          this.violate(
            `${label}: expected LockLostError(${call.stateAfter}), got ${out.ok ? 'success' : describeError(out.error)}`,
          );
        }
      } else if (!out.ok) this.violate(`${label}: expected success, got ${describeError(out.error)}`);
    };
    this.#track(
      op,
      opContext.run(op, () => lm.real.extend(ttlArg)),
    );
  }

  release(pick: number): void {
    const lm = this.#pickLease(pick);
    if (!lm) return;
    const t = now();
    this.#compare(lm);
    const op = this.#newOp('release', lm.locker, lm.key, {});
    op.lease = lm;
    const prior = lm.release;
    const pending = lm.pendingRelease;
    const state = lm.state;
    const pass = this.#decidePass(lm, t);
    op.verify = (out) => {
      const label = `release op ${op.id} of lease ${lm.token}`;
      if (!out.ok && !(out.error instanceof StoreError)) {
        this.violate(`${label} rejected with ${describeError(out.error)} (only StoreError is allowed)`);
      }
      if (out.ok && typeof out.value !== 'boolean')
        this.violate(`${label} resolved with ${String(out.value)}`);
      if (out.ok && out.value === true) {
        lm.releaseTrue++;
        if (lm.releaseTrue > 1) this.violate(`${label}: release resolved true twice for one grant`);
      }
      if (pass) {
        if (op.calls.length !== 0) {
          this.violate(`${label} made ${op.calls.length} requests; the model passes it to op ${pass.to.id}`);
        }
        if (!out.ok || out.value !== true) {
          this.violate(
            `${label}: passed to op ${pass.to.id}, expected true, got ${out.ok ? String(out.value) : describeError(out.error)}`,
          );
        }
        return;
      }
      const noCall = prior === 'succeeded' || prior === 'pending' || state === 'taken';
      if (noCall) {
        if (op.calls.length !== 0) this.violate(`${label} sent a request (prior ${prior}, state ${state})`);
        if (prior === 'pending' && pending?.outcome && !pending.outcome.ok) {
          if (out.ok) this.violate(`${label}: the shared release failed but this call resolved`);
        } else if (!out.ok || out.value !== false) {
          this.violate(
            `${label}: expected false, got ${out.ok ? String(out.value) : describeError(out.error)}`,
          );
        }
        return;
      }
      const call = op.calls[0];
      if (op.calls.length !== 1 || !call || call.kind !== 'release' || call.issuedAt !== t) {
        this.violate(`${label} made ${op.calls.length} requests, expected one release at once`);
        return;
      }
      if (!call.outcome?.ok) {
        if (out.ok) this.violate(`${label}: store failed but release resolved ${String(out.value)}`);
      } else if (!out.ok || out.value !== call.outcome.value) {
        this.violate(
          `${label}: store said ${String(call.outcome.value)}, release gave ${out.ok ? String(out.value) : describeError(out.error)}`,
        );
      }
    };
    this.#track(
      op,
      opContext.run(op, () => lm.real.release()),
    );
  }

  abort(pick: number): void {
    const candidates = this.ops.filter(
      (o) =>
        o.controller && o.settledAt === undefined && o.abortedAt === undefined && o.fnStartedAt === undefined,
    );
    const op = candidates[pick % Math.max(1, candidates.length)];
    if (!op?.controller) return;
    op.abortedAt = now();
    op.controller.abort(new Error(`caller of op ${op.id} gave up`));
  }

  failNext(n: number, mode: FailureMode): void {
    this.store.failNext(n, mode);
  }

  setLatency(request: number, reply: number, jitter: number): void {
    this.store.latencyMs = request;
    this.store.replyLatencyMs = reply;
    this.store.jitterMs = jitter;
  }

  steal(key: Key, ttl: number): void {
    const t = now();
    const token = this.store.takeOver(key, ttl, `thief-${t}`);
    if (token === null) return;
    const epoch = this.#epoch.get(key) ?? 0;
    for (const lm of this.leases) {
      if (lm.key === key && lm.epoch === epoch && lm.real.held) {
        this.violate(`another client took "${key}" while lease ${lm.token} is still held`);
      }
    }
    this.#thieves.push({ key, token, from: t, until: t + ttl, epoch });
  }

  async loseState(key: Key): Promise<void> {
    this.store.lose(key);
    this.#losses.push({ key, at: now() });
    // Nothing is granted in the millisecond of a state loss (TTL clean-up, failover): the clock floor
    // of the new counter starts above every token granted before it.
    await this.advance(1);
  }

  async advance(ms: number): Promise<void> {
    await vi.advanceTimersByTimeAsync(ms);
  }

  // ---------------------------------------------------------------- settlement and global checks

  #settle(op: Op, out: Outcome): void {
    this.#sample();
    op.settledAt = now();
    if (op.verify) {
      op.verify(out);
      op.next?.();
      return;
    }
    if (op.kind === 'withLock') {
      this.#settleWithLock(op, out);
      return;
    }
    if (out.ok) {
      if (op.kind === 'tryAcquire' && out.value === null) {
        const attempts = op.calls.filter((c) => c.kind === 'acquire');
        if (attempts.length === 0 && !op.busyAtStart) {
          this.violate(`tryAcquire op ${op.id} answered null without asking the store`);
        }
        const call = attempts[0];
        if (attempts.length > 1) this.violate(`tryAcquire op ${op.id} made ${attempts.length} attempts`);
        if (call && !call.outcome?.ok)
          this.violate(`tryAcquire op ${op.id} answered null after a store failure`);
        if (call && op.abortedAt !== undefined)
          this.violate(`tryAcquire op ${op.id} answered null after abort`);
        if (this.#lateGrant(op, call))
          this.violate(`tryAcquire op ${op.id} answered null after a late grant (slow store)`);
        return;
      }
      const lm = this.#handOver(op, out.value);
      if (lm) this.userLeases.push(lm);
      const attempts = op.calls.filter((c) => c.kind === 'acquire').length;
      if (op.kind === 'tryAcquire' && attempts !== 1) {
        this.violate(`tryAcquire op ${op.id} made ${attempts} attempts`);
      }
      return;
    }
    this.#checkAcquireError(op, out.error);
  }

  /** A grant whose answer came back after its lease had already run out locally. */
  #lateGrant(op: Op, call: Call | undefined): boolean {
    if (!call?.outcome?.ok || call.repliedAt === undefined) return false;
    const result = call.outcome.value as StoreAcquireResult;
    const ttl = call.ttl ?? op.ttl;
    return (
      result.acquired &&
      call.repliedAt >= Math.min(call.issuedAt + ttl - this.drift(op.locker, ttl), op.deadline)
    );
  }

  #checkAcquireError(op: Op, error: unknown): void {
    const t = now();
    const label = `${op.kind} op ${op.id} on "${op.key}"`;
    const attempts = op.calls.filter((c) => c.kind === 'acquire');
    const failed = attempts.filter((c) => !c.outcome?.ok);
    const last = attempts.at(-1);
    if (failed.length > 1 || (failed.length === 1 && failed[0] !== last)) {
      this.violate(`${label} kept trying after a store failure`);
    }
    const lastFailed = last !== undefined && last.outcome?.ok === false;
    if (op.kind === 'tryAcquire' && !op.busyAtStart && attempts.length !== 1 && op.abortedAt === undefined) {
      this.violate(`${label} made ${attempts.length} attempts`);
    }
    const deadlineTooClose = Math.floor(op.deadline - t) <= this.drift(op.locker, op.ttl);
    const late = this.#lateGrant(op, last);
    if (error instanceof StoreError) {
      if (late && !lastFailed) {
        if (error.kind !== 'timeout')
          this.violate(`${label}: a late grant surfaced as StoreError(${error.kind})`);
        if (op.abortedAt !== undefined)
          this.violate(`${label}: StoreError instead of the abort reason after a late grant`);
        if (
          op.kind !== 'tryAcquire' &&
          t < Math.min(op.startedAt + op.wait, op.deadline) &&
          !deadlineTooClose
        ) {
          this.violate(
            `${label}: gave up after a late grant with ${Math.min(op.startedAt + op.wait, op.deadline) - t} ms of wait left`,
          );
        }
      } else if (!lastFailed) this.violate(`${label} rejected with StoreError without a failed store call`);
      return;
    }
    if (lastFailed) this.violate(`${label}: a store failure surfaced as ${describeError(error)}`);
    if (late && op.abortedAt === undefined)
      this.violate(`${label}: a late grant (slow store) surfaced as ${describeError(error)}`);
    if (error instanceof LockTimeoutError) {
      if (error.key !== op.key) this.violate(`${label}: LockTimeoutError for "${error.key}"`);
      if (error.attempts !== attempts.length) {
        this.violate(
          `${label}: LockTimeoutError says ${error.attempts} attempts, it made ${attempts.length}`,
        );
      }
      if (op.kind === 'tryAcquire' && !deadlineTooClose) this.violate(`${label}: tryAcquire timed out`);
      if (t < Math.min(op.startedAt + op.wait, op.deadline) && !deadlineTooClose) {
        this.violate(`${label}: timed out after ${t - op.startedAt} ms of a ${op.wait} ms wait`);
      }
      if (!op.evidence && !this.#knewHeld(op, t) && !deadlineTooClose) {
        this.violate(`${label}: LockTimeoutError although nobody else held "${op.key}" during the wait`);
      }
      if (op.abortedAt !== undefined) this.violate(`${label}: LockTimeoutError after abort`);
      return;
    }
    if (op.controller && error === op.controller.signal.reason && op.abortedAt !== undefined) return;
    this.violate(`${label} rejected with ${describeError(error)}`);
  }

  #settleWithLock(op: Op, out: Outcome): void {
    const label = `withLock op ${op.id} on "${op.key}"`;
    const lm = op.fnLease;
    if (op.fnStartedAt === undefined || !lm) {
      if (out.ok) this.violate(`${label} resolved without running its callback`);
      else this.#checkAcquireError(op, out.error);
      return;
    }
    const end = op.fnEndedAt;
    if (end === undefined) {
      this.violate(`${label} settled before its callback did`);
      return;
    }
    this.#compare(lm);
    const releases = lm.calls.filter((c) => c.kind === 'release' && c.issuedAt >= end);
    if (lm.passedTo) {
      // Passed on to the next local waiter as the callback ended: no store request.
      if (releases.length > 0) this.violate(`${label} sent a release for a lease the model passed on`);
      if (lm.passedTo.at !== end) this.violate(`${label}: its lease was passed on at ${lm.passedTo.at}`);
    } else if (op.fnStateAtEnd === 'taken') {
      if (releases.length > 0) this.violate(`${label} sent a release for a taken lease`);
    } else if (!releases.some((c) => c.issuedAt === end)) {
      this.violate(`${label} did not release when its callback ended (${op.fnStateAtEnd})`);
    }
    if (op.fnError) {
      if (out.ok || out.error !== op.fnError) {
        this.violate(
          `${label}: expected the callback's own error, got ${out.ok ? 'success' : describeError(out.error)}`,
        );
      }
    } else if (op.fnStateAtEnd !== 'held') {
      if (out.ok || !(out.error instanceof LockLostError) || out.error.reason !== op.fnStateAtEnd) {
        this.violate(
          `${label}: lease was ${op.fnStateAtEnd}, expected LockLostError, got ${out.ok ? 'success' : describeError(out.error)}`,
        );
      }
    } else if (!out.ok || out.value !== `value of op ${op.id}`) {
      this.violate(
        `${label}: expected the callback's value, got ${out.ok ? String(out.value) : describeError(out.error)}`,
      );
    }
    if (lm.real.held) this.violate(`${label}: its lease is still held after it settled`);
    // Round trip as seen at the callback's end (a request still in flight counts as slow as it is so far).
    const rtt = (c: Call) => Math.min(c.repliedAt ?? Number.POSITIVE_INFINITY, end) - c.issuedAt;
    const extendsBeforeEnd = lm.calls.filter((c) => c.kind === 'extend' && c.issuedAt < end);
    const healthy =
      op.extendEveryMs === undefined &&
      lm.deadline === Number.POSITIVE_INFINITY &&
      // A passed lease was handed over with the validity its predecessor had left, not after a grant.
      (lm.from !== undefined || rtt(lm.grant) <= HEALTHY_RTT_MS) &&
      extendsBeforeEnd.every(
        (c) =>
          rtt(c) <= HEALTHY_RTT_MS &&
          (c.repliedAt === undefined || c.repliedAt > end || c.outcome?.ok === true),
      ) &&
      !this.#losses.some((l) => l.key === op.key && l.at >= lm.grant.issuedAt && l.at <= end);
    if (healthy && op.fnStateAtEnd !== 'held') {
      this.violate(
        `${label}: auto-extension let a healthy lease go (${op.fnStateAtEnd}) during a ${end - lm.handedAt} ms callback`,
      );
    }
  }

  /** Every invariant that holds at any instant; throws with everything that went wrong. */
  check(): void {
    this.#sample();
    for (const lm of this.leases) this.#compare(lm);
    for (const call of this.#grantCalls) {
      const result = call.outcome?.ok ? (call.outcome.value as StoreAcquireResult) : undefined;
      if (!result?.acquired) continue;
      const key = tk(call.key, result.token);
      if (!this.#handedTokens.has(key) && !this.#releasedTokens.has(key)) {
        this.violate(`grant ${result.token} on "${call.key}" was neither handed over nor handed back`);
      }
    }
    for (const { later, earlier, at } of this.#fifo.splice(0)) {
      if (earlier.settledAt !== at || earlier.calls.some((c) => c.kind === 'acquire')) {
        this.violate(
          `op ${later.id} went to the store before op ${earlier.id}, queued earlier on the same locker`,
        );
      }
    }
    for (const pass of this.#passes) {
      if (!pass.lease) {
        this.violate(
          `the model passed lease ${pass.from.token} to op ${pass.to.id} at ${pass.at}, which never got it (${pass.to.settledAt === undefined ? 'pending' : 'settled without it'})`,
        );
      }
    }
    for (const op of this.ops) {
      if (op.abortedAt === undefined || op.settledAt !== undefined || op.fnStartedAt !== undefined) continue;
      if (!op.calls.some((c) => c.kind === 'acquire' && c.repliedAt === undefined)) {
        this.violate(`op ${op.id} was aborted but is still pending with no request in flight`);
      }
    }
    this.#throwIfViolated();
  }

  /** After the run: let everything finish, then nothing may be pending or held. */
  async drain(): Promise<void> {
    this.store.failNext(0);
    this.setLatency(0, 0, 0);
    await this.advance(30_000);
    this.check();
    for (const op of this.ops)
      if (op.settledAt === undefined) this.violate(`${op.kind} op ${op.id} never settled`);
    for (const lm of this.leases)
      if (lm.real.held) this.violate(`lease ${lm.token} still held after the drain`);
    this.#throwIfViolated();
  }

  #throwIfViolated(): void {
    if (this.violations.length > 0) throw new Error(`model violations:\n  ${this.violations.join('\n  ')}`);
  }
}
