import { describe, expect, it } from 'vitest';
import { lambdaContext } from '../local/index.js';
import type { PaymentProvider } from '../payment/provider.js';
import { createLogger } from '../shared/logger.js';
import { payEvent, paymentHandlerOn } from './support/handlers.js';
import { uid, useLocalSetup } from './support/local-setup.js';

/**
 * README/logger: credentials written inside text are redacted ("a query parameter of a URL", a header
 * line, a bearer token). A URL's userinfo is not: Node's own fetch refuses a URL with credentials with
 * `TypeError: Request cannot be constructed from a URL that includes credentials: <the URL>`, and a
 * PSP configured with HTTP Basic auth in its base URL (Stripe accepts the secret key as the Basic user)
 * puts its key there. pay() logs that error at error level ("charge outcome unknown") unredacted.
 */

const setup = useLocalSetup(['dynamodb']);
const apiKey = 'sk_live_51Hq_userinfo_secret';

const basicAuthUrlProvider: PaymentProvider = {
  async charge(request, signal) {
    const res = await fetch(`https://acct_1:${apiKey}@psp.example/v1/charges`, {
      method: 'POST',
      body: JSON.stringify(request),
      ...(signal ? { signal } : {}),
    });
    return (await res.json()) as { chargeId: string };
  },
};

describe('payment: a provider error whose message carries a URL with credentials', () => {
  it('is logged without the password of the URL', async () => {
    const lines: string[] = [];
    const logger = createLogger({ service: 'payment' }, 'debug', (line) => lines.push(line));
    const handler = paymentHandlerOn(setup, (deps) => ({ ...deps, provider: basicAuthUrlProvider }), {
      logger,
    });
    const orderId = uid('order');
    await setup.data.seedOrder(orderId, 1_000, 'EUR');
    const res = await handler(payEvent(orderId, uid('key')), lambdaContext());
    expect(res.statusCode).toBe(503);
    expect(lines.some((l) => JSON.parse(l).msg === 'charge outcome unknown')).toBe(true);
    expect(lines.join('\n')).not.toContain(apiKey);
  });

  it('logger: a header written mid-line ("... headers: Authorization: Basic <creds>") is redacted too', () => {
    const lines: string[] = [];
    const log = createLogger({}, 'debug', (line) => lines.push(line));
    const creds = Buffer.from(`acct_1:${apiKey}`).toString('base64');
    log.error('x', {
      error: new Error(`PSP refused the request; sent headers: Authorization: Basic ${creds}`),
    });
    expect(lines[0]).not.toContain(creds);
  });
});
