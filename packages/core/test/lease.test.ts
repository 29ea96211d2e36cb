import { describe, expect, it } from 'vitest';
import { createLocker, type LockEvent, LockLostError, StoreError } from '../src/index.js';
import { memoryStore } from './support/memory-store.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Lease', () => {
  it('aborts its signal when it runs out un-extended', async () => {
    const locker = createLocker({ store: memoryStore() });
    const lease = await locker.acquire('k', { ttlMs: 120 });
    expect(lease.remainingMs).toBeLessThanOrEqual(120 - 3);
    await sleep(150);
    expect(lease.held).toBe(false);
    expect(lease.remainingMs).toBe(0);
    expect(lease.signal.aborted).toBe(true);
    expect(lease.signal.reason).toBeInstanceOf(LockLostError);
    expect(lease.signal.reason).toMatchObject({ reason: 'expired', key: 'k', token: lease.token });
  });

  it('stops claiming validity before the store expiry (drift allowance)', async () => {
    const store = memoryStore();
    const lease = await createLocker({ store }).acquire('k', { ttlMs: 1000 });
    // 1% of the TTL + 2 ms is taken off the holder's view.
    expect(lease.remainingMs).toBeLessThanOrEqual(1000 - 12);
    expect(store.rows.get('k')!.expiresAt - Date.now()).toBeGreaterThan(lease.remainingMs);
  });

  it('extend pushes the validity with one store call', async () => {
    const store = memoryStore();
    const lease = await createLocker({ store }).acquire('k', { ttlMs: 150 });
    await sleep(100);
    await lease.extend(400);
    expect(store.calls.extend).toBe(1);
    await sleep(100);
    expect(lease.held).toBe(true);
    expect(lease.remainingMs).toBeGreaterThan(150);
    expect(lease.signal.aborted).toBe(false);
  });

  it('extend of a taken lease throws LockLostError and aborts the signal', async () => {
    const store = memoryStore();
    const lease = await createLocker({ store }).acquire('k');
    store.steal('k');
    const error = await lease.extend().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockLostError);
    expect(error).toMatchObject({ code: 'LOCK_LOST', reason: 'taken' });
    expect(lease.signal.aborted).toBe(true);
    await expect(lease.extend()).rejects.toBeInstanceOf(LockLostError);
    expect(store.calls.extend).toBe(1);
  });

  it('extend after local expiry throws LockLostError without a store call', async () => {
    const store = memoryStore();
    const lease = await createLocker({ store }).acquire('k', { ttlMs: 100 });
    await sleep(120);
    await expect(lease.extend()).rejects.toMatchObject({ reason: 'expired' });
    expect(store.calls.extend).toBe(0);
  });

  it('extend that the store cannot answer throws StoreError and keeps the lease', async () => {
    const store = memoryStore();
    const lease = await createLocker({ store }).acquire('k');
    store.failNext();
    await expect(lease.extend()).rejects.toBeInstanceOf(StoreError);
    expect(lease.held).toBe(true);
    await lease.extend();
  });

  it('extend validates its ttl before any store call', async () => {
    const store = memoryStore();
    const lease = await createLocker({ store }).acquire('k');
    await expect(lease.extend(0)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(lease.extend(1.5)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(store.calls.extend).toBe(0);
  });

  it('release returns true once, then false, with a single store call', async () => {
    const store = memoryStore();
    const lease = await createLocker({ store }).acquire('k');
    expect(await lease.release()).toBe(true);
    expect(await lease.release()).toBe(true); // the same settled outcome, not a second call
    expect(store.calls.release).toBe(1);
    expect(lease.held).toBe(false);
    expect(lease.signal.reason).toMatchObject({ reason: 'released' });
  });

  it('release returns false when the lease had been taken over', async () => {
    const store = memoryStore();
    const lease = await createLocker({ store }).acquire('k', { ttlMs: 100 });
    await sleep(120);
    store.steal('k');
    expect(await lease.release()).toBe(false);
    expect(store.rows.get('k')!.owner).toBe('thief');
  });

  it('release that the store cannot answer rejects with StoreError and can be retried', async () => {
    const store = memoryStore();
    const lease = await createLocker({ store }).acquire('k');
    store.failNext();
    await expect(lease.release()).rejects.toBeInstanceOf(StoreError);
    expect(await lease.release()).toBe(true);
  });

  it('await using releases at the end of the block', async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    {
      await using lease = await locker.acquire('k');
      expect(lease.held).toBe(true);
    }
    expect(store.calls.release).toBe(1);
    expect((await locker.inspect('k')).held).toBe(false);
  });

  it('dispose reports a failed release as an event instead of throwing', async () => {
    const events: LockEvent[] = [];
    const store = memoryStore();
    const lease = await createLocker({ store, onEvent: (e) => events.push(e) }).acquire('k');
    store.failNext();
    await lease[Symbol.asyncDispose]();
    expect(events.map((e) => e.type)).toContain('release-failed');
  });
});
