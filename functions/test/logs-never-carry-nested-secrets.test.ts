import { describe, expect, it } from 'vitest';
import { lambdaContext } from '../local/index.js';
import { createLogger } from '../shared/logger.js';
import { payEvent, paymentHandlerOn } from './support/handlers.js';
import { uid, useLocalSetup } from './support/local-setup.js';

/**
 * The logger promises that a key that looks like a secret is never written, "whatever a caller passes".
 * What a plugged-in provider (or its HTTP client) throws is logged as `error`: not always an `Error` —
 * a rejected request object, a PSP's parsed error body — and its secrets sit one level down
 * (`request.headers.authorization`), where a redaction of top-level keys only never looks.
 */

const setup = useLocalSetup(['dynamodb']);
const apiKey = 'sk_live_51Hq_secret_api_key';

describe('payment: a provider failure that carries credentials', () => {
  it('is logged and answered without them, and the order stays resumable', async () => {
    const lines: string[] = [];
    const logger = createLogger({ service: 'payment' }, 'debug', (line) => lines.push(line));
    const handler = paymentHandlerOn(
      setup,
      (deps) => ({
        ...deps,
        provider: {
          async charge() {
            // What an HTTP client rejects with on a PSP 5xx: the request it sent, headers included.
            const failure = {
              status: 503,
              request: {
                url: 'https://psp.example/v1/charges',
                headers: { Authorization: `Bearer ${apiKey}` },
              },
              config: { auth: { apiKey } },
            };
            throw failure;
          },
        },
      }),
      { logger },
    );
    const orderId = uid('order');
    await setup.data.seedOrder(orderId, 1_000, 'EUR');
    const key = uid('key');
    const res = await handler(payEvent(orderId, key), lambdaContext());
    expect(res.statusCode).toBe(503);
    expect(JSON.parse(res.body)).toMatchObject({ error: 'payment_outcome_unknown' });
    expect(res.body).not.toContain(apiKey);
    const failed = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'charge outcome unknown');
    expect(failed).toBeDefined();
    expect(lines.join('\n')).not.toContain(apiKey);
    // The outcome is unknown: the attempt stays open, to be resumed with its key.
    expect(await setup.data.order(orderId)).toMatchObject({ status: 'charging', attemptKey: key });
  });
});

describe('logger', () => {
  it('redacts secret-looking keys at any depth, and survives what JSON cannot write', () => {
    const lines: string[] = [];
    const log = createLogger({ service: 's' }, 'debug', (l) => lines.push(l));
    const loop: Record<string, unknown> = { name: 'loop' };
    loop.self = loop;
    log.warn('x', {
      detail: { lock: { owner: 'owner-abc' }, list: [{ upstashToken: 'tok-123' }] },
      loop,
      big: 10n,
    });
    expect(lines).toHaveLength(1);
    const out = lines[0]!;
    for (const secret of ['owner-abc', 'tok-123']) expect(out).not.toContain(secret);
    expect(JSON.parse(out)).toMatchObject({ detail: { lock: { owner: '[redacted]' } }, big: '10' });
  });
});
