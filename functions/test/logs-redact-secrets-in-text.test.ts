import { createServer, request, type Server } from 'node:http';
import { LockLostError, StoreError } from '@leasehold/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lambdaContext } from '../local/index.js';
import type { PaymentProvider } from '../payment/provider.js';
import { createLogger } from '../shared/logger.js';
import { payEvent, paymentHandlerOn } from './support/handlers.js';
import { uid, useLocalSetup } from './support/local-setup.js';

/**
 * README: anything that looks like a secret is redacted at any depth, "a provider may fail with an object
 * carrying the request it sent, headers included". A provider written over node:http that rejects with
 * the request it sent carries the headers not only in an object but also as text: the ClientRequest's
 * raw head (`_header`: "POST … Authorization: Bearer sk_live_…"), under a key that looks like nothing.
 * Credentials in a URL's query string are text too.
 */

const setup = useLocalSetup(['dynamodb']);
let psp: Server;
let pspPort: number;
const apiKey = 'sk_live_51Hq_raw_head_secret';

beforeAll(async () => {
  // A PSP that is down: 503 to every charge.
  psp = createServer((_req, res) => {
    res.statusCode = 503;
    res.end('unavailable');
  });
  await new Promise<void>((resolve) => psp.listen(0, '127.0.0.1', resolve));
  pspPort = (psp.address() as { port: number }).port;
}, 120_000);

afterAll(async () => {
  await new Promise((resolve) => psp?.close(resolve));
});

/** A provider over node:http that rejects a 5xx with what it has: the status and the request it sent. */
const httpProvider: PaymentProvider = {
  charge: (charge) =>
    new Promise((_resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: pspPort,
          method: 'POST',
          path: '/v1/charges',
          headers: { Authorization: `Bearer ${apiKey}`, 'Idempotency-Key': charge.idempotencyKey },
        },
        (res) => {
          res.resume();
          res.on('end', () => reject({ status: res.statusCode, request: req }));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(charge));
    }),
};

async function payWith(provider: PaymentProvider) {
  const lines: string[] = [];
  const logger = createLogger({ service: 'payment' }, 'debug', (line) => lines.push(line));
  const handler = paymentHandlerOn(setup, (deps) => ({ ...deps, provider }), { logger });
  const orderId = uid('order');
  await setup.data.seedOrder(orderId, 1_000, 'EUR');
  const res = await handler(payEvent(orderId, uid('key')), lambdaContext());
  return { res, lines };
}

describe('payment: a provider failure that carries the raw request it sent', () => {
  it('is logged without the API key in the raw request head', async () => {
    const { res, lines } = await payWith(httpProvider);
    expect(res.statusCode).toBe(503);
    expect(lines.some((l) => JSON.parse(l).msg === 'charge outcome unknown')).toBe(true);
    expect(lines.join('\n')).not.toContain(apiKey);
  });

  it('is logged without a credential carried in a URL or an error message', async () => {
    const { res, lines } = await payWith({
      async charge() {
        throw {
          status: 502,
          url: `https://psp.example/v1/charges?api_key=${apiKey}&expand=1`,
          cause: new Error(`upstream refused: authorization=Bearer ${apiKey}`),
        };
      },
    });
    expect(res.statusCode).toBe(503);
    expect(lines.some((l) => JSON.parse(l).msg === 'charge outcome unknown')).toBe(true);
    expect(lines.join('\n')).not.toContain(apiKey);
  });
});

describe('logger: credentials in text', () => {
  it('are redacted, while messages that only mention tokens stay readable', () => {
    const lines: string[] = [];
    const log = createLogger({}, 'debug', (line) => lines.push(line));
    const diagnostic =
      'dynamodb: acquire failed on table "locks" after 3 attempts: bad-credentials (ExpiredTokenException: The security token included in the request is expired)';
    log.warn('x', {
      error: new StoreError('dynamodb', 'bad-credentials', diagnostic.slice('dynamodb: '.length)),
      lost: new LockLostError('payment:o1', 42, 'expired'),
      head: `POST /v1/charges HTTP/1.1\r\nX-Api-Key: ${apiKey}\r\nContent-Type: application/json\r\n\r\n`,
    });
    const out = JSON.parse(lines[0]!);
    expect(lines[0]).not.toContain(apiKey);
    expect(out.head).toContain('Content-Type: application/json');
    expect(out.error.message).toBe(diagnostic);
    expect(out.lost.message).toBe('Lease on "payment:o1" (token 42) not held: expired');
  });
});
