import { describe, expect, it } from 'vitest';
import { createLocker, StoreError } from '../src/index.js';
import { memoryStore } from './support/memory-store.js';

/**
 * A custom store's bug is a store fault: typed `bad-response`, never a raw TypeError, and never a
 * waiter that asks again every millisecond.
 */
describe('a store answering acquire with something malformed', () => {
  it('with no answer at all: StoreError bad-response', async () => {
    const store = memoryStore();
    store.acquire = async () => undefined as never;
    const error = await createLocker({ store })
      .acquire('k')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ kind: 'bad-response' });
  });

  it("with a holder's remaining time that is not a number of ms: unknown, the backoff as usual", async () => {
    const store = memoryStore();
    let asked = 0;
    store.acquire = async () => {
      asked++;
      return { acquired: false, holderRemainingMs: Number.NaN };
    };
    const locker = createLocker({ store, retryBaseMs: 50, retryMaxMs: 50 });
    const error = await locker.acquire('k', { waitMs: 300 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'LOCK_TIMEOUT', holder: {} });
    expect((error as Error).message).not.toMatch(/NaN/);
    // Backoff draws from [1, 50] ms: about 12 asks in 300 ms; with NaN taken as a time, one per ms.
    expect(asked).toBeLessThan(60);
  });
});
