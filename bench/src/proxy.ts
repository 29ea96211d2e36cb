/**
 * Counting pass-through proxies: they sit in front of a local service and count the requests a
 * client sends, so "store requests per operation" is measured on the wire, not taken on trust.
 *
 * - {@link startHttpCountingProxy}: HTTP/1.1 (DynamoDB Local, the Upstash REST endpoint). One count per
 *   HTTP request, labelled by `X-Amz-Target` (DynamoDB) or the path (Upstash); streamed answers
 *   (server-sent events) are piped through untouched.
 * - {@link startRespCountingProxy}: TCP in front of redis-server. One count per RESP command (pipelined
 *   commands count one each), labelled by the command name.
 */
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { type AddressInfo, createConnection, createServer as createTcpServer, type Socket } from 'node:net';

export interface CountingProxy {
  /** `http://127.0.0.1:<port>` (HTTP) or the port to connect to (TCP). */
  readonly url: string;
  readonly port: number;
  /** Requests seen since the last reset, in total and per label. */
  total(): number;
  counts(): Record<string, number>;
  reset(): void;
  close(): Promise<void>;
}

class Counter {
  #total = 0;
  #byLabel = new Map<string, number>();
  add(label: string): void {
    this.#total++;
    this.#byLabel.set(label, (this.#byLabel.get(label) ?? 0) + 1);
  }
  total(): number {
    return this.#total;
  }
  counts(): Record<string, number> {
    return Object.fromEntries(this.#byLabel);
  }
  reset(): void {
    this.#total = 0;
    this.#byLabel.clear();
  }
}

function listen(server: { listen(port: number, host: string, cb: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
}

/** An HTTP proxy to `target` (e.g. `http://127.0.0.1:8000`) that counts each request. */
export async function startHttpCountingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const counter = new Counter();
  const sockets = new Set<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const amzTarget = req.headers['x-amz-target'];
    const label =
      typeof amzTarget === 'string'
        ? (amzTarget.split('.').pop() ?? amzTarget)
        : (req.url ?? '/').split('/')[1] || '/';
    counter.add(label);
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
        agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    res.on('close', () => forward.destroy());
    req.pipe(forward);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.keepAliveTimeout = 60_000;
  await listen(server);
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    total: () => counter.total(),
    counts: () => counter.counts(),
    reset: () => counter.reset(),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        agent.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Counts RESP commands in a client-to-server byte stream (arrays of bulk strings, as every client
 * library sends them; inline commands count one per line).
 */
export class RespCommandCounter {
  #buffer: Buffer = Buffer.alloc(0);
  readonly #onCommand: (name: string) => void;

  constructor(onCommand: (name: string) => void) {
    this.#onCommand = onCommand;
  }

  push(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      const consumed = this.#parseOne();
      if (consumed === 0) return;
      this.#buffer = this.#buffer.subarray(consumed);
    }
  }

  /** Bytes of one complete command at the start of the buffer, or 0 when incomplete. */
  #parseOne(): number {
    const buf = this.#buffer;
    if (buf.length === 0) return 0;
    const lineEnd = buf.indexOf('\r\n');
    if (lineEnd < 0) return 0;
    if (buf[0] !== 0x2a /* '*' */) {
      this.#onCommand(buf.subarray(0, lineEnd).toString().split(' ')[0]?.toUpperCase() ?? '?');
      return lineEnd + 2;
    }
    const items = Number(buf.subarray(1, lineEnd).toString());
    let at = lineEnd + 2;
    let name = '?';
    for (let i = 0; i < items; i++) {
      const headerEnd = buf.indexOf('\r\n', at);
      if (headerEnd < 0) return 0;
      const len = Number(buf.subarray(at + 1, headerEnd).toString());
      const dataStart = headerEnd + 2;
      if (buf.length < dataStart + len + 2) return 0;
      if (i === 0)
        name = buf
          .subarray(dataStart, dataStart + len)
          .toString()
          .toUpperCase();
      at = dataStart + len + 2;
    }
    this.#onCommand(name);
    return at;
  }
}

/** A TCP proxy to a redis-server on 127.0.0.1:`targetPort` that counts RESP commands. */
export async function startRespCountingProxy(targetPort: number): Promise<CountingProxy> {
  const counter = new Counter();
  const sockets = new Set<Socket>();
  const server = createTcpServer((client: Socket) => {
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    sockets.add(client);
    sockets.add(upstream);
    const parser = new RespCommandCounter((name) => counter.add(name));
    client.on('data', (chunk: Buffer) => {
      parser.push(chunk);
      upstream.write(chunk);
    });
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await listen(server);
  const port = (server.address() as AddressInfo).port;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    total: () => counter.total(),
    counts: () => counter.counts(),
    reset: () => counter.reset(),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
