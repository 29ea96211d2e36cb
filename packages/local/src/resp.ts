import { connect, type Socket } from 'node:net';

/** A RESP2 simple string reply (`+OK`). */
export class RespSimple {
  constructor(readonly value: string) {}
}

/** A RESP2 error reply (`-ERR ...`). */
export class RespError {
  constructor(readonly message: string) {}
}

/**
 * A RESP2 reply: bulk string (Buffer), simple string, error, integer (bigint, all 64 bits kept),
 * nil (null) or an array of replies.
 */
export type RespValue = Buffer | RespSimple | RespError | bigint | null | RespValue[];

/** One command argument. Strings are sent as UTF-8. */
export type RespArg = Buffer | string;

const CRLF = Buffer.from('\r\n');
const EMPTY = Buffer.alloc(0);

/**
 * Encodes one command as a RESP2 array of bulk strings. A command of strings only (every command that
 * came as JSON) is written as one string, converted once: a buffer per argument cost microseconds per
 * command on the endpoint's path, more for scripts, which have the most arguments.
 */
export function encodeCommand(args: readonly RespArg[]): Buffer {
  let text = `*${args.length}\r\n`;
  for (const arg of args) {
    if (typeof arg !== 'string') return encodeParts(args);
    text += `$${Buffer.byteLength(arg, 'utf8')}\r\n${arg}\r\n`;
  }
  return Buffer.from(text, 'utf8');
}

/** {@link encodeCommand} for a command with binary arguments. */
function encodeParts(args: readonly RespArg[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg, 'utf8') : arg;
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, CRLF);
  }
  return Buffer.concat(parts);
}

class ProtocolError extends Error {}

/**
 * Incremental RESP2 parser. Feed it socket chunks; it calls `onReply` for each complete reply.
 * While a large bulk string is arriving it does not re-parse on every chunk, and the elements of a
 * large array already received are kept, not parsed again when the next chunk arrives.
 */
export class RespParser {
  private buffer: Buffer = EMPTY;
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  /** Total bytes needed before a parse attempt can make progress. */
  private needed = 0;
  private missing = 0;
  /** Arrays (outermost first) whose elements are still arriving. */
  private readonly open: Array<{ items: RespValue[]; count: number }> = [];

  constructor(private readonly onReply: (value: RespValue) => void) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.chunkBytes += chunk.length;
    if (this.buffer.length + this.chunkBytes < this.needed) return;
    this.buffer =
      this.buffer.length === 0 && this.chunks.length === 1
        ? chunk
        : Buffer.concat([this.buffer, ...this.chunks]);
    this.chunks = [];
    this.chunkBytes = 0;
    let offset = 0;
    for (;;) {
      this.missing = 0;
      const parsed = this.parseAt(offset);
      if (parsed === undefined) break;
      offset = parsed.next;
      if ('count' in parsed) this.open.push({ items: [], count: parsed.count });
      else this.complete(parsed.value);
    }
    this.needed = this.missing - offset;
    this.buffer = offset >= this.buffer.length ? EMPTY : this.buffer.subarray(offset);
  }

  /** Adds a complete value to the innermost open array, closing arrays that are then full. */
  private complete(value: RespValue): void {
    let done = value;
    for (let top = this.open.at(-1); top !== undefined; top = this.open.at(-1)) {
      top.items.push(done);
      if (top.items.length < top.count) return;
      this.open.pop();
      done = top.items;
    }
    this.onReply(done);
  }

  private incomplete(needed: number): undefined {
    this.missing = needed;
    return undefined;
  }

  /** Parses one scalar, or the header of a non-empty array (`count`: its elements follow). */
  private parseAt(
    pos: number,
  ): { value: RespValue; next: number } | { count: number; next: number } | undefined {
    const buf = this.buffer;
    if (pos >= buf.length) return this.incomplete(pos + 1);
    const lineEnd = buf.indexOf(CRLF, pos + 1);
    if (lineEnd === -1) return this.incomplete(buf.length + 1);
    const type = buf[pos];
    const next = lineEnd + 2;
    switch (type) {
      case 0x2b /* + */:
        return { value: new RespSimple(buf.toString('utf8', pos + 1, lineEnd)), next };
      case 0x2d /* - */:
        return { value: new RespError(buf.toString('utf8', pos + 1, lineEnd)), next };
      case 0x3a /* : */:
        return { value: BigInt(buf.toString('latin1', pos + 1, lineEnd)), next };
      case 0x24 /* $ */:
        {
          const length = Number.parseInt(buf.toString('latin1', pos + 1, lineEnd), 10);
          if (length < 0) return { value: null, next };
          const end = next + length;
          if (buf.length < end + 2) return this.incomplete(end + 2);
          return { value: buf.subarray(next, end), next: end + 2 };
        }
      case 0x2a /* * */:
        {
          const count = Number.parseInt(buf.toString('latin1', pos + 1, lineEnd), 10);
          if (Number.isNaN(count)) throw new ProtocolError('invalid RESP array length');
          if (count < 0) return { value: null, next };
          if (count === 0) return { value: [], next };
          return { count, next };
        }
      default:
        throw new ProtocolError(`unexpected RESP type byte 0x${(type ?? 0).toString(16)}`);
    }
  }
}

/** The connection to redis-server was lost or could not be made. */
export class RedisConnectionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RedisConnectionError';
  }
}

interface Pending {
  resolve: (value: RespValue) => void;
  reject: (error: Error) => void;
}

/**
 * One RESP2 connection to redis-server. Replies are matched to requests in order, so commands can be
 * pipelined. In push mode (after SUBSCRIBE) every reply goes to the push handler instead.
 */
export class RespConnection {
  private readonly pending: Pending[] = [];
  private readonly parser: RespParser;
  private pushHandler: ((value: RespValue) => void) | undefined;
  private closeHandlers: Array<(error: Error) => void> = [];
  private closedWith: Error | undefined;

  private constructor(private readonly socket: Socket) {
    this.parser = new RespParser((value) => this.onReply(value));
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.parser.push(chunk);
      } catch (error) {
        this.fail(new RedisConnectionError('invalid reply from redis-server', { cause: error }));
      }
    });
    socket.on('error', (error) => this.fail(new RedisConnectionError(error.message, { cause: error })));
    socket.on('close', () => this.fail(new RedisConnectionError('connection to redis-server closed')));
  }

  /** Opens a connection; rejects with {@link RedisConnectionError} if it cannot connect. */
  static open(host: string, port: number, timeoutMs = 10_000): Promise<RespConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new RedisConnectionError(`timed out connecting to redis-server at ${host}:${port}`));
      }, timeoutMs);
      const onError = (error: Error): void => {
        clearTimeout(timer);
        reject(
          new RedisConnectionError(`cannot connect to redis-server at ${host}:${port}: ${error.message}`, {
            cause: error,
          }),
        );
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new RespConnection(socket));
      });
    });
  }

  /** True once the socket is closed or failed; a closed connection cannot be used again. */
  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Sends one command and resolves with its reply (an error reply resolves as {@link RespError}). */
  send(args: readonly RespArg[]): Promise<RespValue> {
    return this.sendMany([args]).then((replies) => replies[0] ?? null);
  }

  /** Writes several commands at once and resolves with their replies, in order. */
  sendMany(commands: ReadonlyArray<readonly RespArg[]>): Promise<RespValue[]> {
    if (this.closedWith !== undefined) return Promise.reject(this.closedWith);
    const replies = commands.map(
      () =>
        new Promise<RespValue>((resolve, reject) => {
          this.pending.push({ resolve, reject });
        }),
    );
    this.socket.write(Buffer.concat(commands.map(encodeCommand)));
    return Promise.all(replies);
  }

  /** Writes a command whose replies will arrive through the push handler. */
  write(args: readonly RespArg[]): void {
    if (this.closedWith === undefined) this.socket.write(encodeCommand(args));
  }

  /** Routes every reply from now on to `handler` (for SUBSCRIBE connections). */
  onPush(handler: (value: RespValue) => void): void {
    this.pushHandler = handler;
  }

  /** Calls `handler` once when the connection closes or fails. */
  onClose(handler: (error: Error) => void): void {
    if (this.closedWith !== undefined) handler(this.closedWith);
    else this.closeHandlers.push(handler);
  }

  /** Lets the socket keep the event loop (this process) alive, as sockets do by default. */
  ref(): void {
    this.socket.ref();
  }

  /** Stops the socket from keeping the event loop (this process) alive on its own. */
  unref(): void {
    this.socket.unref();
  }

  /** Closes the socket at once; pending commands are rejected. */
  close(): void {
    this.socket.destroy();
    this.fail(new RedisConnectionError('connection closed'));
  }

  private onReply(value: RespValue): void {
    const waiter = this.pending.shift();
    if (waiter !== undefined) waiter.resolve(value);
    else this.pushHandler?.(value);
  }

  private fail(error: Error): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = error;
    this.socket.destroy();
    for (const waiter of this.pending.splice(0)) waiter.reject(error);
    const handlers = this.closeHandlers;
    this.closeHandlers = [];
    for (const handler of handlers) handler(error);
  }
}

/**
 * A small pool of {@link RespConnection}s. A request takes a connection for its whole duration
 * (so blocking commands and MULTI/EXEC never interleave with other requests) and gives it back.
 *
 * Idle connections are unref'd: they must not keep the process alive once its work is done (a
 * script that used the endpoint and never called stop() would otherwise never exit). A connection
 * is ref'd while it is taken, so a command in flight always gets its reply.
 */
export class RespPool {
  private readonly idle: RespConnection[] = [];
  private readonly all = new Set<RespConnection>();
  private closed = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly maxIdle = 16,
  ) {}

  async acquire(): Promise<RespConnection> {
    if (this.closed) throw new RedisConnectionError('the pool is closed');
    for (let conn = this.idle.pop(); conn !== undefined; conn = this.idle.pop()) {
      if (!conn.closed) {
        conn.ref();
        return conn;
      }
      this.all.delete(conn);
    }
    const conn = await RespConnection.open(this.host, this.port);
    if (this.closed) {
      conn.close();
      throw new RedisConnectionError('the pool is closed');
    }
    this.all.add(conn);
    conn.onClose(() => {
      this.all.delete(conn);
      const index = this.idle.indexOf(conn);
      if (index !== -1) this.idle.splice(index, 1);
    });
    return conn;
  }

  /** Returns a connection; pass `reusable: false` if its state may have changed (it is closed). */
  release(conn: RespConnection, reusable = true): void {
    if (!reusable || this.closed || conn.closed || this.idle.length >= this.maxIdle) {
      conn.close();
      return;
    }
    conn.unref();
    this.idle.push(conn);
  }

  /**
   * Opens a dedicated connection that the pool closes on {@link RespPool.close}, but never reuses.
   * It is unref'd: it mostly waits (for pushes, after SUBSCRIBE), and while it is in use its
   * owner's own socket (the event stream's HTTP connection) keeps the process alive.
   */
  async dedicated(): Promise<RespConnection> {
    if (this.closed) throw new RedisConnectionError('the pool is closed');
    const conn = await RespConnection.open(this.host, this.port);
    conn.unref();
    this.all.add(conn);
    conn.onClose(() => this.all.delete(conn));
    return conn;
  }

  close(): void {
    this.closed = true;
    for (const conn of [...this.all]) conn.close();
    this.idle.length = 0;
    this.all.clear();
  }
}
