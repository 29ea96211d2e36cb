import { describe, expect, it } from 'vitest';
import {
  type CheckName,
  checkHistory,
  emptyHistory,
  formatCheckResult,
  type History,
} from '../src/history.js';

// Hand-made histories: one good run, and for every check a small change that must make exactly that
// check fail. TTL 500 ms, validity 493 ms (1% + 2 ms drift).
const TTL = 500;
const VALID = 493;

/** A clean run: A holds "k" (token 10) and releases; B takes it (11), extends, writes, releases. */
function good(): History {
  const h = emptyHistory();
  h.ops.push(
    {
      worker: 'A',
      op: 'acquire',
      key: 'k',
      owner: 'a1',
      token: 10,
      validMs: VALID,
      sentAt: 0,
      receivedAt: 5,
      outcome: 'granted',
    },
    {
      worker: 'B',
      op: 'acquire',
      key: 'k',
      owner: 'b1',
      sentAt: 10,
      receivedAt: 14,
      outcome: 'refused',
      holderToken: 10,
    },
    {
      worker: 'A',
      op: 'release',
      key: 'k',
      owner: 'a1',
      token: 10,
      sentAt: 100,
      receivedAt: 104,
      outcome: 'ok',
    },
    {
      worker: 'B',
      op: 'acquire',
      key: 'k',
      owner: 'b1',
      token: 11,
      validMs: VALID,
      sentAt: 110,
      receivedAt: 115,
      outcome: 'granted',
    },
    {
      worker: 'B',
      op: 'extend',
      key: 'k',
      owner: 'b1',
      token: 11,
      validMs: VALID,
      sentAt: 300,
      receivedAt: 305,
      outcome: 'ok',
    },
    {
      worker: 'B',
      op: 'release',
      key: 'k',
      owner: 'b1',
      token: 11,
      sentAt: 700,
      receivedAt: 705,
      outcome: 'ok',
    },
  );
  h.events.push(
    { worker: 'A', key: 'k', token: 10, at: 5, type: 'acquired' },
    { worker: 'A', key: 'k', token: 10, at: 104, type: 'released' },
    { worker: 'B', key: 'k', token: 11, at: 115, type: 'acquired' },
    { worker: 'B', key: 'k', token: 11, at: 305, type: 'extended' },
    { worker: 'B', key: 'k', token: 11, at: 705, type: 'released' },
  );
  h.observations.push(
    { worker: 'A', key: 'k', token: 10, at: 50, held: true, remainingMs: 440 },
    { worker: 'B', key: 'k', token: 11, at: 600, held: true, remainingMs: 190 },
    { worker: 'B', key: 'k', token: 11, at: 900, held: false, remainingMs: 0 },
  );
  h.writes.push(
    { resource: 'r:k', worker: 'A', token: 10, sentAt: 60, receivedAt: 60, outcome: 'accepted', seq: 0 },
    { resource: 'r:k', worker: 'A', token: 10, sentAt: 80, receivedAt: 80, outcome: 'accepted', seq: 1 },
    { resource: 'r:k', worker: 'B', token: 11, sentAt: 200, receivedAt: 200, outcome: 'accepted', seq: 2 },
  );
  return h;
}

function failing(h: History, options: Partial<Parameters<typeof checkHistory>[1]> = {}): CheckName[] {
  const result = checkHistory(h, { ttlMs: TTL, ...options });
  return [...new Set(result.violations.map((v) => v.check))];
}

describe('checkHistory', () => {
  it('passes a clean history', () => {
    const result = checkHistory(good(), { ttlMs: TTL });
    expect(result.violations).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.stats).toMatchObject({ grants: 2, leases: 2, writesAccepted: 3, heldObservations: 2 });
    expect(formatCheckResult(result)).toContain('ok   fenced-writes');
  });

  describe('fenced-writes', () => {
    it('fails when a write below the high-water mark was accepted', () => {
      const h = good();
      h.writes.push({
        resource: 'r:k',
        worker: 'A',
        token: 10,
        sentAt: 250,
        receivedAt: 250,
        outcome: 'accepted',
        seq: 3,
      });
      expect(failing(h)).toEqual(['fenced-writes']);
    });

    it('fails when a resource rejected a write that was not stale', () => {
      const h = good();
      h.writes.push({
        resource: 'r:k',
        worker: 'B',
        token: 11,
        sentAt: 250,
        receivedAt: 250,
        outcome: 'rejected',
        seq: 3,
      });
      expect(failing(h)).toEqual(['fenced-writes']);
    });

    it('judges unlogged resources by real time: accepted after a higher token had written', () => {
      const h = good();
      h.writes.push(
        { resource: 'ddb:k', worker: 'B', token: 11, sentAt: 200, receivedAt: 210, outcome: 'accepted' },
        { resource: 'ddb:k', worker: 'A', token: 10, sentAt: 220, receivedAt: 230, outcome: 'accepted' },
      );
      expect(failing(h)).toEqual(['fenced-writes']);
    });

    it('lets overlapping writes of either order pass (no real-time order between them)', () => {
      const h = good();
      h.writes.push(
        { resource: 'ddb:k', worker: 'B', token: 11, sentAt: 200, receivedAt: 230, outcome: 'accepted' },
        { resource: 'ddb:k', worker: 'A', token: 10, sentAt: 220, receivedAt: 240, outcome: 'accepted' },
        { resource: 'ddb:k', worker: 'A', token: 10, sentAt: 250, receivedAt: 260, outcome: 'rejected' },
      );
      expect(failing(h)).toEqual([]);
    });
  });

  describe('unique-tokens', () => {
    it('fails when one token went to two owners', () => {
      const h = good();
      h.ops.push({
        worker: 'C',
        op: 'acquire',
        key: 'k',
        owner: 'c1',
        token: 11,
        validMs: VALID,
        sentAt: 111,
        receivedAt: 114,
        outcome: 'granted',
      });
      expect(failing(h, { exclusive: false })).toContain('unique-tokens');
    });

    it('accepts the same token granted twice to the same owner (a retried acquire)', () => {
      const h = good();
      h.lostAnswers.push({ key: 'k', owner: 'b1', token: 11, sentAt: 104, answeredAt: 105 });
      expect(failing(h)).toEqual([]);
    });
  });

  describe('token-order', () => {
    it('fails when a later grant has a lower token (e.g. a counter restarted below the old tokens)', () => {
      const h = good();
      h.stateLosses.push({ at: 750, until: 760, what: 'FLUSHALL' });
      h.ops.push({
        worker: 'C',
        op: 'acquire',
        key: 'k',
        owner: 'c1',
        token: 9,
        validMs: VALID,
        sentAt: 800,
        receivedAt: 805,
        outcome: 'granted',
      });
      expect(failing(h)).toEqual(['token-order']);
      expect(checkHistory(h, { ttlMs: TTL }).stats.grantsAfterStateLoss).toBe(1);
    });

    it('does not order grants whose requests overlapped in time', () => {
      const h = good();
      // C's request was in flight across A's and B's grants: the store may have applied it first.
      h.ops.push({
        worker: 'C',
        op: 'acquire',
        key: 'k',
        owner: 'c1',
        token: 9,
        sentAt: 3,
        receivedAt: 120,
        outcome: 'granted',
      });
      expect(failing(h, { exclusive: false })).toEqual([]);
    });
  });

  describe('holder-validity', () => {
    it('fails when a lease is reported held past sent + validity', () => {
      const h = good();
      h.observations.push({ worker: 'A', key: 'k', token: 10, at: 494, held: true, remainingMs: 1 });
      expect(failing(h)).toEqual(['holder-validity']);
    });

    it('fails when remainingMs promises more than the validity earned', () => {
      const h = good();
      h.observations.push({ worker: 'A', key: 'k', token: 10, at: 90, held: true, remainingMs: 420 });
      expect(failing(h)).toEqual(['holder-validity']);
    });

    it('fails when an extension is reported although its answer came after the validity it earns', () => {
      const h = good();
      h.ops.push({
        worker: 'B',
        op: 'extend',
        key: 'k',
        owner: 'b1',
        token: 11,
        validMs: VALID,
        sentAt: 500,
        receivedAt: 1200,
        outcome: 'ok',
      });
      h.events.push({ worker: 'B', key: 'k', token: 11, at: 1201, type: 'extended' });
      expect(failing(h, { exclusive: false })).toEqual(['holder-validity']);
    });

    it('counts a later extension only once it was sent', () => {
      const h = good();
      // At 760 only the extension sent at 300 counts (valid until 793); 850 is past it.
      h.ops.push({
        worker: 'B',
        op: 'extend',
        key: 'k',
        owner: 'b1',
        token: 11,
        validMs: VALID,
        sentAt: 860,
        receivedAt: 865,
        outcome: 'ok',
      });
      h.observations.push({ worker: 'B', key: 'k', token: 11, at: 850, held: true, remainingMs: 0 });
      expect(failing(h, { exclusive: false })).toEqual(['holder-validity']);
    });
  });

  describe('exclusive-validity', () => {
    it('fails when a new holder got the key while the old lease was still valid', () => {
      const h = good();
      // A never released; B was granted at 115 while A's lease (sent 0) was valid until 493.
      h.ops.splice(2, 1);
      expect(failing(h)).toEqual(['exclusive-validity']);
    });

    it('ends a window when a release was sent, even if its answer never came (a killed holder)', () => {
      const h = good();
      h.ops.splice(2, 1);
      h.ops.push({
        worker: 'A',
        op: 'release',
        key: 'k',
        owner: 'a1',
        token: 10,
        sentAt: 100,
        receivedAt: 100,
        outcome: 'unanswered',
      });
      expect(failing(h)).toEqual([]);
    });

    it('excuses an overlap that follows a loss of the store state', () => {
      const h = good();
      h.ops.splice(2, 1);
      h.stateLosses.push({ at: 106, until: 108, what: 'FLUSHALL' });
      const result = checkHistory(h, { ttlMs: TTL });
      expect(result.violations).toEqual([]);
      expect(result.stats.overlapsExcusedByStateLoss).toBe(1);
    });
  });

  describe('paused-writes', () => {
    it('fails when a holder paused past its TTL writes after a newer token and is accepted', () => {
      const h = good();
      h.pauses.push({ worker: 'A', from: 90, to: 900 });
      // A resumes and writes with its old token 10 after B (11) wrote: the resource must refuse it.
      h.writes.push({
        resource: 'ddb:k',
        worker: 'B',
        token: 11,
        sentAt: 200,
        receivedAt: 205,
        outcome: 'accepted',
      });
      h.writes.push({
        resource: 'ddb:k',
        worker: 'A',
        token: 10,
        sentAt: 901,
        receivedAt: 906,
        outcome: 'accepted',
      });
      const names = failing(h);
      expect(names).toContain('paused-writes');
      const stats = checkHistory(h, { ttlMs: TTL }).stats;
      expect(stats.staleWritesAfterPause).toBe(1);
      expect(stats.staleWritesAfterPauseRejected).toBe(0);
    });

    it('passes when that write is rejected, and counts it', () => {
      const h = good();
      h.pauses.push({ worker: 'A', from: 90, to: 900 });
      h.writes.push({
        resource: 'r:k',
        worker: 'A',
        token: 10,
        sentAt: 901,
        receivedAt: 901,
        outcome: 'rejected',
        seq: 3,
      });
      const result = checkHistory(h, { ttlMs: TTL });
      expect(result.violations).toEqual([]);
      expect(result.stats).toMatchObject({
        pausesPastTtl: 1,
        staleWritesAfterPause: 1,
        staleWritesAfterPauseRejected: 1,
      });
    });
  });

  describe('kill-takeover', () => {
    it('passes when the key is granted again within TTL + slack', () => {
      const h = good();
      h.kills.push({ worker: 'A', at: 50, key: 'k', token: 10 });
      const result = checkHistory(h, { ttlMs: TTL, exclusive: false });
      expect(result.violations).toEqual([]);
      expect(result.stats.maxTakeoverMs).toBe(65);
    });

    it('fails when the next grant came too late', () => {
      const h = good();
      h.kills.push({ worker: 'B', at: 800, key: 'k', token: 11 });
      h.ops.push({
        worker: 'C',
        op: 'acquire',
        key: 'k',
        owner: 'c1',
        token: 12,
        validMs: VALID,
        sentAt: 1500,
        receivedAt: 2000,
        outcome: 'granted',
      });
      expect(failing(h)).toEqual(['kill-takeover']);
    });

    it('fails when the key was never granted again', () => {
      const h = good();
      h.kills.push({ worker: 'B', at: 800, key: 'k', token: 11 });
      expect(failing(h)).toEqual(['kill-takeover']);
    });
  });

  describe('lost-answers', () => {
    it('passes when the caller ends up holding the lock (the SDK retried)', () => {
      const h = good();
      h.lostAnswers.push({ key: 'k', owner: 'b1', token: 11, sentAt: 110, answeredAt: 112 });
      const result = checkHistory(h, { ttlMs: TTL });
      expect(result.violations).toEqual([]);
      expect(result.stats.lostAnswersHeldByCaller).toBe(1);
    });

    it('passes when the orphaned grant expires and someone else gets the key', () => {
      const h = good();
      h.lostAnswers.push({ key: 'k', owner: 'z9', token: 12, sentAt: 710, answeredAt: 712 });
      h.ops.push(
        {
          worker: 'C',
          op: 'acquire',
          key: 'k',
          owner: 'c1',
          sentAt: 720,
          receivedAt: 725,
          outcome: 'refused',
          holderToken: 12,
        },
        {
          worker: 'C',
          op: 'acquire',
          key: 'k',
          owner: 'c1',
          token: 13,
          validMs: VALID,
          sentAt: 1215,
          receivedAt: 1220,
          outcome: 'granted',
        },
      );
      const result = checkHistory(h, { ttlMs: TTL });
      expect(result.violations).toEqual([]);
      expect(result.stats).toMatchObject({ lostAnswersOrphaned: 1, lostAnswersExpired: 1 });
    });

    it('fails when the orphaned grant still blocks others after its TTL', () => {
      const h = good();
      h.lostAnswers.push({ key: 'k', owner: 'z9', token: 12, sentAt: 710, answeredAt: 712 });
      h.ops.push({
        worker: 'C',
        op: 'acquire',
        key: 'k',
        owner: 'c1',
        sentAt: 1400,
        receivedAt: 1405,
        outcome: 'refused',
        holderToken: 12,
      });
      // live-holders, which checks every refusal against the lease it names, sees it too.
      expect(failing(h)).toEqual(['lost-answers', 'live-holders']);
    });
  });

  describe('named-holders', () => {
    it('fails when an acquire was refused without naming the holder', () => {
      const h = good();
      h.ops.push({
        worker: 'C',
        op: 'acquire',
        key: 'k',
        owner: 'c1',
        sentAt: 120,
        receivedAt: 124,
        outcome: 'refused',
      });
      expect(failing(h)).toEqual(['named-holders']);
    });
  });

  describe('live-holders', () => {
    /** C's acquire refused at `sentAt`, naming token `holderToken`. */
    const refusal = (sentAt: number, holderToken: number, worker = 'C') => ({
      worker,
      op: 'acquire' as const,
      key: 'k',
      owner: `${worker.toLowerCase()}1`,
      sentAt,
      receivedAt: sentAt + 4,
      outcome: 'refused' as const,
      holderToken,
    });

    it('passes refusals that name a lease still held (B holds token 11 until its release at 700)', () => {
      const h = good();
      h.ops.push(refusal(400, 11), refusal(698, 11));
      const result = checkHistory(h, { ttlMs: TTL });
      expect(result.violations).toEqual([]);
      expect(result.stats.refusalsChecked).toBe(3);
    });

    it('fails when a refusal names a lease released before the refusal was sent', () => {
      const h = good();
      h.ops.push(refusal(720, 11));
      expect(failing(h)).toEqual(['live-holders']);
    });

    /** D holds "j" with token 5 (granted at 0..5), never extended nor released: it runs out at ~505. */
    const unreleased = () => {
      const h = good();
      h.ops.push({
        worker: 'D',
        op: 'acquire',
        key: 'j',
        owner: 'd1',
        token: 5,
        validMs: VALID,
        sentAt: 0,
        receivedAt: 5,
        outcome: 'granted',
      });
      return h;
    };

    it('fails when a refusal names a lease whose last grant or extension ran out a TTL before', () => {
      const late = unreleased();
      late.ops.push({ ...refusal(508, 5), key: 'j' });
      expect(failing(late)).toEqual(['live-holders']);
      const inTime = unreleased();
      inTime.ops.push({ ...refusal(505, 5), key: 'j' }); // within the TTL + tolerance of the answer
      expect(failing(inTime)).toEqual([]);
    });

    it('allows the store its expiry slack (DynamoDB: clock skew margins)', () => {
      const h = unreleased();
      h.ops.push({ ...refusal(600, 5), key: 'j' });
      expect(failing(h, { expirySlackMs: 100 })).toEqual([]);
      expect(failing(h, { expirySlackMs: 50 })).toEqual(['live-holders']);
    });

    it('does not judge tokens it cannot follow: never granted to a caller, or held by a killed worker', () => {
      const unknown = good();
      unknown.ops.push(refusal(2_000, 99)); // an acquire that failed but was applied: token unknown
      expect(failing(unknown)).toEqual([]);

      // B never releases token 11 (last extended at 305): a refusal naming it at 1000 is late...
      const h = good();
      h.ops.splice(
        h.ops.findIndex((o) => o.op === 'release' && o.token === 11),
        1,
      );
      h.ops.push(refusal(1_000, 11));
      const liveHolders = (history: History) =>
        checkHistory(history, { ttlMs: TTL }).violations.filter((v) => v.check === 'live-holders');
      expect(liveHolders(h)).toHaveLength(1);
      // ... unless B was killed: an extension it sent just before may be missing from the history.
      h.kills.push({ worker: 'B', at: 600, key: 'k', token: 11 });
      expect(liveHolders(h)).toEqual([]);
    });
    it('does not judge a grant seen only in a lost answer whose caller was killed before its acquire answered', () => {
      // D's acquire of "j" was granted (token 5) and its answer lost at 5; D was killed at 40, before its
      // SDK's retry of the request (which re-grants the same lease, pushing its expiry) was answered. The
      // history has no trace of that retry: a refusal naming 5 at 600 proves nothing.
      const h = good();
      h.lostAnswers.push({ key: 'j', owner: 'd1', token: 5, sentAt: 0, answeredAt: 5 });
      h.kills.push({ worker: 'D', at: 40 });
      h.ops.push({ ...refusal(600, 5), key: 'j' });
      expect(failing(h)).toEqual([]);
    });
  });

  describe('honest-releases', () => {
    /** B's lease 11 runs out un-extended (valid until 603); C takes the key at 650; B releases at 700. */
    const takenThenReleased = (outcome: 'ok' | 'refused') => {
      const h = good();
      h.ops.splice(
        h.ops.findIndex((o) => o.op === 'extend'),
        1,
      );
      h.events.splice(
        h.events.findIndex((e) => e.type === 'extended'),
        1,
      );
      const late = h.observations.findIndex((o) => o.at === 600);
      h.observations[late] = { ...h.observations[late]!, remainingMs: 2 };
      h.ops.push({
        worker: 'C',
        op: 'acquire',
        key: 'k',
        owner: 'c1',
        token: 27,
        validMs: VALID,
        sentAt: 640,
        receivedAt: 650,
        outcome: 'granted',
      });
      h.events.push({ worker: 'C', key: 'k', token: 27, at: 650, type: 'acquired' });
      const release = h.ops.find((o) => o.op === 'release' && o.token === 11)!;
      Object.assign(release, { outcome });
      return h;
    };

    it('passes a release answered "not held" after another owner took the key', () => {
      const result = checkHistory(takenThenReleased('refused'), { ttlMs: TTL });
      expect(result.violations).toEqual([]);
    });

    it('fails a release answered ok after another owner was granted the key before it was sent', () => {
      expect(failing(takenThenReleased('ok'))).toEqual(['honest-releases']);
      expect(checkHistory(good(), { ttlMs: TTL }).stats.releasesChecked).toBe(2);
    });
  });

  describe('local-passes', () => {
    /**
     * B's store lease 11 (granted 110..115, extended at 300, released at 700) held by two of B's callers
     * in turn: lease 11, then lease 12 passed on locally at 250 with no store request.
     */
    const passed = (releasedAt: number) => {
      const h = good();
      h.events.push(
        { worker: 'B', key: 'k', token: 11, at: releasedAt, type: 'released' },
        { worker: 'B', key: 'k', token: 12, at: 250, type: 'acquired' },
      );
      // B's caller of lease 11 no longer sees it after the pass: its later observations are of lease 12.
      h.observations.forEach((o, i) => {
        if (o.token === 11 && o.at > 250) h.observations[i] = { ...o, token: 12 };
      });
      h.observations.push({ worker: 'B', key: 'k', token: 12, at: 400, held: true, remainingMs: 390 });
      return h;
    };

    it('passes a lease passed on after the one before it ended, judged by its store lease', () => {
      const result = checkHistory(passed(249), { ttlMs: TTL });
      expect(result.violations).toEqual([]);
      expect(result.stats.localPasses).toBe(1);
    });

    it('fails when a lease was handed out before the one before it on the same store lease ended', () => {
      expect(failing(passed(260))).toEqual(['local-passes']);
    });

    it('fails when a lease was passed on with less than half the TTL of validity left', () => {
      // At 250 the store lease is valid until 603 (granted at 110): 353 ms, under half a 1 s TTL.
      expect(failing(passed(249), { ttlMs: 1_000 })).toEqual(['local-passes']);
    });

    it('sees a second holder let in by a release sent before the pass, while the passed-on lease holds', () => {
      // The store release of 11 sent at 249.5, as lease 11 passed it on (a release called again from
      // its abort listener), freed the key under lease 12: C got it at 305 while 12 still held it.
      const h = passed(249);
      h.ops.push(
        {
          worker: 'B',
          op: 'release',
          key: 'k',
          owner: 'b1',
          token: 11,
          sentAt: 249.5,
          receivedAt: 252,
          outcome: 'ok',
        },
        {
          worker: 'C',
          op: 'acquire',
          key: 'k',
          owner: 'c1',
          token: 27,
          validMs: VALID,
          sentAt: 300,
          receivedAt: 305,
          outcome: 'granted',
        },
      );
      h.events.push({ worker: 'C', key: 'k', token: 27, at: 305, type: 'acquired' });
      expect(failing(h)).toContain('exclusive-validity');
    });

    it('fails when a lease is still reported held after the next one on its store lease was handed out', () => {
      // The events say lease 11 was released at 249, but its caller still saw it held at 260, after
      // lease 12's caller got it at 250: two callers held the key at once.
      const h = passed(249);
      h.observations.push({ worker: 'B', key: 'k', token: 11, at: 260, held: true, remainingMs: 300 });
      // holder-validity sees it too: lease 11's caller had been told it was released (at 249).
      expect(failing(h)).toEqual(['holder-validity', 'local-passes']);
    });

    it('fails when a lease is reported held after a release of its store lease was sent (by the lease it came from)', () => {
      // Lease 11's release from its abort listener reached the store after all, at 260, after lease 12's
      // caller got the key (250): the store freed what 12 holds, and C got the key at 305. Lease 12's
      // window ends at that release, so no overlap shows; only 12 reported held at 400 gives it away.
      const h = passed(249);
      h.ops.push(
        {
          worker: 'B',
          op: 'release',
          key: 'k',
          owner: 'b1',
          token: 11,
          sentAt: 260,
          receivedAt: 263,
          outcome: 'ok',
        },
        {
          worker: 'C',
          op: 'acquire',
          key: 'k',
          owner: 'c1',
          token: 27,
          validMs: VALID,
          sentAt: 300,
          receivedAt: 305,
          outcome: 'granted',
        },
      );
      h.events.push({ worker: 'C', key: 'k', token: 27, at: 305, type: 'acquired' });
      // And lease 11's store release at 700 answered ok, though C had been granted the key at 305.
      expect(failing(h)).toEqual(['holder-validity', 'honest-releases']);
    });

    it('fails when a token passed on locally was granted by the store too (a counter re-created less than FENCE_STEP above)', () => {
      // After a loss of the store state, C's grant came from a counter re-created at 12: the token B's
      // locker had passed on from store lease 11. Two leases, one token: fencing cannot tell them apart.
      const h = passed(249);
      h.stateLosses.push({ at: 750, until: 760, what: 'FLUSHALL' });
      h.ops.push({
        worker: 'C',
        op: 'acquire',
        key: 'k',
        owner: 'c1',
        token: 12,
        validMs: VALID,
        sentAt: 800,
        receivedAt: 805,
        outcome: 'granted',
      });
      h.events.push({ worker: 'C', key: 'k', token: 12, at: 805, type: 'acquired' });
      expect(failing(h)).toEqual(['unique-tokens']);
    });

    it('counts writes of a lease passed on before a pause as stale after it (paused-writes)', () => {
      // B holds lease 12 (passed on at 250) and is frozen from 260 to 1100, past its store lease's
      // validity (793); C gets the key and writes; B's write with 12 after the pause was accepted.
      const h = passed(249);
      h.ops.splice(
        h.ops.findIndex((o) => o.op === 'release' && o.token === 11),
        1,
      );
      h.pauses.push({ worker: 'B', from: 260, to: 1100 });
      h.ops.push({
        worker: 'C',
        op: 'acquire',
        key: 'k',
        owner: 'c1',
        token: 27,
        validMs: VALID,
        sentAt: 795,
        receivedAt: 800,
        outcome: 'granted',
      });
      h.events.push({ worker: 'C', key: 'k', token: 27, at: 800, type: 'acquired' });
      h.writes.push(
        { resource: 'ddb:k', worker: 'C', token: 27, sentAt: 805, receivedAt: 810, outcome: 'accepted' },
        { resource: 'ddb:k', worker: 'B', token: 12, sentAt: 1101, receivedAt: 1106, outcome: 'accepted' },
      );
      expect(failing(h)).toContain('paused-writes');
      expect(checkHistory(h, { ttlMs: TTL }).stats.staleWritesAfterPause).toBe(1);
    });

    it("judges a passed-on lease's validity by its store lease's grant and extensions", () => {
      const h = passed(249);
      // Lease 12 reported held past the validity earned by store lease 11's extension at 300.
      h.observations.push({ worker: 'B', key: 'k', token: 12, at: 800, held: true, remainingMs: 1 });
      expect(failing(h)).toEqual(['holder-validity']);
    });
  });

  describe('durable-writes', () => {
    const withDdbWrites = () => {
      const h = good();
      h.writes.push(
        { resource: 'ddb:k', worker: 'B', token: 11, sentAt: 200, receivedAt: 210, outcome: 'accepted' },
        { resource: 'ddb:k', worker: 'B', token: 11, sentAt: 220, receivedAt: 230, outcome: 'unknown' },
      );
      return h;
    };

    it('passes when every acknowledged write is in the final state (retries may add more)', () => {
      for (const appliedWrites of [1, 2, 3]) {
        const h = { ...withDdbWrites(), resourceStates: [{ resource: 'ddb:k', appliedWrites }] };
        const result = checkHistory(h, { ttlMs: TTL });
        expect(result.violations).toEqual([]);
        expect(result.stats.resourcesChecked).toBe(1);
      }
    });

    it('fails when an acknowledged write is missing from the final state', () => {
      const h = { ...withDdbWrites(), resourceStates: [{ resource: 'ddb:k', appliedWrites: 0 }] };
      expect(failing(h)).toEqual(['durable-writes']);
    });

    it('fails when an acknowledged write is missing although another was applied twice', () => {
      // A count of 2 covers both acknowledged writes; only the ids show that w2 was lost and w1 retried.
      const h = withDdbWrites();
      h.writes.push({
        resource: 'ddb:k',
        worker: 'B',
        token: 11,
        sentAt: 240,
        receivedAt: 250,
        outcome: 'accepted',
        id: 'w2',
      });
      h.writes[h.writes.length - 3] = { ...h.writes[h.writes.length - 3]!, id: 'w1' };
      const resourceStates = [{ resource: 'ddb:k', appliedWrites: 2, appliedIds: ['w1'] }];
      const result = checkHistory({ ...h, resourceStates }, { ttlMs: TTL });
      expect(result.violations.map((v) => v.check)).toEqual(['durable-writes']);
      expect(result.violations[0]?.message).toContain('w2');
      expect(result.stats.writesTraced).toBe(2);
    });

    it('passes when every acknowledged write id is applied, retries included', () => {
      const h = withDdbWrites();
      h.writes[h.writes.length - 2] = { ...h.writes[h.writes.length - 2]!, id: 'w1' };
      const resourceStates = [{ resource: 'ddb:k', appliedWrites: 3, appliedIds: ['w1', 'w0'] }];
      const result = checkHistory({ ...h, resourceStates }, { ttlMs: TTL });
      expect(result.violations).toEqual([]);
      expect(result.stats.writesTraced).toBe(1);
    });

    it('is reported as not checked when no final state was read', () => {
      const result = checkHistory(withDdbWrites(), { ttlMs: TTL });
      expect(result.skipped).toContain('durable-writes');
      expect(formatCheckResult(result)).toContain('durable-writes      not checked');
    });
  });

  it('lists failing checks in the report', () => {
    const h = good();
    h.kills.push({ worker: 'B', at: 800, key: 'k', token: 11 });
    const text = formatCheckResult(checkHistory(h, { ttlMs: TTL }));
    expect(text).toMatch(/FAIL kill-takeover/);
    expect(text).toMatch(/never granted again/);
  });
});
