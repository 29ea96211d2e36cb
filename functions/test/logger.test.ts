import { StoreError } from '@leasehold/core';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../shared/logger.js';

describe('logger', () => {
  it('writes one JSON object per line with the base fields', () => {
    const lines: string[] = [];
    createLogger({ service: 'payment' }, 'info', (l) => lines.push(l)).info('order paid', {
      orderId: 'o1',
      fence: 42,
    });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'info',
      msg: 'order paid',
      service: 'payment',
      orderId: 'o1',
      fence: 42,
    });
  });

  it('redacts anything that looks like a secret and never writes stacks', () => {
    const lines: string[] = [];
    const log = createLogger({ service: 's' }, 'debug', (l) => lines.push(l));
    log.child({ upstashToken: 'tok-123' }).warn('x', {
      owner: 'owner-abc',
      password: 'pw',
      authorization: 'Bearer tok-123',
      error: new StoreError('upstash', 'unreachable', 'down'),
    });
    const out = lines.join('\n');
    for (const secret of ['tok-123', 'owner-abc', 'pw"']) expect(out).not.toContain(secret);
    expect(out).not.toContain('at ');
    expect(JSON.parse(lines[0]!).error).toEqual({
      name: 'StoreError',
      message: 'upstash: down',
      code: 'STORE_ERROR',
    });
  });

  it('drops lines below the level', () => {
    const lines: string[] = [];
    const log = createLogger({}, 'warn', (l) => lines.push(l));
    log.info('no');
    log.debug('no');
    log.error('yes');
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(['yes']);
  });
});
