import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Lease, Locker } from '@leasehold/core';
import { sendFenced } from '@leasehold/dynamodb';
import { errorResponse, type HttpResult, json } from '../shared/http.js';
import type { InvocationContext } from '../shared/invocation.js';
import { inProgressResponse, isOvertaken, RETRY_AFTER_MS, withLockOptions } from '../shared/lock-errors.js';
import type { LockSettings } from '../shared/lock-store.js';
import type { Logger } from '../shared/logger.js';
import {
  type Charge,
  ChargeDeclinedError,
  IdempotencyKeyReusedError,
  type PaymentProvider,
} from './provider.js';
import type { PaymentRequest } from './validate.js';

/**
 * An order as stored in the orders table. `attemptKey` is the idempotency key of the charge in flight,
 * `attemptStartedAt` (ISO 8601, like the other times stored) when that attempt was first claimed: a
 * resume keeps it. Orders claimed before the field existed have none.
 */
interface Order {
  orderId: string;
  amount: number;
  currency: string;
  status: 'pending' | 'charging' | 'paid';
  attemptKey?: string;
  attemptStartedAt?: string;
  paidKey?: string;
  response?: string;
}

/** How long the provider keeps idempotency keys by default (Stripe: 24 h). */
export const DEFAULT_PROVIDER_KEY_RETENTION_MS = 24 * 60 * 60 * 1000;

export interface PaymentDeps {
  readonly locker: Locker;
  readonly db: DynamoDBDocumentClient;
  readonly ordersTable: string;
  readonly provider: PaymentProvider;
  readonly lock: LockSettings;
  /**
   * How long the provider keeps an idempotency key (`PROVIDER_KEY_RETENTION_MS`; default
   * {@link DEFAULT_PROVIDER_KEY_RETENTION_MS}). An attempt older than that is not resumed: the provider
   * may have forgotten its key, and would charge it again.
   */
  readonly providerKeyRetentionMs?: number;
}

/**
 * The provider's answer to a charge sent with the attempt's key is unknown (a timeout, a dropped
 * connection, a 5xx), or the charge went through and recording it failed: the customer may have been
 * charged. The attempt stays open; a retry with the same key resumes it with the same provider key.
 */
class ChargeOutcomeUnknownError extends Error {
  constructor(cause: unknown) {
    super('the outcome of the charge is unknown', { cause });
    this.name = 'ChargeOutcomeUnknownError';
  }
}

/**
 * The lock key of one order: `payment:{orderId}`. The `payment:` prefix is what the stack's IAM
 * condition on the lock table allows.
 *
 * @example
 * ```ts
 * orderLockKey('o-42'); // 'payment:o-42'
 * ```
 */
export const orderLockKey = (orderId: string): string => `payment:${orderId}`;

/**
 * Pays an order exactly once, whatever the concurrency, retries and duplicate deliveries:
 * 1. under {@link orderLockKey} (`payment:{orderId}`), a fenced write records the charge attempt (`charging`, attemptKey) —
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
  // Set once a charge request has gone to the provider: from then on no answer may say "not charged".
  const progress = { chargeSent: false };
  try {
    return await deps.locker.withLock(
      orderLockKey(req.orderId),
      (lease) => payUnderLock(deps, req, lease, log, progress, context),
      withLockOptions(deps.lock, context),
    );
  } catch (thrown) {
    // After the charge was sent, what went wrong is wrapped: the answer then says the outcome is unknown.
    const wrapped = thrown instanceof ChargeOutcomeUnknownError;
    const err = wrapped ? thrown.cause : thrown;
    const sent = wrapped || progress.chargeSent;
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
      // Not decided yet, after this request sent its charge: its outcome is unknown to us.
      log.warn('payment lease lost; answering from the order state', { error: err, chargeSent: sent });
      let now: Order | undefined;
      try {
        now = await readOrder(deps, req.orderId);
      } catch (readErr) {
        // The same blip that cost the lease may fail the read: after a charge was sent, the answer is
        // "outcome unknown", never the 500 that says nothing can have been charged.
        if (!sent) throw readErr;
        log.error('charge outcome unknown', { error: readErr });
        return outcomeUnknown();
      }
      return answerFromOrder(now, req) ?? (sent ? outcomeUnknown() : inProgressResponse('payment'));
    }
    if (sent) {
      // Error level: a charge may have gone through unrecorded until the client retries (the error is
      // logged through the logger's redaction: a provider's error may carry its request, credentials
      // included).
      log.error('charge outcome unknown', { error: err });
      return outcomeUnknown();
    }
    throw err;
  }
}

async function payUnderLock(
  deps: PaymentDeps,
  req: PaymentRequest,
  lease: Lease,
  log: Logger,
  progress: { chargeSent: boolean },
  context?: InvocationContext,
): Promise<HttpResult> {
  const order = await readOrder(deps, req.orderId);
  const settled = answerFromOrder(order, req);
  if (settled || !order) return settled ?? notFound();
  const resuming = order.status === 'charging' && Boolean(order.attemptKey);
  if (resuming && attemptTooOld(deps, order, context)) {
    // The provider may have forgotten this attempt's key: resuming it could charge the customer a second
    // time, and a new attempt could too (the old one may have charged). Only the provider's records can
    // tell; nothing is sent, nothing is written. No secret here: the order (which an operator reads)
    // holds the key.
    log.error('charge attempt needs reconciliation', {
      attemptStartedAt: order.attemptStartedAt,
      providerKeyRetentionMs: providerKeyRetentionMs(deps),
    });
    return needsReconciliation();
  }
  const attemptKey = resuming && order.attemptKey ? order.attemptKey : req.idempotencyKey;
  // Claim the order with a fenced write before anything else: from here on, any write of an earlier
  // holder (paused past its lease) is refused, whatever order the two finish in. A resumed attempt keeps
  // its key, so the idempotent provider cannot charge twice, and its start time (or its lack of one). The
  // condition also accepts the claim already made with this key: the SDK's resend of a claim applied but
  // unanswered, which would otherwise read as "another request is paying".
  // The start time is written again on a resume: an earlier holder's undo may have landed since the
  // read (pending, no attempt), and the claim then reopens the attempt as old as it is.
  const states = { ':pending': 'pending', ':charging': 'charging', ':key': attemptKey };
  const startedAt = resuming ? order.attemptStartedAt : new Date().toISOString();
  await updateOrder(
    deps,
    lease,
    req.orderId,
    startedAt === undefined
      ? 'SET #status = :charging, attemptKey = :key'
      : 'SET #status = :charging, attemptKey = :key, attemptStartedAt = :startedAt',
    '#status = :pending OR (#status = :charging AND attemptKey = :key)',
    startedAt === undefined ? states : { ...states, ':startedAt': startedAt },
  );
  lease.signal.throwIfAborted();
  let charge: Charge;
  progress.chargeSent = true;
  try {
    charge = await deps.provider.charge(
      { idempotencyKey: attemptKey, orderId: req.orderId, amount: order.amount, currency: order.currency },
      lease.signal,
    );
  } catch (err) {
    const declined = err instanceof ChargeDeclinedError;
    // Anything but a definite refusal: the charge may have gone through. The attempt stays open.
    if (!declined && !(err instanceof IdempotencyKeyReusedError)) throw new ChargeOutcomeUnknownError(err);
    progress.chargeSent = false; // refused outright: nothing was charged with it
    // The provider refused the key outright (it belongs to another payment, or it declined the charge):
    // nothing was charged with it for this order, and it would be refused again. Undo the claim, or every
    // later request would resume this key and be refused forever. The condition also accepts the undo
    // already made (our claim set the fence to our token, so only we can have reset it since): the SDK's
    // resend of an undo applied but unanswered, which would otherwise read as "payment in progress".
    await updateOrder(
      deps,
      lease,
      req.orderId,
      'SET #status = :pending REMOVE attemptKey, attemptStartedAt',
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
    if (attemptKey !== req.idempotencyKey) return payUnderLock(deps, req, lease, log, progress, context);
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
  try {
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
  } catch (err) {
    // Charged, and not recorded as paid (or not known to be): to the client, the outcome is unknown.
    throw new ChargeOutcomeUnknownError(err);
  }
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

function providerKeyRetentionMs(deps: PaymentDeps): number {
  return deps.providerKeyRetentionMs ?? DEFAULT_PROVIDER_KEY_RETENTION_MS;
}

/**
 * True when the order's open attempt may outlive its key at the provider before this invocation is
 * over (the charge it would send comes later than now: the invocation's remaining time, or a lease TTL
 * without a context, is counted in). An attempt claimed before attempts recorded their start has no
 * `attemptStartedAt`: it is resumed as it always was (its age cannot be known; refusing every such order
 * would leave it unpayable). A start time that does not parse cannot prove the attempt young: too old.
 */
function attemptTooOld(deps: PaymentDeps, order: Order, context?: InvocationContext): boolean {
  if (order.attemptStartedAt === undefined) return false;
  const startedAt = Date.parse(order.attemptStartedAt);
  if (Number.isNaN(startedAt)) return true;
  const sendBy = Date.now() + (context?.getRemainingTimeInMillis() ?? deps.lock.ttlMs);
  return sendBy - startedAt >= providerKeyRetentionMs(deps);
}

const notFound = () => errorResponse(404, 'order_not_found', 'no such order');
const alreadyPaid = () => errorResponse(409, 'order_already_paid', 'the order was paid by another request');
/**
 * 503, not 502 or 504: the provider may have timed out (504), failed (502), or charged and this
 * function failed to record it; what they share is "unavailable for now, retry", which 503 (with
 * `retryAfterMs`, like the other retryable answers) says, and HTTP clients retry it on their own. The
 * `error` code, not the status, tells it apart from the API gateway's own 503s.
 */
const outcomeUnknown = () =>
  errorResponse(
    503,
    'payment_outcome_unknown',
    'the outcome of the charge is unknown (the payment provider did not answer in time, or the answer was lost); ' +
      'retry with the same idempotencyKey to learn it: the retry resumes the same charge and never charges twice',
    { retryAfterMs: RETRY_AFTER_MS },
  );
/** 409: a state of the order that no retry changes; not retryable. */
const needsReconciliation = () =>
  errorResponse(
    409,
    'payment_needs_reconciliation',
    'an earlier charge attempt for this order is older than the payment provider keeps idempotency keys; ' +
      'it must be checked against the provider before the order can be paid; retrying will not help',
  );
