import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { InvocationContext } from '../shared/invocation.js';

let seq = 0;

/** An HTTP API (payload v2) event, as API Gateway hands it to the function. */
export function httpEvent(
  method: string,
  path: string,
  routeKey: string,
  body?: unknown,
  pathParameters?: Record<string, string>,
): APIGatewayProxyEventV2 {
  const requestId = `req-${Date.now().toString(36)}-${seq++}`;
  return {
    version: '2.0',
    routeKey,
    rawPath: path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    isBase64Encoded: false,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    ...(pathParameters ? { pathParameters } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'leasehold-local' },
      requestId,
      routeKey,
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
  };
}

/** A Lambda context with a real deadline: `timeoutMs` from now, as the function's timeout gives. */
export function lambdaContext(timeoutMs = 10_000): InvocationContext & { awsRequestId: string } {
  const deadline = Date.now() + timeoutMs;
  return { awsRequestId: `ctx-${seq++}`, getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) };
}
