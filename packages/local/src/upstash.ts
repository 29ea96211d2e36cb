import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { LocalStartError } from './errors.js';
import { delay } from './process.js';
import {
  RedisConnectionError,
  type RespArg,
  type RespConnection,
  RespError,
  RespPool,
  RespSimple,
  type RespValue,
} from './resp.js';
import {
  validateBoolean,
  validateNonEmptyString,
  validateOptionsObject,
  validatePort,
  validatePositiveInteger,
  validateToken,
} from './validate.js';

/**
 * Options for {@link startUpstashEndpoint}.
 *
 * @example
 * ```ts
 * const endpoint = await startUpstashEndpoint({ redisPort: 6379, token: 'dev-token', port: 8079 });
 * ```
 */
export interface UpstashEndpointOptions {
  /** Host of the redis-server to forward to (a non-empty string). Default: `127.0.0.1`. */
  redisHost?: string;
  /** Port of the redis-server to forward to (required). */
  redisPort: number;
  /** Bearer token clients must send: non-empty, no whitespace. Default: a random token. */
  token?: string;
  /** Loopback port to listen on. Default: a free port. */
  port?: number;
  /** Largest accepted request body in bytes: a positive integer. Default: 64 MiB. */
  maxBodyBytes?: number;
  /**
   * Accept Upstash's `allow-key-locking` script flag, as Upstash does: it is taken out of the script's
   * shebang before redis-server (which refuses it) sees the script, and `EVALSHA` of the script as
   * sent runs the script as stored. Its rules are kept as Upstash keeps them: a command in the script
   * that names a key not passed in `KEYS`, or `FLUSHDB` / `FLUSHALL`, fails the script. `false` passes
   * scripts through unchanged, as a plain Redis behind a REST proxy answers. Default `true`.
   */
  upstashScriptFlags?: boolean;
}

/**
 * A running Upstash-compatible REST endpoint on 127.0.0.1, forwarding to a redis-server.
 * Use `url` and `token` with `@upstash/redis` exactly as with a real Upstash database.
 *
 * @example
 * ```ts
 * import { Redis } from '@upstash/redis';
 * import { startRedisServer, startUpstashEndpoint } from '@leasehold/local';
 *
 * const server = await startRedisServer();
 * const endpoint = await startUpstashEndpoint({ redisPort: server.port });
 * const redis = new Redis({ url: endpoint.url, token: endpoint.token });
 * await redis.set('greeting', 'hello');
 * await endpoint.stop();
 * await server.stop();
 * ```
 */
export interface UpstashEndpoint {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** The bearer token (a local development token, not a secret worth protecting). */
  readonly token: string;
  /** The loopback port it listens on. */
  readonly port: number;
  /** Closes the HTTP server, open requests, subscriptions and redis connections. Idempotent. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

/** Commands that would change the protocol or never reply like a normal command. */
const REJECTED = new Set([
  'subscribe',
  'psubscribe',
  'ssubscribe',
  'unsubscribe',
  'punsubscribe',
  'sunsubscribe',
  'monitor',
  'sync',
  'psync',
  'hello',
  'quit',
  'reset',
]);

/** Commands after which a connection may carry state: it is closed instead of reused. */
const STATEFUL = new Set([
  'select',
  'watch',
  'unwatch',
  'multi',
  'exec',
  'discard',
  'client',
  'auth',
  'readonly',
]);

const TRANSACTION_CONTROL = new Set(['multi', 'exec', 'discard', 'watch', 'unwatch']);

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Command = RespArg[];

function commandName(command: Command): string {
  const first = command[0];
  if (first === undefined) return '';
  return (typeof first === 'string' ? first : first.toString('utf8')).toLowerCase();
}

/** The flags of a script's `#!lua` shebang line. */
const SHEBANG_FLAGS = /^(#!lua[^\n]*?) flags=(\S*)/;
/** Script flags only Upstash knows: redis-server refuses a shebang that names one. */
const UPSTASH_FLAGS = new Set(['allow-key-locking']);

/**
 * Commands whose keys are known without asking redis-server, by the `COMMAND GETKEYS` answer for them:
 * `1` the argument after the name is the only key; `2` every argument is a key (taken on trust only with
 * exactly one); `0` no key at all (`PUBLISH`: its channel is no key). Uppercase only: any other
 * spelling takes the `COMMAND GETKEYS` path.
 */
const KNOWN_KEYS: Record<string, 0 | 1 | 2> = {
  GET: 1,
  SET: 1,
  PTTL: 1,
  PEXPIRE: 1,
  INCRBY: 1,
  HGET: 1,
  HSET: 1,
  HDEL: 1,
  ZADD: 1,
  ZREM: 1,
  ZPOPMIN: 1,
  EXISTS: 2,
  DEL: 2,
  PUBLISH: 0,
};

/**
 * A Lua condition true when the command name `c` is one of {@link KNOWN_KEYS} of that kind: plain
 * comparisons of interned strings, so that no table is built on every script call.
 */
const knownWith = (kind: 0 | 1 | 2): string =>
  Object.entries(KNOWN_KEYS)
    .filter(([, k]) => k === kind)
    .map(([name]) => `c=='${name}'`)
    .join(' or ');

/**
 * Upstash's rules for a script with `allow-key-locking` (https://upstash.com/docs/redis/features/key-locking),
 * as Lua put in front of the script's first line (on that line, so that line numbers in errors stay):
 * `redis.call` and `redis.pcall` refuse a command that names a key not passed in `KEYS` (the keys
 * redis-server's `COMMAND GETKEYS` finds in it, as Upstash locks only those) and the database-wide
 * `FLUSHDB` / `FLUSHALL`, failing the script with Upstash's error text. A key must equal one in `KEYS`:
 * the strictest form the docs give (newer pages also let a key through that shares the hash tag of a
 * declared one), so a script that passes here passes on Upstash.
 *
 * A command of {@link KNOWN_KEYS} whose key (the argument after its name) is declared, or that has no
 * key, runs without asking `COMMAND GETKEYS`, whose answer for it could only let it through as well;
 * anything else (an undeclared key included) is decided by `COMMAND GETKEYS`, as before. Asking it
 * through `redis.pcall` cost ~10 µs of Redis time per call: an uncontended acquire + release of the
 * Upstash store ran ~3–5% slower through this endpoint than without the check. The checker is one
 * closure shared by `call` and `pcall`, and it looks commands up by comparison, not in a table built
 * on every script call.
 */
const KEY_LOCKING_GUARD =
  'local redis=(function(o)local d={}for _,k in ipairs(KEYS)do d[k]=1 end ' +
  `local function v(...)local c,k=...if ${knownWith(0)} or d[k]and(${knownWith(1)} or select('#',...)==2 and(${knownWith(2)}))then return end ` +
  `c=string.lower(tostring(c))if c=='flushdb'or c=='flushall'then ` +
  `error({err="ERR "..string.upper(c).." is not allowed in Lua scripts when 'allow-key-locking' flag is set"})end ` +
  `local r=o.pcall('COMMAND','GETKEYS',...)if type(r)=='table'and not r.err then for _,k in ipairs(r)do ` +
  `if not d[k]then error({err="ERR Dynamic keys are not allowed in Lua scripts when 'allow-key-locking' flag is set. Key was: "..k})end end end end ` +
  'return setmetatable({call=function(...)v(...)return o.call(...)end,' +
  'pcall=function(...)v(...)return o.pcall(...)end},{__index=o})end)(redis);';

/**
 * `script` without the flags only Upstash knows, or undefined when it names none. A script that had
 * `allow-key-locking` gets {@link KEY_LOCKING_GUARD}.
 */
function withoutUpstashFlags(script: string): string | undefined {
  const shebang = SHEBANG_FLAGS.exec(script);
  const flags = shebang?.[2]?.split(',') ?? [];
  const kept = flags.filter((flag) => !UPSTASH_FLAGS.has(flag));
  if (!shebang || kept.length === flags.length) return undefined;
  const rest = script.slice(shebang[0].length);
  const lineEnd = rest.indexOf('\n');
  const body =
    lineEnd < 0
      ? `${rest}\n${KEY_LOCKING_GUARD}`
      : `${rest.slice(0, lineEnd + 1)}${KEY_LOCKING_GUARD}${rest.slice(lineEnd + 1)}`;
  return `${shebang[1]}${kept.length ? ` flags=${kept.join(',')}` : ''}${body}`;
}

/**
 * Upstash's script flags translated for redis-server: `EVAL` (and `SCRIPT LOAD`) of a script whose
 * shebang names `allow-key-locking` runs (loads) it without the flag, and `EVALSHA` of the SHA-1 of the
 * script as sent runs the one redis-server stored (as Upstash, `EVALSHA` finds a script by the text the
 * client sent). `SCRIPT LOAD` answers that SHA-1 and `SCRIPT EXISTS` knows it, as on Upstash, where
 * "the digest is what SCRIPT LOAD returns" and "shebang flags are part of the source"
 * (https://upstash.com/docs/redis/commands/scripting/script-load).
 */
class ScriptFlags {
  /** SHA-1 of a script as sent → SHA-1 of the script redis-server got. */
  private readonly stored = new Map<string, string>();
  /** Translated `SCRIPT LOAD` commands → the SHA-1 their reply names instead (of the script as sent). */
  private readonly loads = new WeakMap<Command, string>();

  translate(command: Command): Command {
    const name = commandName(command);
    const arg = command[1];
    if ((name === 'eval' || name === 'eval_ro') && arg !== undefined) {
      const plain = this.plain(arg);
      return plain === undefined ? command : [command[0]!, plain, ...command.slice(2)];
    }
    if ((name === 'evalsha' || name === 'evalsha_ro') && arg !== undefined) {
      const sha = this.stored.get(arg.toString().toLowerCase());
      return sha === undefined ? command : [command[0]!, sha, ...command.slice(2)];
    }
    const sub = name === 'script' ? commandName(command.slice(1)) : '';
    const script = command[2];
    if (sub === 'load' && command.length === 3 && script !== undefined) {
      const plain = this.plain(script);
      if (plain === undefined) return command;
      const load: Command = [command[0]!, command[1]!, plain];
      this.loads.set(load, sha1(script.toString()));
      return load;
    }
    if (sub === 'exists') {
      return command.map((item, index) =>
        index < 2 ? item : (this.stored.get(item.toString().toLowerCase()) ?? item),
      );
    }
    return command;
  }

  /** The reply to `command` (as {@link translate} returned it) as Upstash gives it. */
  answer(command: Command, reply: RespValue): RespValue {
    const sha = this.loads.get(command);
    return sha !== undefined && Buffer.isBuffer(reply) ? Buffer.from(sha) : reply;
  }

  /** `script` without Upstash's flags (remembering its SHA-1s), or undefined when it names none. */
  private plain(arg: RespArg): string | undefined {
    const script = arg.toString();
    const plain = withoutUpstashFlags(script);
    if (plain !== undefined) this.stored.set(sha1(script), sha1(plain));
    return plain;
  }
}

const sha1 = (text: string) => createHash('sha1').update(text, 'utf8').digest('hex');

function rejection(command: Command): string | undefined {
  const name = commandName(command);
  if (REJECTED.has(name)) {
    const hint =
      name === 'subscribe' || name === 'psubscribe'
        ? ` (use POST /${name}/<channel> for server-sent events)`
        : '';
    return `ERR Command is not allowed: ${name}${hint}`;
  }
  if (name === 'client' && commandName(command.slice(1)) === 'reply') {
    return 'ERR Command is not allowed: client reply';
  }
  return undefined;
}

/** Turns one JSON command (an array of strings, numbers and booleans) into RESP arguments. */
function toCommand(value: unknown, where: string): Command {
  if (!Array.isArray(value) || value.length === 0) {
    throw new HttpError(400, `ERR ${where} must be a non-empty JSON array of strings and numbers`);
  }
  return value.map((arg, index): RespArg => {
    if (typeof arg === 'string') return arg;
    if (typeof arg === 'number' || typeof arg === 'boolean') return String(arg);
    throw new HttpError(400, `ERR ${where}: argument ${index} must be a string or a number`);
  });
}

function toCommands(value: unknown): Command[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new HttpError(400, 'ERR the body must be a non-empty JSON array of commands');
  }
  return value.map((item, index) => toCommand(item, `command ${index}`));
}

/**
 * Writes a reply as JSON the way Upstash does: integers as numbers (all digits kept), nil as null,
 * arrays recursively, strings as JSON strings — or, with `Upstash-Encoding: base64`, every string
 * base64-encoded except a top-level `OK` status reply (what @upstash/redis's decoder expects).
 */
function replyToJson(value: RespValue, base64: boolean, topLevel: boolean): string {
  if (value === null) return 'null';
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return `[${value.map((item) => replyToJson(item, base64, false)).join(',')}]`;
  if (Buffer.isBuffer(value))
    return base64 ? `"${value.toString('base64')}"` : JSON.stringify(value.toString('utf8'));
  const text = value instanceof RespSimple ? value.value : value.message;
  if (!base64 || (topLevel && value instanceof RespSimple && text === 'OK')) return JSON.stringify(text);
  return `"${Buffer.from(text, 'utf8').toString('base64')}"`;
}

function entryToJson(value: RespValue, base64: boolean): string {
  if (value instanceof RespError) return `{"error":${JSON.stringify(value.message)}}`;
  return `{"result":${replyToJson(value, base64, true)}}`;
}

/**
 * The RESP2 wire form of a reply, as Upstash answers with `Upstash-Response-Format: resp2`
 * (https://upstash.com/docs/redis/features/restapi, "RESP2 Format Responses"): "the raw response is
 * returned as binary similar to a TCP-based Redis client".
 */
function replyToResp(value: RespValue): Buffer {
  if (value === null) return Buffer.from('$-1\r\n');
  if (typeof value === 'bigint') return Buffer.from(`:${value}\r\n`);
  if (Array.isArray(value)) {
    return Buffer.concat([Buffer.from(`*${value.length}\r\n`), ...value.map(replyToResp)]);
  }
  if (Buffer.isBuffer(value)) {
    return Buffer.concat([Buffer.from(`$${value.length}\r\n`), value, Buffer.from('\r\n')]);
  }
  return Buffer.from(value instanceof RespSimple ? `+${value.value}\r\n` : `-${value.message}\r\n`);
}

/**
 * How a reply is written: JSON (`json`), JSON with base64 strings (`Upstash-Encoding: base64`) or RESP2
 * (`Upstash-Response-Format: resp2`).
 */
type Encoding = 'json' | 'base64' | 'resp2';

/**
 * The encoding a request asks for. As Upstash documents (redis/features/restapi, "RESP2 Format
 * Responses"): `Upstash-Response-Format` is `json` (the default) or `resp2`, "any format other than json
 * and resp2 is not allowed and will result in a HTTP 400 Bad Request", and so does `Upstash-Encoding:
 * base64` with `resp2`.
 */
function requestedEncoding(req: IncomingMessage): Encoding {
  const base64 = String(req.headers['upstash-encoding'] ?? '').toLowerCase() === 'base64';
  const format = req.headers['upstash-response-format'];
  const resp2 = format !== undefined && String(format).trim().toLowerCase() === 'resp2';
  if (format !== undefined && !resp2 && String(format).trim().toLowerCase() !== 'json') {
    throw new HttpError(400, 'ERR invalid Upstash-Response-Format: use json or resp2');
  }
  if (resp2 && base64) {
    throw new HttpError(
      400,
      'ERR Upstash-Encoding: base64 is not allowed with Upstash-Response-Format: resp2',
    );
  }
  return resp2 ? 'resp2' : base64 ? 'base64' : 'json';
}

function sendResp(res: ServerResponse, status: number, body: Buffer): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    'content-type': 'application/octet-stream',
    'content-length': body.length,
    'cache-control': 'no-store',
  });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: string): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

function sendError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, `{"error":${JSON.stringify(message)}}`);
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) throw new HttpError(413, `ERR request body is larger than ${limit} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks, size);
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError(400, 'ERR the request body is not valid JSON');
  }
}

/** Ends a response (if not already ended) and resolves once it is flushed or the socket is gone. */
function endResponse(res: ServerResponse): Promise<void> {
  if (res.writableFinished || res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    res.once('close', () => resolve());
    res.once('finish', () => resolve());
    if (!res.writableEnded) res.end();
  });
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * The channels of `/subscribe/<channel>[/<channel>...]`: as in every Upstash REST path, `/` separates
 * the command's arguments, and each is percent-decoded.
 */
function decodeTargets(rawPath: string, prefix: string): string[] {
  return rawPath
    .slice(prefix.length)
    .split('/')
    .map((raw) => {
      try {
        return decodeURIComponent(raw);
      } catch {
        return raw;
      }
    });
}

/** Formats one pub/sub push as the SSE `data:` line(s) @upstash/redis parses: `type,channel,payload`. */
function sseEvent(parts: string[]): string {
  const data = parts.join(',');
  return `${data
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}`)
    .join('\n')}\n\n`;
}

function pushToStrings(value: RespValue): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.map((item) => {
    if (Buffer.isBuffer(item)) return item.toString('utf8');
    if (typeof item === 'bigint') return item.toString();
    if (item instanceof RespSimple) return item.value;
    if (item instanceof RespError) return item.message;
    return '';
  });
}

class LocalUpstashEndpoint implements UpstashEndpoint {
  readonly url: string;
  private readonly tokenDigest: Buffer;
  /** Open SSE subscriptions: their redis connection and HTTP response. */
  private readonly subscribers = new Map<RespConnection, ServerResponse>();
  private stopping: Promise<void> | undefined;
  private readonly scripts: ScriptFlags | undefined;

  constructor(
    private readonly server: Server,
    private readonly pool: RespPool,
    readonly token: string,
    readonly port: number,
    private readonly maxBodyBytes: number,
    upstashScriptFlags: boolean,
  ) {
    this.scripts = upstashScriptFlags ? new ScriptFlags() : undefined;
    this.url = `http://${HOST}:${port}`;
    this.tokenDigest = digest(token);
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      // End event streams cleanly (clients see the stream finish rather than a reset), then drop
      // every connection that is left.
      const streams = [...this.subscribers.values()];
      for (const conn of this.subscribers.keys()) conn.close();
      this.subscribers.clear();
      await Promise.race([Promise.all(streams.map((res) => endResponse(res))), delay(200)]);
      this.server.closeAllConnections();
      this.pool.close();
      await closed;
    })();
    return this.stopping;
  }

  /**
   * The `Authorization: Bearer <token>` header, or else the `_token` query parameter, as Upstash takes
   * either (https://upstash.com/docs/redis/features/restapi, "Security and Authentication").
   */
  private authorized(req: IncomingMessage): boolean {
    const header = req.headers.authorization;
    const bearer = typeof header === 'string' ? /^Bearer\s+(.+)$/i.exec(header.trim())?.[1] : undefined;
    const token = bearer ?? new URL(req.url ?? '/', this.url).searchParams.get('_token');
    return typeof token === 'string' && timingSafeEqual(digest(token), this.tokenDigest);
  }

  /** A reply of redis-server to a command sent as `command` (translated), as Upstash answers it. */
  private answer(command: Command, reply: RespValue): RespValue {
    return this.scripts?.answer(command, reply) ?? reply;
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    // A client that goes away mid-response must not crash the process.
    res.on('error', () => {});
    req.on('error', () => {});
    this.route(req, res).catch((error: unknown) => {
      if (error instanceof HttpError) {
        sendError(res, error.status, error.message);
      } else if (error instanceof RedisConnectionError) {
        sendError(res, 503, `ERR redis-server is not reachable: ${error.message}`);
      } else {
        sendError(res, 500, 'ERR internal error in the local Upstash endpoint');
      }
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('access-control-allow-origin', '*');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        'access-control-allow-methods': 'POST, OPTIONS',
        'access-control-allow-headers': '*',
      });
      res.end();
      return;
    }
    if (!this.authorized(req)) {
      req.resume();
      // Upstash's text (docs: redis/troubleshooting/http_unauthorized).
      sendError(res, 401, 'WRONGPASS invalid or missing auth token');
      return;
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method !== 'POST') {
      req.resume();
      throw new HttpError(405, `ERR method ${String(req.method)} is not supported; use POST`);
    }
    if (path.startsWith('/subscribe/') || path.startsWith('/psubscribe/')) {
      const kind = path.startsWith('/subscribe/') ? 'subscribe' : 'psubscribe';
      req.resume();
      await this.subscribe(kind, decodeTargets(path, `/${kind}/`), req, res);
      return;
    }
    if (path !== '/' && path !== '' && path !== '/pipeline' && path !== '/multi-exec') {
      req.resume();
      throw new HttpError(
        404,
        `ERR unknown path ${path}; use /, /pipeline, /multi-exec or /subscribe/<channel>`,
      );
    }
    const body = parseJson(await readBody(req, this.maxBodyBytes));
    const encoding = requestedEncoding(req);
    const translate = (command: Command) => this.scripts?.translate(command) ?? command;
    if (path === '/pipeline') {
      await this.pipeline(toCommands(body).map(translate), encoding, res);
    } else if (path === '/multi-exec') {
      // "This option is not applicable to /multi-exec transactions endpoint, as it only returns
      // response in JSON format" (redis/features/restapi).
      await this.multiExec(toCommands(body).map(translate), encoding === 'base64', res);
    } else {
      await this.single(translate(toCommand(body, 'the command')), encoding, res);
    }
  }

  /** Runs `fn` with a pooled connection; if the client goes away first, the connection is dropped. */
  private async withConnection<T>(
    res: ServerResponse,
    stateful: boolean,
    fn: (conn: RespConnection) => Promise<T>,
  ): Promise<T> {
    const conn = await this.pool.acquire();
    let done = false;
    const onClose = (): void => {
      if (!done) conn.close(); // e.g. a blocking command whose caller gave up
    };
    res.once('close', onClose);
    try {
      const result = await fn(conn);
      done = true;
      this.pool.release(conn, !stateful);
      return result;
    } catch (error) {
      done = true;
      conn.close();
      throw error;
    } finally {
      res.off('close', onClose);
    }
  }

  private async single(command: Command, encoding: Encoding, res: ServerResponse): Promise<void> {
    const rejected = rejection(command);
    if (rejected !== undefined) throw new HttpError(400, rejected);
    const stateful = STATEFUL.has(commandName(command));
    const reply = this.answer(
      command,
      await this.withConnection(res, stateful, (conn) => conn.send(command)),
    );
    const status = reply instanceof RespError ? 400 : 200;
    if (encoding === 'resp2') sendResp(res, status, replyToResp(reply));
    else if (reply instanceof RespError) sendError(res, 400, reply.message);
    else sendJson(res, 200, `{"result":${replyToJson(reply, encoding === 'base64', true)}}`);
  }

  private async pipeline(commands: Command[], encoding: Encoding, res: ServerResponse): Promise<void> {
    const rejections = commands.map(rejection);
    const runnable = commands.filter((_, index) => rejections[index] === undefined);
    const stateful = runnable.some((command) => STATEFUL.has(commandName(command)));
    const replies =
      runnable.length === 0
        ? []
        : await this.withConnection(res, stateful, (conn) => conn.sendMany(runnable));
    let next = 0;
    const answers = commands.map((command, index): RespValue => {
      const rejected = rejections[index];
      return rejected !== undefined ? new RespError(rejected) : this.answer(command, replies[next++] ?? null);
    });
    // RESP2: the replies one after another, as a pipelining TCP client reads them (the docs show only
    // single commands; they exclude only /multi-exec from the format).
    if (encoding === 'resp2') {
      sendResp(res, 200, Buffer.concat(answers.map(replyToResp)));
      return;
    }
    const entries = answers.map((answer) => entryToJson(answer, encoding === 'base64'));
    sendJson(res, 200, `[${entries.join(',')}]`);
  }

  private async multiExec(commands: Command[], base64: boolean, res: ServerResponse): Promise<void> {
    for (const command of commands) {
      const rejected = rejection(command);
      if (rejected !== undefined) throw new HttpError(400, rejected);
      const name = commandName(command);
      if (TRANSACTION_CONTROL.has(name)) {
        throw new HttpError(400, `ERR ${name.toUpperCase()} is not allowed inside /multi-exec`);
      }
    }
    const stateful = commands.some((command) => STATEFUL.has(commandName(command)));
    const replies = await this.withConnection(res, stateful, (conn) =>
      conn.sendMany([['MULTI'], ...commands, ['EXEC']]),
    );
    const queued = replies.slice(1, -1);
    const queueError = queued.find((reply): reply is RespError => reply instanceof RespError);
    const exec = replies[replies.length - 1];
    if (queueError !== undefined) throw new HttpError(400, queueError.message);
    if (exec instanceof RespError) throw new HttpError(400, exec.message);
    if (!Array.isArray(exec)) throw new HttpError(400, 'ERR the transaction was aborted');
    const entries = exec.map((reply, index) => entryToJson(this.answer(commands[index]!, reply), base64));
    sendJson(res, 200, `[${entries.join(',')}]`);
  }

  /**
   * `POST /subscribe/<channel>` and `/psubscribe/<pattern>` (several separated by `/`): a dedicated redis connection in pub/sub
   * mode, streamed as server-sent events. Each push becomes `data: <kind>,<channel>,<payload>`
   * (`data: pmessage,<pattern>,<channel>,<payload>` for patterns), payload as plain UTF-8 text.
   */
  private async subscribe(
    kind: 'subscribe' | 'psubscribe',
    targets: string[],
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    if (targets.includes('')) throw new HttpError(400, `ERR /${kind}/ needs a channel`);
    const conn = await this.pool.dedicated();
    this.subscribers.set(conn, res);
    const finish = (): void => {
      this.subscribers.delete(conn);
      conn.close();
    };
    res.once('close', finish);
    req.once('error', finish);
    // The client may have gone while the connection was opening: its 'close' has passed already.
    if (res.destroyed) {
      finish();
      return;
    }
    conn.onClose(() => {
      this.subscribers.delete(conn);
      if (res.headersSent) void endResponse(res);
      else sendError(res, 503, 'ERR redis-server is not reachable');
    });
    conn.onPush((value) => {
      if (value instanceof RespError) {
        if (!res.headersSent) sendError(res, 400, value.message);
        finish();
        return;
      }
      const parts = pushToStrings(value);
      if (parts === undefined || parts.length < 3) return;
      if (!res.headersSent) {
        res.writeHead(200, {
          'content-type': 'text/event-stream',
          'cache-control': 'no-cache',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
      }
      res.write(sseEvent(parts));
    });
    conn.write([kind.toUpperCase(), ...targets]);
  }
}

/**
 * Starts an HTTP server on 127.0.0.1 that speaks the Upstash Redis REST protocol (as used by
 * `@upstash/redis`) and forwards to a redis-server: `POST /` (one command), `/pipeline`,
 * `/multi-exec`, `/subscribe/<channel>` and `/psubscribe/<pattern>` (server-sent events), Bearer
 * token auth, and `Upstash-Encoding: base64`.
 *
 * @param options - `redisPort` (required) and optional `redisHost`, `token`, `port`, `maxBodyBytes`,
 *   `upstashScriptFlags`.
 * @example
 * ```ts
 * import { startRedisServer, startUpstashEndpoint } from '@leasehold/local';
 *
 * const redisServer = await startRedisServer();
 * const upstash = await startUpstashEndpoint({ redisPort: redisServer.port, token: 'dev-token' });
 * process.env.UPSTASH_REDIS_REST_URL = upstash.url;
 * process.env.UPSTASH_REDIS_REST_TOKEN = upstash.token;
 * // Redis.fromEnv() from @upstash/redis now talks to the local redis-server.
 * ```
 */
export async function startUpstashEndpoint(options: UpstashEndpointOptions): Promise<UpstashEndpoint> {
  // Every option is checked before the server listens.
  validateOptionsObject(options);
  // Without options, the error is the one for a missing redisPort.
  validatePort((options as UpstashEndpointOptions | undefined)?.redisPort, 'redisPort', true);
  validateNonEmptyString(options.redisHost, 'redisHost');
  validateToken(options.token);
  validatePort(options.port);
  validatePositiveInteger(options.maxBodyBytes, 'maxBodyBytes');
  validateBoolean(options.upstashScriptFlags, 'upstashScriptFlags');
  const token = options.token ?? randomBytes(24).toString('base64url');
  const pool = new RespPool(options.redisHost ?? HOST, options.redisPort);
  let endpoint: LocalUpstashEndpoint | undefined;
  const server = createServer({ keepAliveTimeout: 5_000 }, (req, res) => {
    if (endpoint === undefined) {
      sendError(res, 503, 'ERR starting');
      return;
    }
    endpoint.handle(req, res);
  });
  server.unref();
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: HOST, port: options.port ?? 0 }, () => {
      server.off('error', reject);
      const address = server.address();
      if (address === null || typeof address === 'string') reject(new Error('no address'));
      else resolve(address.port);
    });
  }).catch((error: unknown) => {
    pool.close();
    server.close();
    const code = (error as { code?: unknown }).code;
    throw new LocalStartError(
      'upstash',
      options.port ?? 0,
      code === 'EADDRINUSE'
        ? `port ${options.port} is already in use on ${HOST}`
        : `the Upstash endpoint could not listen on ${HOST}:${options.port ?? 0}`,
      '',
      error,
    );
  });
  try {
    endpoint = new LocalUpstashEndpoint(
      server,
      pool,
      token,
      port,
      options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      options.upstashScriptFlags ?? true,
    );
  } catch (error) {
    // Nothing may keep listening after a failed start.
    server.closeAllConnections();
    server.close();
    pool.close();
    throw error;
  }
  return endpoint;
}
