import type { LockStore, StoreAcquireRequest, StoreExtendRequest, StoreLeaseRequest } from '@leasehold/core';
import { type StoreOpRecord, sharedNow } from '@leasehold/testkit/faults';
import { validityMs } from './protocol.js';

/**
 * Wraps a store so that every call is recorded with its send and answer times on the shared
 * timeline, its owner and token: the raw material of the history checks.
 */
export function recordingStore(
  store: LockStore,
  worker: string,
  record: (op: StoreOpRecord) => void,
  lockerSkewMs = 0,
  /** Told of every release as it is SENT: a holder killed before the answer still stopped claiming. */
  releaseSent?: (op: StoreOpRecord) => void,
): LockStore {
  const errorText = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));
  /** Each owner's last acquire request: a hand-over in waitForRelease is the grant of that request. */
  const lastAttempt = new Map<string, { key: string; sentAt: number; validMs: number }>();
  const wrapped: LockStore = {
    name: store.name,
    async acquire(request: StoreAcquireRequest) {
      const sentAt = sharedNow();
      const base = {
        worker,
        op: 'acquire' as const,
        key: request.key,
        owner: request.owner,
        validMs: validityMs(request.ttlMs, lockerSkewMs),
        sentAt,
      };
      lastAttempt.set(request.owner, { key: request.key, sentAt, validMs: base.validMs });
      try {
        const result = await store.acquire(request);
        const receivedAt = sharedNow();
        if (result.acquired) record({ ...base, receivedAt, outcome: 'granted', token: result.token });
        else {
          record({
            ...base,
            receivedAt,
            outcome: 'refused',
            ...(result.holderToken === undefined ? {} : { holderToken: result.holderToken }),
          });
        }
        return result;
      } catch (err) {
        record({ ...base, receivedAt: sharedNow(), outcome: 'error', error: errorText(err) });
        throw err;
      }
    },
    async extend(request: StoreExtendRequest) {
      const sentAt = sharedNow();
      const base = {
        worker,
        op: 'extend' as const,
        key: request.key,
        owner: request.owner,
        token: request.token,
        validMs: validityMs(request.ttlMs, lockerSkewMs),
        sentAt,
      };
      try {
        const ok = await store.extend(request);
        record({ ...base, receivedAt: sharedNow(), outcome: ok ? 'ok' : 'not-held' });
        return ok;
      } catch (err) {
        record({ ...base, receivedAt: sharedNow(), outcome: 'error', error: errorText(err) });
        throw err;
      }
    },
    async release(request: StoreLeaseRequest) {
      const sentAt = sharedNow();
      const base = {
        worker,
        op: 'release' as const,
        key: request.key,
        owner: request.owner,
        token: request.token,
        sentAt,
      };
      releaseSent?.({ ...base, receivedAt: sentAt, outcome: 'unanswered' });
      try {
        const ok = await store.release(request);
        record({ ...base, receivedAt: sharedNow(), outcome: ok ? 'ok' : 'not-held' });
        return ok;
      } catch (err) {
        record({ ...base, receivedAt: sharedNow(), outcome: 'error', error: errorText(err) });
        throw err;
      }
    },
    inspect: (key) => store.inspect(key),
  };
  if (store.waitForRelease) {
    const wait = store.waitForRelease.bind(store);
    wrapped.waitForRelease = async (key, timeoutMs, signal, claim) => {
      const handed = await wait(key, timeoutMs, signal, claim);
      const attempt = claim && lastAttempt.get(claim.owner);
      if (typeof handed === 'number' && claim && attempt?.key === key) {
        // Handed over on release: the grant of the owner's last (queued) acquire request.
        record({
          worker,
          op: 'acquire',
          key,
          owner: claim.owner,
          validMs: attempt.validMs,
          sentAt: attempt.sentAt,
          receivedAt: sharedNow(),
          outcome: 'granted',
          token: handed,
        });
      }
      return handed;
    };
  }
  if (store.withdraw) wrapped.withdraw = store.withdraw.bind(store);
  if (store.close) {
    const close = store.close.bind(store);
    wrapped.close = () => close();
  }
  return wrapped;
}
