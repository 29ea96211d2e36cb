// Every store operation, branch by branch: each case seeds one lock row with PutItem, runs one public
// store method at a frozen clock, reads the row back and compares answer and row with the reference
// model in support/row-model.ts, which is written from the documented promises rather than from the
// condition expressions. Against DynamoDB Local (started by the global setup): the conditions are
// evaluated by DynamoDB itself, missing attributes and all.
import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { FENCE_STEP, type LockStore, StoreError } from '@leasehold/core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { dynamoDbStore } from '../src/index.js';
import { freshLockTable, localClient, ownerId } from './support/dynamo.js';
import { firstSentAt, type LockRow, type Operation, predict, type Setting } from './support/row-model.js';

// 2100-01-01: far enough ahead that DynamoDB TTL never deletes a seeded row mid-test.
const NOW = 4_102_444_800_000;
const SKEW = 1_000;
const setting: Setting = { now: NOW, clockSkewMs: SKEW, graceSeconds: 86_400 };
/** The `sentAt` of the attempt under test: each case uses a store instance that has sent nothing yet. */
const SENT = firstSentAt(NOW);
/** An earlier grant's token: below this call's clock floor, so a grant that ignores it shows. */
const FENCE = (NOW - 60_000) * 1000 + 3 * FENCE_STEP;
/** A `ttl` no operation would write, so that a rewrite shows. */
const SEEDED_TTL = NOW / 1000 + 7;
/** The random part of the release call under test: a row carrying it was released by this very call. */
const NONCE = '00000000-0000-4000-8000-00000000000a';

const ME = ownerId();
const OTHER = ownerId();

interface State {
  readonly name: string;
  readonly family: 'missing' | 'free' | 'mine' | 'theirs';
  readonly row: LockRow | undefined;
}

const expiries = [
  ['unexpired (5 s left)', NOW + 5_000],
  ['expiring this very ms', NOW],
  ['expired 400 ms ago, within the skew', NOW - 400],
  ['expired exactly the skew ago', NOW - SKEW],
  ['expired 1 ms beyond the skew', NOW - SKEW - 1],
] as const;
const sentAts = [
  ['sent 1 ms before this attempt', SENT - 1000],
  ['same sentAt as this attempt', SENT],
  ['sent 1 µs after this attempt', SENT + 1],
] as const;
const fences = [
  ['fenced', FENCE],
  ['no fence', undefined],
] as const;
const releaseMarks = [
  ['never released', undefined],
  ['released by this very release call', `${ME}:${NONCE}`],
  ['released by another call of this owner', `${ME}:${crypto.randomUUID()}`],
  ['withdrawn from this owner', ME],
  ["released by another owner's call", `${OTHER}:${crypto.randomUUID()}`],
  ['withdrawn from another owner', OTHER],
] as const;

// Rows that no sequence of store calls produces (a held row with a release mark, an ownerless row
// with an expiry) are left out: the store is free to treat them any way.
const held = (family: 'mine' | 'theirs'): State[] =>
  expiries.flatMap(([expiry, expiresAt]) =>
    sentAts.flatMap(([sent, sentAt]) =>
      fences.map(([fenced, fence]) => ({
        name: `${family === 'mine' ? 'held by me' : 'held by another owner'}, ${expiry}, ${sent}, ${fenced}`,
        family,
        row: { owner: family === 'mine' ? ME : OTHER, sentAt, expiresAt, fence, ttl: SEEDED_TTL },
      })),
    ),
  );
const states: State[] = [
  { name: 'no row', family: 'missing', row: undefined },
  ...releaseMarks.flatMap(([mark, released]) =>
    [sentAts[0], sentAts[2]].flatMap(([sent, sentAt]) =>
      fences.map(
        ([fenced, fence]): State => ({
          name: `free, ${mark}, last grant ${sent}, ${fenced}`,
          family: 'free',
          row: { sentAt, fence, ttl: SEEDED_TTL, released },
        }),
      ),
    ),
  ),
  ...held('mine'),
  ...held('theirs'),
];

interface Step {
  readonly name: string;
  readonly op: (key: string) => Operation;
}
const acquires: Step[] = [
  ['asking 10 s (later than any seeded expiry)', 10_000],
  ['asking 5 s (the unexpired lease’s own expiry)', 5_000],
  ['asking 2 s (before the unexpired lease ends)', 2_000],
].map(([what, ttlMs]) => ({
  name: `acquire by me ${what}`,
  op: () => ({ kind: 'acquire', owner: ME, ttlMs: ttlMs as number }),
}));
const extendsWithToken: Step[] = [
  ['to 10 s', 10_000],
  ['to 5 s (the same expiry)', 5_000],
  ['to 2 s (before the current expiry)', 2_000],
].map(([what, ttlMs]) => ({
  name: `extend by me with the fenced token ${what}`,
  op: () => ({ kind: 'extend', owner: ME, token: FENCE, ttlMs: ttlMs as number }),
}));
const extendWithOldToken: Step = {
  name: "extend by me with an earlier grant's token to 10 s",
  op: () => ({ kind: 'extend', owner: ME, token: FENCE - FENCE_STEP, ttlMs: 10_000 }),
};
const releaseWithToken: Step = {
  name: 'release by me with the fenced token',
  op: () => ({ kind: 'release', owner: ME, token: FENCE, nonce: NONCE }),
};
const releaseWithOldToken: Step = {
  name: "release by me with an earlier grant's token",
  op: () => ({ kind: 'release', owner: ME, token: FENCE - FENCE_STEP, nonce: NONCE }),
};
const withdrawMe: Step = { name: 'withdraw me', op: () => ({ kind: 'withdraw', owner: ME }) };
const inspectKey: Step = { name: 'inspect', op: (key) => ({ kind: 'inspect', key }) };

interface Case {
  readonly state: State;
  readonly step: Step;
}
let keys = 0;
/** Every cell handed to a test, and the rule the model decided it by: see the last describe. */
const cells: string[] = [];
const rulesSeen = new Set<string>();
/** Every state of `families` (optionally narrowed) × every step, titled with the rule the model applies. */
function table(
  families: State['family'][],
  steps: Step[],
  narrow: (state: State) => boolean = () => true,
): [title: string, Case][] {
  return states
    .filter((state) => families.includes(state.family) && narrow(state))
    .flatMap((state) =>
      steps.map((step): [string, Case] => {
        const expected = predict(state.row, step.op('k'), setting);
        cells.push(`${state.name} · ${step.name}`);
        rulesSeen.add(expected.rule);
        return [`${state.name} · ${step.name} → ${expected.rule}`, { state, step }];
      }),
    );
}
const sentAt = (state: State) => state.row?.sentAt;

let client: DynamoDBClient;
let tableName: string;

beforeAll(async () => {
  client = localClient();
  tableName = await freshLockTable(client);
});
afterAll(() => client.destroy());

const toItem = (key: string, row: LockRow): Record<string, AttributeValue> => ({
  pk: { S: key },
  ...Object.fromEntries(
    Object.entries(row)
      .filter(([, v]) => v !== undefined)
      .map(([name, v]) => [name, typeof v === 'string' ? { S: v } : { N: String(v) }]),
  ),
});
const fromItem = (item: Record<string, AttributeValue> | undefined): LockRow | undefined =>
  item &&
  Object.fromEntries(
    Object.entries(item)
      .filter(([name]) => name !== 'pk')
      .map(([name, v]) => [name, v.S ?? Number(v.N)]),
  );

/** Runs `op` through the public store method; a `StoreError` becomes `{ error: kind }`. */
async function perform(store: LockStore, key: string, op: Operation): Promise<unknown> {
  try {
    switch (op.kind) {
      case 'acquire':
        return await store.acquire({ key, owner: op.owner, ttlMs: op.ttlMs });
      case 'extend':
        return await store.extend({ key, owner: op.owner, token: op.token, ttlMs: op.ttlMs });
      case 'release': {
        // The nonce's random part is fixed, so that a seeded row can carry this very call's nonce: the
        // state an SDK retry of an applied release finds (the retry is the identical request).
        const uuid = vi
          .spyOn(globalThis.crypto, 'randomUUID')
          .mockReturnValue(op.nonce as ReturnType<typeof crypto.randomUUID>);
        try {
          return await store.release({ key, owner: op.owner, token: op.token });
        } finally {
          uuid.mockRestore();
        }
      }
      case 'withdraw':
        return await store.withdraw!(key, op.owner);
      case 'inspect':
        return await store.inspect(key);
    }
  } catch (err) {
    if (err instanceof StoreError) return { error: err.kind };
    throw err;
  }
}

async function check(_title: string, { state, step }: Case) {
  const key = `decision:${keys++}:${ownerId()}`;
  if (state.row)
    await client.send(new PutItemCommand({ TableName: tableName, Item: toItem(key, state.row) }));
  const op = step.op(key);
  // A fresh instance per case: its first acquire's sentAt is exactly SENT.
  const store = dynamoDbStore({ client, tableName, clockSkewMs: SKEW, now: () => NOW });
  const answer = await perform(store, key, op);
  const { Item } = await client.send(
    new GetItemCommand({ TableName: tableName, Key: { pk: { S: key } }, ConsistentRead: true }),
  );
  const expected = predict(state.row, op, setting);
  expect({ answer, row: fromItem(Item) }).toEqual({ answer: expected.answer, row: expected.row });
}

describe('acquire', () => {
  it.each(table(['missing', 'free'], acquires))(
    'grants a missing or free row, but not to the owner that released or withdrew it last: %s',
    check,
  );
  it.each(table(['theirs'], acquires))(
    "takes another owner's lease only once it expired beyond the skew margin: %s",
    check,
  );
  it.each(table(['mine'], acquires, (s) => sentAt(s) === SENT - 1000))(
    'for an attempt sent after its own grant, re-grants for a later expiry, else answers the stored grant: %s',
    check,
  );
  it.each(table(['mine'], acquires, (s) => sentAt(s) === SENT))(
    'answers a copy of its granted attempt with the stored token, refuses any other with its sentAt: %s',
    check,
  );
  it.each(table(['mine'], acquires, (s) => sentAt(s) === SENT + 1))(
    'refuses a late copy of an earlier attempt, even over its own expired lease, writing nothing: %s',
    check,
  );
});

describe('extend', () => {
  it.each(table(['mine'], extendsWithToken))(
    'extends its own lease while unexpired, never moving the expiry back: %s',
    check,
  );
  it.each(table(['mine'], [extendWithOldToken]))('refuses its own lease shown an earlier token: %s', check);
  it.each(table(['missing', 'free', 'theirs'], [...extendsWithToken, extendWithOldToken]))(
    'refuses a row this owner does not hold, writing nothing: %s',
    check,
  );
});

describe('release', () => {
  it.each(table(['mine'], [releaseWithToken, releaseWithOldToken]))(
    'frees its own unexpired lease with its token, keeping fence and sentAt, marking the call: %s',
    check,
  );
  it.each(table(['free'], [releaseWithToken, releaseWithOldToken]))(
    'answers a copy of an applied release call true and any other call false, writing nothing: %s',
    check,
  );
  it.each(table(['missing', 'theirs'], [releaseWithToken, releaseWithOldToken]))(
    'never frees a missing row or another owner’s lease: %s',
    check,
  );
});

describe('withdraw', () => {
  it.each(table(['mine'], [withdrawMe]))(
    'frees a row this owner holds, expired or not, and marks it with the owner: %s',
    check,
  );
  it.each(table(['missing', 'free', 'theirs'], [withdrawMe]))(
    'leaves a row this owner does not hold untouched: %s',
    check,
  );
});

describe('inspect', () => {
  it.each(table(['missing', 'free', 'mine', 'theirs'], [inspectKey]))(
    'reports held only while unexpired and the last token either way, writing nothing: %s',
    check,
  );
});

// The groups above are cut by hand: a cell left out of all of them, or a documented rule no cell
// reaches, would make the table look complete while testing less.
describe('the table', () => {
  it('holds every row state × operation exactly once', () => {
    const steps = [
      ...acquires,
      ...extendsWithToken,
      extendWithOldToken,
      releaseWithToken,
      releaseWithOldToken,
      withdrawMe,
      inspectKey,
    ];
    expect(cells).toHaveLength(states.length * steps.length);
    expect(new Set(cells).size).toBe(cells.length);
  });
  it('reaches every rule of the model', () => {
    expect([...rulesSeen].sort()).toEqual(
      [
        'granted: free',
        'refused: this owner released or withdrew it last',
        "granted: another owner's lease expired beyond the skew margin",
        "refused: another owner's lease, not expired beyond the skew margin",
        'granted: own lease re-granted to a later attempt asking for a later expiry',
        'own grant recognised, stored token',
        'own lease without a fence',
        'refused: own lease from a later attempt, or one that ends before this attempt asks',
        'refused: not held by this owner with this token, unexpired',
        'already runs longer: true, expiry kept',
        'extended',
        'freed',
        'a copy of this very release call',
        'freed and marked',
        'not held by this owner: untouched',
        'held',
        'not held',
      ].sort(),
    );
  });
});
