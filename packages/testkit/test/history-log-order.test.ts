import { describe, expect, it } from 'vitest';
import { checkHistory, emptyHistory, type History, type WriteRecord } from '../src/history.js';

/** A history of writes to one logged resource only: A writes with token 10, then B with token 11. */
function writes(...more: WriteRecord[]): History {
  const h = emptyHistory();
  h.writes.push(
    { resource: 'r:k', worker: 'A', token: 10, sentAt: 60, receivedAt: 60, outcome: 'accepted', seq: 0 },
    { resource: 'r:k', worker: 'B', token: 11, sentAt: 200, receivedAt: 200, outcome: 'accepted', seq: 1 },
    ...more,
  );
  return h;
}

const fencedWriteViolations = (h: History) =>
  checkHistory(h, { ttlMs: 500 }).violations.filter((v) => v.check === 'fenced-writes');

describe('checkHistory fenced-writes in the order a logged resource applied its writes', () => {
  it('passes when every accepted write is at or above the high-water mark', () => {
    expect(fencedWriteViolations(writes())).toEqual([]);
  });

  // The stale write was sent before B's write was answered (no real-time order between them), so only
  // the resource's own log shows it was applied after the higher token: one below the high-water mark
  // (a token a locker passed on locally sits just above or below its neighbours) must count too.
  it('fails a write accepted one token below the high-water mark, applied after it though sent before it was answered', () => {
    const stale: WriteRecord = {
      resource: 'r:k',
      worker: 'A',
      token: 10,
      sentAt: 190,
      receivedAt: 260,
      outcome: 'accepted',
      seq: 2,
    };
    const violations = fencedWriteViolations(writes(stale));
    expect(violations).toHaveLength(1);
    expect(violations[0]?.message).toContain('below the high-water mark 11');
  });
});
