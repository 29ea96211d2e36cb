import { describe, expect, it } from 'vitest';
import { createLocker, InvalidArgumentError } from '../src/index.js';
import { memoryStore } from './support/memory-store.js';

describe('duration validation messages', () => {
  it.each<[string, unknown, string]>([
    ['a string', '1000', 'got string'],
    ['a boolean', true, 'got boolean'],
    ['fractional', 1500.5, 'got 1500.5'],
    ['NaN', Number.NaN, 'got NaN'],
    ['infinite', Number.POSITIVE_INFINITY, 'got Infinity'],
    ['too small', 99, 'got 99'],
    ['too large', 10 ** 12, 'got 1000000000000'],
  ])('%s: names the option, the accepted range and what was given', (_label, ttlMs, given) => {
    let thrown: unknown;
    try {
      createLocker({ store: memoryStore(), ttlMs: ttlMs as number });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(InvalidArgumentError);
    const error = thrown as InvalidArgumentError;
    expect(error.argument).toBe('ttlMs');
    expect(error.message).toContain('ttlMs: must be an integer from 100 to 86400000 ms (one day)');
    expect(error.message).toContain(given);
  });
});
