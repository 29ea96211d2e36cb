import { createServer, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lambdaContext } from '../local/index.js';
import { paymentDepsFromEnv } from '../payment/handler.js';
import {
  type Charge,
  ChargeDeclinedError,
  type ChargeRequest,
  IdempotencyKeyReusedError,
  type PaymentProvider,
} from '../payment/provider.js';
import { createLogger } from '../shared/logger.js';
import { payEvent, paymentHandlerOn } from './support/handlers.js';
import { listenLocally } from './support/local-server.js';
import { uid, useLocalSetup } from './support/local-setup.js';

/**
 * A charge whose outcome the function cannot know — the provider charged, then never answered, dropped
 * the connection, or answered 5xx — is answered `503 payment_outcome_unknown` (retry with the same key),
 * not a generic 500; the retry with the same key resumes the same provider key and charges once.
 */

const setup = useLocalSetup(['dynamodb']);

/** What the fake PSP does after it has recorded (charged) a request. */
type After = 'answer' | 'never-answer' | 'drop-connection' | 'answer-502';

/**
 * A PSP over HTTP, idempotent by key: it charges through the local provider (the charges table, where a
 * duplicate is visible), then does what `after` says.
 */
interface FakePsp {
  readonly url: string;
  after: After;
  stop(): Promise<void>;
}

async function startFakePsp(charge: (request: ChargeRequest) => Promise<Charge>): Promise<FakePsp> {
  const held: ServerResponse[] = [];
  const psp: FakePsp = { url: '', after: 'answer', stop: async () => undefined };
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const request = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChargeRequest;
    let charged: Charge;
    try {
      charged = await charge(request);
    } catch (err) {
      res.writeHead(err instanceof IdempotencyKeyReusedError ? 422 : 500).end();
      return;
    }
    switch (psp.after) {
      case 'never-answer':
        held.push(res);
        return;
      case 'drop-connection':
        res.socket?.destroy();
        return;
      case 'answer-502':
        res.writeHead(502).end();
        return;
      default:
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(charged));
    }
  });
  return Object.assign(psp, await listenLocally(server, held));
}

/**
 * A provider adapter as README asks for one: its call is bounded (here 300 ms) and follows the lease's
 * signal; a definite refusal is a ChargeDeclinedError or IdempotencyKeyReusedError, anything else an
 * unknown outcome.
 */
function httpProvider(url: string, timeoutMs = 300): PaymentProvider {
  return {
    async charge(request, signal) {
      const bound = AbortSignal.timeout(timeoutMs);
      const res = await fetch(`${url}/charges`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': request.idempotencyKey },
        body: JSON.stringify(request),
        signal: signal ? AbortSignal.any([signal, bound]) : bound,
      });
      if (res.status === 402) throw new ChargeDeclinedError();
      if (res.status === 422) throw new IdempotencyKeyReusedError();
      if (!res.ok)
        throw Object.assign(new Error(`the provider answered ${res.status}`), { status: res.status });
      return (await res.json()) as Charge;
    },
  };
}

let psp: FakePsp;

beforeAll(async () => {
  const local = await paymentDepsFromEnv(setup.functionEnv());
  psp = await startFakePsp((request) => local.provider.charge(request));
}, 120_000);

afterAll(async () => {
  await psp?.stop();
});

const lines: Array<Record<string, unknown>> = [];
const handler = paymentHandlerOn(setup, (deps) => ({ ...deps, provider: httpProvider(psp.url) }), {
  logger: createLogger({}, 'debug', (line) => lines.push(JSON.parse(line))),
});

describe('payment: a charge whose outcome the provider leaves unknown', () => {
  it.each([
    ['charges, then never answers (the adapter times out)', 'never-answer'],
    ['charges, then drops the connection', 'drop-connection'],
    ['charges, then answers 502', 'answer-502'],
  ] as Array<[string, After]>)(
    'the provider %s: 503 payment_outcome_unknown; the retry with the same key gets 200 and the one charge',
    async (_, after) => {
      const orderId = uid('order');
      await setup.data.seedOrder(orderId, 1_000, 'EUR');
      const key = uid('key');
      psp.after = after;
      const started = Date.now();
      const res = await handler(payEvent(orderId, key), lambdaContext());
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(res.statusCode).toBe(503);
      const body = JSON.parse(res.body);
      expect(body).toMatchObject({ error: 'payment_outcome_unknown', retryAfterMs: expect.any(Number) });
      expect(body.message).toMatch(/same idempotencyKey/);
      expect(body).not.toHaveProperty('chargeId');
      // The charge did go through, and the attempt stays open, to be resumed with its key.
      const charges = await setup.data.chargesFor(orderId);
      expect(charges).toHaveLength(1);
      expect(await setup.data.order(orderId)).toMatchObject({ status: 'charging', attemptKey: key });
      const logged = lines.find((l) => l.orderId === orderId && l.msg === 'charge outcome unknown');
      expect(logged).toMatchObject({ level: 'error' });

      psp.after = 'answer';
      const retry = await handler(payEvent(orderId, key), lambdaContext());
      expect(retry.statusCode).toBe(200);
      expect(JSON.parse(retry.body)).toMatchObject({
        status: 'paid',
        idempotencyKey: key,
        chargeId: charges[0]!.chargeId,
      });
      expect(await setup.data.chargesFor(orderId)).toHaveLength(1);
      expect(await setup.data.order(orderId)).toMatchObject({ status: 'paid', paidKey: key });
    },
  );

  it('a request with another key after it resumes the open attempt and never charges twice', async () => {
    const orderId = uid('order');
    await setup.data.seedOrder(orderId, 1_000, 'EUR');
    const [first, second] = [uid('key-first'), uid('key-second')];
    psp.after = 'never-answer';
    const res = await handler(payEvent(orderId, first), lambdaContext());
    expect(JSON.parse(res.body)).toMatchObject({ error: 'payment_outcome_unknown' });
    psp.after = 'answer';
    // A client that took the 503 for a failure and pays with a new key: the order is paid with the first.
    const other = await handler(payEvent(orderId, second), lambdaContext());
    expect(JSON.parse(other.body)).toMatchObject({ error: 'order_already_paid' });
    expect(other.statusCode).toBe(409);
    expect(await setup.data.chargesFor(orderId)).toHaveLength(1);
    const retry = await handler(payEvent(orderId, first), lambdaContext());
    expect(retry.statusCode).toBe(200);
    expect(await setup.data.chargesFor(orderId)).toHaveLength(1);
  });
});
