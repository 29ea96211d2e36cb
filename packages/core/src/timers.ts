/** Monotonic milliseconds; holder-side validity never trusts the wall clock. */
export const monotonicNow = (): number => performance.now();

/**
 * setTimeout that never keeps a process or a Lambda invocation alive. `unref` exists on Node's
 * timers and not on edge runtimes' numeric ids, hence the optional call.
 */
export function unrefTimeout(fn: () => void, ms: number): ReturnType<typeof setTimeout> {
  const t = setTimeout(fn, Math.max(0, ms));
  (t as { unref?: () => void }).unref?.();
  return t;
}

/**
 * Resolves after `ms`; rejects with the signal's reason on abort. Deliberately NOT unref'd: a caller
 * awaiting a lock must keep the event loop alive, or a script would exit in the middle of its wait.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Capped full-jitter exponential backoff (AWS Architecture Blog): uniform in [1, min(cap, base * 2^n)]. */
export function fullJitter(attempt: number, baseMs: number, capMs: number, random: () => number): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.max(1, Math.floor(random() * ceiling));
}
