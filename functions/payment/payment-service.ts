import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Lease, Locker } from '@leasehold/core';
import { sendFenced } from '@leasehold/dynamodb';
import { errorResponse, type HttpResult, json } from '../shared/http.js';
import type { InvocationContext } from '../shared/invocation.js';
import { isOvertaken, withLockOptions } from '../shared/lock-errors.js';
import type { LockSettings } from '../shared/lock-store.js';
import type { Logger } from '../shared/logger.js';
import {
  type Charge,
  ChargeDeclinedError,
  IdempotencyKeyReusedError,
  type PaymentProvider,
} from './provider.js';
import type { PaymentRequest } from './validate.js';

/** An order as stored in the orders table. `attemptKey` is the idempotency key of the charge in flight. */
interface Order {
  orderId: string;
  amount: number;
  currency: string;
  status: 'pending' | 'charging' | 'paid';
  attemptKey?: string;
  paidKey?: string;
  response?: string;
}

export interface PaymentDeps {
  readonly locker: Locker;
  readonly db: DynamoDBDocumentClient;
  readonly ordersTable: string;
  readonly provider: PaymentProvider;
  readonly lock: LockSettings;
}

/**
 * Pays an order exactly once, whatever the concurrency, retries and duplicate deliveries:
 * 1. under `payment:{orderId}`, a fenced write records the charge attempt (`charging`, attemptKey) —
 *    an interrupted attempt is resumed with ITS key, so the idempotent provider never charges twice;
 * 2. the provider charges with that key;
 * 3. a fenced write marks the order paid and stores the response for replays.
 * A holder that paused past its lease is stopped by the fence at step 1 or 3 (StaleTokenError).
 */
export async function pay(
  deps: PaymentDeps,
  req: PaymentRequest,
  log: Logger,
  context?: InvocationContext,
): Promise<HttpResult> {
  const fast = await readOrder(deps, req.orderId);
  const settled = answerFromOrder(fast, req);
  if (settled) return settled;
  try {
    return await deps.locker.withLock(
      `payment:${req.orderId}`,
      (lease) => payUnderLock(deps, req, lease, log),
      withLockOptions(deps.lock, context),
    );
  } catch (err) {
    const overtaken = isOvertaken(err);
    if (err instanceof IdempotencyKeyReusedError) {
      return errorResponse(
        422,
        'idempotency_key_reused',
        'this idempotencyKey was used for a different payment',
      );
    }
    if (err instanceof ChargeDeclinedError) {
      return errorResponse(402, 'payment_declined', 'the charge was declined; nothing was charged');
    }
    if (overtaken) {
      // We were overtaken (a pause past the lease): whoever holds the newer token decided. Report it.
      log.warn('payment lease lost; answering from the order state', { error: err });
      const now = await readOrder(deps, req.orderId);
      return answerFromOrder(now, req) ?? inProgress();
    }
    throw err;
  }
}

async function payUnderLock(
  deps: PaymentDeps,
  req: PaymentRequest,
  lease: Lease,
  log: Logger,
): Promise<HttpResult> {
  const order = await readOrder(deps, req.orderId);
  const settled = answerFromOrder(order, req);
  if (settled || !order) return settled ?? notFound();
  const attemptKey = order.status === 'charging' && order.attemptKey ? order.attemptKey : req.idempotencyKey;
  // Claim the order with a fenced write before anything else: from here on, any write of an earlier
  // holder (paused past its lease) is refused, whatever order the two finish in. A resumed attempt keeps
  // its key, so the idempotent provider cannot charge twice. The condition also accepts the claim
  // already made with this key: the SDK's resend of a claim applied but unanswered, which would
  // otherwise read as "another request is paying".
  const states = { ':pending': 'pending', ':charging': 'charging', ':key': attemptKey };
  await updateOrder(
    deps,
    lease,
    req.orderId,
    'SET #status = :charging, attemptKey = :key',
    '#status = :pending OR (#status = :charging AND attemptKey = :key)',
    states,
  );
  lease.signal.throwIfAborted();
  let charge: Charge;
  try {
    charge = await deps.provider.charge(
      { idempotencyKey: attemptKey, orderId: req.orderId, amount: order.amount, currency: order.currency },
      lease.signal,
    );
  } catch (err) {
    const declined = err instanceof ChargeDeclinedError;
    if (!declined && !(err instanceof IdempotencyKeyReusedError)) throw err;
    // The provider refused the key outright (it belongs to another payment, or it declined the charge):
    // nothing was charged with it for this order, and it would be refused again. Undo the claim, or every
    // later request would resume this key and be refused forever. The condition also accepts the undo
    // already made (our claim set the fence to our token, so only we can have reset it since): the SDK's
    // resend of an undo applied but unanswered, which would otherwise read as "payment in progress".
    await updateOrder(
      deps,
      lease,
      req.orderId,
      'SET #status = :pending REMOVE attemptKey',
      '(#status = :charging AND attemptKey = :key) OR (#status = :pending AND attribute_not_exists(attemptKey))',
      states,
    );
    log.warn(
      declined
        ? 'charge declined; claim undone'
        : 'charge refused: idempotency key of another payment; claim undone',
      { resumed: attemptKey !== req.idempotencyKey },
    );
    // A resumed attempt's key was refused, not this request's: pay with this request's own key (a new
    // attempt: after a decline, the customer may have fixed the cause).
    if (attemptKey !== req.idempotencyKey) return payUnderLock(deps, req, lease, log);
    throw err;
  }
  const body = {
    orderId: req.orderId,
    status: 'paid',
    chargeId: charge.chargeId,
    amount: order.amount,
    currency: order.currency,
    idempotencyKey: attemptKey,
  };
  await updateOrder(
    deps,
    lease,
    req.orderId,
    'SET #status = :paid, paidKey = :key, chargeId = :charge, #response = :response',
    '#status = :charging AND attemptKey = :key',
    {
      ':paid': 'paid',
      ':charging': 'charging',
      ':key': attemptKey,
      ':charge': charge.chargeId,
      ':response': JSON.stringify(body),
    },
    { '#response': 'response' },
  );
  log.info('order paid', {
    fence: lease.token,
    chargeId: charge.chargeId,
    resumed: attemptKey !== req.idempotencyKey,
  });
  return attemptKey === req.idempotencyKey ? json(200, body) : alreadyPaid();
}

/**
 * A fenced, conditional update of one order (`#status` names its status): refused with StaleTokenError
 * for a holder whose lease was overtaken.
 */
async function updateOrder(
  deps: PaymentDeps,
  lease: Lease,
  orderId: string,
  update: string,
  condition: string,
  values: Record<string, string>,
  names: Record<string, string> = {},
): Promise<void> {
  await sendFenced(
    deps.db,
    lease,
    new UpdateCommand({
      TableName: deps.ordersTable,
      Key: { orderId },
      UpdateExpression: update,
      ConditionExpression: condition,
      ExpressionAttributeNames: { '#status': 'status', ...names },
      ExpressionAttributeValues: values,
    }),
  );
}

async function readOrder(deps: PaymentDeps, orderId: string): Promise<Order | undefined> {
  const out = await deps.db.send(
    new GetCommand({ TableName: deps.ordersTable, Key: { orderId }, ConsistentRead: true }),
  );
  return out.Item as Order | undefined;
}

/** The answer the order's state already decides, or undefined when it still needs paying. */
function answerFromOrder(order: Order | undefined, req: PaymentRequest): HttpResult | undefined {
  if (!order) return notFound();
  if (order.amount !== req.amount || order.currency !== req.currency) {
    return errorResponse(422, 'amount_mismatch', 'amount and currency must match the order');
  }
  if (order.status !== 'paid') return undefined;
  if (order.paidKey === req.idempotencyKey && order.response) return json(200, JSON.parse(order.response));
  return alreadyPaid();
}

const notFound = () => errorResponse(404, 'order_not_found', 'no such order');
const alreadyPaid = () => errorResponse(409, 'order_already_paid', 'the order was paid by another request');
const inProgress = () =>
  errorResponse(
    409,
    'payment_in_progress',
    'another request for this payment is in progress; retry shortly',
    {
      retryAfterMs: 1000,
    },
  );
