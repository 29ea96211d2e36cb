/**
 * An acquire aborted while it waits in the store's `waitForRelease`. Stores that follow the web
 * convention (fetch, `events.once`, `timers/promises`) reject with the signal's reason on abort instead
 * of resolving: the caller must still get its own abort reason, never a StoreError ("store down").
 */
import { describe, expect, it } from 'vitest';
import { createLocker, type LockStore, StoreError } from '../src/index.js';
import { memoryStore } from './support/memory-store.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The memory store, with a `waitForRelease` that rejects with the signal's reason when aborted. */
function rejectingOnAbort() {
  const store = memoryStore();
  const withdrawn: string[] = [];
  const waitForRelease = (_key: string, timeoutMs: number, signal?: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      signal?.throwIfAborted();
      const timer = setTimeout(resolve, timeoutMs);
      signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  const withdraw = async (_key: string, owner: string) => {
    withdrawn.push(owner);
  };
  return { store: Object.assign(store, { waitForRelease, withdraw }) as LockStore, withdrawn };
}

describe('an acquire aborted during a notified wait', () => {
  it("rejects with the signal's reason, not a StoreError, when the store's waitForRelease rejects on abort", async () => {
    const { store, withdrawn } = rejectingOnAbort();
    const holder = await createLocker({ store }).acquire('k', { ttlMs: 10_000 });
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    const acquiring = createLocker({ store })
      .acquire('k', { waitMs: 5_000, signal: controller.signal })
      .catch((e: unknown) => e);
    await sleep(20); // its first attempt said "held": it now waits in waitForRelease
    controller.abort(reason);
    const error = await acquiring;
    expect(error).not.toBeInstanceOf(StoreError);
    expect(error).toBe(reason);
    // It still leaves the store's queue (and frees a lock handed to it meanwhile).
    expect(withdrawn).toHaveLength(1);
    await holder.release();
  });

  it("withLock rejects with the signal's reason too, and never runs the callback", async () => {
    const { store } = rejectingOnAbort();
    const holder = await createLocker({ store }).acquire('k', { ttlMs: 10_000 });
    let ran = false;
    const done = createLocker({ store })
      .withLock(
        'k',
        () => {
          ran = true;
        },
        { waitMs: 5_000, signal: AbortSignal.timeout(30) },
      )
      .catch((e: unknown) => e);
    const error = await done;
    expect(ran).toBe(false);
    expect(error).not.toBeInstanceOf(StoreError);
    expect((error as Error).name).toBe('TimeoutError'); // AbortSignal.timeout's reason
    await holder.release();
  });
});
