import { FENCE_STEP, type LockStore, type StoreAcquireResult, StoreError } from '@leasehold/core';

/**
 * Deliberately broken stores: each wraps a real store and breaks one rule of the store contract. The
 * conformance suite run over one (`node test/mutants/prove.mjs`) must fail the tests named in `fails`.
 * State shared by every wrapped store of a run lives in these module-level maps, as it would in the
 * backing service.
 */
export interface Mutant {
  /** The rule it breaks. */
  readonly breaks: string;
  /** Conformance tests (a part of their names) that must fail over it. */
  readonly fails: readonly string[];
  /** Stores to run it over: 'upstash' unless the real store breaks the rule already. */
  readonly store?: 'upstash' | 'dynamodb';
  readonly wrap: (store: LockStore) => LockStore;
}

/** Owner id → the last token granted to it, and key → the last owner granted it. */
const tokenOf = new Map<string, number>();
const ownerOf = new Map<string, string>();
/** Per key: the real tokens seen, in order, and the first one. */
const seen = new Map<string, number[]>();
/** Per key: every owner ever granted it. */
const ownersOf = new Map<string, Set<string>>();
/** Owner id → the token of its first grant. */
const firstTokenOf = new Map<string, number>();
/** Key → the expiry inspect last reported while it was held, until a release or withdraw. */
const lastExpiry = new Map<string, number>();

/** The store with some of its methods replaced; grants are recorded in the maps above. */
function wrap(store: LockStore, replace: (inner: LockStore) => Partial<LockStore>): LockStore {
  const recorded: LockStore = {
    ...bound(store),
    async acquire(request) {
      const result = await store.acquire(request);
      if (result.acquired) {
        tokenOf.set(request.owner, result.token);
        ownerOf.set(request.key, request.owner);
        const list = seen.get(request.key) ?? [];
        if (!list.includes(result.token)) list.push(result.token);
        seen.set(request.key, list);
        ownersOf.set(request.key, (ownersOf.get(request.key) ?? new Set()).add(request.owner));
      }
      return result;
    },
  };
  return { ...recorded, ...replace(recorded) } as LockStore;
}

/** The store's methods, bound to it (it may be a class instance). */
function bound(store: LockStore): LockStore {
  const out: Record<string, unknown> = { name: store.name };
  for (const name of ['acquire', 'extend', 'release', 'inspect', 'waitForRelease', 'withdraw', 'close']) {
    const method = (store as unknown as Record<string, unknown>)[name];
    if (typeof method === 'function') out[name] = method.bind(store);
  }
  return out as unknown as LockStore;
}

/** Step-1 tokens: the n-th real token T of a key is reported as T - 15 n (and mapped back). */
const small = (key: string, real: number) => {
  const list = seen.get(key) ?? [];
  const n = list.indexOf(real);
  return n < 0 ? real : real - 15 * n;
};
const big = (key: string, fake: number) => seen.get(key)?.find((real) => small(key, real) === fake) ?? fake;

const seconds = (ms: number) => Math.ceil(ms / 1_000) * 1_000;

/** Resolves after `ms`, or at once when `signal` aborts. */
const pause = (ms: number, signal?: AbortSignal) =>
  new Promise<undefined>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });

export const MUTANTS: Record<string, Mutant> = {
  'step-one': {
    breaks: 'tokens advance by 1 per grant, not FENCE_STEP (a local successor token is issued again)',
    fails: ['advance by at least FENCE_STEP'],
    wrap: (s) =>
      wrap(s, (inner) => ({
        async acquire(request) {
          const r = await inner.acquire(request);
          if (r.acquired) return { acquired: true, token: small(request.key, r.token) };
          return r.holderToken === undefined ? r : { ...r, holderToken: small(request.key, r.holderToken) };
        },
        extend: (r) => inner.extend({ ...r, token: big(r.key, r.token) }),
        release: (r) => inner.release({ ...r, token: big(r.key, r.token) }),
        async inspect(key) {
          const state = await inner.inspect(key);
          return state.token === undefined ? state : { ...state, token: small(key, state.token) };
        },
      })),
  },
  'stale-holder-token': {
    breaks: "a refusal names the key's first holder's token, not the current holder's",
    fails: ['are named exactly in a refusal'],
    wrap: (s) =>
      wrap(s, (inner) => ({
        async acquire(request) {
          const r = await inner.acquire(request);
          const first = seen.get(request.key)?.[0];
          return r.acquired || first === undefined ? r : { ...r, holderToken: first };
        },
      })),
  },
  'revive-expired': {
    breaks: 'extend of a lease that ran out (nobody took the key) grants it again and answers true',
    fails: ['answer false and change nothing'],
    wrap: (s) =>
      wrap(s, (inner) => ({
        async extend(r) {
          if (await inner.extend(r)) return true;
          if ((await inner.inspect(r.key)).held) return false;
          return (await inner.acquire({ key: r.key, owner: r.owner, ttlMs: r.ttlMs })).acquired;
        },
      })),
  },
  'release-true-when-free': {
    breaks: 'release answers true whenever the key ends up free (expired, or released already)',
    fails: ['answer false and change nothing'],
    wrap: (s) =>
      wrap(s, (inner) => ({
        release: async (r) => (await inner.release(r)) || !(await inner.inspect(r.key)).held,
      })),
  },
  'acquire-resets-ttl': {
    breaks: "a repeated acquire by the holder's owner starts a new lease of the new TTL (cuts it short)",
    fails: ['never cut a lease short by a repeated acquire'],
    wrap: (s) =>
      wrap(s, (inner) => ({
        async acquire(request) {
          const token = tokenOf.get(request.owner);
          if (token !== undefined && ownerOf.get(request.key) === request.owner) {
            await inner.release({ key: request.key, owner: request.owner, token });
          }
          return inner.acquire(request);
        },
      })),
  },
  'inspect-names-holder': {
    breaks: 'inspect reports the owner id (under another name than `owner`)',
    fails: ['reveals the owner id in no field'],
    wrap: (s) =>
      wrap(s, (inner) => ({
        inspect: async (key) => ({ ...(await inner.inspect(key)), holder: ownerOf.get(key) }),
      })),
  },
  'inspect-forgets-token': {
    breaks: 'inspect reports no token once the key is free',
    fails: ['are kept by inspect once released'],
    wrap: (s) =>
      wrap(s, (inner) => ({
        async inspect(key) {
          const { token, ...state } = await inner.inspect(key);
          return state.held && token !== undefined ? { ...state, token } : state;
        },
      })),
  },
  'truncated-keys': {
    breaks: 'keys are cut to their first 300 characters (long keys sharing a start collide)',
    fails: ['keep keys of unusual characters'],
    wrap: (s) =>
      wrap(s, (inner) => {
        const cut = (key: string) => key.slice(0, 300);
        return {
          acquire: (r) => inner.acquire({ ...r, key: cut(r.key) }),
          extend: (r) => inner.extend({ ...r, key: cut(r.key) }),
          release: (r) => inner.release({ ...r, key: cut(r.key) }),
          inspect: async (key) => ({ ...(await inner.inspect(cut(key))), key }),
        };
      }),
  },
  'nfc-keys': {
    breaks: 'keys are Unicode-normalised (NFC): distinct keys collide',
    fails: ['keep keys of unusual characters'],
    wrap: (s) =>
      wrap(s, (inner) => {
        const norm = (key: string) => key.normalize('NFC');
        return {
          acquire: (r) => inner.acquire({ ...r, key: norm(r.key) }),
          extend: (r) => inner.extend({ ...r, key: norm(r.key) }),
          release: (r) => inner.release({ ...r, key: norm(r.key) }),
          inspect: async (key) => ({ ...(await inner.inspect(norm(key))), key }),
        };
      }),
  },
  'whole-seconds': {
    breaks: 'TTLs rounded up to whole seconds (as EX / SETEX would)',
    fails: ['count TTLs in milliseconds', 'grant leases of a few ms'],
    wrap: (s) =>
      wrap(s, (inner) => ({
        acquire: (r) => inner.acquire({ ...r, ttlMs: seconds(r.ttlMs) }),
        extend: (r) => inner.extend({ ...r, ttlMs: seconds(r.ttlMs) }),
      })),
  },
  'raw-errors': {
    breaks: 'failures reject with a plain Error that quotes the request (owner id), not a StoreError',
    fails: ['StoreError once the service stops'],
    store: 'dynamodb', // Upstash's outage test fails already (its kind: see the report)
    wrap: (s) =>
      wrap(s, (inner) => {
        const raw =
          <A extends { owner?: string }, R>(call: (a: A) => Promise<R>) =>
          (a: A) =>
            call(a).catch((err: unknown) => {
              throw new Error(`${(err as Error).message} for ${JSON.stringify(a)}`);
            });
        return {
          acquire: raw(inner.acquire),
          extend: raw(inner.extend),
          release: raw(inner.release),
          inspect: (key) =>
            inner.inspect(key).catch((err: unknown) => {
              throw new Error(String(err));
            }),
        };
      }),
  },
  'unclassified-errors': {
    breaks: "a store that is down fails with kind 'unknown' (not retryable)",
    fails: ['StoreError once the service stops'],
    store: 'dynamodb',
    wrap: (s) =>
      wrap(s, (inner) => {
        const unknown = (err: unknown): never => {
          throw new StoreError(inner.name, 'unknown', (err as Error).message);
        };
        return {
          acquire: (r) => inner.acquire(r).catch(unknown),
          extend: (r) => inner.extend(r).catch(unknown),
          release: (r) => inner.release(r).catch(unknown),
          inspect: (key) => inner.inspect(key).catch(unknown),
        };
      }),
  },
  'wait-rejects-on-abort': {
    breaks: "waitForRelease rejects with the signal's reason on abort (core would report a StoreError)",
    fails: ['waitForRelease resolves soon after a release'],
    wrap: (s) =>
      wrap(s, (inner) => ({
        waitForRelease: (key, ms, signal, claim) =>
          new Promise((resolve, reject) => {
            signal?.addEventListener('abort', () => reject(signal.reason));
            inner.waitForRelease!(key, ms, signal, claim).then(resolve, reject);
          }),
      })),
  },
  'wait-returns-at-once': {
    breaks: 'waitForRelease resolves at once (core would spin on the store)',
    fails: ['waitForRelease resolves soon after a release'],
    wrap: (s) => wrap(s, () => ({ waitForRelease: async () => undefined })),
  },
  'handover-short-ttl': {
    breaks: 'a queued waiter is handed the lock with a 1 s TTL, not the TTL it asked for',
    fails: ['for the TTL the waiter asked'],
    wrap: (s) =>
      wrap(s, (inner) => ({
        acquire: (r) => inner.acquire(r.queueMs ? { ...r, ttlMs: 1_000 } : r),
      })),
  },
  'queues-everyone': {
    breaks: 'every refused acquire is queued for a hand-over, also without queueMs (tryAcquire)',
    fails: ['hands a lock over only to a waiter still queued'],
    wrap: (s) =>
      wrap(s, (inner) => ({ acquire: (r) => inner.acquire({ ...r, queueMs: r.queueMs || 10_000 }) })),
  },
  'withdraw-noop': {
    breaks:
      'withdraw does nothing: a waiter that gave up is still handed the lock, a lost grant blocks a TTL',
    fails: ['hands a lock over only to a waiter still queued', 'frees a grant held by the withdrawn owner'],
    wrap: (s) => wrap(s, () => ({ withdraw: async () => {} })),
  },

  'owner-keeps-token': {
    breaks:
      'every grant to an owner answers the token of its first grant (a cache by owner id), also after its lease ran out and others held the key',
    fails: ['when an owner acquires again after its lease ran out'],
    wrap: (s) =>
      wrap(s, (inner) => {
        const real = <R extends { owner: string; token: number }>(r: R): R =>
          r.token === firstTokenOf.get(r.owner) ? { ...r, token: tokenOf.get(r.owner) ?? r.token } : r;
        return {
          async acquire(request) {
            const r = await inner.acquire(request);
            if (!r.acquired) return r;
            const first = firstTokenOf.get(request.owner) ?? r.token;
            firstTokenOf.set(request.owner, first);
            return { acquired: true, token: first };
          },
          extend: (r) => inner.extend(real(r)),
          release: (r) => inner.release(real(r)),
        };
      }),
  },
  'refusal-names-holder': {
    breaks: "a refusal carries the holder's owner id (with which the asker could release the lease)",
    fails: ['name no owner id in a refusal'],
    wrap: (s) =>
      wrap(s, (inner) => ({
        async acquire(request) {
          const r = await inner.acquire(request);
          return r.acquired ? r : ({ ...r, holder: ownerOf.get(request.key) } as StoreAcquireResult);
        },
      })),
  },
  'inspect-lapsed-expiry': {
    breaks:
      'inspect reports the expiry of a lease that ran out unreleased (the row keeps it), though not held',
    fails: ['name no owner id in a refusal'],
    wrap: (s) =>
      wrap(s, (inner) => ({
        async inspect(key) {
          const state = await inner.inspect(key);
          if (state.held && state.expiresAt !== undefined) lastExpiry.set(key, state.expiresAt);
          const expiresAt = lastExpiry.get(key);
          return state.held || expiresAt === undefined ? state : { ...state, expiresAt };
        },
        async release(r) {
          const released = await inner.release(r);
          if (released) lastExpiry.delete(r.key);
          return released;
        },
      })),
  },
  'inspect-zero-token': {
    breaks: 'inspect reports token 0 for a key never granted (a missing counter read as 0)',
    fails: ['name no owner id in a refusal'],
    wrap: (s) =>
      wrap(s, (inner) => ({
        inspect: async (key) => {
          const state = await inner.inspect(key);
          return state.token === undefined ? { ...state, token: 0 } : state;
        },
      })),
  },
  'refusal-extends-holder': {
    breaks: "a refused acquire pushes the holder's expiry out to the asker's TTL",
    fails: ['when refusing an acquire'],
    wrap: (s) =>
      wrap(s, (inner) => ({
        async acquire(request) {
          const r = await inner.acquire(request);
          const holder = ownerOf.get(request.key);
          if (!r.acquired && holder && holder !== request.owner) {
            await inner.extend({
              key: request.key,
              owner: holder,
              token: tokenOf.get(holder)!,
              ttlMs: request.ttlMs,
            });
          }
          return r;
        },
      })),
  },
  'refusal-regrants-holder': {
    breaks:
      "a refused acquire grants the key to its holder again with the asker's TTL (cut short, new token)",
    fails: ['when refusing an acquire'],
    wrap: (s) =>
      wrap(s, (inner) => ({
        async acquire(request) {
          const r = await inner.acquire(request);
          const holder = ownerOf.get(request.key);
          if (!r.acquired && !request.queueMs && holder && holder !== request.owner) {
            const token = tokenOf.get(holder)!;
            if (await inner.release({ key: request.key, owner: holder, token })) {
              await inner.acquire({ key: request.key, owner: holder, ttlMs: request.ttlMs });
            }
          }
          return r;
        },
      })),
  },
  'stranger-extend-applies': {
    breaks: "extend by another owner with the holder's token pushes the holder's expiry (answering false)",
    fails: ['another owner presents the holder'],
    wrap: (s) =>
      wrap(s, (inner) => ({
        async extend(r) {
          if (await inner.extend(r)) return true;
          const holder = ownerOf.get(r.key);
          if (holder && holder !== r.owner && tokenOf.get(holder) === r.token) {
            await inner.extend({ ...r, owner: holder });
          }
          return false;
        },
      })),
  },
  'wrong-token-extend-lies': {
    breaks: "extend answers true for the holder's owner with a wrong token, without extending",
    fails: ['with a token it was not granted'],
    wrap: (s) =>
      wrap(s, (inner) => ({
        async extend(r) {
          const token = tokenOf.get(r.owner);
          if (token !== undefined && r.token !== token && ownerOf.get(r.key) === r.owner) {
            return (await inner.inspect(r.key)).held;
          }
          return inner.extend(r);
        },
      })),
  },
  'again-keeps-expiry': {
    breaks: "a repeated acquire of the holder's owner answers its token without pushing the expiry",
    fails: ['acquires it again with a longer TTL'],
    wrap: (s) =>
      wrap(s, (inner) => ({
        async acquire(request) {
          const token = tokenOf.get(request.owner);
          if (
            token !== undefined &&
            ownerOf.get(request.key) === request.owner &&
            (await inner.inspect(request.key)).held
          ) {
            return { acquired: true, token };
          }
          return inner.acquire(request);
        },
      })),
  },
  'check-then-grant': {
    breaks:
      'acquire of a released or run-out key decides on a read made before its write (two askers both win)',
    fails: ['exactly one of 8 askers'],
    wrap: (s) =>
      wrap(s, (inner) => ({
        async acquire(request) {
          const before = await inner.inspect(request.key);
          const r = await inner.acquire(request);
          if (r.acquired || before.held || before.token === undefined) return r;
          return { acquired: true, token: (r.holderToken ?? before.token) + FENCE_STEP };
        },
      })),
  },
  'extend-normalises-keys': {
    breaks: 'extend Unicode-normalises its key (NFC), acquire and release do not: it extends another key',
    fails: ['extend and release only the named key'],
    wrap: (s) => wrap(s, (inner) => ({ extend: (r) => inner.extend({ ...r, key: r.key.normalize('NFC') }) })),
  },
  'wait-misses-free': {
    breaks: 'waitForRelease waits for the next announced release even when the key is free already',
    fails: ['resolves at once for a key already free'],
    wrap: (s) =>
      wrap(s, (inner) => ({
        async waitForRelease(key, ms, signal, claim) {
          if (!(await inner.inspect(key)).held) return pause(ms, signal);
          return inner.waitForRelease!(key, ms, signal, claim);
        },
      })),
  },
  'wait-ignores-aborted': {
    breaks: 'waitForRelease given a signal aborted already waits out its timeout (its listener never fires)',
    fails: ['resolves at once for a key already free'],
    wrap: (s) =>
      wrap(s, (inner) => ({
        waitForRelease: (key, ms, signal, claim) =>
          signal?.aborted ? pause(ms) : inner.waitForRelease!(key, ms, signal, claim),
      })),
  },
  'withdraw-stale-index': {
    breaks:
      "withdraw frees the key of any owner that ever held it (a stale owner index), also a successor's lease",
    fails: ['leaves alone the lease of an owner that took the key'],
    wrap: (s) =>
      wrap(s, (inner) => ({
        async withdraw(key, owner) {
          const holder = ownerOf.get(key);
          if (holder && holder !== owner && ownersOf.get(key)?.has(owner)) {
            await inner.release({ key, owner: holder, token: tokenOf.get(holder)! });
            return;
          }
          await inner.withdraw!(key, owner);
        },
      })),
  },
  'withdraw-raw-errors': {
    breaks: 'withdraw fails with a plain Error quoting the owner id, not a StoreError',
    fails: ['StoreError once the service stops'],
    store: 'dynamodb',
    wrap: (s) =>
      wrap(s, (inner) => ({
        withdraw: (key, owner) =>
          inner.withdraw!(key, owner).catch((err: unknown) => {
            throw new Error(`${(err as Error).message} withdrawing ${owner}`);
          }),
      })),
  },
  'wait-hangs-when-down': {
    breaks: 'waitForRelease never settles while the service is down (a failed subscription kept waiting)',
    fails: ['StoreError once the service stops'],
    wrap: (s) =>
      wrap(s, (inner) => ({
        waitForRelease: (key, ms, signal, claim) =>
          inner.inspect(key).then(
            () => inner.waitForRelease!(key, ms, signal, claim),
            () => new Promise<undefined>(() => {}),
          ),
      })),
  },
};
