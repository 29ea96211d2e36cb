/**
 * REVIEW SCRATCH FILE (not part of the suite proper): mutation experiments on the history checker and
 * the conformance suite. Each `it` asserts what the checker ACTUALLY does with a realistic violation,
 * so "caught" cases assert a violation is reported and "GAP" cases assert that it is NOT reported.
 *
 * Part 1 (hand-built histories) always runs. Part 2 (the conformance suite against deliberately broken
 * stores wrapped around the real DynamoDB Local / Upstash endpoint) runs only with
 * REVIEW_CONFORMANCE_MUTANT=<a|b1|b2|c|d|e>[,...] and REVIEW_CONFORMANCE_STORE=<dynamodb|upstash>, e.g.
 *   REVIEW_CONFORMANCE_MUTANT=a REVIEW_CONFORMANCE_STORE=upstash npx vitest run review-mutations
 * Those runs are EXPECTED to fail (that is the point): a mutant suite that passes is a gap.
 */
import { DeleteItemCommand, DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { LockStore } from '@leasehold/core';
import { createLockTable, dynamoDbStore } from '@leasehold/dynamodb';
import { startDynamoDbLocal, startLocalStores, startUpstashEndpoint } from '@leasehold/local';
import { upstashKeyNames, upstashStore } from '@leasehold/upstash';
import { Redis } from '@upstash/redis';
import { describe, expect, it } from 'vitest';
import { type ConformanceHarness, runConformance } from '../src/conformance.js';
import { type CheckName, checkHistory, emptyHistory, type History } from '../src/history.js';

// ================================================================================================
// Part 1: the history checker on hand-built histories with one realistic violation each
// ================================================================================================
const TTL = 500;
const VALID = 493;

/** Clean: A holds k (token 10) 0..100 and releases; B gets 11 at 110..115, writes, releases at 300. */
function clean(): History {
  const h = emptyHistory();
  h.ops.push(
    { worker: 'A', op: 'acquire', key: 'k', owner: 'a1', token: 10, validMs: VALID, sentAt: 0, receivedAt: 5, outcome: 'granted' },
    { worker: 'A', op: 'release', key: 'k', owner: 'a1', token: 10, sentAt: 100, receivedAt: 104, outcome: 'ok' },
    { worker: 'B', op: 'acquire', key: 'k', owner: 'b1', token: 12, validMs: VALID, sentAt: 110, receivedAt: 115, outcome: 'granted' },
    { worker: 'B', op: 'release', key: 'k', owner: 'b1', token: 12, sentAt: 300, receivedAt: 304, outcome: 'ok' },
  );
  h.events.push(
    { worker: 'A', key: 'k', token: 10, at: 5, type: 'acquired' },
    { worker: 'A', key: 'k', token: 10, at: 104, type: 'released' },
    { worker: 'B', key: 'k', token: 12, at: 115, type: 'acquired' },
    { worker: 'B', key: 'k', token: 12, at: 304, type: 'released' },
  );
  h.observations.push(
    { worker: 'A', key: 'k', token: 10, at: 6, held: true, remainingMs: 480 },
    { worker: 'B', key: 'k', token: 12, at: 116, held: true, remainingMs: 480 },
  );
  h.writes.push(
    { resource: 'http:k', worker: 'A', token: 10, sentAt: 50, receivedAt: 50, outcome: 'accepted', seq: 0 },
    { resource: 'http:k', worker: 'B', token: 12, sentAt: 200, receivedAt: 200, outcome: 'accepted', seq: 1 },
  );
  return h;
}
const failing = (h: History, o: Partial<Parameters<typeof checkHistory>[1]> = {}): CheckName[] => [
  ...new Set(checkHistory(h, { ttlMs: TTL, ...o }).violations.map((v) => v.check)),
];

/** A second holder C granted token 12 at 20..25 while A (10) is valid: a store that granted twice. */
function doubleGrant(h: History): History {
  h.ops.push({ worker: 'C', op: 'acquire', key: 'k', owner: 'c1', token: 11, validMs: VALID, sentAt: 20, receivedAt: 25, outcome: 'granted' });
  h.ops.push({ worker: 'C', op: 'release', key: 'k', owner: 'c1', token: 11, sentAt: 60, receivedAt: 64, outcome: 'ok' });
  h.events.push({ worker: 'C', key: 'k', token: 11, at: 25, type: 'acquired' });
  h.observations.push({ worker: 'C', key: 'k', token: 11, at: 26, held: true, remainingMs: 480 });
  return h;
}

describe('review: history checker mutations', () => {
  it('baseline clean history passes', () => {
    expect(failing(clean())).toEqual([]);
  });

  // ---- mutual exclusion ----------------------------------------------------------------------
  it('CAUGHT: double grant while the first lease is valid -> exclusive-validity', () => {
    expect(failing(doubleGrant(clean()))).toContain('exclusive-validity');
  });
  it('GAP: the same double grant passes when exclusive:false (the --skew-margin mode); tokens still rise so nothing else fires', () => {
    const h = doubleGrant(clean());
    h.writes.push({ resource: 'http:k', worker: 'C', token: 11, sentAt: 55, receivedAt: 55, outcome: 'accepted', seq: 2 });
    (h.writes[1] as { seq: number }).seq = 3;
    expect(failing(h, { exclusive: false })).toEqual([]);
  });
  it('GAP: exclusive-validity is built from SDK "acquired" EVENTS: without them (events lost / core not emitting) a double grant is invisible', () => {
    const h = doubleGrant(clean());
    h.events.splice(0, h.events.length);
    h.observations.splice(0, h.observations.length);
    const r = checkHistory(h, { ttlMs: TTL });
    expect(r.ok).toBe(true);
    expect(r.stats.leases).toBe(0); // vacuous, and soak.test.ts asserts nothing about stats.leases
  });
  it('CAUGHT (only if no state loss in the window): a double grant after an unrelated-key loss is excused, since soak losses carry no keys', () => {
    const h = doubleGrant(clean());
    h.stateLosses.push({ at: 10, until: 12, what: 'loss on ANOTHER key', keys: ['other'] });
    expect(failing(h)).toContain('exclusive-validity');
    const h2 = doubleGrant(clean());
    h2.stateLosses.push({ at: 10, until: 12, what: 'soak-style loss record (no keys)' });
    expect(failing(h2)).toEqual([]); // excused: correct only if the loss really hit this key
  });

  // ---- fencing tokens strictly increasing -----------------------------------------------------
  it('CAUGHT: a later grant with a LOWER token (counter restarted) -> token-order', () => {
    const h = clean();
    (h.ops[2] as { token: number }).token = 9;
    for (const e of h.events) if (e.worker === 'B') (e as { token: number }).token = 9;
    for (const o of h.observations) if (o.worker === 'B') (o as { token: number }).token = 9;
    for (const o of h.ops) if (o.worker === 'B') (o as { token?: number }).token = 9;
    h.stateLosses.push({ at: 105, until: 106, what: 'rows deleted' });
    expect(failing(h)).toContain('token-order');
  });
  it('CAUGHT: the SAME token re-issued to a new owner after loss -> unique-tokens + token-order', () => {
    const h = clean();
    for (const o of h.ops) if (o.worker === 'B') (o as { token?: number }).token = 10;
    for (const e of h.events) if (e.worker === 'B') (e as { token: number }).token = 10;
    for (const o of h.observations) if (o.worker === 'B') (o as { token: number }).token = 10;
    expect(failing(h)).toEqual(expect.arrayContaining(['unique-tokens', 'token-order']));
  });
  it('GAP (small): a lower token within toleranceMs (2 ms) of the previous answer is not ordered', () => {
    const h = clean();
    const b = h.ops[2] as { sentAt: number; token: number };
    b.sentAt = 6; // A's grant answered at 5
    for (const o of h.ops) if (o.worker === 'B') (o as { token?: number }).token = 9;
    for (const e of h.events) if (e.worker === 'B') (e as { token: number }).token = 9;
    for (const o of h.observations) if (o.worker === 'B') (o as { token: number }).token = 9;
    expect(failing(h)).not.toContain('token-order');
  });

  // ---- stale holder's fenced write refused at the resource ------------------------------------
  it('CAUGHT: paused holder writes with its old token after a newer token wrote, and it is ACCEPTED', () => {
    const h = clean();
    h.pauses.push({ worker: 'A', from: 60, to: 800 });
    h.writes.push({ resource: 'ddb:k', worker: 'B', token: 12, sentAt: 200, receivedAt: 210, outcome: 'accepted' });
    h.writes.push({ resource: 'ddb:k', worker: 'A', token: 10, sentAt: 805, receivedAt: 812, outcome: 'accepted' });
    expect(failing(h)).toEqual(expect.arrayContaining(['fenced-writes', 'paused-writes']));
  });
  it('GAP: if the newer holder\'s write timed out ("unknown") but was applied, an accepted stale write is not flagged', () => {
    const h = clean();
    h.pauses.push({ worker: 'A', from: 60, to: 800 });
    h.writes.push({ resource: 'ddb:k', worker: 'B', token: 12, sentAt: 200, receivedAt: 3200, outcome: 'unknown' });
    h.writes.push({ resource: 'ddb:k', worker: 'A', token: 10, sentAt: 3300, receivedAt: 3310, outcome: 'accepted' });
    expect(failing(h)).toEqual([]);
  });

  // ---- store failure never reported as held ---------------------------------------------------
  it('GAP: a store that turns a FAILURE into "refused" (held) passes every check', () => {
    const h = clean();
    // the store is stalled 400..1400; nobody holds k; D is told "held" three times, times out
    h.ops.push(
      { worker: 'D', op: 'acquire', key: 'k', owner: 'd1', validMs: VALID, sentAt: 400, receivedAt: 3400, outcome: 'refused' },
      { worker: 'D', op: 'acquire', key: 'k', owner: 'd1', validMs: VALID, sentAt: 3450, receivedAt: 3460, outcome: 'refused' },
      { worker: 'D', op: 'acquire', key: 'k', owner: 'd1', validMs: VALID, sentAt: 3500, receivedAt: 3510, outcome: 'refused' },
    );
    expect(checkHistory(h, { ttlMs: TTL }).ok).toBe(true);
  });
  it('CAUGHT: the SDK reporting a lease as held after a store ERROR -> holder-validity (needs a held observation)', () => {
    const h = clean();
    h.ops.push({ worker: 'D', op: 'acquire', key: 'k', owner: 'd1', validMs: VALID, sentAt: 400, receivedAt: 900, outcome: 'error', error: 'StoreError' });
    h.events.push({ worker: 'D', key: 'k', token: 99, at: 900, type: 'acquired' });
    expect(failing(h)).toEqual([]); // the event alone is not checked ...
    h.observations.push({ worker: 'D', key: 'k', token: 99, at: 901, held: true, remainingMs: 400 });
    expect(failing(h)).toEqual(['holder-validity']); // ... the worker's observe() is what catches it
  });

  // ---- no lost acknowledged writes ------------------------------------------------------------
  it('GAP: there is no record of resource STATE, so an acknowledged write that is lost cannot be detected', () => {
    const h = clean();
    // A History has no field for the resource's final value / write count; resource.value() and the
    // DynamoDB item's `writes` counter are never read by soak.ts. Nothing to mutate: any loss passes.
    expect(Object.keys(h).sort()).toEqual(
      ['events', 'kills', 'lostAnswers', 'observations', 'ops', 'pauses', 'stateLosses', 'writes'],
    );
  });

  // ---- lost answers / kills -------------------------------------------------------------------
  it('CAUGHT: an orphaned grant that never expires blocks others -> lost-answers', () => {
    const h = clean();
    h.lostAnswers.push({ key: 'k', owner: 'z1', token: 20, sentAt: 400, answeredAt: 405 });
    h.ops.push({ worker: 'E', op: 'acquire', key: 'k', owner: 'e1', validMs: VALID, sentAt: 2000, receivedAt: 2004, outcome: 'refused', holderToken: 20 });
    expect(failing(h)).toContain('lost-answers');
  });
  it('GAP: same orphan, but the refusal carries no holderToken -> not caught', () => {
    const h = clean();
    h.lostAnswers.push({ key: 'k', owner: 'z1', token: 20, sentAt: 400, answeredAt: 405 });
    h.ops.push({ worker: 'E', op: 'acquire', key: 'k', owner: 'e1', validMs: VALID, sentAt: 2000, receivedAt: 2004, outcome: 'refused' });
    expect(failing(h)).toEqual([]);
  });
  it('CAUGHT: a killed holder\'s key never granted again -> kill-takeover', () => {
    const h = clean();
    h.kills.push({ worker: 'B', at: 150, key: 'k', token: 12 });
    expect(failing(h)).toEqual(['kill-takeover']);
  });
  it('CAUGHT: the SDK claims remainingMs beyond its earned validity -> holder-validity', () => {
    const h = clean();
    h.observations.push({ worker: 'B', key: 'k', token: 12, at: 120, held: true, remainingMs: 500 });
    expect(failing(h)).toEqual(['holder-validity']);
  });
});

// ================================================================================================
// Part 2: the conformance suite against broken stores (wrappers around the real ones)
// ================================================================================================
interface Base {
  newStore(): LockStore;
  deleteState(key: string): Promise<void>;
  /** A buggy extend: sets the expiry to now + ttl unconditionally (if owner matches). */
  setExpiry(key: string, owner: string, token: number, ttlMs: number): Promise<boolean>;
  stopService(): Promise<void>;
  teardown(): Promise<void>;
}

async function dynamoBase(): Promise<Base> {
  const ddb = await startDynamoDbLocal();
  const newClient = () =>
    new DynamoDBClient({ endpoint: ddb.endpoint, region: ddb.region, credentials: ddb.credentials, maxAttempts: 2 });
  const admin = newClient();
  const tableName = 'leasehold-conformance';
  await createLockTable(admin, tableName);
  return {
    newStore: () => dynamoDbStore({ client: newClient(), tableName }),
    async deleteState(key) {
      await admin.send(new DeleteItemCommand({ TableName: tableName, Key: { pk: { S: key } } }));
    },
    async setExpiry(key, owner, token, ttlMs) {
      const now = Date.now();
      try {
        await admin.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: { pk: { S: key } },
            ConditionExpression: '#o = :o AND fence = :t AND expiresAt >= :now',
            UpdateExpression: 'SET expiresAt = :e',
            ExpressionAttributeNames: { '#o': 'owner' },
            ExpressionAttributeValues: {
              ':o': { S: owner },
              ':t': { N: String(token) },
              ':now': { N: String(now) },
              ':e': { N: String(now + ttlMs) },
            },
          }),
        );
        return true;
      } catch (err) {
        if ((err as Error).name === 'ConditionalCheckFailedException') return false;
        throw err;
      }
    },
    stopService: () => ddb.stop(),
    teardown: () => ddb.stop(),
  };
}

async function upstashBase(): Promise<Base> {
  const local = await startLocalStores({ services: ['redis'] });
  // biome-ignore lint/style/noNonNullAssertion: started above
  const endpoint = await startUpstashEndpoint({ redisPort: local.redis!.port, upstashScriptFlags: true });
  const { url, token } = endpoint;
  const admin = new Redis({ url, token, automaticDeserialization: false, enableAutoPipelining: false });
  return {
    newStore: () => upstashStore({ url, token }),
    async deleteState(key) {
      const names = upstashKeyNames(key);
      await admin.del(names.lock, names.fence);
    },
    async setExpiry(key, owner, _token, ttlMs) {
      const names = upstashKeyNames(key);
      const r = await admin.eval(
        "if redis.call('GET',KEYS[1])==ARGV[1] then redis.call('PEXPIRE',KEYS[1],ARGV[2]) return 1 end return 0",
        [names.lock],
        [owner, String(ttlMs)],
      );
      return String(r) === '1';
    },
    // biome-ignore lint/style/noNonNullAssertion: started above
    stopService: () => local.redis!.stop(),
    async teardown() {
      await endpoint.stop();
      await local.stop();
    },
  };
}

/** Current owner/real token per key, shared by all store instances (as the service would know it). */
const holders = new Map<string, { owner: string; token: number }>();
/** Virtual token counters per key for the (b) mutants: reset when the key's state is deleted. */
const virt = new Map<string, { last: number; toReal: Map<number, number>; toVirt: Map<number, number> }>();

function mutant(kind: string, base: Base, store: LockStore): LockStore {
  const m: LockStore = {
    name: store.name,
    acquire: async (req) => {
      let r: Awaited<ReturnType<LockStore['acquire']>>;
      try {
        r = await store.acquire(req);
      } catch (err) {
        // (c) a store failure reported as "held by someone else"
        if (kind === 'c') return { acquired: false };
        throw err;
      }
      if (!r.acquired && kind === 'e' && r.holderRemainingMs !== undefined && r.holderRemainingMs < 250) {
        // (e) treats a lease as expired 250 ms early (e.g. DynamoDB `expired: t + clockSkewMs`, sign bug)
        await base.deleteState(req.key);
        r = await store.acquire(req);
      }
      if (r.acquired) holders.set(req.key, { owner: req.owner, token: r.token });
      if (r.acquired && (kind === 'b1' || kind === 'b2')) {
        let v = virt.get(req.key);
        if (!v) {
          // b1: counter restarts from 0 after loss; b2: a clock floor in ms (forgot the x1000)
          v = { last: kind === 'b1' ? 0 : Date.now(), toReal: new Map(), toVirt: new Map() };
          virt.set(req.key, v);
        }
        v.last += 16;
        v.toReal.set(v.last, r.token);
        v.toVirt.set(r.token, v.last);
        return { acquired: true, token: v.last };
      }
      if (!r.acquired && (kind === 'b1' || kind === 'b2') && r.holderToken !== undefined) {
        const vt = virt.get(req.key)?.toVirt.get(r.holderToken);
        const { holderToken: _, ...rest } = r;
        return vt === undefined ? rest : { ...rest, holderToken: vt };
      }
      return r;
    },
    extend: async (req) => {
      const real = virt.get(req.key)?.toReal.get(req.token) ?? req.token;
      // (d) the expiry is set to now + ttl, also when that is earlier than the current expiry
      if (kind === 'd') return base.setExpiry(req.key, req.owner, real, req.ttlMs);
      return store.extend({ ...req, token: real });
    },
    release: async (req) => {
      const real = virt.get(req.key)?.toReal.get(req.token) ?? req.token;
      // (a) release checks the token but not the owner
      if (kind === 'a') {
        const h = holders.get(req.key);
        if (h && h.token === real) return store.release({ key: req.key, owner: h.owner, token: real });
      }
      return store.release({ ...req, token: real });
    },
    inspect: async (key) => {
      const s = await store.inspect(key);
      const vt = s.token === undefined ? undefined : virt.get(key)?.toVirt.get(s.token);
      return vt === undefined ? s : { ...s, token: vt };
    },
  };
  if (store.waitForRelease) m.waitForRelease = store.waitForRelease.bind(store);
  if (store.withdraw) m.withdraw = store.withdraw.bind(store);
  if (store.close) m.close = store.close.bind(store);
  // A queued hand-over returns a real token: keep it out of the (b) mutants' way.
  if (kind === 'b1' || kind === 'b2') {
    delete m.waitForRelease;
    delete m.withdraw;
  }
  return m;
}

const mutants = (process.env.REVIEW_CONFORMANCE_MUTANT ?? '').split(',').filter(Boolean);
const which = process.env.REVIEW_CONFORMANCE_STORE ?? 'dynamodb';
for (const kind of mutants) {
  runConformance(`MUTANT ${kind} over ${which}`, async (): Promise<ConformanceHarness> => {
    const base = which === 'upstash' ? await upstashBase() : await dynamoBase();
    return {
      newStore: () => mutant(kind, base, base.newStore()),
      async deleteState(key) {
        virt.delete(key);
        await base.deleteState(key);
      },
      stopService: () => base.stopService(),
      teardown: () => base.teardown(),
    };
  });
}
