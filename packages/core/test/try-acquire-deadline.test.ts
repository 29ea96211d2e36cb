import { describe, expect, it } from 'vitest';
import { createLocker, LockTimeoutError } from '../src/index.js';
import { memoryStore } from './support/memory-store.js';

describe('tryAcquire', () => {
  it('rejects with LockTimeoutError, sending nothing, when the Lambda deadline is too close for a lease (as its TSDoc says)', async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    const error = await locker
      .tryAcquire('k', { context: { getRemainingTimeInMillis: () => 2 } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockTimeoutError);
    expect(store.calls.acquire).toBe(0);
  });
});
