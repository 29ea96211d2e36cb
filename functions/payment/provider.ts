import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';

/** A charge request. The provider must be idempotent by `idempotencyKey`, as real PSPs are. */
export interface ChargeRequest {
  readonly idempotencyKey: string;
  readonly orderId: string;
  readonly amount: number;
  readonly currency: string;
}

export interface Charge {
  readonly chargeId: string;
}

/**
 * The provider saw this idempotency key before, for a different order or amount: it is definitely bound
 * to other parameters, and the provider answers it the same way again. The claim is undone on it (the
 * order is made payable with another key), so throw it from your provider only for that — never for
 * "a request with this key is in progress" (many providers' 409 Conflict): that charge may still go
 * through, so it is an unknown outcome (throw anything else), or the order could be charged again with
 * another key.
 */
export class IdempotencyKeyReusedError extends Error {
  constructor() {
    super('idempotency key reused for a different charge');
    this.name = 'IdempotencyKeyReusedError';
  }
}

/**
 * The provider refused the charge outright (a card declined, insufficient funds): nothing was charged
 * with this key, and the provider answers the same key the same way again (idempotent PSPs replay a
 * refusal too). Throw it from your provider only for such a definite refusal — for an outcome you do not
 * know (a timeout, a 5xx), throw anything else: the attempt then stays open and is resumed with its key.
 */
export class ChargeDeclinedError extends Error {
  constructor() {
    super('the charge was declined');
    this.name = 'ChargeDeclinedError';
  }
}

/**
 * The payment service provider. Swap the local one for Stripe/Adyen; keep the idempotency key. Bound
 * the call (a request timeout well within the function's timeout) and pass `signal` on: a call that
 * never answers would hold the invocation until Lambda stops it, with no answer for the client; one
 * that times out is answered `503 payment_outcome_unknown`.
 */
export interface PaymentProvider {
  charge(request: ChargeRequest, signal?: AbortSignal): Promise<Charge>;
}

/**
 * The local provider: records each charge as an item keyed by idempotency key in a DynamoDB table,
 * so a duplicate charge (two items for one order) is visible to tests and the demo.
 */
export class DynamoDbPaymentProvider implements PaymentProvider {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async charge(request: ChargeRequest): Promise<Charge> {
    const chargeId = `ch_${crypto.randomUUID().replaceAll('-', '')}`;
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...request, chargeId, createdAt: new Date().toISOString() },
          ConditionExpression: 'attribute_not_exists(idempotencyKey)',
        }),
      );
      return { chargeId };
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      // Same key seen before: return the original charge, as an idempotent PSP does.
      const existing = await this.db.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { idempotencyKey: request.idempotencyKey },
          ConsistentRead: true,
        }),
      );
      const item = existing.Item as (ChargeRequest & Charge) | undefined;
      if (!item) throw err;
      if (
        item.orderId !== request.orderId ||
        item.amount !== request.amount ||
        item.currency !== request.currency
      ) {
        throw new IdempotencyKeyReusedError();
      }
      return { chargeId: item.chargeId };
    }
  }
}
