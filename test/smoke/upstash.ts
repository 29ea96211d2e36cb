/**
 * What only a real Upstash database can confirm (the tests run on `@leasehold/local`'s endpoint over
 * redis-server): Upstash's own Lua engine running the store's script with its `allow-key-locking`
 * flag, the release channel's server-sent events through Upstash's `/subscribe/` path (hash-tag braces
 * percent-encoded by `fetch`), and keys with characters that are special in a URL path or an SSE line.
 * Every key it writes is under a fresh `leasehold-smoke:<random>:` prefix and deleted at the end.
 *
 * Run by `npm run smoke:upstash` with the database's `UPSTASH_REDIS_REST_URL` and
 * `UPSTASH_REDIS_REST_TOKEN`; the e2e tests run it against the local endpoint so that it keeps working.
 */
import { createLocker, FENCE_STEP, type LockEvent } from '@leasehold/core';
import { upstashKeyNames, upstashStore } from '@leasehold/upstash';
import { Redis } from '@upstash/redis';

export interface SmokeCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** Runs every check against the database at `url`; never throws for a failed check. */
export async function smokeUpstash(url: string, token: string): Promise<SmokeCheck[]> {
  const prefix = `leasehold-smoke:${crypto.randomUUID().slice(0, 8)}:`;
  const redis = new Redis({ url, token, automaticDeserialization: false, enableAutoPipelining: false });
  // The scripts this client sent with EVAL: the plain one (no `#!lua` shebang) means the server
  // refused the key-locking flag.
  const evals: string[] = [];
  const evalScript = redis.eval.bind(redis);
  redis.eval = ((script: string, keys: string[], args: unknown[]) => {
    evals.push(script);
    return evalScript(script, keys, args);
  }) as typeof redis.eval;
  const store = () => upstashStore({ redis, prefix });
  const used = new Set<string>();
  const checks: SmokeCheck[] = [];
  const check = async (name: string, run: () => Promise<string>) => {
    try {
      checks.push({ name, ok: true, detail: await run() });
    } catch (err) {
      checks.push({ name, ok: false, detail: err instanceof Error ? err.message : String(err) });
    }
  };
  const expect = (ok: boolean, what: string) => {
    if (!ok) throw new Error(what);
  };

  /** Key A holds, B (another store, as another process) queues; A's release hands over to B. */
  const handOver = async (key: string) => {
    used.add(key);
    const events: LockEvent[] = [];
    let contended!: () => void;
    const queued = new Promise<void>((resolve) => {
      contended = resolve;
    });
    const a = createLocker({ store: store(), ttlMs: 10_000 });
    const b = createLocker({
      store: store(),
      ttlMs: 10_000,
      onEvent: (event) => {
        events.push(event);
        if (event.type === 'contended') contended();
      },
    });
    try {
      const held = await a.acquire(key);
      const waiting = b.acquire(key, { waitMs: 8_000 });
      await queued;
      // Time for B's subscription to open before the release, and well before B's first
      // once-a-second re-check (a release at that moment would race it).
      await new Promise((resolve) => setTimeout(resolve, 600));
      const released = performance.now();
      expect(await held.release(), 'the holder released');
      const next = await waiting;
      const ms = performance.now() - released;
      // Learned from the channel: no store request after the last refused one (the waiter's
      // once-a-second re-checks before the release each count as one more refusal).
      const refused = events.filter((event) => event.type === 'contended').length;
      const acquired = events.find((event) => event.type === 'acquired');
      expect(next.token === held.token + FENCE_STEP, `handed over with token ${held.token} + ${FENCE_STEP}`);
      expect(
        acquired?.attempts === refused,
        `learned from the channel (${acquired?.attempts} requests for ${refused} refusals: it asked again)`,
      );
      expect(await next.release(), 'the new holder released');
      return `handed over in ${ms.toFixed(1)} ms`;
    } finally {
      await a.close();
      await b.close();
    }
  };

  await check('acquire, extend, release; fencing tokens rise; inspect', async () => {
    const key = 'basic';
    used.add(key);
    const locker = createLocker({ store: store(), ttlMs: 5_000 });
    const first = await locker.acquire(key);
    await first.extend(8_000);
    const state = await locker.inspect(key);
    expect(state.held && state.token === first.token, 'inspect shows the lease');
    expect(await first.release(), 'released');
    const second = await locker.acquire(key);
    expect(second.token > first.token, `tokens rise (${first.token} then ${second.token})`);
    expect(await second.release(), 'released again');
    expect(!(await locker.inspect(key)).held, 'inspect shows it free');
    return `tokens ${first.token}, ${second.token}`;
  });

  await check('the script runs with allow-key-locking (the server accepts the flag)', async () => {
    // No EVAL at all: the flagged script was in the server's cache already (accepted before).
    expect(
      evals.every((script) => script.startsWith('#!lua')),
      'the server refused the flag: the store fell back to the script without it',
    );
    return evals.length ? 'sent with EVAL and accepted' : 'found in the script cache under its SHA-1';
  });

  await check('a queued waiter in another process is handed the lock over the release channel', () =>
    handOver('hand-over'),
  );

  await check('the same with / , ? # % \\ a space and non-ASCII in the key', () =>
    handOver('tenant/7,g?x#y%41\\z é{x}'),
  );

  // Clean-up: every name of every key used, under this run's prefix only.
  await redis.del(...[...used].flatMap((key) => Object.values(upstashKeyNames(key, prefix)))).catch(() => 0);
  return checks;
}

const runAsScript = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1]);
if (runAsScript) {
  const url = process.env.UPSTASH_REDIS_REST_URL;
  const token = process.env.UPSTASH_REDIS_REST_TOKEN;
  if (!url || !token) {
    console.error(
      'Set UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN of a database this may write test keys to (deleted at the end).',
    );
    process.exit(2);
  }
  const checks = await smokeUpstash(url, token);
  for (const { name, ok, detail } of checks) console.log(`${ok ? 'ok  ' : 'FAIL'}  ${name}: ${detail}`);
  process.exit(checks.every((c) => c.ok) ? 0 : 1);
}
