import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What the proxy does with one request. */
export type Fault =
  /** Pass it to DynamoDB (after `before` resolves, if given) and return the answer (default). */
  | { kind: 'forward'; before?: () => Promise<unknown> }
  /** Pass it to DynamoDB, wait for the answer, then cut the connection: applied but unanswered. */
  | { kind: 'apply-then-drop' }
  /** Answer it without DynamoDB. */
  | { kind: 'respond'; status: number; body: string; headers?: Record<string, string> }
  /** Never answer. */
  | { kind: 'hang' };

/** One request seen by the proxy. */
export interface SeenRequest {
  readonly operation: string;
  readonly body: string;
  readonly fault: Fault['kind'];
  /** DynamoDB's answer, when the request was forwarded. */
  responseBody?: string;
}

/**
 * A real HTTP proxy in front of DynamoDB Local that injects faults on the wire: the SDK's own HTTP
 * handler, error parsing and retry logic all run for real. `faults` are consumed one per request
 * (FIFO); when empty, requests are forwarded.
 */
export interface FaultProxy {
  readonly endpoint: string;
  readonly seen: SeenRequest[];
  /** Queue faults for the next requests. */
  inject(...faults: Fault[]): void;
  /** Forget queued faults and seen requests; cut connections left hanging. */
  reset(): void;
  close(): Promise<void>;
}

function readBody(stream: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('error', reject);
  });
}

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  const queue: Fault[] = [];
  const seen: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  const hanging = new Set<Socket>();

  const forward = (req: IncomingMessage, body: string) =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>(
      (resolve, reject) => {
        const out = httpRequest(
          {
            host: target.hostname,
            port: target.port,
            method: req.method,
            path: req.url,
            headers: { ...req.headers, host: target.host },
          },
          (res) => {
            readBody(res).then(
              (text) => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: text }),
              reject,
            );
          },
        );
        out.on('error', reject);
        out.end(body);
      },
    );

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const body = await readBody(req);
      const fault = queue.shift() ?? { kind: 'forward' };
      const target = String(req.headers['x-amz-target'] ?? '?').replace('DynamoDB_20120810.', '');
      const entry: SeenRequest = { operation: target, body, fault: fault.kind };
      seen.push(entry);
      if (fault.kind === 'hang') {
        hanging.add(req.socket);
        return;
      }
      if (fault.kind === 'respond') {
        res.writeHead(fault.status, {
          'content-type': 'application/x-amz-json-1.0',
          ...(fault.headers ?? {}),
        });
        res.end(fault.body);
        return;
      }
      if (fault.kind === 'forward' && fault.before !== undefined) await fault.before();
      const answer = await forward(req, body);
      entry.responseBody = answer.body;
      if (fault.kind === 'apply-then-drop') {
        req.socket.destroy();
        return;
      }
      const headers = { ...answer.headers };
      delete headers['transfer-encoding'];
      headers['content-length'] = String(Buffer.byteLength(answer.body));
      res.writeHead(answer.status, headers);
      res.end(answer.body);
    })().catch(() => req.socket.destroy());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    inject: (...faults) => queue.push(...faults),
    reset: () => {
      queue.length = 0;
      seen.length = 0;
      for (const s of hanging) s.destroy();
      hanging.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
