/**
 * REVIEW SCRATCH FILE: runs the real fault soak (runSoak, exactly as soak.test.ts does) with a MUTANT
 * store / fence guard inside the worker processes, and reports whether soak.test.ts would have failed.
 *
 * The mutation is injected without touching any source: NODE_OPTIONS (inherited by the forked workers)
 * registers a module-resolve hook that, for imports made by test/faults/worker.ts only, swaps
 * `@leasehold/dynamodb` / `@leasehold/upstash` for a wrapper module (a data: URL) that re-exports the
 * real package with one function broken. The parent (probe, checker) keeps the real packages.
 *
 * Only runs with REVIEW_SOAK_MUTANTS=<store>:<mutant>[,...], e.g.
 *   REVIEW_SOAK_MUTANTS=dynamodb:fence-unconditional,dynamodb:none npx vitest run faults/review-mutations
 * Mutants: none | fence-unconditional | skew-ignored | failure-as-refused | steal
 */
import { type CheckOptions, checkHistory, formatCheckResult, type History, randomSeed } from '@leasehold/testkit/faults';
import { describe, expect, it } from 'vitest';
import { runSoak, type SoakResult, type SoakStore } from './soak.js';

const b64 = (src: string) => `data:text/javascript;base64,${Buffer.from(src).toString('base64')}`;
const dist = (pkg: string) => new URL(`../../packages/${pkg}/dist/index.js`, import.meta.url).href;

function mutantModule(store: SoakStore, mutant: string): string {
  const real = dist(store);
  const lines = [`import * as real from ${JSON.stringify(real)};`, `export * from ${JSON.stringify(real)};`];
  const factory = store === 'dynamodb' ? 'dynamoDbStore' : 'upstashStore';
  if (mutant === 'fence-unconditional') {
    // The fence guard stores the token but no longer CHECKS it: last writer wins.
    lines.push(`export async function sendFenced(client, lease, command, options) {
      const { ConditionExpression: _c, ...input } = real.withFence(lease, command.input, options);
      return client.send(new command.constructor(input));
    }`);
  } else if (mutant === 'skew-ignored') {
    // The store ignores its clockSkewMs option (compares raw client clocks).
    lines.push(`export function dynamoDbStore(o) { return real.dynamoDbStore({ ...o, clockSkewMs: 0 }); }`);
  } else if (mutant === 'failure-as-refused') {
    // A store failure is reported as "held by someone else" (the redlock complaint).
    lines.push(`export function ${factory}(o) {
      const s = real.${factory}(o);
      const m = Object.create(s);
      m.acquire = async (r) => { try { return await s.acquire(r); } catch { return { acquired: false }; } };
      return m;
    }`);
  } else if (mutant === 'steal') {
    // Positive control: 5% of refused acquires steal the lock with an UNCONDITIONAL write.
    lines.push(`import { UpdateItemCommand } from ${JSON.stringify(new URL('../../node_modules/@aws-sdk/client-dynamodb/dist-cjs/index.js', import.meta.url).href)};
    export function dynamoDbStore(o) {
      const s = real.dynamoDbStore(o);
      const m = Object.create(s);
      m.acquire = async (r) => {
        const a = await s.acquire(r);
        if (a.acquired || Math.random() >= 0.05) return a;
        const now = Math.floor((o.now ?? Date.now)());
        const out = await o.client.send(new UpdateItemCommand({ TableName: o.tableName, Key: { pk: { S: r.key } },
          UpdateExpression: 'SET #o = :o, expiresAt = :e, fence = fence + :s REMOVE released',
          ExpressionAttributeNames: { '#o': 'owner' },
          ExpressionAttributeValues: { ':o': { S: r.owner }, ':e': { N: String(now + r.ttlMs) }, ':s': { N: '16' } },
          ReturnValues: 'UPDATED_NEW' }));
        return { acquired: true, token: Number(out.Attributes.fence.N) };
      };
      return m;
    }`);
  }
  return b64(lines.join('\n'));
}

function hookOptions(store: SoakStore, mutant: string): string {
  const target = `@leasehold/${store}`;
  const hook = `export async function resolve(s, c, n) {
    if (s === ${JSON.stringify(target)} && c.parentURL && c.parentURL.endsWith('/test/faults/worker.ts'))
      return { url: ${JSON.stringify(mutantModule(store, mutant))}, format: 'module', shortCircuit: true };
    return n(s, c);
  }`;
  return `--import ${b64(`import { register } from 'node:module'; register(${JSON.stringify(b64(hook))});`)}`;
}

/** soak.test.ts's assertions, as a list of the ones that fail. */
function soakTestVerdict(result: SoakResult): string[] {
  const bad: string[] = [];
  if (result.crashes.length) bad.push(`crashes: ${result.crashes.slice(0, 2).join(' | ')}`);
  if (result.check.violations.length) bad.push(`violations: ${[...new Set(result.check.violations.map((v) => v.check))]}`);
  for (const f of ['pause', 'freeze-extend', 'kill', 'orphan', 'stall', 'loss'] as const)
    if (result.faults[f] < 3) bad.push(`fault ${f} < 3`);
  const s = result.check.stats;
  if (s.pausesPastTtl < 3) bad.push('pausesPastTtl');
  if (!(s.staleWritesAfterPause > 0)) bad.push('staleWritesAfterPause');
  if (s.killsChecked < 3) bad.push('killsChecked');
  if (!(s.grantsAfterStateLoss > 0)) bad.push('grantsAfterStateLoss');
  if (s.lostAnswersOrphaned < 3) bad.push('lostAnswersOrphaned');
  return bad;
}

/**
 * PROPOSED check (prototype): a refused acquire must be explained by a live holder — some grant of the
 * key (to another owner) issued before the refusal was answered and not long expired when it was sent.
 * A refusal with nobody holding is a store failure (or a stuck lock) reported as "held".
 */
function unexplainedRefusals(h: History, o: CheckOptions): number {
  const slack = o.ttlMs + (o.expirySlackMs ?? 0) + 50;
  const grants = [
    ...h.ops.filter((x) => x.op === 'acquire' && x.outcome === 'granted').map((g) => ({ key: g.key, owner: g.owner, sentAt: g.sentAt })),
    ...h.lostAnswers.filter((l) => l.token !== undefined).map((l) => ({ key: l.key, owner: l.owner, sentAt: l.sentAt })),
  ];
  const extends_ = h.ops.filter((x) => x.op === 'extend' && x.outcome !== 'not-held');
  let n = 0;
  for (const r of h.ops) {
    if (r.op !== 'acquire' || r.outcome !== 'refused') continue;
    const live = (owner: string, at: number) => at <= r.receivedAt && at + slack >= r.sentAt && owner !== r.owner;
    const ok =
      grants.some((g) => g.key === r.key && live(g.owner, g.sentAt)) ||
      extends_.some((e) => e.key === r.key && live(e.owner, e.sentAt));
    if (!ok) n++;
  }
  return n;
}

/** Stale writes after a pause, per resource kind (http: the test's own fence; ddb: the library's sendFenced). */
function staleByResource(h: History, ttl: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of h.pauses) {
    if (p.to - p.from < ttl) continue;
    for (const w of h.writes) {
      if (w.worker !== p.worker || w.sentAt < p.to) continue;
      const newer = h.writes.some((x) => x.resource === w.resource && x.outcome === 'accepted' && x.token > w.token && x.receivedAt < w.sentAt);
      if (!newer) continue;
      const kind = `${w.resource.split(':')[0]}:${w.outcome}`;
      out[kind] = (out[kind] ?? 0) + 1;
    }
  }
  return out;
}

const runs = (process.env.REVIEW_SOAK_MUTANTS ?? '').split(',').filter(Boolean);
const seed = Number(process.env.LEASEHOLD_SOAK_SEED || randomSeed());

describe.skipIf(runs.length === 0)('review: soak against mutants', () => {
  for (const run of runs) {
    const [store, mutant] = run.split(':') as [SoakStore, string];
    it(`${store} with mutant ${mutant} (seed ${seed})`, async () => {
      const saved = process.env.NODE_OPTIONS;
      if (mutant !== 'none') process.env.NODE_OPTIONS = `${saved ?? ''} ${hookOptions(store, mutant)}`.trim();
      let result: SoakResult;
      try {
        result = await runSoak({ store, attempts: 2_000, seed });
      } finally {
        if (saved === undefined) delete process.env.NODE_OPTIONS;
        else process.env.NODE_OPTIONS = saved;
      }
      const opts: CheckOptions = { ttlMs: 500, expirySlackMs: store === 'dynamodb' ? 200 : 0 };
      const verdict = soakTestVerdict(result);
      console.log(
        [
          `=== MUTANT ${store}:${mutant} seed ${seed}`,
          formatCheckResult(result.check, 5),
          `outcomes ${JSON.stringify(result.outcomes)}`,
          `stale writes after pause (after a newer write), by resource:outcome ${JSON.stringify(staleByResource(result.history, 500))}`,
          `proposed refusal-needs-holder check: ${unexplainedRefusals(result.history, opts)} unexplained refusals of ${result.history.ops.filter((o) => o.op === 'acquire' && o.outcome === 'refused').length}`,
          `soak.test.ts would ${verdict.length ? `FAIL: ${verdict.join('; ')}` : 'PASS'}`,
        ].join('\n'),
      );
      // A re-check with the checker for sanity (the soak already ran it).
      expect(checkHistory(result.history, { ttlMs: 500, expirySlackMs: opts.expirySlackMs, takeoverSlackMs: 600 }).violations.length).toBe(
        result.check.violations.length,
      );
    }, 600_000);
  }
});
