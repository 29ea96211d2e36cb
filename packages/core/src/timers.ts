/**
 * Math's functions, read once: every `Math.min(` would cost 7 bytes more in every bundle, as
 * esbuild does not shorten global property reads.
 */
export const { ceil, floor, max, min, round } = Math;

/** Monotonic milliseconds; holder-side validity never trusts the wall clock. */
export const monotonicNow = (): number => performance.now();

/** setTimeout with a negative delay (a deadline already passed) clamped to 0. */
export const timeout = (fn: () => void, ms: number): ReturnType<typeof setTimeout> =>
  setTimeout(fn, max(0, ms));

/**
 * setTimeout that never keeps a process or a Lambda invocation alive. `unref` exists on Node's
 * timers and not on edge runtimes' numeric ids, hence the optional call.
 */
export const unrefTimeout = (fn: () => void, ms: number): ReturnType<typeof setTimeout> => {
  const t = timeout(fn, ms);
  (t as { unref?: () => void }).unref?.();
  return t;
};

/**
 * Calls `onTime` after `ms`, and `onAbort` with the signal's reason (once, and no `onTime` after it)
 * when the signal aborts. Returns `off`, which cancels both. Deliberately NOT unref'd: a caller awaiting
 * a lock must keep the event loop alive, or a script would exit in the middle of its wait.
 */
export const timeOrAbort = (
  ms: number,
  signal: AbortSignal | undefined,
  onTime: () => void,
  onAbort: (reason: unknown) => void,
): (() => void) => {
  const off = () => {
    clearTimeout(timer);
    signal?.removeEventListener('abort', aborted);
  };
  const aborted = () => {
    off();
    onAbort(signal?.reason);
  };
  const timer = timeout(onTime, ms);
  // No `{ once: true }` needed: `aborted` removes itself.
  signal?.addEventListener('abort', aborted);
  return off;
};

/** Resolves after `ms`; rejects with the signal's reason on abort. */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    // A throw in the executor rejects the promise: with the reason, if the signal is already aborted.
    signal?.throwIfAborted();
    const off = timeOrAbort(
      ms,
      signal,
      () => {
        off();
        resolve();
      },
      reject,
    );
  });
