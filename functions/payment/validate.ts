import { BadRequest, requireId } from '../shared/http.js';

/** A validated `POST /payments` body. Amounts are integers in the currency's minor unit (cents). */
export interface PaymentRequest {
  readonly orderId: string;
  readonly amount: number;
  readonly currency: string;
  readonly idempotencyKey: string;
}

const keyPattern = /^[A-Za-z0-9_.:-]{8,128}$/;

export function parsePaymentRequest(body: Record<string, unknown>): PaymentRequest {
  const orderId = requireId(body, 'orderId');
  const { amount, currency, idempotencyKey } = body;
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount <= 0 || amount > 100_000_000) {
    throw new BadRequest('amount', 'amount must be a whole number of minor units between 1 and 100000000');
  }
  if (typeof currency !== 'string' || !/^[A-Z]{3}$/.test(currency)) {
    throw new BadRequest('currency', 'currency must be an ISO 4217 code such as "EUR"');
  }
  if (typeof idempotencyKey !== 'string' || !keyPattern.test(idempotencyKey)) {
    throw new BadRequest(
      'idempotencyKey',
      "idempotencyKey must be 8-128 characters of letters, digits, '_', '.', ':' or '-'",
    );
  }
  return { orderId, amount, currency, idempotencyKey };
}
