import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bookingStorm,
  bundleFunction,
  type Invoke,
  type LocalData,
  paymentStorm,
} from '../../functions/local/index.js';
import { envFor, prepare, stores, uid } from '../support/harness.js';

let data: LocalData;
let tables: Awaited<ReturnType<typeof prepare>>['tables'];
let bundles: { payment: string; booking: string };
let bundleDir: string | undefined;
beforeAll(async () => {
  ({ data, tables } = await prepare());
  bundleDir = await mkdtemp(join(tmpdir(), 'leasehold-e2e-bundles-'));
  bundles = {
    payment: await bundleFunction('payment', bundleDir),
    booking: await bundleFunction('booking', bundleDir),
  };
});
afterAll(async () => {
  data?.close();
  if (bundleDir) await rm(bundleDir, { recursive: true, force: true });
});

/**
 * Loads a bundled handler with its environment, as Lambda would: configuration comes only from
 * process.env, read at the first invocation. A query string gives each store its own module instance.
 */
async function loadBundled(file: string, env: Record<string, string>, instance: string): Promise<Invoke> {
  Object.assign(process.env, env);
  const mod = (await import(`${file}?instance=${instance}`)) as { handler: Invoke };
  return mod.handler;
}

describe.each(stores)('bundled handlers with the %s lock store', (store) => {
  it('charge exactly once for 100 concurrent invocations with duplicates and mixed keys', async () => {
    const handler = await loadBundled(bundles.payment, envFor(tables, store), `payment-${store}`);
    const result = await paymentStorm(handler, data, {
      orderId: uid('bundled-order'),
      deliveries: 100,
      keys: 10,
    });
    expect(result.charges).toBe(1);
    expect(result.orderStatus).toBe('paid');
    expect(result.consistentReplies).toBe(true);
    expect(result.retryMatches).toBe(true);
  });

  it('book 20 seats from 200 attempts with 0 double-booked seats', async () => {
    const handler = await loadBundled(bundles.booking, envFor(tables, store), `booking-${store}`);
    const result = await bookingStorm(handler, data, {
      eventId: uid('bundled-event'),
      seats: 20,
      attempts: 200,
    });
    expect(result.booked).toBe(20);
    expect(result.doubleBooked).toBe(0);
  });
});
