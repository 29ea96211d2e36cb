import { readdirSync, readFileSync } from 'node:fs';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { createLocker } from '@leasehold/core';
import { dynamoDbStore } from '@leasehold/dynamodb';
import { describe, expect, it } from 'vitest';
import { seatLockKey } from '../booking/booking-service.js';
import { httpEvent, lambdaContext, localDynamoDbClient } from '../local/index.js';
import { ChargeDeclinedError } from '../payment/provider.js';
import type { HttpResult } from '../shared/http.js';
import { faultyDocumentClient } from './support/faults.js';
import {
  bookEvent,
  bookingHandlerOn,
  type HandlerOptions,
  payEvent,
  paymentHandlerOn,
} from './support/handlers.js';
import { uid, useLocalSetup } from './support/local-setup.js';

/**
 * functions/README.md lists every answer a handler gives: the payment handler in its answer table
 * ("| answer | when | retry? |"), the booking handler in its section. Both lists are read here at run
 * time and held against (1) the answers the handlers' sources can build, both ways, and (2) the real
 * handlers on DynamoDB Local, driven into each row's situation, then retried as the row advises once
 * that situation has passed.
 */

// ---------------------------------------------------------------------------------------------------
// What the README documents
// ---------------------------------------------------------------------------------------------------

const functionsDir = new URL('../', import.meta.url);
const readme = readFileSync(new URL('README.md', functionsDir), 'utf8');

/** One documented answer: a row of an answer table, or an answer named in a section's text. */
interface DocumentedAnswer {
  readonly status: number;
  /** The `error` code; undefined for a success. */
  readonly code: string | undefined;
  /** `status code` (or `status` for a success): how answers are matched. */
  readonly label: string;
  /** The row's "when" column, or the text that follows the answer in prose. */
  readonly when: string;
  /** The row's "retry?" column; undefined for an answer documented in prose. */
  readonly retry: string | undefined;
  /** The README says the answer carries `retryAfterMs`. */
  readonly retryAfterMs: boolean;
  /** Body fields the answer names, as in "400 `bad_request` (`field`)". */
  readonly fields: readonly string[];
}

const labelOf = (status: number, code: string | undefined) => (code ? `${status} ${code}` : `${status}`);

/** The README text under the `## {title}` heading, up to the next `## ` heading. */
function readmeSection(title: string): string {
  const start = readme.search(new RegExp(`^## ${title}\\b`, 'm'));
  if (start < 0) throw new Error(`functions/README.md has no "## ${title}" section`);
  const rest = readme.slice(start + 3);
  const end = rest.search(/^## /m);
  return end < 0 ? rest : rest.slice(0, end);
}

const answerTableHeader = /^\|\s*answer\s*\|\s*when\s*\|\s*retry\?\s*\|$/;

/** The rows of every "| answer | when | retry? |" table in `text`; undefined when it has none. */
function answerTables(text: string): DocumentedAnswer[] | undefined {
  const lines = text.split('\n').map((line) => line.trim());
  const rows: DocumentedAnswer[] = [];
  let tables = 0;
  lines.forEach((line, at) => {
    if (!answerTableHeader.test(line)) return;
    tables++;
    // The header, its separator, then rows until the first line that is not a table row.
    for (const row of lines.slice(at + 2)) {
      if (!row.startsWith('|')) break;
      const [answer = '', when = '', retry = ''] = row
        .slice(1, -1)
        .split('|')
        .map((cell) => cell.trim());
      const status = /^(\d{3})\b/.exec(answer)?.[1];
      if (!status) throw new Error(`an answer row without a status: ${row}`);
      const code = /^\d{3}\s+`([a-z]+(?:_[a-z]+)*)`/.exec(answer)?.[1];
      rows.push({
        status: Number(status),
        code,
        label: labelOf(Number(status), code),
        when,
        retry,
        retryAfterMs: /retryAfterMs/.test(answer) || /retryAfterMs/.test(when),
        fields: [...answer.matchAll(/\(`([A-Za-z]+)`\)/g)].map((m) => m[1]!),
      });
    }
  });
  return tables === 0 ? undefined : rows;
}

/**
 * The answers named in prose ("… gets `409 seat_taken`, or 201 with the booking (with `retryAfterMs`)"):
 * each status, with the error code right after it if any; the text up to the next answer says what
 * comes with it.
 */
function answersInProse(text: string): DocumentedAnswer[] {
  const plain = text.replaceAll('`', '');
  const found = [...plain.matchAll(/\b([1-5]\d\d)\b(?: ([a-z]+(?:_[a-z]+)+))?/g)];
  return found.map((m, i) => {
    const when = plain.slice(m.index + m[0].length, found[i + 1]?.index ?? plain.length);
    const status = Number(m[1]);
    return {
      status,
      code: m[2],
      label: labelOf(status, m[2]),
      when: when.trim(),
      retry: undefined,
      retryAfterMs: when.includes('retryAfterMs'),
      fields: [],
    };
  });
}

const documentedAnswers = (title: string) => {
  const section = readmeSection(title);
  return answerTables(section) ?? answersInProse(section);
};

const paymentRows = documentedAnswers('Payment');
const bookingRows = documentedAnswers('Booking');

type RetryAdvice = 'none' | 'no' | 'same key' | 'same input' | 'new key' | 'later';

/** What a "retry?" cell advises. */
function retryAdvice(cell: string): RetryAdvice | `unrecognised: ${string}` {
  const text = cell.replaceAll('*', '').toLowerCase().trim();
  if (text === '' || text === '—' || text === '-') return 'none';
  if (/^no\b/.test(text)) return 'no';
  if (text.includes('new key')) return 'new key';
  if (text.includes('same key')) return 'same key';
  if (text.includes('same input')) return 'same input';
  if (text.includes('later')) return 'later';
  return `unrecognised: ${cell}`;
}

// ---------------------------------------------------------------------------------------------------
// What the handlers' sources can answer
// ---------------------------------------------------------------------------------------------------

const sourcesOf = (dir: string): string[] =>
  readdirSync(new URL(`${dir}/`, functionsDir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => readFileSync(new URL(`${dir}/${file}`, functionsDir), 'utf8'));

/**
 * Every answer (`status code`, or `status` for a success) the handler in `dir` can give, read from its
 * sources and the shared ones: `errorResponse(status, 'code', …)`, `json(status, …)`, a literal
 * `statusCode: status`, and `inProgressResponse('what')`. The shared lock answers name the handler's
 * `what` (`${what}_in_progress`): it is the one the handler passes to `createHandler`.
 */
function answersInSources(dir: 'payment' | 'booking'): string[] {
  const handler = readFileSync(new URL(`${dir}/handler.ts`, functionsDir), 'utf8');
  const what = /createHandler\(\s*'[^']*',\s*'([^']+)'/.exec(handler)?.[1];
  const answers = new Set<string>();
  for (const source of [...sourcesOf(dir), ...sourcesOf('shared')]) {
    for (const m of source.matchAll(/\berrorResponse\(\s*(\d{3}),\s*(['`])([^'`]+)\2/g)) {
      const code = what === undefined ? m[3]! : m[3]!.replaceAll(`$\{what}`, what);
      answers.add(labelOf(Number(m[1]), code));
    }
    for (const m of source.matchAll(/\bjson\(\s*(\d{3})\b/g)) answers.add(labelOf(Number(m[1]), undefined));
    for (const m of source.matchAll(/\bstatusCode:\s*(\d{3})\b/g))
      answers.add(labelOf(Number(m[1]), undefined));
    for (const m of source.matchAll(/\binProgressResponse\(\s*'([^']+)'\s*\)/g))
      answers.add(labelOf(409, `${m[1]}_in_progress`));
  }
  return [...answers].sort();
}

const handlers = [
  ['payment', paymentRows],
  ['booking', bookingRows],
] as const;

describe('the README lists exactly the answers the handlers can give', () => {
  it.each(handlers)('every answer the %s handler can give is listed in the README', (dir, rows) => {
    const documented = new Set(rows.map((row) => row.label));
    expect(answersInSources(dir).filter((answer) => !documented.has(answer))).toEqual([]);
  });

  it.each(handlers)('every answer the README lists for the %s handler is one it can give', (dir, rows) => {
    const given = new Set(answersInSources(dir));
    expect(rows.map((row) => row.label).filter((answer) => !given.has(answer))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------
// Driving the handlers into each documented situation
// ---------------------------------------------------------------------------------------------------

const setup = useLocalSetup(['dynamodb']);
const HOUR = 3_600_000;

type Body = Record<string, unknown>;

/**
 * Checks `res` against the documented answer: its status and `error` code (none for a success),
 * `retryAfterMs` exactly when the README names it, and the body fields it names. Returns the body.
 */
function expectAnswer(res: HttpResult, row: DocumentedAnswer): Body {
  const body = JSON.parse(res.body) as Body;
  expect({ status: res.statusCode, error: body.error }).toEqual({ status: row.status, error: row.code });
  if (row.retryAfterMs) expect(body.retryAfterMs).toBeGreaterThan(0);
  else expect(body).not.toHaveProperty('retryAfterMs');
  for (const field of row.fields) expect(body[field]).toEqual(expect.any(String));
  return body;
}

/**
 * A "retry? no" answer: the request answers as documented, and sent again unchanged it answers the same,
 * while `state` (what the request could have changed) stays as it was before the first. Returns the body.
 */
async function answersTheSameAndChangesNothing(
  row: DocumentedAnswer,
  state: () => Promise<unknown>,
  send: () => Promise<HttpResult>,
): Promise<Body> {
  const before = await state();
  const first = expectAnswer(await send(), row);
  expect(await state()).toEqual(before);
  expect(expectAnswer(await send(), row)).toEqual(first);
  expect(await state()).toEqual(before);
  return first;
}

/** A fresh order of 1 000 EUR, the amount `payEvent` pays by default. */
async function newOrder(label = 'order'): Promise<string> {
  const orderId = uid(label);
  await setup.data.seedOrder(orderId, 1_000, 'EUR');
  return orderId;
}

/** What a payment request can change: the order and the charges made for it. */
const orderState = (orderId: string) => async () => ({
  order: await setup.data.order(orderId),
  charges: await setup.data.chargesFor(orderId),
});

/** `res` is the 200 of `orderId` paid with `key`, and the provider charged the order exactly once. */
async function expectPaidOnceWith(res: HttpResult, orderId: string, key: string): Promise<Body> {
  const body = JSON.parse(res.body) as Body;
  expect({ status: res.statusCode, body }).toMatchObject({
    status: 200,
    body: { status: 'paid', orderId, idempotencyKey: key },
  });
  const charges = await setup.data.chargesFor(orderId);
  expect(charges.map((c) => [c.idempotencyKey, c.chargeId])).toEqual([[key, body.chargeId]]);
  expect(await setup.data.order(orderId)).toMatchObject({ status: 'paid', paidKey: key });
  return body;
}

/** The order is pending again with no attempt left open, and nothing was charged for it. */
async function expectPayable(orderId: string) {
  const { order, charges } = await orderState(orderId)();
  expect(order).toMatchObject({ status: 'pending' });
  expect(order).not.toHaveProperty('attemptKey');
  expect(order).not.toHaveProperty('attemptStartedAt');
  expect(charges).toEqual([]);
}

/** Sets attributes of an order directly, as an earlier request or an operator left them. */
async function writeOrder(orderId: string, update: string, values: Record<string, string> = {}) {
  await setup.data.db.send(
    new UpdateCommand({
      TableName: setup.tables.orders,
      Key: { orderId },
      UpdateExpression: update,
      ExpressionAttributeNames: { '#status': 'status' },
      ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
    }),
  );
}

/** What the scripted provider does with a charge. */
type ProviderScript = 'charge' | 'decline' | 'charge-then-fail';

/**
 * The payment handler over a scripted provider in front of the local one (whose charges table makes
 * every charge visible). `script.next` says what the charges get: charged; declined (nothing charged,
 * and, as an idempotent PSP replays a refusal, the key declined for good); or charged, then the answer
 * lost (an unknown outcome). `holdNextCharge()` keeps the next charge waiting, its request holding the
 * order's lock, until released. `calls` lists the keys the provider was asked to charge.
 */
function scriptedPayments(options: HandlerOptions & { ordersDb?: 'crash-on-second-write' } = {}) {
  const script: { next: ProviderScript; hold?: { enter(): void; released: Promise<void> } | undefined } = {
    next: 'charge',
  };
  const calls: string[] = [];
  const declined = new Set<string>();
  const handler = paymentHandlerOn(
    setup,
    (deps) => ({
      ...deps,
      ...(options.ordersDb
        ? { db: faultyDocumentClient(setup.endpoints, setup.tables.orders, { fault: 'crash', nth: 2 }) }
        : {}),
      provider: {
        async charge(request, signal) {
          calls.push(request.idempotencyKey);
          const hold = script.hold;
          script.hold = undefined;
          if (hold) {
            hold.enter();
            await hold.released;
          }
          if (script.next === 'decline') declined.add(request.idempotencyKey);
          if (declined.has(request.idempotencyKey)) throw new ChargeDeclinedError();
          const charge = await deps.provider.charge(request, signal);
          if (script.next === 'charge-then-fail') throw new Error('the provider connection was reset');
          return charge;
        },
      },
    }),
    options,
  );
  const holdNextCharge = () => {
    let enter = () => {};
    let release = () => {};
    const entered = new Promise<void>((resolve) => {
      enter = resolve;
    });
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    script.hold = { enter, released };
    return { entered, release };
  };
  return { handler, script, calls, holdNextCharge };
}

/** Holds lock `key` in the lock table, as another request would, until the returned function runs. */
async function holdLock(key: string): Promise<() => Promise<void>> {
  const client = localDynamoDbClient(setup.endpoints);
  const locker = createLocker({ store: dynamoDbStore({ client, tableName: setup.tables.locks }) });
  const lease = await locker.acquire(key, { ttlMs: 10_000 });
  return async () => {
    await lease.release();
    client.destroy();
  };
}

/** A lock store that fails every call: a lock table that does not exist. */
const lockStoreDown: HandlerOptions = { env: { LOCK_TABLE_NAME: 'no-such-lock-table' } };

/** An invocation with no time left for a lease. */
const spentContext = () => lambdaContext(0);

/** A case driving a handler into one documented answer's situation, then retrying as documented. */
interface AnswerCase {
  readonly name: string;
  /** The retry the case performs; checked against the row's "retry?" column, where it has one. */
  readonly retry?: RetryAdvice;
  run(row: DocumentedAnswer): Promise<void>;
}

const paymentCases: Record<string, AnswerCase> = {
  '200': {
    name: "200 paid with this request's key; a replay with the same key gets the same body and charges nothing more",
    retry: 'none',
    async run(row) {
      const handler = paymentHandlerOn(setup);
      const orderId = await newOrder();
      const key = uid('key');
      const body = expectAnswer(await handler(payEvent(orderId, key), lambdaContext()), row);
      expect(body).toMatchObject({ status: 'paid', amount: 1_000, currency: 'EUR' });
      await expectPaidOnceWith(await handler(payEvent(orderId, key), lambdaContext()), orderId, key);
      const replay = await handler(payEvent(orderId, key), lambdaContext());
      expect(expectAnswer(replay, row)).toEqual(body);
    },
  },

  '400 bad_request': {
    name: '400 bad_request naming the malformed field; sent again unchanged it is refused the same and nothing is charged',
    retry: 'no',
    async run(row) {
      const handler = paymentHandlerOn(setup);
      const orderId = await newOrder();
      const malformed = payEvent(orderId, uid('key'), 0);
      const body = await answersTheSameAndChangesNothing(row, orderState(orderId), () =>
        handler(malformed, lambdaContext()),
      );
      expect(body.field).toBe('amount');
      expect(await setup.data.chargesFor(orderId)).toEqual([]);
    },
  },

  '402 payment_declined': {
    name: '402 payment_declined when the provider declines: nothing charged, the order stays payable, and a new key pays it',
    retry: 'new key',
    async run(row) {
      const { handler, script } = scriptedPayments();
      const orderId = await newOrder();
      script.next = 'decline';
      expectAnswer(await handler(payEvent(orderId, uid('key-declined')), lambdaContext()), row);
      await expectPayable(orderId);
      // The customer fixed the card, and pays with a new key.
      script.next = 'charge';
      const fresh = uid('key-new');
      await expectPaidOnceWith(await handler(payEvent(orderId, fresh), lambdaContext()), orderId, fresh);
    },
  },

  '404 order_not_found': {
    name: '404 order_not_found for an unknown order; sent again it is the same, and no order or charge appears',
    retry: 'no',
    async run(row) {
      const handler = paymentHandlerOn(setup);
      const orderId = uid('order-unknown');
      const event = payEvent(orderId, uid('key'));
      await answersTheSameAndChangesNothing(row, orderState(orderId), () => handler(event, lambdaContext()));
      expect(await setup.data.order(orderId)).toBeUndefined();
    },
  },

  '409 order_already_paid': {
    name: '409 order_already_paid for another key once the order is paid; sent again it is the same, and nothing more is charged',
    retry: 'no',
    async run(row) {
      const handler = paymentHandlerOn(setup);
      const orderId = await newOrder();
      const payer = uid('key-payer');
      await expectPaidOnceWith(await handler(payEvent(orderId, payer), lambdaContext()), orderId, payer);
      const other = payEvent(orderId, uid('key-other'));
      await answersTheSameAndChangesNothing(row, orderState(orderId), () => handler(other, lambdaContext()));
      await expectPaidOnceWith(await handler(payEvent(orderId, payer), lambdaContext()), orderId, payer);
    },
  },

  '409 payment_in_progress': {
    name: '409 payment_in_progress while another request holds the lock, with retryAfterMs; the same key later succeeds',
    retry: 'same key',
    async run(row) {
      const { handler, holdNextCharge } = scriptedPayments();
      const impatient = paymentHandlerOn(setup, undefined, { lock: { waitMs: 100 } });
      const orderId = await newOrder();
      const key = uid('key');
      const held = holdNextCharge();
      const first = handler(payEvent(orderId, key), lambdaContext());
      await Promise.race([
        held.entered,
        first.then((res) => {
          throw new Error(`the first request answered ${res.statusCode} before its charge`);
        }),
      ]);
      try {
        // The same payment delivered again while the first request is charging under the lock.
        expectAnswer(await impatient(payEvent(orderId, key), lambdaContext()), row);
      } finally {
        held.release();
      }
      const paid = await expectPaidOnceWith(await first, orderId, key);
      const retry = await impatient(payEvent(orderId, key), lambdaContext());
      expect(await expectPaidOnceWith(retry, orderId, key)).toEqual(paid);
    },
  },

  '409 payment_needs_reconciliation': {
    name: '409 payment_needs_reconciliation for an open attempt older than the provider keeps keys; retried it is the same and nothing is sent; once an operator reconciled the order it is payable',
    retry: 'no',
    async run(row) {
      const { handler, calls } = scriptedPayments();
      const orderId = await newOrder();
      const key = uid('key');
      // A request 25 h ago claimed the order, then failed with an unknown outcome; nobody paid it since.
      await writeOrder(orderId, 'SET #status = :charging, attemptKey = :key, attemptStartedAt = :at', {
        ':charging': 'charging',
        ':key': key,
        ':at': new Date(Date.now() - 25 * HOUR).toISOString(),
      });
      await answersTheSameAndChangesNothing(row, orderState(orderId), () =>
        handler(payEvent(orderId, key), lambdaContext()),
      );
      expectAnswer(await handler(payEvent(orderId, uid('key-other')), lambdaContext()), row);
      expect(calls).toEqual([]);
      // The operator found no charge for attemptKey at the provider: back to pending, as README says.
      await writeOrder(orderId, 'SET #status = :pending REMOVE attemptKey, attemptStartedAt', {
        ':pending': 'pending',
      });
      await expectPaidOnceWith(await handler(payEvent(orderId, key), lambdaContext()), orderId, key);
    },
  },

  '405 method_not_allowed': {
    name: '405 method_not_allowed for a method other than POST; sent again it is the same, and nothing is charged',
    retry: 'no',
    async run(row) {
      const handler = paymentHandlerOn(setup);
      const orderId = await newOrder();
      const put = httpEvent('PUT', '/payments', 'PUT /payments', { orderId, idempotencyKey: uid('key') });
      await answersTheSameAndChangesNothing(row, orderState(orderId), () => handler(put, lambdaContext()));
      expect(await setup.data.chargesFor(orderId)).toEqual([]);
    },
  },

  '422 amount_mismatch': {
    name: '422 amount_mismatch when the amount differs from the order; sent again it is the same, and nothing is charged',
    retry: 'no',
    async run(row) {
      const handler = paymentHandlerOn(setup);
      const orderId = await newOrder();
      const event = payEvent(orderId, uid('key'), 999);
      await answersTheSameAndChangesNothing(row, orderState(orderId), () => handler(event, lambdaContext()));
      expect(await setup.data.order(orderId)).toMatchObject({ status: 'pending' });
    },
  },

  '422 idempotency_key_reused': {
    name: '422 idempotency_key_reused when the provider holds the key for another payment; the order stays payable, and a new key pays it',
    retry: 'new key',
    async run(row) {
      const handler = paymentHandlerOn(setup);
      const [orderA, orderB] = [await newOrder('order-a'), await newOrder('order-b')];
      const shared = uid('key-shared');
      await expectPaidOnceWith(await handler(payEvent(orderA, shared), lambdaContext()), orderA, shared);
      expectAnswer(await handler(payEvent(orderB, shared), lambdaContext()), row);
      await expectPayable(orderB);
      const fresh = uid('key-new');
      await expectPaidOnceWith(await handler(payEvent(orderB, fresh), lambdaContext()), orderB, fresh);
      expect(await setup.data.chargesFor(orderA)).toHaveLength(1);
    },
  },

  '500 internal_error': {
    name: '500 internal_error when the request fails before the charge is sent, or after a refusal: nothing charged; the same input again then pays, or is refused as the provider refuses that key',
    retry: 'same input',
    async run(row) {
      // Before the charge: the claim of the order is written, and its answer is lost for good.
      const crashing = paymentHandlerOn(setup, (deps) => ({
        ...deps,
        db: faultyDocumentClient(setup.endpoints, setup.tables.orders, { fault: 'crash' }),
      }));
      const orderId = await newOrder();
      const key = uid('key');
      expectAnswer(await crashing(payEvent(orderId, key), lambdaContext()), row);
      expect(await setup.data.chargesFor(orderId)).toEqual([]);
      const healthy = paymentHandlerOn(setup);
      await expectPaidOnceWith(await healthy(payEvent(orderId, key), lambdaContext()), orderId, key);

      // After a refusal: the provider declined, and the answer to undoing the claim is lost for good.
      const { handler, script } = scriptedPayments({ ordersDb: 'crash-on-second-write' });
      const declinedOrder = await newOrder('order-declined');
      const declinedKey = uid('key-declined');
      script.next = 'decline';
      expectAnswer(await handler(payEvent(declinedOrder, declinedKey), lambdaContext()), row);
      await expectPayable(declinedOrder);
      const again = await handler(payEvent(declinedOrder, declinedKey), lambdaContext());
      expect({ status: again.statusCode, body: JSON.parse(again.body) }).toMatchObject({
        status: 402,
        body: { error: 'payment_declined' },
      });
      expect(await setup.data.chargesFor(declinedOrder)).toEqual([]);
    },
  },

  '503 payment_outcome_unknown': {
    name: '503 payment_outcome_unknown with retryAfterMs when the provider charged and its answer was lost; the same key then gets 200 and exactly one charge',
    retry: 'same key',
    async run(row) {
      const { handler, script, calls } = scriptedPayments();
      const orderId = await newOrder();
      const key = uid('key');
      script.next = 'charge-then-fail';
      const body = expectAnswer(await handler(payEvent(orderId, key), lambdaContext()), row);
      expect(body).not.toHaveProperty('chargeId');
      const [charge, ...more] = await setup.data.chargesFor(orderId);
      expect(more).toEqual([]);
      expect(await setup.data.order(orderId)).toMatchObject({ status: 'charging', attemptKey: key });
      // The provider answers again; the client retries with the same key.
      script.next = 'charge';
      const paid = await expectPaidOnceWith(
        await handler(payEvent(orderId, key), lambdaContext()),
        orderId,
        key,
      );
      expect(paid.chargeId).toBe(charge?.chargeId);
      expect(calls).toEqual([key, key]);
    },
  },

  '503 deadline_too_close': {
    name: '503 deadline_too_close with retryAfterMs when the invocation has no time left for the lock: nothing done; the same input then pays',
    retry: 'same input',
    async run(row) {
      const handler = paymentHandlerOn(setup);
      const orderId = await newOrder();
      const key = uid('key');
      const before = await orderState(orderId)();
      expectAnswer(await handler(payEvent(orderId, key), spentContext()), row);
      expect(await orderState(orderId)()).toEqual(before);
      await expectPaidOnceWith(await handler(payEvent(orderId, key), lambdaContext()), orderId, key);
    },
  },

  '503 lock_store_unavailable': {
    name: '503 lock_store_unavailable when the lock store fails: nothing done; once it is back the same request pays',
    retry: 'later',
    async run(row) {
      const orderId = await newOrder();
      const key = uid('key');
      const before = await orderState(orderId)();
      const down = paymentHandlerOn(setup, undefined, lockStoreDown);
      expectAnswer(await down(payEvent(orderId, key), lambdaContext()), row);
      expect(await orderState(orderId)()).toEqual(before);
      const retry = await paymentHandlerOn(setup)(payEvent(orderId, key), lambdaContext());
      await expectPaidOnceWith(retry, orderId, key);
    },
  },
};

/** What a booking request can change: the event's seats. */
const seatState = (eventId: string) => () => setup.data.seats(eventId);

/** A fresh event with seat `s1` free. */
async function newEvent(): Promise<string> {
  const eventId = uid('event');
  await setup.data.seedSeats(eventId, ['s1']);
  return eventId;
}

/** `res` is the 201 of a new booking of seat `s1` at `eventId` by `userId`, as the seat records it. */
async function expectBookedBy(res: HttpResult, eventId: string, userId: string): Promise<Body> {
  const body = JSON.parse(res.body) as Body;
  expect({ status: res.statusCode, body }).toMatchObject({
    status: 201,
    body: { eventId, seatId: 's1', userId, status: 'booked' },
  });
  expect(await setup.data.seats(eventId)).toMatchObject([
    { status: 'booked', userId, bookingId: body.bookingId },
  ]);
  return body;
}

const seatList = (eventId: string) =>
  httpEvent('GET', `/events/${eventId}/seats`, 'GET /events/{eventId}/seats', undefined, { eventId });

const bookingCases: Record<string, AnswerCase> = {
  '201': {
    name: '201 with the booking when the seat is free; the seat is booked by that user',
    retry: 'none',
    async run(row) {
      const handler = bookingHandlerOn(setup);
      const eventId = await newEvent();
      const res = await handler(bookEvent(eventId, 's1', 'alice'), lambdaContext());
      expectAnswer(res, row);
      await expectBookedBy(res, eventId, 'alice');
    },
  },

  '200': {
    name: "200 with the same booking for the same user's retry; the seat list answers 200 without saying who booked",
    retry: 'none',
    async run(row) {
      const handler = bookingHandlerOn(setup);
      const eventId = await newEvent();
      const booked = await expectBookedBy(
        await handler(bookEvent(eventId, 's1', 'alice'), lambdaContext()),
        eventId,
        'alice',
      );
      const seats = await setup.data.seats(eventId);
      const retry = expectAnswer(await handler(bookEvent(eventId, 's1', 'alice'), lambdaContext()), row);
      expect(retry).toEqual(booked);
      expect(await setup.data.seats(eventId)).toEqual(seats);
      const list = expectAnswer(await handler(seatList(eventId), lambdaContext()), row);
      expect(list).toEqual({ eventId, seats: [{ seatId: 's1', status: 'booked' }] });
    },
  },

  '409 seat_taken': {
    name: '409 seat_taken for anyone else once the seat is booked; sent again it is the same, and the booking stays',
    retry: 'no',
    async run(row) {
      const handler = bookingHandlerOn(setup);
      const eventId = await newEvent();
      await expectBookedBy(
        await handler(bookEvent(eventId, 's1', 'alice'), lambdaContext()),
        eventId,
        'alice',
      );
      const bob = bookEvent(eventId, 's1', 'bob');
      await answersTheSameAndChangesNothing(row, seatState(eventId), () => handler(bob, lambdaContext()));
    },
  },

  '409 booking_in_progress': {
    name: '409 booking_in_progress with retryAfterMs while another request holds the seat lock; the same request later books the seat',
    retry: 'same input',
    async run(row) {
      const impatient = bookingHandlerOn(setup, undefined, { lock: { waitMs: 100 } });
      const eventId = await newEvent();
      const release = await holdLock(seatLockKey(eventId, 's1'));
      try {
        expectAnswer(await impatient(bookEvent(eventId, 's1', 'alice'), lambdaContext()), row);
        expect(await setup.data.seats(eventId)).toMatchObject([{ status: 'available' }]);
      } finally {
        await release();
      }
      const retry = await impatient(bookEvent(eventId, 's1', 'alice'), lambdaContext());
      await expectBookedBy(retry, eventId, 'alice');
    },
  },

  '503 deadline_too_close': {
    name: '503 deadline_too_close with retryAfterMs when the invocation has no time left for the lock: nothing done; the retry books the seat',
    retry: 'same input',
    async run(row) {
      const handler = bookingHandlerOn(setup);
      const eventId = await newEvent();
      const before = await setup.data.seats(eventId);
      expectAnswer(await handler(bookEvent(eventId, 's1', 'alice'), spentContext()), row);
      expect(await setup.data.seats(eventId)).toEqual(before);
      await expectBookedBy(
        await handler(bookEvent(eventId, 's1', 'alice'), lambdaContext()),
        eventId,
        'alice',
      );
    },
  },

  '503 lock_store_unavailable': {
    name: '503 lock_store_unavailable when the lock store fails: nothing done; once it is back the retry books the seat',
    retry: 'later',
    async run(row) {
      const eventId = await newEvent();
      const before = await setup.data.seats(eventId);
      const down = bookingHandlerOn(setup, undefined, lockStoreDown);
      expectAnswer(await down(bookEvent(eventId, 's1', 'alice'), lambdaContext()), row);
      expect(await setup.data.seats(eventId)).toEqual(before);
      const retry = await bookingHandlerOn(setup)(bookEvent(eventId, 's1', 'alice'), lambdaContext());
      await expectBookedBy(retry, eventId, 'alice');
    },
  },

  '400 bad_request': {
    name: '400 bad_request naming the missing field; sent again it is refused the same, and the seat stays free',
    retry: 'no',
    async run(row) {
      const handler = bookingHandlerOn(setup);
      const eventId = await newEvent();
      const noUser = httpEvent('POST', '/bookings', 'POST /bookings', { eventId, seatId: 's1' });
      const body = await answersTheSameAndChangesNothing(row, seatState(eventId), () =>
        handler(noUser, lambdaContext()),
      );
      expect(body.field).toBe('userId');
    },
  },

  '405 method_not_allowed': {
    name: '405 method_not_allowed for a method the route does not take; sent again it is the same, and the seat stays free',
    retry: 'no',
    async run(row) {
      const handler = bookingHandlerOn(setup);
      const eventId = await newEvent();
      const remove = httpEvent('DELETE', '/bookings', 'DELETE /bookings', {
        eventId,
        seatId: 's1',
        userId: 'alice',
      });
      await answersTheSameAndChangesNothing(row, seatState(eventId), () => handler(remove, lambdaContext()));
    },
  },

  '500 internal_error': {
    name: "500 internal_error when the seat write's answer is lost after it was applied; the same input then gets that booking back",
    retry: 'same input',
    async run(row) {
      const eventId = await newEvent();
      const crashing = bookingHandlerOn(setup, (d) => ({
        ...d,
        db: faultyDocumentClient(setup.endpoints, setup.tables.seats, { fault: 'crash' }),
      }));
      expectAnswer(await crashing(bookEvent(eventId, 's1', 'alice'), lambdaContext()), row);
      const retry = await bookingHandlerOn(setup)(bookEvent(eventId, 's1', 'alice'), lambdaContext());
      const body = JSON.parse(retry.body) as Body;
      expect({ status: retry.statusCode, body }).toMatchObject({
        status: 200,
        body: { eventId, seatId: 's1', userId: 'alice', status: 'booked' },
      });
      expect(await setup.data.seats(eventId)).toMatchObject([
        { status: 'booked', userId: 'alice', bookingId: body.bookingId },
      ]);
    },
  },

  '404 seat_not_found': {
    name: '404 seat_not_found for an unknown seat; sent again it is the same, and no seat appears',
    retry: 'no',
    async run(row) {
      const handler = bookingHandlerOn(setup);
      const eventId = await newEvent();
      const unknown = bookEvent(eventId, 's9', 'alice');
      await answersTheSameAndChangesNothing(row, seatState(eventId), () => handler(unknown, lambdaContext()));
    },
  },

  '404 event_not_found': {
    name: '404 event_not_found for the seat list of an event with no seats; asked again it is the same',
    retry: 'no',
    async run(row) {
      const handler = bookingHandlerOn(setup);
      const eventId = uid('event-unknown');
      await answersTheSameAndChangesNothing(row, seatState(eventId), () =>
        handler(seatList(eventId), lambdaContext()),
      );
    },
  },
};

const routes = [
  ['POST /payments', paymentRows, paymentCases],
  ['POST /bookings and GET /events/{eventId}/seats', bookingRows, bookingCases],
] as const;

describe('every documented answer has its case below, and every case a documented answer', () => {
  it.each(routes)('%s', (_, rows, cases) => {
    const labels = rows.map((row) => row.label);
    expect(new Set(labels).size).toBe(labels.length);
    expect([...labels].sort()).toEqual(Object.keys(cases).sort());
  });
});

for (const [route, rows, cases] of routes) {
  describe(`${route} answers as documented`, () => {
    for (const row of rows) {
      const answerCase = cases[row.label];
      it(answerCase?.name ??
        `${row.label} (${row.when}): documented, but no case here produces it`, async () => {
        expect(answerCase, `no case for the documented answer ${row.label}`).toBeDefined();
        if (row.retry !== undefined) expect(retryAdvice(row.retry)).toBe(answerCase!.retry);
        await answerCase!.run(row);
      }, 20_000);
    }
  });
}
