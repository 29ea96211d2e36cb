import { formatCheckResult, randomSeed } from '@leasehold/testkit/faults';
import { describe, expect, it } from 'vitest';
import { formatSoakTable, runSoak, type SoakStore } from './soak.js';

// The CI-sized fault soak: for each store, 8 worker processes contend for 6 keys through a fault
// proxy (delays, lost answers, resets, stalls) while holders are frozen past their TTL (also with an
// extension in flight) and killed, grants are orphaned (every answer lost), the store stalls and loses
// its lock state, and the workers' clocks are up to ±50 ms off. Every check of the history checker must pass. `npm run soak` runs the long
// version. A new seed every run (printed; LEASEHOLD_SOAK_SEED replays one).
const seed = Number(process.env.LEASEHOLD_SOAK_SEED || randomSeed());
const ATTEMPTS = 2_000;

describe.each<SoakStore>(['dynamodb', 'upstash'])('%s under faults', (store) => {
  it(`keeps every safety check over ${ATTEMPTS}+ acquisition attempts (seed ${seed})`, async () => {
    const result = await runSoak({ store, attempts: ATTEMPTS, seed });
    console.log(`${formatSoakTable([result])}\n${formatCheckResult(result.check)}\nseed ${seed}`);

    expect(result.crashes).toEqual([]);
    expect(result.check.violations).toEqual([]);
    // The run did what it claims, so the checks had something to judge.
    expect(result.attempts).toBeGreaterThanOrEqual(ATTEMPTS);
    for (const fault of ['pause', 'freeze-extend', 'kill', 'orphan', 'stall', 'loss'] as const) {
      expect(result.faults[fault]).toBeGreaterThanOrEqual(3);
    }
    expect(Math.min(...result.faults.clockOffsetsMs)).toBeLessThan(0);
    expect(Math.max(...result.faults.clockOffsetsMs)).toBeGreaterThan(0);
    const stats = result.check.stats;
    // Every check ran: none was switched off (exclusive-validity is, when the clock margin is broken
    // on purpose), and only Upstash runs have no resource to read back.
    expect(result.check.skipped).toEqual(store === 'dynamodb' ? [] : ['durable-writes']);
    // The exclusivity checks judged real leases: a history without them would pass vacuously.
    expect(stats.leases).toBeGreaterThan(ATTEMPTS / 10);
    expect(stats.validityEventsChecked).toBeGreaterThan(0);
    expect(stats.heldObservations).toBeGreaterThan(0);
    expect(stats.localPasses).toBeGreaterThan(0);
    expect(stats.refusals).toBeGreaterThan(0);
    expect(stats.refusalsChecked).toBeGreaterThan(0);
    expect(stats.writesAccepted).toBeGreaterThan(0);
    // DynamoDB: every resource item was read back, and held every acknowledged fenced write.
    if (store === 'dynamodb') {
      expect(stats.resourcesChecked).toBe(6);
      // Each acknowledged write was looked for by its id, not only counted: all of them.
      const acknowledged = result.history.writes.filter(
        (w) => w.resource.startsWith('ddb:') && w.outcome === 'accepted',
      );
      expect(acknowledged.length).toBeGreaterThan(0);
      expect(stats.writesTraced).toBe(acknowledged.length);
    }
    expect(stats.pausesPastTtl).toBeGreaterThanOrEqual(3);
    expect(stats.staleWritesAfterPause).toBeGreaterThan(0);
    expect(stats.killsChecked).toBeGreaterThanOrEqual(3);
    expect(stats.grantsAfterStateLoss).toBeGreaterThan(0);
    expect(stats.lostAnswersOrphaned).toBeGreaterThanOrEqual(3);
    expect(result.proxy.drop + result.proxy.reset + result.proxy.stall + result.proxy.delay).toBeGreaterThan(
      0,
    );
  });
});
