/**
 * Every option row of the README's option tables, proved through behaviour: its default, its accepted
 * range (both edges, one past each, wrong types) and its effect. The tables are read from the README
 * at run time, and the last test fails when a documented option has no case here or a case names an
 * option the README does not document.
 */
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type AcquireOptions,
  createLocker,
  InvalidArgumentError,
  type LockEvent,
  LockTimeoutError,
} from '../src/index.js';
import { type MemoryStore, memoryStore } from './support/memory-store.js';

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

interface Row {
  readonly type: string;
  readonly default: string;
  readonly meaning: string;
}

/** The option table after the first README line holding `intro`: option name → its other cells. */
function optionTable(intro: string): Map<string, Row> {
  const at = README.indexOf(intro);
  if (at < 0) throw new Error(`README has no "${intro}"`);
  const lines = README.slice(at).split('\n');
  const rows = new Map<string, Row>();
  // Past the header row and its |---| rule, up to the first line that is not a table row.
  for (const line of lines.slice(lines.findIndex((l) => l.startsWith('|')) + 2)) {
    if (!line.startsWith('|')) break;
    const [option = '', type = '', fallback = '', meaning = ''] = line
      .split('|')
      .slice(1, -1)
      .map((cell) => cell.trim());
    rows.set(option.replaceAll('`', ''), { type, default: fallback, meaning });
  }
  return rows;
}

const tables = {
  createLocker: optionTable('`createLocker(options)`'),
  'acquire, tryAcquire and withLock': optionTable('`acquire(key, options)`, `tryAcquire(key, options)`'),
};
type Table = keyof typeof tables;
const covered: Record<Table, Set<string>> = {
  createLocker: new Set(),
  'acquire, tryAcquire and withLock': new Set(),
};

/** The cases of one documented option: registered as covered, given its README row. */
function option(table: Table, name: string, cases: (row: Row) => void): void {
  covered[table].add(name);
  describe(name, () =>
    cases(tables[table].get(name) ?? { type: '', default: '(undocumented)', meaning: '' }),
  );
}

/** The number in a default cell such as "`10000`". */
const documentedNumber = (cell: string): number => Number(/`(\d+)`/.exec(cell)?.[1]);

const DAY = 86_400_000;
/** The drift allowance with no clock skew: 1% of the TTL + 2 ms. */
const drift = (ttl: number, skew = 0) => Math.floor(ttl * 0.01) + 2 + skew;
/** Values of the wrong type or shape for a duration: each one is refused like an out-of-range one. */
const NOT_WHOLE_MS: Array<[string, unknown]> = [
  ['a string', '1000'],
  ['NaN', Number.NaN],
  ['fractional', 1500.5],
  ['negative', -1],
  ['null', null],
  ['infinite', Number.POSITIVE_INFINITY],
];
const durationRule = (min: number | string) => `an integer from ${min} to ${DAY} ms (one day)`;
const NONE_SENT = { acquire: 0, extend: 0, release: 0, inspect: 0 };

/** What `run` threw or rejected with; fails when it succeeded. */
async function refusal(run: () => unknown): Promise<unknown> {
  try {
    await run();
  } catch (err) {
    return err;
  }
  throw new Error('expected a refusal, but the call was accepted');
}

/** `run` is refused with an InvalidArgumentError naming `argument` and stating `rule`, and sends nothing. */
async function expectRefused(run: () => unknown, argument: string, rule: string, store: MemoryStore) {
  const err = await refusal(run);
  expect(err).toBeInstanceOf(InvalidArgumentError);
  expect(err).toMatchObject({ argument, code: 'INVALID_ARGUMENT' });
  expect((err as Error).message).toContain(`${argument}: must be ${rule}`);
  expect(store.calls).toEqual(NONE_SENT);
}

/** A promise's outcome, readable while fake time advances. */
function track<T>(promise: Promise<T>) {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

/** A store whose key `k` is held elsewhere for ten minutes, with the times (ms) of the acquires sent. */
function heldElsewhere(options?: Parameters<typeof memoryStore>[0]) {
  const store = memoryStore(options);
  store.takeOver('k', 600_000, 'other');
  const sentAt: number[] = [];
  store.onApply = (op) => {
    if (op.op === 'acquire') sentAt.push(op.at);
  };
  return { store, sentAt };
}

/** Gaps between the first `n + 1` acquire attempts on a held key (jitter at the top of its range). */
async function backoffGaps(options: { retryBaseMs?: number; retryMaxMs?: number }, n: number) {
  vi.spyOn(Math, 'random').mockReturnValue(0.999);
  const { store, sentAt } = heldElsewhere();
  track(createLocker({ store, ...options }).acquire('k', { waitMs: 60_000 }));
  for (let i = 0; i < 1_000 && sentAt.length <= n; i++) await vi.advanceTimersToNextTimerAsync();
  return sentAt.slice(1, n + 1).map((t, i) => t - sentAt[i]!);
}

/** Extension times (ms after the grant) while a withLock callback of `runMs` runs. */
async function extensionTimes(options: { ttlMs: number; extendEveryMs?: number }, runMs: number) {
  const store = memoryStore();
  const times: number[] = [];
  let grantedAt = 0;
  store.onApply = (op) => {
    if (op.op === 'acquire') grantedAt = op.at;
    if (op.op === 'extend' && op.ok) times.push(op.at - grantedAt);
  };
  const done = track(
    createLocker({ store }).withLock('k', () => new Promise((r) => setTimeout(r, runMs)), options),
  );
  await vi.advanceTimersByTimeAsync(runMs + 1);
  expect(done.settled).toBe(true);
  expect(done.error).toBeUndefined();
  return times;
}

/** How long (fake ms) a call on a key held elsewhere waits before LockTimeoutError; Infinity past `atMostMs`. */
async function waitedBeforeTimeout(run: (store: MemoryStore) => Promise<unknown>, atMostMs = 20_000) {
  const { store } = heldElsewhere();
  const started = Date.now();
  const waiting = track(run(store));
  // Timer to timer (the backoff's sleeps): the clock stops exactly where the wait ends.
  while (!waiting.settled && Date.now() - started < atMostMs) await vi.advanceTimersToNextTimerAsync();
  if (!waiting.settled) return Number.POSITIVE_INFINITY;
  expect(waiting.error).toBeInstanceOf(LockTimeoutError);
  return Date.now() - started;
}

/** Records the TTL of every acquire request `store` receives. */
function askedTtls(store: MemoryStore): number[] {
  const asked: number[] = [];
  const { acquire } = store;
  store.acquire = (request) => {
    asked.push(request.ttlMs);
    return acquire(request);
  };
  return asked;
}

beforeEach(() => {
  // One fake clock for core (performance.now) and the memory store (Date.now): exact, and fast.
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('createLocker options', () => {
  option('createLocker', 'store', (row) => {
    it('store is required: a missing or malformed store is refused, naming what a LockStore needs', async () => {
      expect(row.default).toBe('required');
      const partial = memoryStore();
      for (const store of [undefined, null, 'memory', {}, { ...partial, inspect: undefined }]) {
        await expectRefused(
          () => createLocker({ store } as never),
          'store',
          'a LockStore (acquire, extend, release and inspect functions; withdraw, waitForRelease and close functions if given)',
          partial,
        );
      }
    });

    it('store: your own LockStore gets every call, one store call per operation', async () => {
      const store = memoryStore();
      const locker = createLocker({ store });
      const lease = await locker.acquire('k');
      await lease.extend();
      await locker.inspect('k');
      expect(await lease.release()).toBe(true);
      expect(store.calls).toEqual({ acquire: 1, extend: 1, release: 1, inspect: 1 });
    });
  });

  option('createLocker', 'ttlMs', (row) => {
    it('ttlMs defaults to 10000 ms: the lease the store grants and the validity the holder counts', async () => {
      const ttl = documentedNumber(row.default);
      expect(ttl).toBe(10_000);
      const store = memoryStore();
      const lease = await createLocker({ store }).acquire('k');
      expect(store.rows.get('k')!.expiresAt - Date.now()).toBe(ttl);
      expect(lease.remainingMs).toBe(ttl - drift(ttl));
    });

    it.each([100, DAY])('ttlMs accepts %i ms (an edge of "100 ms to 1 day")', async (ttlMs) => {
      expect(row.meaning).toContain('whole ms, 100 ms to 1 day');
      const store = memoryStore();
      const lease = await createLocker({ store, ttlMs }).acquire('k');
      expect(store.rows.get('k')!.expiresAt - Date.now()).toBe(ttlMs);
      expect(lease.remainingMs).toBe(ttlMs - drift(ttlMs));
    });

    it.each<[string, unknown]>([
      ['99 (one below)', 99],
      [`${DAY + 1} (one above)`, DAY + 1],
      ...NOT_WHOLE_MS,
    ])('ttlMs refuses %s at createLocker, sending nothing', async (_label, ttlMs) => {
      const store = memoryStore();
      await expectRefused(
        () => createLocker({ store, ttlMs: ttlMs as number }),
        'ttlMs',
        durationRule(100),
        store,
      );
    });

    it('ttlMs must be above the drift allowance: 100 ms with 96 ms of clock skew is accepted, 97 refused', async () => {
      expect(row.meaning).toContain('above the drift allowance');
      const store = memoryStore();
      const lease = await createLocker({ store, ttlMs: 100, clockSkewMs: 96 }).acquire('k');
      expect(lease.remainingMs).toBe(1);
      await lease.release();
      const untouched = memoryStore();
      await expectRefused(
        () => createLocker({ store: untouched, ttlMs: 100, clockSkewMs: 97 }),
        'ttlMs',
        'above the drift and clock skew allowance (100 ms)',
        untouched,
      );
    });
  });

  option('createLocker', 'waitMs', (row) => {
    it('waitMs defaults to ttlMs: a wait behind a held lock gives up after exactly that long', async () => {
      expect(row.default).toBe('`ttlMs`');
      expect(await waitedBeforeTimeout((store) => createLocker({ store }).acquire('k'))).toBe(
        documentedNumber(tables.createLocker.get('ttlMs')!.default),
      );
      expect(await waitedBeforeTimeout((store) => createLocker({ store, ttlMs: 300 }).acquire('k'))).toBe(
        300,
      );
    });

    it('waitMs 0 (its smallest value) makes one attempt', async () => {
      expect(row.meaning).toContain('0 = one attempt');
      const { store } = heldElsewhere();
      const err = await refusal(() => createLocker({ store, waitMs: 0 }).acquire('k'));
      expect(err).toBeInstanceOf(LockTimeoutError);
      expect(err).toMatchObject({ attempts: 1, waitedMs: 0 });
      expect(store.calls.acquire).toBe(1);
    });

    it(`waitMs accepts ${DAY} ms (one day, the largest): still waiting after a minute`, async () => {
      const waited = await waitedBeforeTimeout(
        (store) => createLocker({ store, waitMs: DAY }).acquire('k'),
        60_000,
      );
      expect(waited).toBe(Number.POSITIVE_INFINITY);
      const lease = await createLocker({ store: memoryStore(), waitMs: DAY }).acquire('free');
      expect(lease.held).toBe(true);
    });

    it.each<[string, unknown]>([[`${DAY + 1} (one above)`, DAY + 1], ...NOT_WHOLE_MS])(
      'waitMs refuses %s at createLocker, sending nothing',
      async (_label, waitMs) => {
        const store = memoryStore();
        await expectRefused(
          () => createLocker({ store, waitMs: waitMs as number }),
          'waitMs',
          durationRule(0),
          store,
        );
      },
    );
  });

  option('createLocker', 'retryBaseMs', (row) => {
    // The backoff growing while one holder keeps the key and starting over for a new one:
    // backoff.test.ts ('grows while the same holder keeps the key, ...'). With a store that has
    // waitForRelease the backoff is not used: acquire.test.ts ('waits on the notification instead of polling').
    it('retryBaseMs defaults to 20: the n-th sleep is up to min(retryMaxMs, 20 × 2^n)', async () => {
      const base = documentedNumber(row.default);
      const cap = documentedNumber(tables.createLocker.get('retryMaxMs')!.default);
      expect([base, cap]).toEqual([20, 250]);
      // Jitter at the top of its range: each sleep is its ceiling minus 1 ms (whole ms, floored).
      expect(await backoffGaps({}, 5)).toEqual([1, 2, 3, 4, 5].map((n) => Math.min(cap, base * 2 ** n) - 1));
    });

    it('retryBaseMs: every sleep is at least 1 ms, even with the jitter at 0', async () => {
      expect(row.meaning).toContain('at least 1');
      vi.spyOn(Math, 'random').mockReturnValue(0);
      const { store, sentAt } = heldElsewhere();
      track(createLocker({ store, retryBaseMs: 1 }).acquire('k', { waitMs: 60_000 }));
      for (let i = 0; i < 10; i++) await vi.advanceTimersByTimeAsync(1);
      expect(sentAt.slice(1).map((t, i) => t - sentAt[i]!)).toEqual(Array(sentAt.length - 1).fill(1));
      expect(sentAt.length).toBeGreaterThanOrEqual(10);
    });

    it('retryBaseMs accepts 1 ms (its smallest): sleeps up to 2, 4, 8 ... ms', async () => {
      expect(await backoffGaps({ retryBaseMs: 1 }, 4)).toEqual([1, 3, 7, 15]);
    });

    it(`retryBaseMs accepts ${DAY} ms (one day, the largest), retryMaxMs then defaulting to it`, async () => {
      const gaps = await backoffGaps({ retryBaseMs: DAY }, 1);
      // Never past the holder's known expiry (10 minutes from the start), nor past the wait (60 s): the
      // one sleep lasts until the wait's end, where the last attempt is made.
      expect(gaps).toEqual([60_000]);
    });

    it.each<[string, unknown]>([['0 (one below)', 0], [`${DAY + 1} (one above)`, DAY + 1], ...NOT_WHOLE_MS])(
      'retryBaseMs refuses %s at createLocker, sending nothing',
      async (_label, retryBaseMs) => {
        const store = memoryStore();
        await expectRefused(
          () => createLocker({ store, retryBaseMs: retryBaseMs as number }),
          'retryBaseMs',
          durationRule(1),
          store,
        );
      },
    );
  });

  option('createLocker', 'retryMaxMs', (row) => {
    it('retryMaxMs defaults to 250, or to retryBaseMs when that is above 250', async () => {
      expect(row.default).toBe('`250`, or `retryBaseMs` if above');
      expect(await backoffGaps({ retryBaseMs: 100 }, 3)).toEqual([199, 249, 249]);
      vi.restoreAllMocks();
      expect(await backoffGaps({ retryBaseMs: 300 }, 3)).toEqual([299, 299, 299]);
    });

    it('retryMaxMs accepts retryBaseMs itself (its smallest): every sleep is then up to retryBaseMs', async () => {
      expect(row.meaning).toContain('at least `retryBaseMs`');
      expect(await backoffGaps({ retryBaseMs: 50, retryMaxMs: 50 }, 3)).toEqual([49, 49, 49]);
    });

    it(`retryMaxMs accepts ${DAY} ms (one day, the largest)`, async () => {
      expect(await backoffGaps({ retryMaxMs: DAY }, 3)).toEqual([39, 79, 159]);
    });

    it.each<[string, unknown]>([
      ['49 with retryBaseMs 50 (one below)', 49],
      [`${DAY + 1} (one above)`, DAY + 1],
      ...NOT_WHOLE_MS,
    ])('retryMaxMs refuses %s at createLocker, sending nothing', async (_label, retryMaxMs) => {
      const store = memoryStore();
      await expectRefused(
        () => createLocker({ store, retryBaseMs: 50, retryMaxMs: retryMaxMs as number }),
        'retryMaxMs',
        durationRule('50 (retryBaseMs)'),
        store,
      );
    });

    it("retryMaxMs, with a store that has waitForRelease, is the longest wait only while the holder's expiry is unknown", async () => {
      const run = async (reportExpiry: boolean) => {
        const waits: number[] = [];
        const { store } = heldElsewhere({ announceReleases: true });
        const { acquire, waitForRelease } = store;
        store.acquire = async (request) => {
          const answer = await acquire(request);
          if (answer.acquired || reportExpiry) return answer;
          const { holderRemainingMs: _unreported, ...rest } = answer;
          return rest;
        };
        store.waitForRelease = (key, ms, signal, claim) => {
          waits.push(ms);
          return waitForRelease!(key, ms, signal, claim);
        };
        track(createLocker({ store, retryMaxMs: 300 }).acquire('k', { waitMs: 60_000 }));
        await vi.advanceTimersByTimeAsync(2_500);
        return waits;
      };
      // Attempts at 0, 300, ... 2400 ms: nine waits of retryMaxMs.
      expect(await run(false)).toEqual(Array(9).fill(300));
      // Expiry known (ten minutes away): the re-check is once a second, whatever retryMaxMs says.
      expect(await run(true)).toEqual([1_000, 1_000, 1_000]);
    });
  });

  option('createLocker', 'clockSkewMs', (row) => {
    it("clockSkewMs defaults to 0: a lease's validity loses only the drift allowance (1% + 2 ms)", async () => {
      expect(documentedNumber(row.default)).toBe(0);
      const lease = await createLocker({ store: memoryStore() }).acquire('k', { ttlMs: 1_000 });
      expect(lease.remainingMs).toBe(1_000 - 12);
    });

    it("clockSkewMs is taken off every lease's validity, acquired or extended", async () => {
      const lease = await createLocker({ store: memoryStore(), clockSkewMs: 100 }).acquire('k', {
        ttlMs: 1_000,
      });
      expect(lease.remainingMs).toBe(1_000 - 12 - 100);
      await vi.advanceTimersByTimeAsync(500);
      await lease.extend(2_000);
      expect(lease.remainingMs).toBe(2_000 - 22 - 100);
    });

    it('clockSkewMs accepts 0, and any skew that leaves the TTL above the allowance, up to one day', async () => {
      const unskewed = await createLocker({ store: memoryStore(), clockSkewMs: 0 }).acquire('k', {
        ttlMs: 1_000,
      });
      expect(unskewed.remainingMs).toBe(1_000 - 12); // the drift allowance alone
      // A one-day TTL keeps 1 ms of validity with the largest skew that leaves it any; 1 ms more eats it.
      const largest = DAY - drift(DAY) - 1;
      const lease = await createLocker({ store: memoryStore(), ttlMs: DAY, clockSkewMs: largest }).acquire(
        'k',
      );
      expect(lease.remainingMs).toBe(1);
      expect(() => createLocker({ store: memoryStore(), ttlMs: DAY, clockSkewMs: largest + 1 })).toThrow(
        expect.objectContaining({ argument: 'ttlMs' }),
      );
    });

    it(`clockSkewMs of ${DAY} ms passes its own check, and then eats the one-day TTL whole (refused as ttlMs)`, async () => {
      const store = memoryStore();
      await expectRefused(
        () => createLocker({ store, ttlMs: DAY, clockSkewMs: DAY }),
        'ttlMs',
        'above the drift and clock skew allowance',
        store,
      );
    });

    it.each<[string, unknown]>([[`${DAY + 1} (one above)`, DAY + 1], ...NOT_WHOLE_MS])(
      'clockSkewMs refuses %s at createLocker, sending nothing',
      async (_label, clockSkewMs) => {
        const store = memoryStore();
        await expectRefused(
          () => createLocker({ store, ttlMs: DAY, clockSkewMs: clockSkewMs as number }),
          'clockSkewMs',
          durationRule(0),
          store,
        );
      },
    );
  });

  option('createLocker', 'onEvent', (row) => {
    it('onEvent: none by default; a listener gets the events of each lease, never an owner id', async () => {
      expect(row.default).toBe('none');
      const store = memoryStore();
      const plain = await createLocker({ store }).acquire('quiet');
      expect(await plain.release()).toBe(true);
      const events: LockEvent[] = [];
      const lease = await createLocker({ store, onEvent: (e) => events.push(e) }).acquire('k');
      const owner = store.rows.get('k')!.owner!;
      await lease.release();
      expect(events.map((e) => e.type)).toEqual(['acquired', 'released']);
      expect(JSON.stringify(events)).not.toContain(owner);
    });

    it("onEvent's exceptions are swallowed", async () => {
      // Async listeners' rejections as well: long-lived.test.ts and event-listeners.test.ts.
      const lease = await createLocker({
        store: memoryStore(),
        onEvent: () => {
          throw new Error('listener bug');
        },
      }).acquire('k');
      expect(await lease.release()).toBe(true);
    });

    it.each<[string, unknown]>([
      ['a string', 'console.log'],
      ['an object', {}],
      ['null', null],
    ])('onEvent refuses %s at createLocker', async (_label, onEvent) => {
      const store = memoryStore();
      await expectRefused(
        () => createLocker({ store, onEvent: onEvent as never }),
        'onEvent',
        'a function',
        store,
      );
    });
  });
});

describe('acquire, tryAcquire and withLock options', () => {
  const table: Table = 'acquire, tryAcquire and withLock';
  /** One of the three calls on key `k`: the remainingMs of the lease it got, read at once. */
  type Call = (locker: ReturnType<typeof createLocker>, options: object) => Promise<number | undefined>;
  const calls: Record<'acquire' | 'tryAcquire' | 'withLock', Call> = {
    acquire: (locker, options) => locker.acquire('k', options as AcquireOptions).then((l) => l.remainingMs),
    tryAcquire: (locker, options) =>
      locker.tryAcquire('k', options as AcquireOptions).then((l) => l?.remainingMs),
    withLock: (locker, options) => locker.withLock('k', (l) => l.remainingMs, options as AcquireOptions),
  };
  const everyCall = Object.entries(calls);
  const waitingCalls = everyCall.filter(([name]) => name !== 'tryAcquire');

  option(table, 'ttlMs', (row) => {
    it("ttlMs defaults to the locker's ttlMs, for each of the three calls", async () => {
      expect(row.default).toBe("the locker's `ttlMs`");
      for (const [, call] of everyCall) {
        const store = memoryStore();
        const asked = askedTtls(store);
        expect(await call(createLocker({ store, ttlMs: 2_000 }), {})).toBe(2_000 - 22);
        expect(asked).toEqual([2_000]);
      }
    });

    it.each(everyCall)(
      'ttlMs accepts 100 ms and one day in %s ("same rules as the locker\'s")',
      async (_name, call) => {
        expect(row.meaning).toContain("same rules as the locker's");
        for (const ttlMs of [100, DAY]) {
          const store = memoryStore();
          const asked = askedTtls(store);
          expect(await call(createLocker({ store }), { ttlMs })).toBe(ttlMs - drift(ttlMs));
          expect(asked).toEqual([ttlMs]);
        }
      },
    );

    it.each(everyCall)(
      'ttlMs refuses 99, one day + 1 and every non-duration in %s, sending nothing',
      async (_name, call) => {
        for (const ttlMs of [99, DAY + 1, ...NOT_WHOLE_MS.map(([, value]) => value)]) {
          const store = memoryStore();
          await expectRefused(
            () => call(createLocker({ store }), { ttlMs }),
            'ttlMs',
            durationRule(100),
            store,
          );
        }
      },
    );

    it.each(everyCall)(
      'ttlMs refuses a TTL the drift and clock skew allowance eats whole in %s',
      async (_name, call) => {
        const store = memoryStore();
        const locker = createLocker({ store, clockSkewMs: 97 });
        await expectRefused(
          () => call(locker, { ttlMs: 100 }),
          'ttlMs',
          'above the drift and clock skew allowance (100 ms)',
          store,
        );
        await call(createLocker({ store, clockSkewMs: 96 }), { ttlMs: 100 });
        expect(store.calls.acquire).toBe(1);
      },
    );
  });

  option(table, 'waitMs', (row) => {
    it("waitMs defaults to the locker's waitMs, in acquire and withLock", async () => {
      expect(row.default).toBe("the locker's `waitMs`");
      for (const [, call] of waitingCalls) {
        expect(await waitedBeforeTimeout((store) => call(createLocker({ store, waitMs: 250 }), {}))).toBe(
          250,
        );
      }
    });

    it.each(waitingCalls)(
      'waitMs 0 (its smallest) makes one attempt in %s; one day (its largest) is accepted',
      async (_name, call) => {
        expect(row.meaning).toContain('0 = one attempt');
        const { store } = heldElsewhere();
        expect(await refusal(() => call(createLocker({ store }), { waitMs: 0 }))).toMatchObject({
          attempts: 1,
        });
        expect(store.calls.acquire).toBe(1);
        expect(
          await waitedBeforeTimeout((s) => call(createLocker({ store: s }), { waitMs: DAY }), 60_000),
        ).toBe(Number.POSITIVE_INFINITY);
      },
    );

    it('waitMs is not for tryAcquire, which makes one attempt', async () => {
      expect(row.meaning).toContain('not for `tryAcquire`');
      const { store } = heldElsewhere();
      expect(await createLocker({ store }).tryAcquire('k', { waitMs: 5_000 } as object)).toBeNull();
      expect(store.calls.acquire).toBe(1);
    });

    it.each(waitingCalls)(
      'waitMs refuses one day + 1 and every non-duration in %s, sending nothing',
      async (_name, call) => {
        for (const waitMs of [DAY + 1, ...NOT_WHOLE_MS.map(([, value]) => value)]) {
          const store = memoryStore();
          await expectRefused(
            () => call(createLocker({ store }), { waitMs }),
            'waitMs',
            durationRule(0),
            store,
          );
        }
      },
    );
  });

  option(table, 'signal', (row) => {
    it("signal: none by default; aborting it abandons the wait with the signal's reason", async () => {
      // The abort with a stalled store, and an already-aborted signal sending nothing: acquire.test.ts
      // ('makes no store call with an already-aborted signal') and edges.test.ts.
      expect(row.default).toBe('none');
      expect(row.meaning).toContain("rejects with the signal's reason");
      for (const [, call] of waitingCalls) {
        const { store } = heldElsewhere();
        const controller = new AbortController();
        const waiting = track(call(createLocker({ store }), { waitMs: 60_000, signal: controller.signal }));
        await vi.advanceTimersByTimeAsync(100);
        const reason = new Error('caller went away');
        controller.abort(reason);
        await vi.advanceTimersByTimeAsync(0);
        expect(waiting.error).toBe(reason);
        const sent = store.calls.acquire;
        await vi.advanceTimersByTimeAsync(1_000);
        expect(store.calls.acquire).toBe(sent);
      }
    });

    it.each(everyCall)(
      'signal refuses what is not an AbortSignal in %s, sending nothing',
      async (_name, call) => {
        const polyfill = { aborted: false, addEventListener() {}, removeEventListener() {} };
        for (const signal of [{}, 'abort', null, polyfill]) {
          const store = memoryStore();
          await expectRefused(
            () => call(createLocker({ store }), { signal }),
            'signal',
            'an AbortSignal',
            store,
          );
        }
      },
    );
  });

  option(table, 'context', (row) => {
    // The cap on leases: acquire.test.ts ("caps the lease at a Lambda invocation's remaining time");
    // on waits: acquire.test.ts ('still says "held by another owner" when the deadline comes ...'); on
    // extensions: extend-near-deadline.test.ts.
    it('context: none by default, so a lease runs its whole TTL; with one it is capped at the time left', async () => {
      expect(row.default).toBe('none');
      const uncapped = await createLocker({ store: memoryStore() }).acquire('k', { ttlMs: 60_000 });
      expect(uncapped.remainingMs).toBe(60_000 - 602);
      const store = memoryStore();
      const capped = await createLocker({ store }).acquire('k', {
        ttlMs: 60_000,
        context: { getRemainingTimeInMillis: () => 500 },
      });
      expect(capped.remainingMs).toBe(500 - drift(500));
      expect(store.rows.get('k')!.expiresAt - Date.now()).toBe(500);
    });

    it.each(everyCall)(
      'context refuses what is not a Lambda context, or whose time left is not a number, in %s',
      async (_name, call) => {
        const contexts = [
          {},
          'context',
          null,
          { getRemainingTimeInMillis: 500 },
          { getRemainingTimeInMillis: () => Number.NaN },
          { getRemainingTimeInMillis: () => '500' },
        ];
        for (const context of contexts) {
          const store = memoryStore();
          await expectRefused(
            () => call(createLocker({ store }), { context }),
            'context',
            'a Lambda context',
            store,
          );
        }
      },
    );
  });

  option(table, 'extendEveryMs', (row) => {
    it('extendEveryMs defaults to a third of the TTL', async () => {
      expect(row.default).toBe('ttl / 3');
      const times = await extensionTimes({ ttlMs: 600 }, 650);
      expect(times.slice(1).map((t, i) => t - times[i]!)).toEqual([200, 200]);
      // The first one comes as much sooner as the lease's validity is shorter than its TTL.
      expect(times[0]).toBe(Math.floor((200 * (600 - drift(600))) / 600));
    });

    it('extendEveryMs sets the auto-extension period', async () => {
      const times = await extensionTimes({ ttlMs: 600, extendEveryMs: 50 }, 180);
      expect(times.slice(1).map((t, i) => t - times[i]!)).toEqual([50, 50]);
    });

    it('extendEveryMs accepts 1 ms (its smallest): an extension every millisecond', async () => {
      expect(row.meaning).toContain('whole ms ≥ 1');
      // (At 5 ms the callback's own timer comes first and ends it.)
      expect(await extensionTimes({ ttlMs: 600, extendEveryMs: 1 }, 5)).toEqual([1, 2, 3, 4]);
    });

    it(`extendEveryMs accepts ${DAY} ms (one day, the largest): never extends in time`, async () => {
      // That the TTL is then a hard bound (LockLostError past it): with-lock.test.ts ('rejects with
      // LockLostError when the callback ends after the lease ran out, even before its timer ran').
      expect(await extensionTimes({ ttlMs: 600, extendEveryMs: DAY }, 500)).toEqual([]);
    });

    it.each<[string, unknown]>([['0 (one below)', 0], [`${DAY + 1} (one above)`, DAY + 1], ...NOT_WHOLE_MS])(
      'extendEveryMs refuses %s in withLock, sending nothing and never running the callback',
      async (_label, extendEveryMs) => {
        const store = memoryStore();
        const fn = vi.fn();
        await expectRefused(
          () => createLocker({ store }).withLock('k', fn, { extendEveryMs: extendEveryMs as number }),
          'extendEveryMs',
          durationRule(1),
          store,
        );
        expect(fn).not.toHaveBeenCalled();
      },
    );
  });
});

describe('the README option tables', () => {
  it.each(Object.keys(tables) as Table[])(
    '%s: every documented option has cases here, and no case is undocumented',
    (table) => {
      expect(tables[table].size).toBeGreaterThan(0);
      expect([...covered[table]].sort()).toEqual([...tables[table].keys()].sort());
    },
  );
});
