import { createServer, request as httpRequest, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { lambdaContext } from '../local/index.js';
import { createPaymentHandler, paymentDepsFromEnv } from '../payment/handler.js';
import type { HttpResult } from '../shared/http.js';
import { bookEvent, bookingHandlerOn, payEvent, paymentHandlerOn } from './support/handlers.js';
import { listenLocally } from './support/local-server.js';
import { quiet, sleep, uid, useLocalSetup } from './support/local-setup.js';

/**
 * A DynamoDB endpoint (DynamoDB Local, or the region's) that stops answering — a network black hole, a
 * stuck connection — must not hold an invocation until the Lambda's own timeout: the function answers,
 * and what it answers is safe to act on (retry with the same input). The lock store's calls are bounded
 * by LOCK_REQUEST_TIMEOUT_MS; the functions' own AWS calls (the orders, charges and seats tables,
 * Secrets Manager at cold start) by SDK_REQUEST_TIMEOUT_MS, since the AWS SDK sets no timeout by default.
 */

const setup = useLocalSetup(['dynamodb']);

/** Well under the 23 s function timeout of the CDK stack; the code under test must answer before. */
const ANSWER_WITHIN_MS = 8_000;

/** The handler's answer, or 'hung' when it has not answered within ANSWER_WITHIN_MS. */
async function answerOrHang(answer: Promise<HttpResult>): Promise<HttpResult | 'hung'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<'hung'>((resolve) => {
    timer = setTimeout(() => resolve('hung'), ANSWER_WITHIN_MS);
  });
  try {
    return await Promise.race([answer, hung]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * An HTTP proxy in front of DynamoDB Local that forwards every request, except those `blackHole`
 * matches: those are accepted and never answered (nor forwarded).
 */
interface DynamoProxy {
  readonly url: string;
  blackHole: (op: string, body: string) => boolean;
  stop(): Promise<void>;
}

async function startDynamoProxy(target: string): Promise<DynamoProxy> {
  const held: ServerResponse[] = [];
  const proxy: DynamoProxy = { url: '', blackHole: () => false, stop: async () => undefined };
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const op =
      String(req.headers['x-amz-target'] ?? '')
        .split('.')
        .pop() ?? '';
    if (proxy.blackHole(op, body.toString('utf8'))) {
      held.push(res);
      return;
    }
    const upstream = httpRequest(
      `${target}${req.url ?? '/'}`,
      { method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    upstream.end(body);
  });
  return Object.assign(proxy, await listenLocally(server, held));
}

let proxy: DynamoProxy;

beforeAll(async () => {
  proxy = await startDynamoProxy(setup.endpoints.dynamodb.endpoint);
  // The functions find DynamoDB through the standard variable, as on Lambda: here, through the proxy.
  process.env.AWS_ENDPOINT_URL_DYNAMODB = proxy.url;
}, 120_000);

afterEach(() => {
  proxy.blackHole = () => false;
});

afterAll(async () => {
  await proxy?.stop();
});

/** The functions' environment: DynamoDB through the proxy. */
const viaProxy = () => ({ AWS_ENDPOINT_URL_DYNAMODB: proxy.url });
const paymentHandler = () => paymentHandlerOn(setup, undefined, { env: viaProxy() });
const bookingHandler = () => bookingHandlerOn(setup, undefined, { env: viaProxy() });

describe('payment, when DynamoDB stops answering', () => {
  it('answers (a 5xx, safe to retry) instead of hanging until the Lambda times out', async () => {
    const orderId = uid('order-blackhole');
    await setup.data.seedOrder(orderId, 1_000, 'EUR');
    proxy.blackHole = () => true; // every call: the order read, the lock table, the charges table
    const res = await answerOrHang(paymentHandler()(payEvent(orderId, uid('key')), lambdaContext(60_000)));
    expect(res).not.toBe('hung');
    expect((res as HttpResult).statusCode).toBeGreaterThanOrEqual(500);
    expect(await setup.data.chargesFor(orderId)).toHaveLength(0);
  }, 20_000);

  it('after the charge (the "mark paid" write hangs): answers 503 payment_outcome_unknown, and the retry with the same key gets the one charge', async () => {
    const orderId = uid('order-hung-paid');
    await setup.data.seedOrder(orderId, 1_000, 'EUR');
    const key = uid('key');
    // Only the fenced "mark paid" write on the orders table is never answered.
    proxy.blackHole = (op, body) =>
      op === 'UpdateItem' && body.includes(setup.tables.orders) && body.includes('#response');
    const handler = paymentHandler();
    const res = await answerOrHang(handler(payEvent(orderId, key), lambdaContext(60_000)));
    expect(res).not.toBe('hung');
    // Charged, not recorded as paid: to the client, the outcome is unknown until it retries.
    expect((res as HttpResult).statusCode).toBe(503);
    expect(JSON.parse((res as HttpResult).body)).toMatchObject({ error: 'payment_outcome_unknown' });
    expect(await setup.data.chargesFor(orderId)).toHaveLength(1);
    expect(await setup.data.order(orderId)).toMatchObject({ status: 'charging', attemptKey: key });

    proxy.blackHole = () => false;
    await sleep(50);
    const retry = await handler(payEvent(orderId, key), lambdaContext());
    expect(JSON.parse(retry.body)).toMatchObject({ status: 'paid', idempotencyKey: key });
    expect(retry.statusCode).toBe(200);
    expect(await setup.data.chargesFor(orderId)).toHaveLength(1);
  }, 30_000);
});

describe('booking, when DynamoDB stops answering', () => {
  it('the seat write hangs: answers (a 5xx, safe to retry), and the retry books the seat once', async () => {
    const eventId = uid('event');
    await setup.data.seedSeats(eventId, ['s1']);
    proxy.blackHole = (op, body) => op === 'UpdateItem' && body.includes(setup.tables.seats);
    const handler = bookingHandler();
    const book = () => handler(bookEvent(eventId, 's1', 'alice'), lambdaContext(60_000));
    const res = await answerOrHang(book());
    expect(res).not.toBe('hung');
    expect((res as HttpResult).statusCode).toBeGreaterThanOrEqual(500);

    proxy.blackHole = () => false;
    const retry = await book();
    expect([200, 201]).toContain(retry.statusCode);
    expect(await setup.data.seats(eventId)).toMatchObject([{ status: 'booked', userId: 'alice' }]);
  }, 30_000);
});

describe('cold start, when Secrets Manager stops answering', () => {
  it('answers (a 5xx) instead of hanging on the Upstash token secret', async () => {
    // Accepts connections and never answers.
    const sockets: Socket[] = [];
    const server = createTcpServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = `http://127.0.0.1:${port}`;
    try {
      const handler = createPaymentHandler(
        () =>
          paymentDepsFromEnv({
            ...setup.functionEnv(),
            ...viaProxy(),
            LOCK_STORE: 'upstash',
            UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:1',
            UPSTASH_TOKEN_SECRET_ID: 'leasehold/upstash-token',
          }),
        quiet,
      );
      const res = await answerOrHang(handler(payEvent(uid('order'), uid('key')), lambdaContext(60_000)));
      expect(res).not.toBe('hung');
      expect((res as HttpResult).statusCode).toBeGreaterThanOrEqual(500);
    } finally {
      delete process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER;
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  }, 20_000);
});
