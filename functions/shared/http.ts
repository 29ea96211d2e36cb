import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

export type HttpResult = APIGatewayProxyStructuredResultV2 & { statusCode: number; body: string };

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

/** An error answer with a stable machine-readable `error` code and a human `message`. */
export function errorResponse(
  statusCode: number,
  error: string,
  message: string,
  extra: object = {},
): HttpResult {
  return json(statusCode, { error, message, ...extra });
}

/** Thrown by validators; turned into a 400 by the handler. */
export class BadRequest extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.name = 'BadRequest';
    this.field = field;
  }
}

/** Parses the JSON object body of an HTTP API event (base64 bodies included). */
export function parseJsonBody(
  event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded'>,
): Record<string, unknown> {
  if (event.body === undefined || event.body === null || event.body === '') {
    throw new BadRequest('body', 'a JSON object body is required');
  }
  // The limit is in bytes, measured before decoding anything: a string's length counts UTF-16 units,
  // which let non-ASCII bodies up to three times the limit through.
  const bytes = Buffer.byteLength(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
  if (bytes > 16_384) throw new BadRequest('body', 'the body is larger than 16 KiB');
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new BadRequest('body', 'the body is not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new BadRequest('body', 'the body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

const idPattern = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

/** An identifier: 1-64 characters of letters, digits, `_ . : -`, starting with a letter or digit. */
export function requireId(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || !idPattern.test(value)) {
    throw new BadRequest(field, `${field} must be 1-64 characters of letters, digits, '_', '.', ':' or '-'`);
  }
  return value;
}
