/**
 * The history of a fault run — every store call, lease event, validity observation and resource
 * write, plus the faults injected — and the checker that judges it.
 *
 * All times are milliseconds on one timeline shared by the processes of the run (`sharedNow()`: the
 * system's monotonic clock), never a (possibly skewed) wall clock.
 */
import { FENCE_STEP } from '@leasehold/core';

/** One call of a `LockStore` method, as seen by a recording wrapper around the store. */
export interface StoreOpRecord {
  /** Which client made it (a worker process id, `probe`, ...). Unique per process. */
  readonly worker: string;
  readonly op: 'acquire' | 'extend' | 'release';
  readonly key: string;
  /** The lease's owner id (or a stable abbreviation of it). */
  readonly owner: string;
  /** extend/release: the lease's token; a granted acquire: the token granted. */
  readonly token?: number;
  /**
   * acquire/extend: how long after `sentAt` the SDK may consider the lease valid (TTL − drift
   * allowance, as the SDK documents it).
   */
  readonly validMs?: number;
  readonly sentAt: number;
  readonly receivedAt: number;
  /**
   * acquire: `granted` / `refused`; extend/release: `ok` / `not-held`; any: `error` (outcome unknown),
   * or `unanswered`: the caller died (SIGKILL) before the answer came; `receivedAt` is then `sentAt`.
   */
  readonly outcome: 'granted' | 'refused' | 'ok' | 'not-held' | 'error' | 'unanswered';
  /** A refused acquire: the holder's token, when the store said. */
  readonly holderToken?: number;
  readonly error?: string;
}

/** What the SDK told its caller about a lease (`onEvent`, or a call's result). */
export interface LeaseEventRecord {
  readonly worker: string;
  readonly key: string;
  readonly token: number;
  readonly at: number;
  readonly type: 'acquired' | 'extended' | 'released' | 'lost';
  readonly reason?: string;
}

/** The caller read `lease.held` / `lease.remainingMs` at `at` (read together, in one synchronous step). */
export interface HeldObservation {
  readonly worker: string;
  readonly key: string;
  readonly token: number;
  readonly at: number;
  readonly held: boolean;
  readonly remainingMs: number;
}

/** One fenced write to a protected resource. */
export interface WriteRecord {
  /** The resource written (one per lock key, e.g. `http:<key>` or `ddb:<key>`). */
  readonly resource: string;
  readonly worker: string;
  readonly token: number;
  /** Sent / answered. For a resource that applies writes one at a time, both are its apply time. */
  readonly sentAt: number;
  readonly receivedAt: number;
  /** `unknown`: the write failed without a verdict (it may or may not have been applied). */
  readonly outcome: 'accepted' | 'rejected' | 'unknown';
  /** Position in the resource's own log, for resources that apply writes one at a time. */
  readonly seq?: number;
  /** A unique id the write carries into the resource, so that its final state can be searched for it. */
  readonly id?: string;
}

/** A worker frozen (SIGSTOP) from `from` to `to` (SIGCONT). */
export interface PauseRecord {
  readonly worker: string;
  readonly from: number;
  readonly to: number;
}

/** A worker killed (SIGKILL) at `at` while it held `key` with `token` (as far as the parent knew). */
export interface KillRecord {
  readonly worker: string;
  readonly at: number;
  readonly key?: string;
  readonly token?: number;
}

/** The store lost lock state between `at` and `until` (rows deleted, FLUSHALL, restart). */
export interface StateLossRecord {
  readonly at: number;
  readonly until: number;
  readonly what: string;
  /** Keys affected; all when left out. */
  readonly keys?: readonly string[];
}

/** An acquire request that the store applied and whose answer was lost on the way back (proxy `drop`). */
export interface LostAnswerRecord {
  readonly key: string;
  readonly owner: string;
  /** The token the lost answer granted; absent when the store refused it. */
  readonly token?: number;
  /** When the proxy received the request / got the store's answer. */
  readonly sentAt: number;
  readonly answeredAt: number;
}

/**
 * What a resource holds at the end of a run: how many writes it applied (a counter each write bumps)
 * and, when writes carry ids, which ones. An acknowledged write must be among them; retried writes may
 * add more to the count. The ids are what make the check exact: with a count alone, one write applied
 * twice (a retry after a lost answer) hides another that was lost.
 */
export interface ResourceState {
  readonly resource: string;
  readonly appliedWrites: number;
  /** The ids (`WriteRecord.id`) of the writes the resource applied, each once however often applied. */
  readonly appliedIds?: readonly string[];
}

export interface History {
  /** Final states of resources whose writes are not logged in order (read back after the run). */
  readonly resourceStates?: ResourceState[];
  readonly ops: StoreOpRecord[];
  readonly events: LeaseEventRecord[];
  readonly observations: HeldObservation[];
  readonly writes: WriteRecord[];
  readonly pauses: PauseRecord[];
  readonly kills: KillRecord[];
  readonly stateLosses: StateLossRecord[];
  readonly lostAnswers: LostAnswerRecord[];
}

export function emptyHistory(): History {
  return {
    ops: [],
    events: [],
    observations: [],
    writes: [],
    pauses: [],
    kills: [],
    stateLosses: [],
    lostAnswers: [],
  };
}

export const CHECKS = [
  'fenced-writes',
  'unique-tokens',
  'token-order',
  'paused-writes',
  'holder-validity',
  'exclusive-validity',
  'kill-takeover',
  'lost-answers',
  'durable-writes',
  'named-holders',
  'live-holders',
  'local-passes',
  'honest-releases',
] as const;
export type CheckName = (typeof CHECKS)[number];

export interface Violation {
  readonly check: CheckName;
  readonly message: string;
  readonly key?: string;
  readonly token?: number;
  readonly at?: number;
}

export interface CheckOptions {
  /** The lease TTL of the run, in ms. */
  readonly ttlMs: number;
  /** A killed holder's key must be granted again within `ttlMs` + this. Default 600. */
  readonly takeoverSlackMs?: number;
  /**
   * How long past `ttlMs` a store may still treat a lease as held because of clock margins (DynamoDB:
   * `clockSkewMs` plus the clients' clock offsets). Default 0.
   */
  readonly expirySlackMs?: number;
  /**
   * Allowance for timing (liveness) comparisons across processes — how late a refusal, a lost grant's
   * expiry or a caller's retry may be — in ms. Default 2. It never widens a safety check.
   */
  readonly toleranceMs?: number;
  /**
   * How far apart two times must be for the safety checks (exclusive-validity, token-order,
   * fenced-writes, paused-writes) to take them as ordered, in ms. Default 0: the history's times are
   * on one exact timeline (`sharedNow()`), and every ordering those checks rely on is causal (a grant
   * follows the release or expiry that freed the key), so any slack here would only hide a violation
   * that small (two holders overlapping by 1 ms). Raise it only for histories whose clocks differ.
   */
  readonly orderToleranceMs?: number;
  /** Check that no two holders' validity windows overlap (outside state loss). Default true. */
  readonly exclusive?: boolean;
}

export interface CheckStats {
  /** Tokens handed out by the store (granted acquires, plus grants seen only in lost answers). */
  grants: number;
  /** Leases the SDK delivered to callers. */
  leases: number;
  grantsAfterStateLoss: number;
  writesAccepted: number;
  writesRejected: number;
  writesUnknown: number;
  pausesPastTtl: number;
  /** Writes sent after a pause past the TTL with a pre-pause token, after a newer token had written. */
  staleWritesAfterPause: number;
  staleWritesAfterPauseRejected: number;
  /** Same, but no newer token had written yet (fencing may accept them). */
  staleWritesAfterPauseUnopposed: number;
  heldObservations: number;
  validityEventsChecked: number;
  /** Resources whose final state was read back (durable-writes). */
  resourcesChecked: number;
  /** Acknowledged writes with an id, searched for in their resource's final state (durable-writes). */
  writesTraced: number;
  /** Refused acquires (named-holders). */
  refusals: number;
  /**
   * Refusals checked against the lease they named (live-holders): its token was granted to a caller
   * or seen in a lost answer, to a worker that was not killed (a killed worker's last extension may
   * be missing from the history).
   */
  refusalsChecked: number;
  /** Leases a locker passed on to its own next waiter, with no store request (local-passes). */
  localPasses: number;
  /** Releases answered ok, checked against grants to other owners before they were sent. */
  releasesChecked: number;
  overlapsExcusedByStateLoss: number;
  killsChecked: number;
  /** Longest kill → next grant, in ms. */
  maxTakeoverMs: number;
  lostAnswers: number;
  lostAnswersHeldByCaller: number;
  /** Lost grants whose caller never got them (orphans)... */
  lostAnswersOrphaned: number;
  /** ... of which a later grant to someone else shows they ran out. */
  lostAnswersExpired: number;
}

export interface CheckResult {
  readonly ok: boolean;
  readonly violations: Violation[];
  /** Checks turned off by the options (`exclusive: false`). */
  readonly skipped: CheckName[];
  readonly stats: CheckStats;
}

const EPS = 1e-6;
/** The worker of a grant seen only in a lost answer. */
const LOST = '(lost answer)';

/** Judge a history. Every check can fail; see `CHECKS` and the testkit README for what each means. */
export function checkHistory(history: History, options: CheckOptions): CheckResult {
  const ttl = options.ttlMs;
  const tol = options.toleranceMs ?? 2;
  const orderTol = options.orderToleranceMs ?? 0;
  const violations: Violation[] = [];
  const stats: CheckStats = {
    grants: 0,
    leases: 0,
    grantsAfterStateLoss: 0,
    writesAccepted: 0,
    writesRejected: 0,
    writesUnknown: 0,
    pausesPastTtl: 0,
    staleWritesAfterPause: 0,
    staleWritesAfterPauseRejected: 0,
    staleWritesAfterPauseUnopposed: 0,
    heldObservations: 0,
    validityEventsChecked: 0,
    resourcesChecked: 0,
    writesTraced: 0,
    refusals: 0,
    refusalsChecked: 0,
    localPasses: 0,
    releasesChecked: 0,
    overlapsExcusedByStateLoss: 0,
    killsChecked: 0,
    maxTakeoverMs: 0,
    lostAnswers: 0,
    lostAnswersHeldByCaller: 0,
    lostAnswersOrphaned: 0,
    lostAnswersExpired: 0,
  };
  const fail = (v: Violation) => violations.push(v);

  // ---- grants: every token the store handed out --------------------------------------------------
  interface Grant {
    key: string;
    owner: string;
    token: number;
    sentAt: number;
    receivedAt: number;
    worker: string;
  }
  const grants: Grant[] = [];
  for (const op of history.ops) {
    if (op.op === 'acquire' && op.outcome === 'granted' && op.token !== undefined) {
      grants.push({ ...op, token: op.token });
    }
  }
  for (const lost of history.lostAnswers) {
    if (lost.token === undefined) continue;
    grants.push({
      key: lost.key,
      owner: lost.owner,
      token: lost.token,
      sentAt: lost.sentAt,
      receivedAt: lost.answeredAt,
      worker: LOST,
    });
  }
  stats.grants = grants.length;
  const byKey = groupBy(grants, (g) => g.key);
  /**
   * A grant seen only in a lost answer whose caller never reported its acquire, with a worker killed
   * after it was sent: the caller died mid-call, and its SDK may have sent the request again (which
   * re-grants the same lease and pushes its expiry) with no trace in the history.
   */
  const diedMidCall = (g: { owner: string; sentAt: number; receivedAt: number }) => {
    if (
      history.ops.some((o) => o.op === 'acquire' && o.owner === g.owner && o.receivedAt >= g.receivedAt - tol)
    )
      return false;
    // The caller's worker, when its other calls name it (an owner id belongs to one process): only its
    // own death excuses the gap, not any kill later in the run.
    const workers = new Set(history.ops.filter((o) => o.owner === g.owner).map((o) => o.worker));
    return history.kills.some((k) => k.at >= g.sentAt - tol && (workers.size === 0 || workers.has(k.worker)));
  };

  // ---- unique-tokens: a token goes to one owner only ---------------------------------------------
  for (const [key, list] of byKey) {
    const owners = new Map<number, string>();
    for (const g of list) {
      const seen = owners.get(g.token);
      if (seen === undefined) owners.set(g.token, g.owner);
      else if (seen !== g.owner) {
        fail({
          check: 'unique-tokens',
          key,
          token: g.token,
          at: g.receivedAt,
          message: `token ${g.token} of "${key}" was granted to two owners`,
        });
      }
    }
  }

  // ---- token-order: a grant answered before another was sent has a lower token -------------------
  for (const [key, list] of byKey) {
    const byReceived = [...list].sort((a, b) => a.receivedAt - b.receivedAt);
    const bySent = [...list].sort((a, b) => a.sentAt - b.sentAt);
    let i = 0;
    let maxToken = Number.NEGATIVE_INFINITY;
    let maxOwners = new Set<string>();
    for (const b of bySent) {
      while (i < byReceived.length && (byReceived[i] as Grant).receivedAt < b.sentAt - orderTol) {
        const a = byReceived[i] as Grant;
        if (a.token > maxToken) {
          maxToken = a.token;
          maxOwners = new Set([a.owner]);
        } else if (a.token === maxToken) maxOwners.add(a.owner);
        i++;
      }
      const sameLease = maxToken === b.token && maxOwners.size === 1 && maxOwners.has(b.owner);
      if (maxToken >= b.token && !sameLease) {
        fail({
          check: 'token-order',
          key,
          token: b.token,
          at: b.sentAt,
          message: `"${key}": token ${b.token} (${b.worker}) was granted after token ${maxToken} had been granted`,
        });
      }
    }
    for (const g of list) {
      if (history.stateLosses.some((l) => affects(l, key) && l.at <= g.sentAt)) stats.grantsAfterStateLoss++;
    }
  }

  // ---- leases the SDK delivered, with their validity ----------------------------------------------
  // Store calls carry the store lease's token. A lease a locker passed on to its own next waiter, with
  // no store request, has a token above it (up to FENCE_STEP - 1 above) and rides on the same store
  // lease: its validity is that store lease's.
  const storeGrants = new Map<string, number[]>();
  for (const g of grants) {
    if (g.worker === LOST) continue;
    const id = `${g.worker}\u0000${g.key}`;
    const list = storeGrants.get(id);
    if (list) list.push(g.token);
    else storeGrants.set(id, [g.token]);
  }
  /** The token of the store lease that a lease of `worker` on `key` with `token` rides on. */
  const storeTokenOf = (worker: string, key: string, token: number): number => {
    let best = token;
    for (const g of storeGrants.get(`${worker}\u0000${key}`) ?? []) {
      if (g <= token && token < g + FENCE_STEP && (best === token || g > best)) best = g;
    }
    return best;
  };
  /** The id of the store lease that a lease delivered to a caller rides on. */
  const storeLeaseId = (worker: string, key: string, token: number) =>
    leaseId(worker, key, storeTokenOf(worker, key, token));
  const opsByLease = groupBy(
    history.ops.filter((o) => o.token !== undefined),
    (o) => leaseId(o.worker, o.key, o.token as number),
  );
  const acquiredEvents = history.events.filter((e) => e.type === 'acquired');
  stats.leases = acquiredEvents.length;

  // ---- unique-tokens, passed-on leases: a token a locker passed on belongs to that lease only ---------
  // The store's next grant is at least FENCE_STEP above every token it issued (also after a loss of its
  // state), so no grant, nor a lease passed on from another store lease, has the token of one passed on.
  {
    const passedOn = new Map<string, string>();
    for (const e of acquiredEvents) {
      const storeToken = storeTokenOf(e.worker, e.key, e.token);
      if (storeToken === e.token) continue;
      const id = `${e.key}\u0000${e.token}`;
      const lease = leaseId(e.worker, e.key, storeToken);
      const other = passedOn.get(id) ?? lease;
      passedOn.set(id, other);
      const granted = (byKey.get(e.key) ?? []).find((g) => g.token === e.token);
      if (granted === undefined && other === lease) continue;
      fail({
        check: 'unique-tokens',
        key: e.key,
        token: e.token,
        at: e.at,
        message: `token ${e.token} of "${e.key}", passed on by ${e.worker}'s locker on store lease ${storeToken}, was also ${granted ? `granted by the store (${granted.worker})` : 'passed on from another store lease'}`,
      });
    }
  }
  /** The latest validity the SDK may claim at `at`, from the successful calls sent by then. */
  const boundAt = (lease: string, at: number): number | undefined => {
    let bound: number | undefined;
    for (const op of opsByLease.get(lease) ?? []) {
      const success =
        (op.op === 'acquire' && op.outcome === 'granted') || (op.op === 'extend' && op.outcome === 'ok');
      if (!success || op.validMs === undefined || op.sentAt > at) continue;
      const b = op.sentAt + op.validMs;
      if (bound === undefined || b > bound) bound = b;
    }
    return bound;
  };

  // ---- holder-validity: the SDK never says "valid" past the validity its calls earned -------------
  /** When the SDK first told the caller a lease ended (`released` / `lost`). */
  const leaseEnds = new Map<string, number>();
  for (const e of history.events) {
    if (e.type !== 'released' && e.type !== 'lost') continue;
    const id = leaseId(e.worker, e.key, e.token);
    leaseEnds.set(id, Math.min(e.at, leaseEnds.get(id) ?? e.at));
  }
  for (const o of history.observations) {
    if (!o.held) continue;
    stats.heldObservations++;
    // Once told its lease was released or lost, the caller must never see it held again (times of one
    // process: no tolerance).
    const ended = leaseEnds.get(leaseId(o.worker, o.key, o.token));
    if (ended !== undefined && o.at > ended + EPS) {
      fail({
        check: 'holder-validity',
        key: o.key,
        token: o.token,
        at: o.at,
        message: `${o.worker}: lease ${o.token} of "${o.key}" reported held ${(o.at - ended).toFixed(1)} ms after its caller was told it was released or lost`,
      });
      continue;
    }
    const id = storeLeaseId(o.worker, o.key, o.token);
    const bound = boundAt(id, o.at);
    if (bound === undefined) {
      fail({
        check: 'holder-validity',
        key: o.key,
        token: o.token,
        at: o.at,
        message: `${o.worker} saw lease ${o.token} of "${o.key}" held with no successful grant recorded`,
      });
      continue;
    }
    // A release of the store lease ends every lease on it: the lease that sends it stops being held
    // first, and none is passed on after it (times of one process: no tolerance).
    const release = (opsByLease.get(id) ?? []).find((op) => op.op === 'release' && op.sentAt < o.at - EPS);
    if (release !== undefined) {
      fail({
        check: 'holder-validity',
        key: o.key,
        token: o.token,
        at: o.at,
        message: `${o.worker}: lease ${o.token} of "${o.key}" reported held ${(o.at - release.sentAt).toFixed(1)} ms after a release of its store lease was sent`,
      });
      continue;
    }
    if (o.at >= bound + EPS || o.at + o.remainingMs > bound + 1 + EPS) {
      fail({
        check: 'holder-validity',
        key: o.key,
        token: o.token,
        at: o.at,
        message: `${o.worker}: lease ${o.token} of "${o.key}" reported held (${o.remainingMs} ms left) ${(o.at - bound).toFixed(1)} ms after its validity ended`,
      });
    }
  }
  for (const e of history.events) {
    if (e.type !== 'acquired' && e.type !== 'extended') continue;
    const kind = e.type === 'acquired' ? 'acquire' : 'extend';
    const wanted = e.type === 'acquired' ? 'granted' : 'ok';
    const candidates = (opsByLease.get(storeLeaseId(e.worker, e.key, e.token)) ?? []).filter(
      (op) => op.op === kind && op.outcome === wanted && op.receivedAt <= e.at + EPS,
    );
    const op = candidates.reduce<StoreOpRecord | undefined>(
      (latest, c) => (latest === undefined || c.receivedAt > latest.receivedAt ? c : latest),
      undefined,
    );
    if (op === undefined) {
      // The SDK told its caller it holds (or extended) a lease that no store call granted (or extended)
      // by then: nothing bounds its validity, and no exclusive-validity window is built for it.
      fail({
        check: 'holder-validity',
        key: e.key,
        token: e.token,
        at: e.at,
        message: `${e.worker}: "${e.type}" for lease ${e.token} of "${e.key}" with no ${kind} answered ${wanted} by then`,
      });
      continue;
    }
    if (op.validMs === undefined) continue;
    stats.validityEventsChecked++;
    if (op.receivedAt >= op.sentAt + op.validMs - EPS) {
      fail({
        check: 'holder-validity',
        key: e.key,
        token: e.token,
        at: e.at,
        message: `${e.worker}: "${e.type}" for lease ${e.token} of "${e.key}" although the store's answer came ${(op.receivedAt - op.sentAt).toFixed(1)} ms after sending, past the ${op.validMs} ms of validity it could earn`,
      });
    }
  }

  // ---- exclusive-validity: no two holders believe they hold at once ------------------------------
  if (options.exclusive ?? true) {
    interface Window {
      worker: string;
      key: string;
      token: number;
      /** The store lease it rides on (its own token unless its locker passed it on). */
      storeToken: number;
      /** `leaseId` of that store lease. */
      lease: string;
      grantSentAt: number;
      start: number;
      end: number;
    }
    const windows: Window[] = [];
    for (const e of acquiredEvents) {
      // A window per lease delivered to a caller. One its locker passed on (no store request) starts
      // when its caller got it and rides on the store lease it was passed on with.
      const token = storeTokenOf(e.worker, e.key, e.token);
      const id = leaseId(e.worker, e.key, token);
      const ops = opsByLease.get(id) ?? [];
      // The first grant answered, whatever order the records arrived in (a retried request may be
      // granted, and recorded, twice).
      const grant = ops
        .filter((o) => o.op === 'acquire' && o.outcome === 'granted')
        .reduce<StoreOpRecord | undefined>(
          (first, o) => (first === undefined || o.receivedAt < first.receivedAt ? o : first),
          undefined,
        );
      const bound = boundAt(id, Number.POSITIVE_INFINITY);
      if (grant === undefined || bound === undefined) continue;
      const passedOn = token !== e.token;
      const start = passedOn ? e.at : grant.receivedAt;
      let end = bound;
      // Once a release of the store lease is sent (answered or not), the holder has stopped claiming
      // it. For a lease passed on, only a release sent after its caller got it (times of one process:
      // no tolerance): one sent before, by the lease it was passed on from, must not have freed what
      // this one holds.
      for (const o of ops) {
        if (o.op === 'release' && (!passedOn || o.sentAt > start) && o.sentAt < end) end = o.sentAt;
      }
      windows.push({
        worker: e.worker,
        key: e.key,
        token: e.token,
        storeToken: token,
        lease: id,
        grantSentAt: Math.min(
          ...ops.filter((o) => o.op === 'acquire' && o.outcome === 'granted').map((o) => o.sentAt),
        ),
        start,
        end,
      });
    }
    for (const [key, list] of groupBy(windows, (w) => w.key)) {
      // In the order the holders learned of their grants: each must start after every earlier
      // holder's validity ended (or that holder released).
      list.sort((a, b) => a.start - b.start);
      for (let j = 1; j < list.length; j++) {
        const b = list[j] as Window;
        for (let i = 0; i < j; i++) {
          const a = list[i] as Window;
          // Leases on one store lease of one locker follow each other: see local-passes.
          if ((a.storeToken === b.storeToken && a.worker === b.worker) || a.end <= b.start + orderTol)
            continue;
          // A loss before the second grant's answer may have erased either lease from the store
          // (whichever the store applied first), but only what its calls sent by the end of the loss
          // earned: validity a grant or extension sent after it earned was the store's word that the
          // lease exists. The overlap is excused when all of it may be erased validity of one of them.
          const overlapEnd = Math.min(a.end, b.end);
          const erasable = (w: Window, l: StateLossRecord) =>
            w.grantSentAt > l.until
              ? Number.NEGATIVE_INFINITY
              : Math.min(w.end, boundAt(w.lease, l.until) ?? Number.NEGATIVE_INFINITY);
          const excused = history.stateLosses.some(
            (l) =>
              affects(l, key) &&
              l.at <= b.start &&
              overlapEnd <= Math.max(erasable(a, l), erasable(b, l)) + Math.max(0, orderTol),
          );
          if (excused) {
            stats.overlapsExcusedByStateLoss++;
            continue;
          }
          fail({
            check: 'exclusive-validity',
            key,
            token: b.token,
            at: b.start,
            message: `"${key}": ${b.worker} got token ${b.token} while ${a.worker}'s lease ${a.token} was still valid for ${(a.end - b.start).toFixed(1)} ms`,
          });
        }
      }
    }
  }

  // ---- local-passes: a lease passed on in one locker starts only once the one before it ended -------
  // One process, one clock: no skew to allow for. The leases on one store lease, in the order their
  // callers got them; each must have been released (or lost) before the next one was handed out.
  {
    const byStoreLease = groupBy(acquiredEvents, (e) => storeLeaseId(e.worker, e.key, e.token));
    for (const list of byStoreLease.values()) {
      list.sort((a, b) => a.token - b.token);
      for (let i = 1; i < list.length; i++) {
        const prev = list[i - 1] as LeaseEventRecord;
        const next = list[i] as LeaseEventRecord;
        stats.localPasses++;
        {
          const bound = boundAt(storeLeaseId(next.worker, next.key, next.token), next.at);
          if (bound !== undefined && bound - next.at < ttl / 2 - tol) {
            fail({
              check: 'local-passes',
              key: next.key,
              token: next.token,
              at: next.at,
              message: `${next.worker}: lease ${next.token} of "${next.key}" was passed on with ${(bound - next.at).toFixed(1)} ms of validity left (less than half the ${ttl} ms TTL)`,
            });
          }
        }
        const end = leaseEnds.get(leaseId(prev.worker, prev.key, prev.token));
        // Its caller must also have stopped seeing it held (the events alone could say "released" of a
        // lease that still reads as held).
        const seen = history.observations.find(
          (o) =>
            o.held &&
            o.worker === prev.worker &&
            o.key === prev.key &&
            o.token === prev.token &&
            o.at > next.at + EPS,
        );
        if (seen !== undefined) {
          fail({
            check: 'local-passes',
            key: next.key,
            token: next.token,
            at: next.at,
            message: `${next.worker}: lease ${prev.token} of "${next.key}" was still reported held ${(seen.at - next.at).toFixed(1)} ms after lease ${next.token}, on the same store lease, was handed out`,
          });
          continue;
        }
        if (end !== undefined && end <= next.at + EPS) continue;
        fail({
          check: 'local-passes',
          key: next.key,
          token: next.token,
          at: next.at,
          message:
            end === undefined
              ? `${next.worker}: lease ${next.token} of "${next.key}" was handed out on the store lease of ${prev.token}, which never ended`
              : `${next.worker}: lease ${next.token} of "${next.key}" was handed out ${(end - next.at).toFixed(1)} ms before lease ${prev.token}, on the same store lease, ended`,
        });
      }
    }
  }

  // ---- fenced-writes: no accepted write below the resource's high-water mark ----------------------
  // A resource read back at the end (durable-writes) also tells which writes it applied: one rejected
  // must not be among them, and one whose outcome was unknown counts as accepted once found there.
  const appliedIdsOf = new Map<string, Set<string>>();
  for (const state of history.resourceStates ?? []) {
    if (state.appliedIds !== undefined) appliedIdsOf.set(state.resource, new Set(state.appliedIds));
  }
  for (const [resource, list] of groupBy(history.writes, (w) => w.resource)) {
    const appliedIds = appliedIdsOf.get(resource);
    const wasApplied = (w: WriteRecord) => w.id !== undefined && appliedIds?.has(w.id) === true;
    for (const w of list) {
      if (w.outcome === 'accepted') stats.writesAccepted++;
      else if (w.outcome === 'rejected') stats.writesRejected++;
      else stats.writesUnknown++;
      if (w.outcome === 'rejected' && wasApplied(w)) {
        fail({
          check: 'fenced-writes',
          key: resource,
          token: w.token,
          at: w.sentAt,
          message: `${resource}: ${w.worker}'s write ${w.id} with token ${w.token} was reported rejected, but the resource applied it`,
        });
      }
    }
    // In the resource's own order (resources that log every write in the order applied).
    const logged = list
      .filter((w) => w.seq !== undefined)
      .sort((a, b) => (a.seq as number) - (b.seq as number));
    let high = Number.NEGATIVE_INFINITY;
    for (const w of logged) {
      if (w.outcome === 'accepted') {
        if (w.token < high) {
          fail({
            check: 'fenced-writes',
            key: resource,
            token: w.token,
            at: w.sentAt,
            message: `${resource}: write #${w.seq} with token ${w.token} accepted below the high-water mark ${high}`,
          });
        }
        high = Math.max(high, w.token);
      } else if (w.outcome === 'rejected' && w.token >= high) {
        fail({
          check: 'fenced-writes',
          key: resource,
          token: w.token,
          at: w.sentAt,
          message: `${resource}: write #${w.seq} with token ${w.token} rejected although the high-water mark was ${high}`,
        });
      }
    }
    // In real time: an accepted write never follows an accepted write of a higher token. A write of
    // unknown outcome found applied in the final state was applied some time after it was sent: it
    // must not follow one either (when it was applied, the check cannot tell, so it orders nothing).
    const accepted = list.filter((w) => w.outcome === 'accepted');
    const byReceived = [...accepted].sort((a, b) => a.receivedAt - b.receivedAt);
    const bySent = [...accepted, ...list.filter((w) => w.outcome === 'unknown' && wasApplied(w))].sort(
      (a, b) => a.sentAt - b.sentAt,
    );
    let i = 0;
    let max = Number.NEGATIVE_INFINITY;
    for (const w of bySent) {
      while (i < byReceived.length && (byReceived[i] as WriteRecord).receivedAt < w.sentAt - orderTol) {
        max = Math.max(max, (byReceived[i] as WriteRecord).token);
        i++;
      }
      if (max > w.token) {
        fail({
          check: 'fenced-writes',
          key: resource,
          token: w.token,
          at: w.sentAt,
          message: `${resource}: ${w.worker}'s write with token ${w.token} was ${w.outcome === 'accepted' ? 'accepted' : 'applied (outcome unknown to its writer)'} after token ${max} had written`,
        });
      }
    }
  }

  // ---- paused-writes: after a pause past the TTL, writes with the old token are refused -----------
  const grantsByWorker = groupBy(
    history.ops.filter((o) => o.op === 'acquire' && o.outcome === 'granted' && o.token !== undefined),
    (o) => o.worker,
  );
  for (const p of history.pauses) {
    if (p.to - p.from < ttl) continue;
    stats.pausesPastTtl++;
    // Its store grants, and the leases passed on to it locally, from before the pause.
    const staleTokens = new Set([
      ...(grantsByWorker.get(p.worker) ?? [])
        .filter((g) => g.receivedAt <= p.from)
        .map((g) => g.token as number),
      ...acquiredEvents.filter((e) => e.worker === p.worker && e.at <= p.from).map((e) => e.token),
    ]);
    for (const w of history.writes) {
      if (w.worker !== p.worker || !staleTokens.has(w.token) || w.sentAt < p.to - tol) continue;
      const newer = history.writes.some(
        (o) =>
          o.resource === w.resource &&
          o.outcome === 'accepted' &&
          o.token > w.token &&
          o.receivedAt >= p.from - tol &&
          o.receivedAt < w.sentAt - orderTol,
      );
      if (!newer) {
        stats.staleWritesAfterPauseUnopposed++;
        continue;
      }
      stats.staleWritesAfterPause++;
      if (w.outcome === 'accepted') {
        fail({
          check: 'paused-writes',
          key: w.resource,
          token: w.token,
          at: w.sentAt,
          message: `${w.resource}: ${w.worker} wrote with token ${w.token} after a ${Math.round(p.to - p.from)} ms pause, after a newer token had written, and it was accepted`,
        });
      } else stats.staleWritesAfterPauseRejected++;
    }
  }

  // ---- kill-takeover: a killed holder's key is granted again within TTL + slack -------------------
  const slack = options.takeoverSlackMs ?? 600;
  for (const k of history.kills) {
    if (k.key === undefined || k.token === undefined) continue;
    const killedToken = k.token;
    stats.killsChecked++;
    const next = (byKey.get(k.key) ?? [])
      .filter((g) => g.token > killedToken && g.worker !== k.worker)
      .reduce<Grant | undefined>(
        (first, g) => (first === undefined || g.receivedAt < first.receivedAt ? g : first),
        undefined,
      );
    if (next === undefined) {
      fail({
        check: 'kill-takeover',
        key: k.key,
        token: k.token,
        at: k.at,
        message: `"${k.key}" was never granted again after its holder ${k.worker} was killed`,
      });
      continue;
    }
    const took = Math.max(0, next.receivedAt - k.at);
    stats.maxTakeoverMs = Math.max(stats.maxTakeoverMs, took);
    if (took > ttl + slack) {
      fail({
        check: 'kill-takeover',
        key: k.key,
        token: k.token,
        at: k.at,
        message: `"${k.key}" was granted again ${Math.round(took)} ms after its holder was killed (TTL ${ttl} ms + ${slack} ms allowed)`,
      });
    }
  }

  // ---- lost-answers: an applied acquire whose answer was lost ends held by its caller, or expires --
  const expirySlack = options.expirySlackMs ?? 0;
  const lastLost = new Map<string, LostAnswerRecord>();
  for (const l of history.lostAnswers) {
    if (l.token === undefined) continue;
    const id = `${l.key}\u0000${l.owner}`;
    const prev = lastLost.get(id);
    if (prev === undefined || l.answeredAt > prev.answeredAt) lastLost.set(id, l);
  }
  const acquiresByKey = groupBy(
    history.ops.filter((o) => o.op === 'acquire'),
    (o) => o.key,
  );
  for (const l of lastLost.values()) {
    const lostToken = l.token;
    if (lostToken === undefined) continue;
    stats.lostAnswers++;
    const acquires = acquiresByKey.get(l.key) ?? [];
    const caller = acquires.find(
      (o) => o.owner === l.owner && o.outcome === 'granted' && o.receivedAt >= l.answeredAt - tol,
    );
    if (caller !== undefined) {
      stats.lostAnswersHeldByCaller++;
      continue;
    }
    stats.lostAnswersOrphaned++;
    if (diedMidCall({ owner: l.owner, sentAt: l.sentAt, receivedAt: l.answeredAt })) continue;
    const deadline = l.answeredAt + ttl + expirySlack + tol;
    const blocked = acquires.find(
      (o) =>
        o.owner !== l.owner && o.outcome === 'refused' && o.holderToken === lostToken && o.sentAt > deadline,
    );
    if (blocked !== undefined) {
      fail({
        check: 'lost-answers',
        key: l.key,
        token: lostToken,
        at: blocked.sentAt,
        message: `"${l.key}": the grant of token ${l.token} whose answer was lost still blocked ${blocked.worker} ${Math.round(blocked.sentAt - l.answeredAt)} ms later (TTL ${ttl} ms)`,
      });
      continue;
    }
    if ((byKey.get(l.key) ?? []).some((g) => g.owner !== l.owner && g.token > lostToken)) {
      stats.lostAnswersExpired++;
    }
  }

  // ---- named-holders: a refusal names the holder's token (a store failure must not read as "held") ----
  for (const o of history.ops) {
    if (o.op !== 'acquire' || o.outcome !== 'refused') continue;
    stats.refusals++;
    if (!(o.holderToken !== undefined && o.holderToken > 0)) {
      violations.push({
        check: 'named-holders',
        key: o.key,
        at: o.receivedAt,
        message: `"${o.key}": ${o.worker}'s acquire was refused without naming a holder's token (a failure reported as "held"?)`,
      });
    }
  }

  // ---- live-holders: a refusal names a lease still alive: not one released or run out before it ----
  // A store that says "held" for a lock nobody holds any more blocks everyone for nothing: safe, but a
  // stuck key (a release that answered `ok` without freeing, an expiry never applied). The lease the
  // refusal named must not have been released (answered `ok`) before the refusal was sent, nor have
  // seen its last grant or extension answered more than a TTL (plus the store's expiry slack) before
  // it. Every store call's effect is over by its answer, and each sets the expiry to at most a TTL
  // past it (DynamoDB writes it from the client's clock at sending). Tokens the history does not know
  // (an acquire that failed but may have been applied) and those of killed workers (their last
  // extension may be missing) are not checked.
  const killed = new Set(history.kills.map((k) => k.worker));
  const lastAlive = new Map<string, number>();
  const unsure = new Set<string>();
  const alive = (key: string, token: number, at: number, notSure: boolean) => {
    const id = `${key}\u0000${token}`;
    lastAlive.set(id, Math.max(at, lastAlive.get(id) ?? at));
    if (notSure) unsure.add(id);
  };
  for (const g of grants) {
    alive(g.key, g.token, g.receivedAt, g.worker === LOST ? diedMidCall(g) : killed.has(g.worker));
  }
  for (const o of history.ops) {
    if (o.op === 'extend' && o.token !== undefined) alive(o.key, o.token, o.receivedAt, killed.has(o.worker));
  }
  const releasedAt = new Map<string, number>();
  for (const o of history.ops) {
    if (o.op !== 'release' || o.outcome !== 'ok' || o.token === undefined) continue;
    const id = `${o.key}\u0000${o.token}`;
    releasedAt.set(id, Math.min(o.receivedAt, releasedAt.get(id) ?? o.receivedAt));
  }
  for (const o of history.ops) {
    const token = o.holderToken;
    if (o.op !== 'acquire' || o.outcome !== 'refused' || token === undefined || !(token > 0)) continue;
    const id = `${o.key}\u0000${token}`;
    const last = lastAlive.get(id);
    if (last === undefined || unsure.has(id)) continue;
    stats.refusalsChecked++;
    const released = releasedAt.get(id);
    if (released !== undefined && o.sentAt > released + tol) {
      fail({
        check: 'live-holders',
        key: o.key,
        token,
        at: o.sentAt,
        message: `"${o.key}": ${o.worker}'s acquire was refused for token ${o.holderToken}, released ${Math.round(o.sentAt - released)} ms before it was sent`,
      });
    } else if (o.sentAt > last + ttl + expirySlack + tol) {
      fail({
        check: 'live-holders',
        key: o.key,
        token,
        at: o.sentAt,
        message: `"${o.key}": ${o.worker}'s acquire was refused for token ${o.holderToken}, ${Math.round(o.sentAt - last)} ms after its last grant or extension (TTL ${ttl} ms): it should have run out`,
      });
    }
  }

  // ---- honest-releases: a release answered ok for a lease whose key another owner was granted a higher
  // token before the release was sent (a takeover the store had already applied) is a lie -------------
  for (const o of history.ops) {
    if (o.op !== 'release' || o.outcome !== 'ok' || o.token === undefined) continue;
    const released = o.token;
    stats.releasesChecked++;
    const taken = (byKey.get(o.key) ?? []).find(
      (g) => g.owner !== o.owner && g.token > released && g.receivedAt < o.sentAt - tol,
    );
    if (taken !== undefined) {
      fail({
        check: 'honest-releases',
        key: o.key,
        token: released,
        at: o.sentAt,
        message: `"${o.key}": ${o.worker}'s release of token ${released} answered ok although token ${taken.token} (${taken.worker}) was granted ${Math.round(o.sentAt - taken.receivedAt)} ms before it was sent`,
      });
    }
  }

  // ---- durable-writes: every acknowledged write is in the resource's final state -------------------
  for (const { resource, appliedWrites, appliedIds } of history.resourceStates ?? []) {
    stats.resourcesChecked++;
    const acknowledged = history.writes.filter((w) => w.resource === resource && w.outcome === 'accepted');
    if (appliedWrites < acknowledged.length) {
      violations.push({
        check: 'durable-writes',
        message: `${resource}: ${acknowledged.length} writes acknowledged, only ${appliedWrites} applied (an acknowledged write was lost)`,
      });
    }
    if (appliedIds === undefined) continue;
    const applied = new Set(appliedIds);
    for (const w of acknowledged) {
      if (w.id === undefined) continue;
      stats.writesTraced++;
      if (!applied.has(w.id)) {
        violations.push({
          check: 'durable-writes',
          at: w.receivedAt,
          message: `${resource}: ${w.worker}'s write ${w.id} (token ${w.token}) was acknowledged but is not in the final state (lost)`,
        });
      }
    }
  }

  const skipped: CheckName[] = [
    ...((options.exclusive ?? true) ? [] : (['exclusive-validity'] as const)),
    ...(history.resourceStates?.length ? [] : (['durable-writes'] as const)),
  ];
  return { ok: violations.length === 0, violations, stats, skipped };
}

function leaseId(worker: string, key: string, token: number): string {
  return `${worker}\u0000${key}\u0000${token}`;
}

function affects(loss: StateLossRecord, key: string): boolean {
  return loss.keys === undefined || loss.keys.includes(key);
}

function groupBy<T>(items: readonly T[], by: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = by(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

/** A short human-readable report: one line per check, then the first violations. */
export function formatCheckResult(result: CheckResult, maxViolations = 20): string {
  const counts = new Map<CheckName, number>();
  for (const v of result.violations) counts.set(v.check, (counts.get(v.check) ?? 0) + 1);
  const s = result.stats;
  const detail: Record<CheckName, string> = {
    'fenced-writes': `${s.writesAccepted} accepted, ${s.writesRejected} rejected, ${s.writesUnknown} unknown`,
    'unique-tokens': `${s.grants} grants`,
    'token-order': `${s.grants} grants, ${s.grantsAfterStateLoss} after state loss`,
    'paused-writes': `${s.pausesPastTtl} pauses, ${s.staleWritesAfterPauseRejected}/${s.staleWritesAfterPause} stale writes rejected (${s.staleWritesAfterPauseUnopposed} unopposed)`,
    'holder-validity': `${s.heldObservations} observations, ${s.validityEventsChecked} grants/extensions`,
    'exclusive-validity': `${s.leases} leases, ${s.overlapsExcusedByStateLoss} overlaps after state loss`,
    'kill-takeover': `${s.killsChecked} kills, slowest takeover ${Math.round(s.maxTakeoverMs)} ms`,
    'durable-writes': `${s.resourcesChecked} resources read back, ${s.writesTraced} writes traced`,
    'named-holders': `${s.refusals} refusals`,
    'live-holders': `${s.refusalsChecked} refusals checked against the lease they named`,
    'local-passes': `${s.localPasses} leases passed on within a locker`,
    'honest-releases': `${s.releasesChecked} releases answered ok, checked against takeovers`,
    'lost-answers': `${s.lostAnswers} lost grants: ${s.lostAnswersHeldByCaller} held by caller, ${s.lostAnswersOrphaned} orphaned (${s.lostAnswersExpired} seen to expire)`,
  };
  const lines = CHECKS.map((c) => {
    if (result.skipped.includes(c)) return `-    ${c.padEnd(19)} not checked`;
    const n = counts.get(c) ?? 0;
    return `${n === 0 ? 'ok  ' : 'FAIL'} ${c.padEnd(19)} ${detail[c]}${n === 0 ? '' : ` — ${n} violation(s)`}`;
  });
  for (const v of result.violations.slice(0, maxViolations)) lines.push(`  ${v.check}: ${v.message}`);
  if (result.violations.length > maxViolations) {
    lines.push(`  ... ${result.violations.length - maxViolations} more`);
  }
  return lines.join('\n');
}
