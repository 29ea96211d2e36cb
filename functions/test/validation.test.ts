import { describe, expect, it } from 'vitest';
import { parsePaymentRequest } from '../payment/validate.js';
import { BadRequest, parseJsonBody } from '../shared/http.js';

const valid = { orderId: 'order-1', amount: 4200, currency: 'EUR', idempotencyKey: 'idem-12345' };

describe('parsePaymentRequest', () => {
  it('accepts a well-formed payment', () => {
    expect(parsePaymentRequest({ ...valid })).toEqual(valid);
  });

  it.each([
    ['orderId', { orderId: '' }],
    ['orderId', { orderId: 'a b' }],
    ['orderId', { orderId: 'x'.repeat(65) }],
    ['amount', { amount: 0 }],
    ['amount', { amount: 10.5 }],
    ['amount', { amount: '4200' }],
    ['amount', { amount: 1e12 }],
    ['currency', { currency: 'eur' }],
    ['currency', { currency: 'EURO' }],
    ['idempotencyKey', { idempotencyKey: 'short' }],
    ['idempotencyKey', { idempotencyKey: 'has space inside' }],
  ])('rejects a bad %s', (field, patch) => {
    const error = (() => {
      try {
        parsePaymentRequest({ ...valid, ...patch });
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(BadRequest);
    expect((error as BadRequest).field).toBe(field);
  });
});

describe('parseJsonBody', () => {
  it('parses plain and base64 bodies and rejects non-objects', () => {
    expect(parseJsonBody({ body: '{"a":1}', isBase64Encoded: false })).toEqual({ a: 1 });
    expect(parseJsonBody({ body: Buffer.from('{"a":2}').toString('base64'), isBase64Encoded: true })).toEqual(
      { a: 2 },
    );
    expect(() => parseJsonBody({ body: '[1]', isBase64Encoded: false })).toThrow(BadRequest);
    expect(() => parseJsonBody({ body: '{', isBase64Encoded: false })).toThrow(/valid JSON/);
    expect(() => parseJsonBody({ body: '', isBase64Encoded: false })).toThrow(/required/);
    expect(() => parseJsonBody({ body: `{"a":"${'x'.repeat(20_000)}"}`, isBase64Encoded: false })).toThrow(
      /16 KiB/,
    );
  });

  it('measures the 16 KiB limit in bytes, whatever the characters', () => {
    // 10 000 'é' are 10 008 UTF-16 units but 20 008 UTF-8 bytes: larger than 16 KiB, plain or base64.
    const accented = `{"a":"${'é'.repeat(10_000)}"}`;
    expect(() => parseJsonBody({ body: accented, isBase64Encoded: false })).toThrow(/16 KiB/);
    expect(() =>
      parseJsonBody({ body: Buffer.from(accented).toString('base64'), isBase64Encoded: true }),
    ).toThrow(/16 KiB/);
    // A body within the limit still parses, non-ASCII text included.
    const small = `{"a":"${'é'.repeat(8_000)}"}`;
    expect(parseJsonBody({ body: small, isBase64Encoded: false })).toEqual({ a: 'é'.repeat(8_000) });
  });
});
