// A reference model of the DynamoDB store, written from what store.ts's comments and TSDoc and the
// package README promise (not from its condition expressions), so that the decision-table test can
// tell a store that does what it says from one that merely does what it does. Each rule below quotes
// or paraphrases the sentence it comes from.
import { FENCE_STEP } from '@leasehold/core';

/** A lock row as the store writes it (README, "Item layout"); `undefined` attributes are absent. */
export interface LockRow {
  readonly owner?: string | undefined;
  /** When the holder's granted acquire was sent, epoch µs. */
  readonly sentAt?: number | undefined;
  readonly expiresAt?: number | undefined;
  readonly fence?: number | undefined;
  /** Epoch seconds after which DynamoDB TTL may delete the row. */
  readonly ttl?: number | undefined;
  /** `<owner>:<random>` of the last release call, or `<owner>` of a withdraw. */
  readonly released?: string | undefined;
}

/** One store call, as the caller of the public methods makes it. */
export type Operation =
  | { readonly kind: 'acquire'; readonly owner: string; readonly ttlMs: number }
  | { readonly kind: 'extend'; readonly owner: string; readonly token: number; readonly ttlMs: number }
  /** `nonce` is the random part of the release call's nonce (the store draws it with `crypto.randomUUID`). */
  | { readonly kind: 'release'; readonly owner: string; readonly token: number; readonly nonce: string }
  | { readonly kind: 'withdraw'; readonly owner: string }
  | { readonly kind: 'inspect'; readonly key: string };

/** What the store was set up with, and when (its `now` is frozen for the call). */
export interface Setting {
  readonly now: number;
  readonly clockSkewMs: number;
  readonly graceSeconds: number;
}

/** The answer of the public method (or the `StoreError` kind it rejects with), and the row left behind. */
export interface Outcome {
  readonly answer: unknown;
  readonly row: LockRow | undefined;
  /** Which documented rule decided, for the test's name and a failing case's message. */
  readonly rule: string;
}

/**
 * The `sentAt` of an acquire sent at `now` by a store instance that has sent nothing before ("the
 * clock's ms × 1000, then + 1 per acquire within one ms").
 */
export const firstSentAt = (now: number) => now * 1000;

/** "Expired means lost": a lease is held while its expiry has not passed. */
const unexpired = (row: LockRow, now: number) => row.expiresAt !== undefined && row.expiresAt >= now;

/**
 * The `ttl` attribute of a lease ending at `expiresAt`. The README's item layout and option table say
 * "`expiresAt` + grace, in epoch seconds"; store.ts adds the skew margin ("TTL deletion must never free
 * a row an acquirer would still wait for"), which is the stronger promise and the one modelled here.
 */
const ttlOf = (expiresAt: number, s: Setting) =>
  Math.ceil((expiresAt + s.clockSkewMs) / 1000) + s.graceSeconds;

const without = (row: LockRow, ...names: (keyof LockRow)[]): LockRow =>
  Object.fromEntries(Object.entries(row).filter(([name]) => !names.includes(name as keyof LockRow)));

function acquire(row: LockRow | undefined, op: Extract<Operation, { kind: 'acquire' }>, s: Setting): Outcome {
  const sentAt = firstSentAt(s.now);
  const asks = s.now + op.ttlMs;
  const grant = (rule: string): Outcome => {
    // "Fencing tokens strictly increase per key ... a new row's counter starts from a clock floor,
    // epoch ms × 1000"; "each grant adds FENCE_STEP"; the next acquire removes the release nonce.
    const fence = (row?.fence ?? s.now * 1000) + FENCE_STEP;
    return {
      answer: { acquired: true, token: fence },
      row: {
        ...without(row ?? {}, 'released'),
        owner: op.owner,
        sentAt,
        expiresAt: asks,
        fence,
        ttl: ttlOf(asks, s),
      },
      rule,
    };
  };
  // "A refused acquire returns the holder's remaining time and token from the same request"; "the
  // holder's remaining time it reports includes that margin" (clock skew). Nothing is written.
  const refuse = (rule: string): Outcome => ({
    answer: {
      acquired: false,
      ...(row?.expiresAt !== undefined && {
        holderRemainingMs: Math.max(0, row.expiresAt + s.clockSkewMs - s.now),
      }),
      ...(row?.fence !== undefined && { holderToken: row.fence }),
    },
    row,
    rule,
  });

  if (row?.owner === undefined) {
    // "a free row is not granted to that spent owner (a withdrawn owner likewise)": the nonce starts
    // with the owner id, a withdraw marks the row with the owner id itself.
    const spent = row?.released === op.owner || row?.released?.startsWith(`${op.owner}:`) === true;
    return spent ? refuse('refused: this owner released or withdrew it last') : grant('granted: free');
  }
  if (row.owner !== op.owner) {
    // "An acquire treats another owner's lease as expired only when expiresAt < now - clockSkewMs."
    return row.expiresAt !== undefined && row.expiresAt < s.now - s.clockSkewMs
      ? grant("granted: another owner's lease expired beyond the skew margin")
      : refuse("refused: another owner's lease, not expired beyond the skew margin");
  }
  // Our own lease, expired or not: "re-granted only to a later attempt (sentAt) asking for a later expiry".
  if (
    row.sentAt !== undefined &&
    row.sentAt < sentAt &&
    row.expiresAt !== undefined &&
    row.expiresAt < asks
  ) {
    return grant('granted: own lease re-granted to a later attempt asking for a later expiry');
  }
  // "Refused, but held by this owner from an attempt sent no later than this one, until at least when
  // this one asks ... the caller's own lease: granted, with the stored token." Nothing is written.
  if (
    row.sentAt !== undefined &&
    row.sentAt <= sentAt &&
    row.expiresAt !== undefined &&
    row.expiresAt >= asks
  ) {
    // README, Errors: kind `bad-response` for "an acquire answered without a fence".
    if (row.fence === undefined)
      return { answer: { error: 'bad-response' }, row, rule: 'own lease without a fence' };
    return { answer: { acquired: true, token: row.fence }, row, rule: 'own grant recognised, stored token' };
  }
  return refuse('refused: own lease from a later attempt, or one that ends before this attempt asks');
}

function extend(row: LockRow | undefined, op: Extract<Operation, { kind: 'extend' }>, s: Setting): Outcome {
  const asks = s.now + op.ttlMs;
  // "extend and release on a lease whose expiry has passed resolve false"; owner and token must match.
  if (row === undefined || row.owner !== op.owner || row.fence !== op.token || !unexpired(row, s.now)) {
    return { answer: false, row, rule: 'refused: not held by this owner with this token, unexpired' };
  }
  // "an extension never moves the expiry back ... refused only for that, it still answers true".
  if (row.expiresAt! > asks) return { answer: true, row, rule: 'already runs longer: true, expiry kept' };
  return { answer: true, row: { ...row, expiresAt: asks, ttl: ttlOf(asks, s) }, rule: 'extended' };
}

function release(row: LockRow | undefined, op: Extract<Operation, { kind: 'release' }>, s: Setting): Outcome {
  const nonce = `${op.owner}:${op.nonce}`;
  // "release frees the row but keeps its fence"; the item layout: owner and expiresAt "removed on
  // release", sentAt "kept on release", released is "<owner id>:<random> of the last release call".
  if (row !== undefined && row.owner === op.owner && row.fence === op.token && unexpired(row, s.now)) {
    return { answer: true, row: { ...without(row, 'owner', 'expiresAt'), released: nonce }, rule: 'freed' };
  }
  // "its condition also accepts 'already released by this very call'. A retry therefore resolves
  // true, while a second, separate release() resolves false."
  if (row !== undefined && row.owner === undefined && row.released === nonce) {
    return { answer: true, row, rule: 'a copy of this very release call' };
  }
  return { answer: false, row, rule: 'refused: not held by this owner with this token, unexpired' };
}

function withdraw(row: LockRow | undefined, op: Extract<Operation, { kind: 'withdraw' }>): Outcome {
  // "frees the row only if that owner holds it ..., keeps the fence, and marks the row" (the mark is
  // the owner id: "a withdrawn owner likewise" is refused by acquire). It resolves nothing either way.
  if (row?.owner === op.owner) {
    return {
      answer: undefined,
      row: { ...without(row, 'owner', 'expiresAt'), released: op.owner },
      rule: 'freed and marked',
    };
  }
  return { answer: undefined, row, rule: 'not held by this owner: untouched' };
}

function inspect(row: LockRow | undefined, op: Extract<Operation, { kind: 'inspect' }>, s: Setting): Outcome {
  // LockState: held "while an unexpired lease exists"; token "the last fencing token the store issued
  // for the key (held or not)"; expiresAt and remainingMs "when held". Never the owner.
  const held = row !== undefined && unexpired(row, s.now);
  return {
    answer: {
      key: op.key,
      held,
      ...(row?.fence !== undefined && { token: row.fence }),
      ...(held && { expiresAt: row.expiresAt, remainingMs: row.expiresAt! - s.now }),
    },
    row,
    rule: held ? 'held' : 'not held',
  };
}

/** What the store should answer to `op` on `row`, and the row it should leave. */
export function predict(row: LockRow | undefined, op: Operation, setting: Setting): Outcome {
  switch (op.kind) {
    case 'acquire':
      return acquire(row, op, setting);
    case 'extend':
      return extend(row, op, setting);
    case 'release':
      return release(row, op, setting);
    case 'withdraw':
      return withdraw(row, op);
    case 'inspect':
      return inspect(row, op, setting);
  }
}
