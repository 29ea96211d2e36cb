import { describe, expect, it } from 'vitest';
import {
  type CheckName,
  type CheckOptions,
  checkHistory,
  emptyHistory,
  type History,
  type LeaseEventRecord,
  type StoreOpRecord,
  type WriteRecord,
} from '../src/history.js';
import { seededRandom } from '../src/random.js';

// Mutation tests of the checker: histories that each hold one real safety violation, several of them
// at the edge of what the checker can see (1 ms apart, behind a clock margin, after a kill or a
// pause, in the last record of a run, in records that arrived out of order). Each must be reported
// by the check named. TTL 500 ms, validity 493 ms (1% + 2 ms drift), as in history.test.ts.
const TTL = 500;
const VALID = 493;

const grant = (
  worker: string,
  key: string,
  token: number,
  sentAt: number,
  receivedAt: number,
): StoreOpRecord => ({
  worker,
  op: 'acquire',
  key,
  owner: `${worker}-${token}`,
  token,
  validMs: VALID,
  sentAt,
  receivedAt,
  outcome: 'granted',
});
const extend = (
  worker: string,
  key: string,
  token: number,
  sentAt: number,
  receivedAt: number,
  outcome: StoreOpRecord['outcome'] = 'ok',
): StoreOpRecord => ({
  worker,
  op: 'extend',
  key,
  owner: `${worker}-${token}`,
  token,
  validMs: VALID,
  sentAt,
  receivedAt,
  outcome,
});
const release = (worker: string, key: string, token: number, sentAt: number): StoreOpRecord => ({
  worker,
  op: 'release',
  key,
  owner: `${worker}-${token}`,
  token,
  sentAt,
  receivedAt: sentAt + 3,
  outcome: 'ok',
});
const event = (
  worker: string,
  key: string,
  token: number,
  at: number,
  type: LeaseEventRecord['type'] = 'acquired',
): LeaseEventRecord => ({ worker, key, token, at, type });
const write = (
  worker: string,
  token: number,
  sentAt: number,
  receivedAt: number,
  outcome: WriteRecord['outcome'],
  more: Partial<WriteRecord> = {},
): WriteRecord => ({ resource: 'ddb:k', worker, token, sentAt, receivedAt, outcome, ...more });

/** A holds "k" with token 10 (granted 0..5, valid until 493, never extended); B is granted 11 at `bAt`. */
function twoHolders(bAt: number, aReleasesAt?: number): History {
  const h = emptyHistory();
  h.ops.push(grant('A', 'k', 10, 0, 5), grant('B', 'k', 11, bAt - 4, bAt));
  if (aReleasesAt !== undefined) h.ops.push(release('A', 'k', 10, aReleasesAt));
  h.events.push(event('A', 'k', 10, 5), event('B', 'k', 11, bAt));
  return h;
}

function failing(h: History, options: Partial<CheckOptions> = {}): CheckName[] {
  return [...new Set(checkHistory(h, { ttlMs: TTL, ...options }).violations.map((v) => v.check))];
}

/** The same history with every list (and so the order records arrived in) shuffled. */
function shuffled(h: History, seed: number): History {
  const random = seededRandom(seed);
  const mix = <T>(items: readonly T[]): T[] => {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  };
  return {
    ops: mix(h.ops),
    events: mix(h.events),
    observations: mix(h.observations),
    writes: mix(h.writes),
    pauses: mix(h.pauses),
    kills: mix(h.kills),
    stateLosses: mix(h.stateLosses),
    lostAnswers: mix(h.lostAnswers),
    ...(h.resourceStates === undefined ? {} : { resourceStates: mix(h.resourceStates) }),
  };
}

/** Each: a history with one real violation, and the check that must report it. */
const violations: Array<{
  name: string;
  check: CheckName;
  history: () => History;
  options?: Partial<CheckOptions>;
}> = [
  {
    name: 'two holders whose validity windows overlap by 1 ms (A valid until 493, B granted at 492)',
    check: 'exclusive-validity',
    history: () => twoHolders(492),
  },
  {
    name: 'two holders overlapping by 1 ms after a release (A released at 200, B granted at 199)',
    check: 'exclusive-validity',
    history: () => twoHolders(199, 200),
  },
  {
    name: 'an overlap behind the DynamoDB clock margin: expirySlackMs excuses late expiries, never two holders',
    check: 'exclusive-validity',
    // B's store treated A's lease as expired 20 ms early (its clock runs fast), as a store whose
    // clockSkewMs is smaller than the clocks' offset would: the shared timeline still shows it.
    history: () => twoHolders(473),
    options: { expirySlackMs: 200, toleranceMs: 50 },
  },
  {
    name: 'a lease whose holder never logged a release nor an extension, taken over before it ran out',
    check: 'exclusive-validity',
    history: () => {
      const h = twoHolders(300);
      h.kills.push({ worker: 'A', at: 100, key: 'k', token: 10 });
      return h;
    },
  },
  {
    name: 'a grant answered 1 ms before a grant of a lower token was sent',
    check: 'token-order',
    history: () => {
      const h = emptyHistory();
      h.ops.push(grant('A', 'k', 11, 0, 5), grant('B', 'k', 10, 6, 10));
      return h;
    },
  },
  {
    name: 'one token granted to two owners, one of them seen only in a lost answer',
    check: 'unique-tokens',
    history: () => {
      const h = emptyHistory();
      h.ops.push(grant('A', 'k', 10, 0, 5));
      h.lostAnswers.push({ key: 'k', owner: 'z9', token: 10, sentAt: 600, answeredAt: 602 });
      return h;
    },
  },
  {
    name: 'a fenced write accepted 1 ms after a higher token had written (real time, unlogged resource)',
    check: 'fenced-writes',
    history: () => {
      const h = emptyHistory();
      h.writes.push(write('B', 11, 10, 20, 'accepted'), write('A', 10, 21, 30, 'accepted'));
      return h;
    },
  },
  {
    name: 'a stale write of a killed holder applied after the new holder wrote (the last record of the run)',
    check: 'fenced-writes',
    history: () => {
      const h = emptyHistory();
      h.kills.push({ worker: 'A', at: 100, key: 'k', token: 10 });
      h.writes.push(
        {
          resource: 'http:k',
          worker: 'A',
          token: 10,
          sentAt: 50,
          receivedAt: 50,
          outcome: 'accepted',
          seq: 0,
        },
        {
          resource: 'http:k',
          worker: 'B',
          token: 11,
          sentAt: 700,
          receivedAt: 700,
          outcome: 'accepted',
          seq: 1,
        },
        // Sent before A died, held up in the network, applied last.
        {
          resource: 'http:k',
          worker: 'A',
          token: 10,
          sentAt: 710,
          receivedAt: 710,
          outcome: 'accepted',
          seq: 2,
        },
      );
      return h;
    },
  },
  {
    name: 'a write after a pause, reported rejected, but found applied in the resource',
    check: 'fenced-writes',
    history: () => {
      const h = emptyHistory();
      h.pauses.push({ worker: 'A', from: 50, to: 800 });
      h.writes.push(
        write('B', 11, 600, 610, 'accepted', { id: 'b1' }),
        write('A', 10, 801, 805, 'rejected', { id: 'a1' }),
      );
      return { ...h, resourceStates: [{ resource: 'ddb:k', appliedWrites: 2, appliedIds: ['b1', 'a1'] }] };
    },
  },
  {
    name: 'a stale write of unknown outcome after a pause, found applied after a higher token had written',
    check: 'fenced-writes',
    history: () => {
      const h = emptyHistory();
      h.pauses.push({ worker: 'A', from: 50, to: 800 });
      h.writes.push(
        write('B', 11, 600, 610, 'accepted', { id: 'b1' }),
        write('A', 10, 801, 900, 'unknown', { id: 'a1' }),
      );
      return { ...h, resourceStates: [{ resource: 'ddb:k', appliedWrites: 2, appliedIds: ['b1', 'a1'] }] };
    },
  },
  {
    name: 'an acknowledged write missing from the resource, the last write of the run',
    check: 'durable-writes',
    history: () => {
      const h = emptyHistory();
      h.writes.push(
        write('B', 11, 600, 610, 'accepted', { id: 'b1' }),
        write('B', 11, 620, 630, 'accepted', { id: 'b2' }),
      );
      // A retry of b1 applied it twice: the count matches, the ids do not.
      return { ...h, resourceStates: [{ resource: 'ddb:k', appliedWrites: 2, appliedIds: ['b1'] }] };
    },
  },
  {
    name: 'a lease delivered to its caller with no grant from the store',
    check: 'holder-validity',
    history: () => {
      const h = emptyHistory();
      h.ops.push(grant('A', 'k', 10, 0, 5));
      h.events.push(event('A', 'k', 10, 5), event('probe', 'k', 11, 100));
      return h;
    },
  },
  {
    name: 'an "extended" event although the store answered the extension not-held',
    check: 'holder-validity',
    history: () => {
      const h = emptyHistory();
      h.ops.push(grant('A', 'k', 10, 0, 5), extend('A', 'k', 10, 300, 305, 'not-held'));
      h.events.push(event('A', 'k', 10, 5), event('A', 'k', 10, 306, 'extended'));
      return h;
    },
  },
  {
    name: 'a lease reported held after its caller was told it was lost',
    check: 'holder-validity',
    history: () => {
      const h = emptyHistory();
      h.ops.push(grant('A', 'k', 10, 0, 5), extend('A', 'k', 10, 150, 155, 'not-held'));
      h.events.push(event('A', 'k', 10, 5), event('A', 'k', 10, 156, 'lost'));
      h.observations.push({ worker: 'A', key: 'k', token: 10, at: 200, held: true, remainingMs: 200 });
      return h;
    },
  },
  {
    name: 'an overlap after a loss of the store state, on validity the store confirmed after the loss',
    check: 'exclusive-validity',
    history: () => {
      // A's lease (granted at 0) was erased by the loss at 100..110, yet the store answered A's
      // extension at 300 "ok" (the lease exists) and granted B the key at 700, while that extension held.
      const h = emptyHistory();
      h.stateLosses.push({ at: 100, until: 110, what: 'FLUSHALL' });
      h.ops.push(grant('A', 'k', 10, 0, 5), extend('A', 'k', 10, 300, 305), grant('B', 'k', 11, 696, 700));
      h.events.push(event('A', 'k', 10, 5), event('A', 'k', 10, 305, 'extended'), event('B', 'k', 11, 700));
      return h;
    },
  },
  {
    name: 'an orphaned grant still blocking others long after its TTL, with another worker killed later',
    check: 'lost-answers',
    history: () => {
      // C's acquire (owner c1) was refused, then granted with its answer lost; C carried on, and never
      // reported the acquire: only C's death could excuse that, not W's.
      const h = emptyHistory();
      h.ops.push(
        {
          worker: 'C',
          op: 'acquire',
          key: 'k',
          owner: 'c1',
          sentAt: 0,
          receivedAt: 4,
          outcome: 'refused',
          holderToken: 9,
        },
        {
          worker: 'D',
          op: 'acquire',
          key: 'k',
          owner: 'd1',
          sentAt: 1500,
          receivedAt: 1504,
          outcome: 'refused',
          holderToken: 12,
        },
      );
      h.lostAnswers.push({ key: 'k', owner: 'c1', token: 12, sentAt: 10, answeredAt: 12 });
      h.kills.push({ worker: 'W', at: 2000 });
      return h;
    },
  },
];

describe('checkHistory reports real violations at the edge of what it sees', () => {
  for (const { name, check, history, options } of violations) {
    it(`${check}: ${name}`, () => {
      expect(failing(history(), options)).toContain(check);
    });
  }

  it('reports each of them whatever order the records arrived in (processes log concurrently)', () => {
    for (const { name, check, history, options } of violations) {
      for (let seed = 1; seed <= 8; seed++) {
        expect(failing(shuffled(history(), seed), options), `${name} (shuffle ${seed})`).toContain(check);
      }
    }
  });

  it('judges a lease from its first grant, whichever grant record came first', () => {
    // A's lease 10 was granted at 0..5 and (a retried request) again at 200..205; B held the key from
    // 100 to its release at 150, inside A's validity. Judged from the later record alone, A's lease
    // would start after B's ended.
    const h = emptyHistory();
    h.ops.push(
      { ...grant('A', 'k', 10, 200, 205), owner: 'A-10' },
      grant('A', 'k', 10, 0, 5),
      grant('B', 'k', 11, 96, 100),
      release('B', 'k', 11, 150),
    );
    h.events.push(event('A', 'k', 10, 5), event('B', 'k', 11, 100));
    expect(failing(h)).toContain('exclusive-validity');
    expect(failing({ ...h, ops: [...h.ops].reverse() })).toContain('exclusive-validity');
  });

  describe('and passes the valid histories next to them', () => {
    it('holders whose windows touch (B granted exactly as A ran out, or as A released)', () => {
      expect(failing(twoHolders(493))).toEqual([]);
      expect(failing(twoHolders(203, 200))).toEqual([]);
    });

    it('an overlap excused by a loss of the store state, on validity earned before the loss', () => {
      const h = emptyHistory();
      h.stateLosses.push({ at: 100, until: 110, what: 'FLUSHALL' });
      h.ops.push(grant('A', 'k', 10, 0, 5), grant('B', 'k', 11, 196, 200));
      h.events.push(event('A', 'k', 10, 5), event('B', 'k', 11, 200));
      const result = checkHistory(h, { ttlMs: TTL });
      expect(result.violations).toEqual([]);
      expect(result.stats.overlapsExcusedByStateLoss).toBe(1);
    });

    it('a write of unknown outcome found applied, sent before the higher token wrote', () => {
      const h = emptyHistory();
      h.writes.push(
        write('A', 10, 500, 900, 'unknown', { id: 'a1' }),
        write('B', 11, 600, 610, 'accepted', { id: 'b1' }),
      );
      const resourceStates = [{ resource: 'ddb:k', appliedWrites: 2, appliedIds: ['a1', 'b1'] }];
      expect(failing({ ...h, resourceStates })).toEqual([]);
    });

    it('a lease reported held just before its caller was told it was released', () => {
      const h = emptyHistory();
      h.ops.push(grant('A', 'k', 10, 0, 5), release('A', 'k', 10, 100));
      h.events.push(event('A', 'k', 10, 5), event('A', 'k', 10, 103, 'released'));
      h.observations.push({ worker: 'A', key: 'k', token: 10, at: 99.9, held: true, remainingMs: 390 });
      expect(failing(h)).toEqual([]);
    });

    it('an orphaned grant whose own caller was killed mid-call', () => {
      const h = emptyHistory();
      h.ops.push(
        {
          worker: 'C',
          op: 'acquire',
          key: 'k',
          owner: 'c1',
          sentAt: 0,
          receivedAt: 4,
          outcome: 'refused',
          holderToken: 9,
        },
        {
          worker: 'D',
          op: 'acquire',
          key: 'k',
          owner: 'd1',
          sentAt: 1500,
          receivedAt: 1504,
          outcome: 'refused',
          holderToken: 12,
        },
      );
      h.lostAnswers.push({ key: 'k', owner: 'c1', token: 12, sentAt: 10, answeredAt: 12 });
      h.kills.push({ worker: 'C', at: 30 });
      expect(failing(h)).toEqual([]);
    });
  });
});
