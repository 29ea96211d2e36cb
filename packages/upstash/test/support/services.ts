import { randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import type { LockStore } from '@leasehold/core';
import { type LocalStores, startLocalStores } from '@leasehold/local';
import { Redis } from '@upstash/redis';
import { expect } from 'vitest';
import { SCRIPT } from '../../src/scripts.js';

/** A real redis-server behind the Upstash-compatible REST endpoint of `@leasehold/local`. */
export interface Services {
  readonly url: string;
  readonly token: string;
  /** A plain client for test set-up and assertions (FLUSHALL, SCRIPT FLUSH, GET, PUBSUB ...). */
  readonly admin: Redis;
  readonly local: LocalStores;
  /** Kills redis-server and starts a new one on the same port with no data (nor script cache). */
  restartRedis(): Promise<void>;
  stop(): Promise<void>;
}

export async function startServices(): Promise<Services> {
  const local = await startLocalStores({ services: ['upstash'] });
  const upstash = local.upstash;
  const redis = local.redis;
  if (upstash === undefined || redis === undefined) {
    await local.stop();
    throw new Error('startLocalStores did not start the upstash endpoint');
  }
  const { url, token } = upstash;
  const admin = new Redis({ url, token, automaticDeserialization: false, enableAutoPipelining: false });
  return { url, token, admin, local, restartRedis: () => redis.restart(), stop: () => local.stop() };
}

/** Acquires `key` in `store` as a fresh owner, or throws: the owner and token, for release or assertions. */
export async function hold(
  store: LockStore,
  key: string,
  ttlMs = 10_000,
): Promise<{ owner: string; token: number }> {
  const owner = freshOwner();
  const result = await store.acquire({ key, owner, ttlMs });
  if (!result.acquired) throw new Error(`expected to acquire ${key}`);
  return { owner, token: result.token };
}

/** Subscribers the server has on `channel` (PUBSUB NUMSUB), polled until `expected` or 2 s passed. */
export async function subscribers(services: Services, channel: string, expected = 1): Promise<number> {
  let count = -1;
  for (let i = 0; i < 80; i++) {
    count = Number(((await services.admin.exec(['PUBSUB', 'NUMSUB', channel])) as unknown[])[1]);
    if (count === expected) return count;
    await sleep(25);
  }
  return count;
}

/** A fresh lock key per test, so tests never see each other's state. */
export const freshKey = (label = 'k'): string => `test:${label}:${randomUUID()}`;

/** A random 128-bit owner id, as core makes them. */
export const freshOwner = (): string => randomUUID().replaceAll('-', '');

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One HTTP request seen by {@link countRequests}: its path, the Redis command name and the JSON body. */
export interface SeenRequest {
  readonly path: string;
  readonly command: string;
  readonly body: unknown;
}

/**
 * Record every HTTP request sent to `baseUrl` through the global `fetch` (which @upstash/redis uses),
 * passing them through unchanged.
 */
export function countRequests(baseUrl: string): { readonly seen: SeenRequest[]; restore(): void } {
  const original = globalThis.fetch;
  const seen: SeenRequest[] = [];
  globalThis.fetch = (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
    const href = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (href.startsWith(baseUrl)) {
      const path = href.slice(baseUrl.length) || '/';
      let command = '';
      let body: unknown;
      try {
        body = JSON.parse(typeof init?.body === 'string' ? init.body : 'null');
        const first = Array.isArray(body) ? body[0] : undefined;
        command = String(Array.isArray(first) ? first[0] : (first ?? '')).toLowerCase();
      } catch {
        command = '?';
      }
      seen.push({ path, command, body });
    }
    return original(input, init);
  };
  return {
    seen,
    restore() {
      globalThis.fetch = original;
    },
  };
}

/** Texts that must never appear in an error: the given secrets and the Lua script (whole or in part). */
export function secretTexts(...secrets: string[]): string[] {
  return [...secrets, SCRIPT, '--lh', 'redis.call', 'unpack(', 'KEYS', 'ARGV'];
}

/** Assert that no view of `err` (message, stack, cause, String, JSON, util.inspect) holds a secret. */
export function expectNoSecrets(err: unknown, secrets: readonly string[]): void {
  expect(err).toBeInstanceOf(Error);
  const e = err as Error & { cause?: unknown };
  const cause = e.cause as (Error & Record<string, unknown>) | undefined;
  const views = [
    e.message,
    String(e),
    e.stack ?? '',
    JSON.stringify(e) ?? '',
    JSON.stringify(Object.getOwnPropertyDescriptors(e)),
    inspect(e, { depth: 10, showHidden: true }),
    String(cause),
    cause?.message ?? '',
    cause?.stack ?? '',
    JSON.stringify(cause) ?? '',
  ];
  for (const secret of secrets) {
    for (const view of views) expect(view).not.toContain(secret);
  }
}

/** What `promise` rejects with; fails the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}
