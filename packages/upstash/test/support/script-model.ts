/**
 * A reference model of the store's Lua script, written from the TSDoc of `SCRIPT` in `src/scripts.ts`
 * and deliberately not from its Lua: the decision-table test runs the real script on a real
 * redis-server and compares it with what this model says the documentation promises. Where the two
 * disagree, the documentation is the claim under test.
 *
 * Times are relative to the instant the test set its state up: a `pttl` of 5_000 means "expires about
 * 5 s after set-up"; an expected duration is {@link About}, checked within the test's slack.
 */
import { createHash } from 'node:crypto';
import { FENCE_STEP } from '@leasehold/core';
import { FLOOR_LAG_MS } from '../../src/scripts.js';

/** A queued owner and its terms (`ttl:eligibleUntil`), with its score in the queue (arrival). */
export interface Waiter {
  readonly owner: string;
  readonly ttl: number;
  /** Client epoch ms until which it may be handed the lock. */
  readonly until: number;
  /** Client epoch ms of its first queueing: its place in the queue. */
  readonly arrival: number;
}

/** The state of one key's Redis names before an operation. */
export interface ScriptState {
  /** The lock: its owner and remaining ms, `undefined` pttl meaning "no expiry". */
  readonly lock?: { readonly owner: string; readonly pttl?: number };
  /** The fence counter's value, `undefined` when the key is gone. */
  readonly fence?: number;
  /** Waiters in any order (the queue orders them by arrival); none: no queue keys. */
  readonly queue: readonly Waiter[];
  /** Remaining ms of the queue and waiters keys (both alike), when there is a queue. */
  readonly queueTtl?: number;
}

export type ScriptOp =
  | { readonly op: 'extend'; readonly owner: string; readonly ttl: number }
  | { readonly op: 'inspect' }
  | {
      readonly op: 'acquire';
      readonly owner: string;
      readonly ttl: number;
      /** `s`: the clock floor, client epoch ms × 1000. */
      readonly floor: number;
      /** `n`: how long to queue if held, 0 for not at all. */
      readonly queueMs: number;
      /** `a`: the client's epoch ms. */
      readonly clock: number;
    }
  | {
      readonly op: 'release';
      readonly owner: string;
      /** 0: a waiter withdrawing. */
      readonly token: number;
      /** `s`: the releasing client's epoch ms. */
      readonly clock: number;
    };

/** A duration that was `about` ms at set-up: the test accepts it a little lower, never higher. */
export interface About {
  readonly about: number;
}

/** What the documentation says an operation answers and leaves behind. */
export interface Prediction {
  /** One line naming the documented behaviour: the test's name, so cases group by it. */
  readonly behaviour: string;
  readonly reply: ReadonlyArray<number | About>;
  readonly lock?: { readonly owner: string; readonly pttl: About | 'none' };
  readonly fence?: number;
  /** The queue in its order, each with its score and terms text. */
  readonly queue: ReadonlyArray<{ readonly owner: string; readonly arrival: number; readonly terms: string }>;
  /** Remaining ms of the queue and waiters keys; absent when the queue is empty (keys gone). */
  readonly queueTtl?: About;
  /** Messages on the release channel, in order. */
  readonly published: readonly string[];
}

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');
const about = (ms: number): About => ({ about: ms });
/**
 * "Pushes the expiry out, never back", read literally: a lock without expiry keeps none. The script
 * gives it one instead; the TSDoc says Leasehold never writes such a lock, so the table leaves that
 * state out (see the test's LOCKS).
 */
const pushed = (pttl: number | undefined, ms: number): About | 'none' =>
  pttl === undefined ? 'none' : about(Math.max(pttl, ms));
const byArrival = (a: Waiter, b: Waiter) => a.arrival - b.arrival || (a.owner < b.owner ? -1 : 1);
const terms = (w: Waiter) => `${w.ttl}:${w.until}`;
/**
 * The lowest token a counter lagging behind `floor` may issue next: the floor minus the allowed lag.
 * The next token is the larger of this and counter + FENCE_STEP. The ACQUIRE paragraph ("raised to the
 * floor minus that lag") could be read as "this, even when counter + FENCE_STEP is higher"; the
 * hand-over paragraph ("the fence counter + FENCE_STEP, raised to ...") and core's promise of tokens at
 * least FENCE_STEP apart settle it.
 */
const lagFloor = (floor: number) => floor - FLOOR_LAG_MS * 1000;

export function predict(state: ScriptState, operation: ScriptOp): Prediction {
  const { lock, fence } = state;
  let queue = [...state.queue].sort(byArrival);
  /** The queue as it stands; its keys keep their expiry while anyone is left in it. */
  const queueNow = () => ({
    queue: queue.map((w) => ({ owner: w.owner, arrival: w.arrival, terms: terms(w) })),
    ...(queue.length > 0 && { queueTtl: about(state.queueTtl!) }),
  });
  const lockBefore: Prediction['lock'] = lock && {
    owner: lock.owner,
    pttl: lock.pttl === undefined ? 'none' : about(lock.pttl),
  };
  /** Lock and fence as they were, the queue as it is now, nothing published. */
  const unchanged = (behaviour: string, reply: ReadonlyArray<number | About>): Prediction => ({
    behaviour,
    reply,
    ...(lockBefore && { lock: lockBefore }),
    ...(fence !== undefined && { fence }),
    ...queueNow(),
    published: [],
  });
  const leaveQueue = (owner: string) => {
    const before = queue.length;
    queue = queue.filter((w) => w.owner !== owner);
    return queue.length < before;
  };

  switch (operation.op) {
    case 'extend': {
      if (lock?.owner !== operation.owner)
        return unchanged('refuses an owner that does not hold the lock', [0]);
      const pttl = pushed(lock.pttl, operation.ttl);
      const behaviour =
        pttl === 'none'
          ? 'leaves a lock held without expiry without one'
          : lock.pttl! >= operation.ttl
            ? 'never moves a later expiry back'
            : 'pushes the expiry out to now + ttl';
      return { ...unchanged(behaviour, [1]), lock: { owner: lock.owner, pttl } };
    }

    case 'inspect':
      return unchanged(
        !lock
          ? 'reports a free lock'
          : lock.pttl === undefined
            ? 'reports a lock held without expiry'
            : 'reports the remaining time',
        [lock ? (lock.pttl === undefined ? -1 : about(lock.pttl)) : -2, fence ?? 0],
      );

    case 'acquire': {
      const { owner, ttl, floor, queueMs, clock } = operation;
      if (lock && lock.owner !== owner) {
        const reply = [0, lock.pttl === undefined ? -1 : about(lock.pttl), fence ?? 0];
        if (queueMs <= 0) return unchanged('reports the holder (time, token) and queues nobody', reply);
        const queued = queue.find((w) => w.owner === owner);
        const waiter = { owner, ttl, until: clock + queueMs, arrival: queued?.arrival ?? clock };
        leaveQueue(owner);
        queue = [...queue, waiter].sort(byArrival);
        return {
          ...unchanged(
            queued
              ? 'reports the holder and keeps the waiter in its place with renewed terms'
              : 'reports the holder and queues the owner by its arrival',
            reply,
          ),
          queue: queueNow().queue,
          queueTtl: about(Math.max(state.queueTtl ?? 0, queueMs + 1_000)),
        };
      }
      const wasQueued = leaveQueue(owner);
      const dequeued = wasQueued ? ', taking the owner out of the queue' : '';
      if (lock?.owner === owner && fence !== undefined) {
        return {
          ...unchanged(
            `answers its holder's retry with the current token, only pushing the expiry${dequeued}`,
            [1, fence],
          ),
          lock: { owner, pttl: pushed(lock.pttl, ttl) },
        };
      }
      let token: number;
      let how: string;
      if (fence === undefined) {
        token = floor;
        how = 'starts a new counter at the clock floor';
      } else {
        token = Math.max(fence + FENCE_STEP, lagFloor(floor));
        how =
          token > fence + FENCE_STEP
            ? 'raises a counter lagging the floor to the floor minus the lag'
            : 'advances the counter by FENCE_STEP';
      }
      const held = lock?.owner === owner;
      return {
        behaviour: `${held ? "answers its holder's retry after the counter was lost" : 'grants a free lock'}: ${how}${dequeued}`,
        reply: [1, token],
        lock: { owner, pttl: held ? pushed(lock.pttl, ttl) : about(ttl) },
        fence: token,
        ...queueNow(),
        published: [],
      };
    }

    case 'release': {
      const { owner, token, clock } = operation;
      const hadQueue = queue.length > 0;
      const wasQueued = leaveQueue(owner);
      if (lock?.owner !== owner) {
        return unchanged(
          wasQueued
            ? 'withdraws a queued owner that does not hold the lock, changing nothing else'
            : 'refuses an owner that does not hold the lock, changing nothing',
          [0],
        );
      }
      const dropped: string[] = [];
      if (hadQueue && fence !== undefined) {
        while (queue.length > 0) {
          const [next, ...rest] = queue as [Waiter, ...Waiter[]];
          queue = rest;
          if (next.until < clock) {
            dropped.push(next.owner);
            continue;
          }
          const handed = Math.max(fence + FENCE_STEP, lagFloor(clock * 1000));
          const skipping = dropped.length > 0 ? `, dropping expired ${dropped.join(', ')}` : '';
          const raised = handed > fence + FENCE_STEP ? ' (counter raised to the floor minus the lag)' : '';
          return {
            behaviour: `hands the lock to the first eligible waiter${skipping}${raised}`,
            reply: [1],
            lock: { owner: next.owner, pttl: about(next.ttl) },
            fence: handed,
            ...queueNow(),
            published: [`g${sha1(next.owner)}:${handed}`],
          };
        }
      }
      const why = !hadQueue
        ? 'nobody queued'
        : fence === undefined
          ? 'no fence counter: the queue is left waiting'
          : dropped.length > 0
            ? `no eligible waiter: expired ${dropped.join(', ')} dropped`
            : 'nobody else queued';
      return {
        behaviour:
          token > 0
            ? `frees the lock and publishes the released token (${why})`
            : `frees a lock handed to a withdrawing waiter and publishes the fence counter (${why})`,
        reply: [1],
        ...(fence !== undefined && { fence }),
        ...queueNow(),
        published: [`${token > 0 ? token : (fence ?? 0)}`],
      };
    }
  }
}
