import { InvalidArgumentError, StaleTokenError } from '@leasehold/core';
import { isConditionalCheckFailed } from './errors.js';

/**
 * What {@link withFence} needs of a lease: its fencing token. A `Lease` from `@leasehold/core` fits.
 *
 * @example
 * ```ts
 * const lease: FenceLease = await locker.acquire('stock:sku-1');
 * ```
 */
export interface FenceLease {
  /** The lease's fencing token, written to and compared with the item's fence: a safe integer ≥ 0. */
  readonly token: number;
}

/**
 * Options of {@link withFence} and {@link sendFenced}.
 *
 * @example
 * ```ts
 * const fenced = withFence(lease, input, { attribute: 'lockFence', marshalled: false });
 * ```
 */
export interface FenceOptions {
  /** Attribute of YOUR item that stores the highest token that wrote it. Default `'fence'`. */
  readonly attribute?: string;
  /**
   * Whether `input` holds low-level `AttributeValue`s (`{ S: 'x' }`, for `UpdateItemCommand` /
   * `PutItemCommand`) or plain values (DocumentClient `UpdateCommand` / `PutCommand`). Detected from
   * `Key` (update) or `Item` (put) when left out.
   */
  readonly marshalled?: boolean;
}

/**
 * The parts of an `UpdateItem` or `PutItem` input that {@link withFence} reads or writes. Inputs of
 * `UpdateItemCommand`, `PutItemCommand` (client-dynamodb) and `UpdateCommand`, `PutCommand`
 * (lib-dynamodb) all fit, as do the `Update` and `Put` entries of a `TransactWriteItems` request.
 *
 * @example
 * ```ts
 * const input: FenceableInput = { TableName: 'orders', Key: { id: 'o-42' }, UpdateExpression: 'SET paid = :t' };
 * ```
 */
export interface FenceableInput {
  /** Required at run time: without a table (a `BatchWriteItem` entry) DynamoDB would drop the condition. */
  TableName?: string | undefined;
  /** An update's (or delete's) key; exactly one of `Key` and `Item` must be set. */
  Key?: Record<string, unknown> | undefined;
  /** A put's item; the fence attribute is set in the copy. */
  Item?: Record<string, unknown> | undefined;
  /** Your update; `SET #lhFence = :lhToken` is added to it (or becomes it, when absent). */
  UpdateExpression?: string | undefined;
  /** Your own condition, ANDed with the fence's; its parentheses must balance on their own. */
  ConditionExpression?: string | undefined;
  /** Your names; the fence's placeholder is added (renamed if yours already uses `#lhFence`). */
  ExpressionAttributeNames?: Record<string, string> | undefined;
  /** Your values; the token's placeholder is added (renamed if yours already uses `:lhToken`). */
  ExpressionAttributeValues?: Record<string, unknown> | undefined;
  /** Legacy parameter: rejected, it cannot be combined with expressions. */
  AttributeUpdates?: unknown;
  /** Legacy parameter: rejected, it cannot be combined with expressions. */
  Expected?: unknown;
  /** Kept by {@link withFence}; {@link sendFenced} sets `'ALL_OLD'` to read the stored fence on refusal. */
  ReturnValuesOnConditionCheckFailure?: string | undefined;
}

/**
 * What {@link withFence} returns: your input's type, with a `ConditionExpression` now always present.
 * (At run time it also carries the fence's attribute names and values and, for an update, the `SET`
 * action; their types stay those of your input so the result fits the command you send it with.)
 *
 * @example
 * ```ts
 * const fenced: FencedInput<UpdateCommandInput> = withFence(lease, input);
 * fenced.ConditionExpression; // '(attribute_not_exists(#lhFence) OR #lhFence <= :lhToken) AND (...)'
 * ```
 */
export type FencedInput<T> = T & {
  /** The fence's condition, ANDed with yours when you gave one. */
  ConditionExpression: string;
};

const ATTRIBUTE_VALUE_TAGS = new Set(['S', 'N', 'B', 'SS', 'NS', 'BS', 'M', 'L', 'NULL', 'BOOL']);

/**
 * `{ S: 'x' }`-like: a plain object with exactly one AttributeValue tag. Members set to `undefined`
 * (`{ S: 'x', N: undefined }`) do not count: the SDK leaves them out of the request.
 */
function isAttributeValue(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  const keys = Object.entries(value).flatMap(([k, v]) => (v === undefined ? [] : [k]));
  return keys.length === 1 && ATTRIBUTE_VALUE_TAGS.has(keys[0] as string);
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A placeholder (`#lhFence`, `:lhToken`, or with a number) that the input does not use anywhere. */
function freshPlaceholder(base: string, taken: readonly string[], expressions: readonly string[]): string {
  for (let i = 0; ; i++) {
    const candidate = i === 0 ? base : `${base}${i}`;
    const used = new RegExp(`${escapeRegExp(candidate)}(?![A-Za-z0-9_])`);
    if (!taken.includes(candidate) && !expressions.some((e) => used.test(e))) return candidate;
  }
}

/** The `SET` keyword of an update expression (not part of a name, placeholder or path). */
const SET_CLAUSE = /(^|[^#:\w.])(set)(?![\w])/i;

function addSetAction(expression: string | undefined, action: string): string {
  const trimmed = expression?.trim() ?? '';
  if (trimmed === '') return `SET ${action}`;
  if (SET_CLAUSE.test(trimmed)) return trimmed.replace(SET_CLAUSE, `$1$2 ${action},`);
  return `SET ${action} ${trimmed}`;
}

/**
 * True when every `)` of `expression` closes a `(` opened before it within `expression`, and all are
 * closed. DynamoDB expressions have no string literals (values and odd names are placeholders), so
 * counting is exact. An unbalanced user condition would otherwise end the fence's grouping early:
 * `(fence) AND (a = :x) OR (b = :y)` lets the `OR` branch through whatever the fence.
 */
function balanced(expression: string): boolean {
  let depth = 0;
  for (const c of expression) {
    if (c === '(') depth++;
    else if (c === ')' && --depth < 0) return false;
  }
  return depth === 0;
}

function checkLease(lease: FenceLease): number {
  const token = (lease as { token?: unknown } | null | undefined)?.token;
  if (!Number.isSafeInteger(token) || (token as number) < 0) {
    throw new InvalidArgumentError('lease', 'must be a lease with a fencing token (a safe integer >= 0)');
  }
  return token as number;
}

/** The fence attribute named by `options` (default `fence`); null or a non-object is bad input. */
function fenceAttribute(options: FenceOptions): string {
  if (typeof options !== 'object' || options === null)
    throw new InvalidArgumentError('options', 'must be an object');
  const attribute: unknown = options.attribute === undefined ? 'fence' : options.attribute;
  if (typeof attribute !== 'string' || attribute.length === 0) {
    throw new InvalidArgumentError('attribute', 'must be a non-empty attribute name');
  }
  return attribute;
}

/**
 * Return a copy of a DynamoDB `UpdateItem` or `PutItem` input that only succeeds if the item's stored
 * fence is absent or `<=` the lease's token, and that stores the token in the fence attribute. This is
 * how a holder that was paused past its lease (GC, frozen Lambda, partition) is stopped at your own
 * table: once a newer holder has written, the stale holder's writes fail.
 *
 * - Update: adds `SET #lhFence = :lhToken` to the update expression.
 * - Put: sets the fence attribute in `Item` (overwriting a copied-in old value).
 * - Both: ANDs `(attribute_not_exists(#lhFence) OR #lhFence <= :lhToken)` with your own
 *   `ConditionExpression`; the placeholders are renamed if your input already uses them. A condition
 *   whose parentheses do not balance on their own is rejected (it could escape the fence's group).
 *
 * Works with low-level (`{ S: 'x' }`) and DocumentClient (plain values) inputs, detected from the key
 * or item (attributes set to `undefined` aside; or set `marshalled`). A `DeleteItem` input, or the
 * `Delete` / `ConditionCheck` entry of a transaction, is fenced like an update: the condition applies
 * and the added `SET`, which those requests do not carry, is left out by the SDK; a delete removes the
 * fence with the item (see the README). The input is never mutated. Legacy `AttributeUpdates` / `Expected`
 * parameters cannot be combined with expressions and are rejected. Do not write the fence attribute in
 * your own update expression (DynamoDB rejects the overlap). Use {@link sendFenced} to also turn a
 * rejection into a `StaleTokenError`.
 *
 * @example
 * ```ts
 * import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
 * const input = withFence(lease, {
 *   TableName: 'orders',
 *   Key: { id: 'o-42' },
 *   UpdateExpression: 'SET #s = :paid',
 *   ConditionExpression: '#s = :pending',
 *   ExpressionAttributeNames: { '#s': 'status' },
 *   ExpressionAttributeValues: { ':paid': 'PAID', ':pending': 'PENDING' },
 * });
 * await docClient.send(new UpdateCommand(input));
 * ```
 */
export function withFence<T extends FenceableInput>(
  lease: FenceLease,
  input: T,
  options: FenceOptions = {},
): FencedInput<T> {
  const token = checkLease(lease);
  const attribute = fenceAttribute(options);
  if (typeof input !== 'object' || input === null) {
    throw new InvalidArgumentError('input', 'must be an UpdateItem or PutItem input object');
  }
  if (input.AttributeUpdates !== undefined || input.Expected !== undefined) {
    throw new InvalidArgumentError(
      'input',
      'uses the legacy AttributeUpdates/Expected parameters, which cannot be combined with the fence expressions: use UpdateExpression/ConditionExpression',
    );
  }
  // Without a table (a BatchWriteItem request), DynamoDB would drop the condition: a stale write
  // would go through.
  if (typeof input.TableName !== 'string' || !input.TableName) {
    throw new InvalidArgumentError(
      'input',
      'must name its TableName: an UpdateItem or PutItem input, or a transaction entry (BatchWriteItem takes no conditions)',
    );
  }
  const isPut = input.Item !== undefined;
  const isUpdate = input.Key !== undefined;
  if (isPut === isUpdate) {
    throw new InvalidArgumentError(
      'input',
      'must be an UpdateItem input (with Key) or a PutItem input (with Item), not both or neither',
    );
  }
  const sample = (isPut ? input.Item : input.Key) as Record<string, unknown>;
  if (typeof sample !== 'object' || sample === null || Object.keys(sample).length === 0) {
    throw new InvalidArgumentError('input', isPut ? 'Item must not be empty' : 'Key must not be empty');
  }
  let marshalled = options.marshalled;
  // Attributes set to `undefined` (an item with optional fields) are left out of the request by the
  // low-level client: they say nothing about the shape. A key attribute is always a scalar, so a
  // DocumentClient key or item never passes as low level.
  if (marshalled === undefined) {
    marshalled = Object.values(sample).every((v) => v === undefined || isAttributeValue(v));
  } else if (typeof marshalled !== 'boolean') {
    throw new InvalidArgumentError('marshalled', 'must be a boolean');
  }

  const userNames = input.ExpressionAttributeNames ?? {};
  const userValues = input.ExpressionAttributeValues ?? {};
  for (const field of ['UpdateExpression', 'ConditionExpression'] as const) {
    const expression: unknown = input[field];
    if (expression !== undefined && typeof expression !== 'string') {
      throw new InvalidArgumentError('input', `${field} must be a string`);
    }
  }
  const expressions = [input.UpdateExpression ?? '', input.ConditionExpression ?? ''];

  const name = freshPlaceholder('#lhFence', Object.keys(userNames), expressions);
  const value = freshPlaceholder(':lhToken', Object.keys(userValues), expressions);
  const tokenValue = marshalled ? { N: String(token) } : token;
  const fenceCondition = `(attribute_not_exists(${name}) OR ${name} <= ${value})`;
  const userCondition = input.ConditionExpression?.trim();
  if (userCondition && !balanced(userCondition)) {
    throw new InvalidArgumentError(
      'input',
      'ConditionExpression has unbalanced parentheses: it could escape the fence condition',
    );
  }

  const out: FenceableInput = {
    ...input,
    ConditionExpression: userCondition ? `${fenceCondition} AND (${userCondition})` : fenceCondition,
    ExpressionAttributeNames: { ...userNames, [name]: attribute },
    ExpressionAttributeValues: { ...userValues, [value]: tokenValue },
  };
  if (isPut) out.Item = { ...input.Item, [attribute]: tokenValue };
  else out.UpdateExpression = addSetAction(input.UpdateExpression, `${name} = ${value}`);
  return out as FencedInput<T>;
}

/**
 * Anything with a `send` method: a `DynamoDBClient` or a `DynamoDBDocumentClient`.
 *
 * @example
 * ```ts
 * const sender: CommandSender = DynamoDBDocumentClient.from(new DynamoDBClient({}));
 * ```
 */
export interface CommandSender {
  /** Sends one command; typed loosely so that both clients' overloaded `send` fit. */
  send(command: never): unknown;
}

/**
 * An SDK command whose input {@link withFence} can fence: `UpdateItemCommand`, `PutItemCommand`,
 * `DeleteItemCommand` (client-dynamodb) or `UpdateCommand`, `PutCommand`, `DeleteCommand` (lib-dynamodb).
 *
 * @example
 * ```ts
 * const command: FenceableCommand = new UpdateCommand({ TableName: 'orders', Key: { id: 'o-42' } });
 * ```
 */
export interface FenceableCommand {
  /** The command's input: fenced with {@link withFence}, then sent in a new command of the same class. */
  readonly input: FenceableInput;
}

/**
 * The output type of an SDK command (e.g. `UpdateCommandOutput` for `UpdateCommand`).
 *
 * @example
 * ```ts
 * type Out = CommandOutputOf<UpdateItemCommand>; // UpdateItemCommandOutput
 * ```
 */
export type CommandOutputOf<C> = C extends {
  resolveMiddleware(...args: never[]): (...args: never[]) => Promise<{ output: infer O }>;
}
  ? O
  : unknown;

/** Reads a fence out of a returned item: `{ N: '12' }` (low level) or a number-like (DocumentClient). */
function readFence(value: unknown): number | undefined {
  let raw: unknown = value;
  if (typeof raw === 'object' && raw !== null) {
    if ('N' in raw) raw = (raw as { N: unknown }).N;
    else if ('value' in raw) raw = (raw as { value: unknown }).value; // lib-dynamodb NumberValue
  }
  if (typeof raw === 'bigint') return Number(raw);
  if (typeof raw === 'string' && raw.trim() !== '') raw = Number(raw);
  return typeof raw === 'number' && Number.isFinite(raw) ? raw : undefined;
}

/**
 * Send an `UpdateItem`/`PutItem`/`DeleteItem` command fenced with the lease's token (see
 * {@link withFence}; a delete gets the condition only, and removes the fence with the item) and tell
 * a stale write apart from your own condition failing:
 *
 * - resolves with the command's output when the write was applied;
 * - throws `StaleTokenError` (from `@leasehold/core`, code `STALE_TOKEN`, with `currentToken`) when the
 *   item already carries a newer token: a newer holder owns the resource, do not retry with this lease;
 * - rethrows DynamoDB's own `ConditionalCheckFailedException` when your `ConditionExpression` failed
 *   (or when the item's fence attribute holds something other than a number: every write is refused),
 *   with the stored item as `Item` only if your command asked for it (`ReturnValuesOnConditionCheckFailure:
 *   'ALL_OLD'`);
 * - rethrows any other SDK error unchanged.
 *
 * Pass the command you would have sent: it is rebuilt (same class, fenced input, with
 * `ReturnValuesOnConditionCheckFailure: 'ALL_OLD'` so the stored fence comes back with a rejection, at
 * no extra request). Middleware added to that command object itself is not carried over; middleware on
 * the client is. Works with `DynamoDBClient` and `DynamoDBDocumentClient`.
 *
 * @example
 * ```ts
 * import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
 * await locker.withLock('order:o-42', async (lease) => {
 *   await sendFenced(docClient, lease, new UpdateCommand({
 *     TableName: 'orders',
 *     Key: { id: 'o-42' },
 *     UpdateExpression: 'SET paid = :yes',
 *     ExpressionAttributeValues: { ':yes': true },
 *   }));
 * });
 * ```
 */
export async function sendFenced<C extends FenceableCommand>(
  client: CommandSender,
  lease: FenceLease,
  command: C,
  options: FenceOptions = {},
): Promise<CommandOutputOf<C>> {
  if (typeof (client as { send?: unknown } | null | undefined)?.send !== 'function') {
    throw new InvalidArgumentError('client', 'must be a DynamoDBClient or DynamoDBDocumentClient');
  }
  const Command = (command as { constructor?: unknown } | null | undefined)?.constructor;
  if (
    typeof command !== 'object' ||
    command === null ||
    typeof command.input !== 'object' ||
    typeof Command !== 'function' ||
    Command === Object
  ) {
    throw new InvalidArgumentError(
      'command',
      'must be an SDK command such as new UpdateCommand(input) or new PutItemCommand(input); to fence a plain input use withFence()',
    );
  }
  const token = checkLease(lease);
  const attribute = fenceAttribute(options);
  const input: FenceableInput = {
    ...withFence(lease, command.input, options),
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  };
  const fenced = new (Command as new (input: FenceableInput) => C)(input);
  try {
    return (await client.send(fenced as never)) as CommandOutputOf<C>;
  } catch (err) {
    if (isConditionalCheckFailed(err)) {
      const current = readFence((err.Item as Record<string, unknown> | undefined)?.[attribute]);
      if (current !== undefined && current > token) {
        // Sent more than once (the SDK retried an answer it lost): an earlier copy may have landed
        // before the newer token did, so the refusal of the last one proves nothing about it.
        const sent = (err as { $metadata?: { attempts?: unknown } }).$metadata?.attempts;
        throw new StaleTokenError(token, current, input.TableName, typeof sent === 'number' && sent > 1);
      }
      // The item came back only because this function asked for it: an error logged whole must not
      // carry the caller's data (names, emails, idempotency keys) unless the caller asked for it too.
      if (command.input.ReturnValuesOnConditionCheckFailure !== 'ALL_OLD') delete err.Item;
    }
    throw err;
  }
}
