// A store call must reject with a StoreError, whatever the client threw: toStoreError must not throw
// itself on a value that cannot be turned into a string.
import { StoreError } from '@leasehold/core';
import { describe, expect, it } from 'vitest';
import { toStoreError } from '../src/errors.js';
import { dynamoDbStore } from '../src/index.js';

const context = { operation: 'acquire', tableName: 'locks', secrets: ['0123456789abcdef0123456789abcdef'] };

describe('toStoreError', () => {
  it('classifies a thrown value without a string form instead of throwing', () => {
    const odd = [
      Object.create(null),
      Object.assign(Object.create(null), { name: 'ThrottlingException' }),
      {
        toString() {
          throw new Error('no string form');
        },
      },
    ];
    for (const value of odd) {
      const e = toStoreError(value, context);
      expect(e).toBeInstanceOf(StoreError);
      expect(e.cause).toBe(value);
    }
    expect(toStoreError(odd[1], context).kind).toBe('throttled');
  });

  it('makes the store reject with a StoreError when the client throws such a value', async () => {
    const store = dynamoDbStore({
      tableName: 'locks',
      client: {
        send: async () => {
          throw Object.create(null);
        },
      } as never,
    });
    await expect(
      store.acquire({ key: 'k', owner: context.secrets[0] as string, ttlMs: 1_000 }),
    ).rejects.toBeInstanceOf(StoreError);
  });
});
