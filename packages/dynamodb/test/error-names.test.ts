import type { StoreErrorKind } from '@leasehold/core';
import { describe, expect, it } from 'vitest';
import { toStoreError } from '../src/errors.js';

const context = { operation: 'acquire', tableName: 'locks' };
const named = (name: string) => Object.assign(new Error('x'), { name });
const coded = (code: string) => Object.assign(new Error('x'), { code });

// Every error name and system code the classifier knows, and what it must make of it.
const NAMES: Record<string, StoreErrorKind> = {
  UnrecognizedClientException: 'bad-credentials',
  InvalidSignatureException: 'bad-credentials',
  IncompleteSignature: 'bad-credentials',
  IncompleteSignatureException: 'bad-credentials',
  SignatureDoesNotMatch: 'bad-credentials',
  ExpiredToken: 'bad-credentials',
  ExpiredTokenException: 'bad-credentials',
  InvalidClientTokenId: 'bad-credentials',
  InvalidAccessKeyId: 'bad-credentials',
  MissingAuthenticationToken: 'bad-credentials',
  MissingAuthenticationTokenException: 'bad-credentials',
  RequestExpired: 'bad-credentials',
  CredentialsProviderError: 'bad-credentials',
  TokenProviderError: 'bad-credentials',
  AccessDeniedException: 'bad-credentials',
  AccessDenied: 'bad-credentials',
  NotAuthorized: 'bad-credentials',
  ProvisionedThroughputExceededException: 'throttled',
  ThrottlingException: 'throttled',
  Throttling: 'throttled',
  ThrottledException: 'throttled',
  RequestLimitExceeded: 'throttled',
  RequestThrottled: 'throttled',
  RequestThrottledException: 'throttled',
  TooManyRequestsException: 'throttled',
  LimitExceededException: 'throttled',
  SlowDown: 'throttled',
  ReplicatedWriteConflictException: 'throttled',
  ResourceNotFoundException: 'table-missing',
  TableNotFoundException: 'table-missing',
  TimeoutError: 'timeout',
  RequestTimeout: 'timeout',
  RequestTimeoutException: 'timeout',
  // Near misses stay unknown.
  Throttled: 'unknown',
  ReplicatedWriteConflict: 'unknown',
  AccessDeniedExceptionX: 'unknown',
  XResourceNotFoundException: 'unknown',
};
const CODES: Record<string, StoreErrorKind> = {
  ETIMEDOUT: 'timeout',
  ESOCKETTIMEDOUT: 'timeout',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  ECONNREFUSED: 'unreachable',
  ECONNRESET: 'timeout',
  ECONNABORTED: 'unreachable',
  ENOTFOUND: 'unreachable',
  EAI_AGAIN: 'unreachable',
  EPIPE: 'timeout',
  EHOSTUNREACH: 'unreachable',
  EHOSTDOWN: 'unreachable',
  ENETUNREACH: 'unreachable',
  ENETDOWN: 'unreachable',
  EPROTO: 'unreachable',
  ERR_SOCKET_CONNECTION_TIMEOUT: 'unreachable',
  UND_ERR_SOCKET: 'unreachable',
  ERR_HTTP2_STREAM_ERROR: 'unreachable',
  ERR_HTTP2_SESSION_ERROR: 'unreachable',
  ERR_HTTP2_GOAWAY_SESSION: 'unreachable',
  ECONNREFUSEDX: 'unknown',
};

describe('toStoreError knows every documented error name and code', () => {
  it.each(Object.entries(NAMES))('name %s → %s', (name, kind) => {
    expect(toStoreError(named(name), context).kind).toBe(kind);
  });
  it.each(Object.entries(CODES))('code %s → %s', (code, kind) => {
    expect(toStoreError(coded(code), context).kind).toBe(kind);
  });
  it('finds them in the cause chain too', () => {
    const err = new Error('wrapped', { cause: named('ResourceNotFoundException') });
    expect(toStoreError(err, context).kind).toBe('table-missing');
  });
  it('treats an error the SDK flags as throttling as "throttled"', () => {
    const err = Object.assign(new Error('x'), { $retryable: { throttling: true } });
    expect(toStoreError(err, context).kind).toBe('throttled');
  });
  it('reports any failure as "timeout" once the store\'s requestTimeoutMs ran out, keeping the SDK error as cause', () => {
    const err = named('AbortError');
    const e = toStoreError(err, { ...context, timedOut: true });
    expect(e.kind).toBe('timeout');
    expect(e.cause).toBe(err);
    expect(e.message).toContain('requestTimeoutMs');
  });
});
