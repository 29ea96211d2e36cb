import { InvalidArgumentError } from '@leasehold/core';
import { describe, expect, it } from 'vitest';
import { createLockTable, dynamoDbStore } from '../src/index.js';

/**
 * The README: createLockTable "throws InvalidArgumentError for a bad value before sending anything". A
 * value that is not a client must not read as store trouble (a StoreError `unknown` from `send`), and
 * dynamoDbStore refuses the same value alike.
 */
describe('createLockTable', () => {
  it.each<[string, unknown]>([
    ['undefined', undefined],
    ['an object without send', {}],
  ])('refuses a client that is %s as bad input', async (_label, client) => {
    expect(() => dynamoDbStore({ client: client as never, tableName: 'leasehold-locks' })).toThrow(
      InvalidArgumentError,
    );
    const err = await createLockTable(client as never, 'leasehold-locks').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err).toMatchObject({ argument: 'client' });
  });

  it('refuses null options as bad input, sending nothing', async () => {
    let sent = 0;
    const client = { send: async () => void sent++ };
    const err = await createLockTable(client as never, 'leasehold-locks', null as never).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err).toMatchObject({ argument: 'options' });
    expect(sent).toBe(0);
  });
});
