import type { ProxiedRequest, RequestInfo } from './fault-proxy.js';

/**
 * Request classifiers for the fault proxy: which Leasehold store operation a request on the wire is,
 * for which key and owner, and what token an answer granted. They read Leasehold's own request shapes
 * (the DynamoDB store's condition expressions, the Upstash store's script arguments).
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function parse(text: string): Json | undefined {
  try {
    return JSON.parse(text) as Json;
  } catch {
    return undefined;
  }
}

function field(value: Json | undefined, ...path: string[]): Json | undefined {
  let v: Json | undefined = value;
  for (const p of path) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = v[p];
  }
  return v;
}

const asString = (v: Json | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * A DynamoDB request: `op` is `acquire` / `extend` / `release` for the Leasehold store's conditional
 * writes, else the DynamoDB operation (`GetItem`, `UpdateItem`, ...). `key` is the `pk` of the item.
 */
export function describeDynamoDbRequest(request: ProxiedRequest): RequestInfo {
  const target = String(request.headers['x-amz-target'] ?? '').replace(/^DynamoDB_\d+\./, '');
  const body = parse(request.body);
  const table = asString(field(body, 'TableName'));
  const key = asString(field(body, 'Key', 'pk', 'S'));
  const owner = asString(field(body, 'ExpressionAttributeValues', ':owner', 'S'));
  const condition = asString(field(body, 'ConditionExpression')) ?? '';
  const update = asString(field(body, 'UpdateExpression')) ?? '';
  let op = target || `${request.method} ${request.url}`;
  let ttlMs: number | undefined;
  if (target === 'UpdateItem' && owner !== undefined) {
    if (condition.includes('attribute_not_exists(#owner)')) {
      op = 'acquire';
      const expiresAt = Number(asString(field(body, 'ExpressionAttributeValues', ':expiresAt', 'N')));
      const floor = Number(asString(field(body, 'ExpressionAttributeValues', ':floor', 'N')));
      if (Number.isFinite(expiresAt) && Number.isFinite(floor)) ttlMs = expiresAt - floor / 1000;
    } else if (update.includes('REMOVE #owner')) op = 'release';
    else if (condition.includes('#owner = :owner')) op = 'extend';
  }
  return {
    op,
    ...(table === undefined ? {} : { table }),
    ...(key === undefined ? {} : { key }),
    ...(owner === undefined ? {} : { owner }),
    ...(ttlMs === undefined ? {} : { ttlMs }),
  };
}

/** The fencing token a DynamoDB acquire answer granted (`Attributes.fence`), if it granted one. */
export function dynamoDbGrantedToken(responseBody: string | undefined, status = 200): number | undefined {
  if (responseBody === undefined || status !== 200) return undefined;
  const n = Number(asString(field(parse(responseBody), 'Attributes', 'fence', 'N')));
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The lock key inside an Upstash store key name (`prefix{key}`), or the name itself. */
function lockKeyOf(name: string): string {
  const open = name.indexOf('{');
  const close = name.lastIndexOf('}');
  return open >= 0 && close > open ? name.slice(open + 1, close) : name;
}

/**
 * An Upstash REST request: `op` is `acquire` / `extend` / `release` / `inspect` for the Leasehold
 * store's scripts (told apart by their key and argument counts), `subscribe` for an event stream,
 * `pipeline` / `multi-exec`, else the Redis command in lower case.
 */
export function describeUpstashRequest(request: ProxiedRequest): RequestInfo {
  const path = request.url.split('?')[0] ?? '/';
  if (path.startsWith('/subscribe') || path.startsWith('/psubscribe')) return { op: 'subscribe' };
  if (path.startsWith('/pipeline')) return { op: 'pipeline' };
  if (path.startsWith('/multi-exec')) return { op: 'multi-exec' };
  const body = parse(request.body);
  if (!Array.isArray(body) || typeof body[0] !== 'string') return { op: `${request.method} ${path}` };
  const command = body[0].toLowerCase();
  if (command !== 'evalsha' && command !== 'eval') return { op: command };
  const numKeys = Number(body[2]);
  const keys = body.slice(3, 3 + numKeys).map(String);
  const args = body.slice(3 + numKeys).map(String);
  const key = keys[0] === undefined ? undefined : lockKeyOf(keys[0]);
  let op = command;
  let owner: string | undefined;
  let ttlMs: number | undefined;
  if (numKeys === 4 && args.length === 5) {
    op = 'acquire';
    owner = args[0];
    ttlMs = Number(args[1]);
  } else if (numKeys === 1 && args.length === 2) {
    op = 'extend';
    owner = args[0];
    ttlMs = Number(args[1]);
  } else if (numKeys === 5 && args.length === 3) {
    op = 'release';
    owner = args[0];
  } else if (numKeys === 2 && args.length === 0) op = 'inspect';
  return {
    op,
    ...(key === undefined ? {} : { key }),
    ...(owner === undefined ? {} : { owner }),
    ...(ttlMs === undefined || !Number.isFinite(ttlMs) ? {} : { ttlMs }),
  };
}

/** The fencing token an Upstash acquire answer granted (`{"result": [1, token]}`), if it granted one. */
export function upstashGrantedToken(responseBody: string | undefined, status = 200): number | undefined {
  if (responseBody === undefined || status !== 200) return undefined;
  const result = field(parse(responseBody), 'result');
  if (!Array.isArray(result) || result.length !== 2 || Number(result[0]) !== 1) return undefined;
  const n = Number(result[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}
