import { afterEach, describe, expect, it, vi } from 'vitest';
import { expiries } from '../src/expiries.js';

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/** Fake timers and clock, a fresh `expiries()`, a log of what ran, and the start time. */
const setup = () => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  return { due: expiries(), ran: [] as string[], t0: performance.now() };
};

describe('expiries', () => {
  it('runs each expiry once, in order, when its time has passed', () => {
    const { due, ran, t0 } = setup();
    due.set(() => ran.push('b'), t0 + 200);
    due.set(() => ran.push('a'), t0 + 100);
    due.set(() => ran.push('c'), t0 + 300);
    vi.advanceTimersByTime(99);
    expect(ran).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(ran).toEqual(['a']);
    vi.advanceTimersByTime(200);
    expect(ran).toEqual(['a', 'b', 'c']);
    vi.advanceTimersByTime(10_000);
    expect(ran).toEqual(['a', 'b', 'c']);
  });

  it('never runs an expiry that was deleted, and moves one that was set again', () => {
    const { due, ran, t0 } = setup();
    const dropped = () => ran.push('dropped');
    const moved = () => ran.push('moved');
    due.set(dropped, t0 + 50);
    due.set(moved, t0 + 50);
    due.delete(dropped);
    due.set(moved, t0 + 500);
    vi.advanceTimersByTime(499);
    expect(ran).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(ran).toEqual(['moved']);
  });

  it('arms its timer again when an expiry comes before the one it waits for', () => {
    const { due, ran, t0 } = setup();
    due.set(() => ran.push('late'), t0 + 1_000);
    due.set(() => ran.push('early'), t0 + 10);
    vi.advanceTimersByTime(10);
    expect(ran).toEqual(['early']);
  });

  it('keeps the time of an armed expiry when one already overdue is set in the same millisecond', () => {
    const { due, ran, t0 } = setup();
    // Runs at t0 + 10 before the expiries' own timer (timers of one instant run in order of creation).
    setTimeout(() => due.set(() => ran.push('overdue'), t0 + 5), 10);
    due.set(() => ran.push('on time'), t0 + 10);
    vi.advanceTimersByTime(10);
    expect(ran.sort()).toEqual(['on time', 'overdue']);
  });

  it('clears the timer an earlier expiry replaces: short leases ending while a long one is held leave none behind', () => {
    const { due } = setup();
    due.set(() => {}, performance.now() + 3_600_000);
    for (let i = 0; i < 100; i++) {
      const short = () => {};
      due.set(short, performance.now() + 1_000);
      vi.advanceTimersByTime(10);
      due.delete(short);
      vi.advanceTimersByTime(1_000); // its timer runs, finds nothing, arms the long one's again
      expect(vi.getTimerCount()).toBe(1); // was i + 2: one hour-long timer more per short lease
    }
  });

  it('sets one timer, not one per lease, for leases of one TTL that end before they run out', () => {
    const { due } = setup();
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    for (let i = 0; i < 100; i++) {
      const expire = () => {
        throw new Error('ran out');
      };
      due.set(expire, performance.now() + 10_000);
      vi.advanceTimersByTime(5); // the lease's work, then its release
      due.delete(expire);
    }
    expect(setTimeoutSpy).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(20_000); // fires once, finds nothing due, arms nothing more
    expect(setTimeoutSpy).toHaveBeenCalledTimes(1);
  });
});
