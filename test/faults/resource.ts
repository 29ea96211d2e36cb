import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sharedNow, type WriteRecord } from '@leasehold/testkit/faults';

/**
 * The protected resource of the fault runs: a small HTTP server that keeps, per resource (one per lock
 * key), a value and the highest fencing token it has accepted. A write is accepted only if its token
 * is >= that high-water mark (equal only for the same token, since a token belongs to one lease), and
 * every write — accepted or rejected — is recorded in the order applied.
 *
 * - `POST /read`  `{ "key": "k" }` → `{ "value": 3, "high": 1795... }`
 * - `POST /write` `{ "key": "k", "token": 1795..., "worker": "w1", "value": 4 }` → `{ "accepted": true }`
 */
export interface FencedResource {
  readonly url: string;
  readonly writes: WriteRecord[];
  /** Accepted writes per key (the value's increments that went through). */
  value(key: string): number;
  close(): Promise<void>;
}

function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
      } catch (err) {
        reject(err);
      }
    });
    req.on('error', reject);
  });
}

export async function startFencedResource(): Promise<FencedResource> {
  const state = new Map<string, { value: number; high: number }>();
  const writes: WriteRecord[] = [];
  let seq = 0;
  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const server = createServer((req, res) => {
    readJson(req).then(
      (body) => {
        const key = String(body.key);
        const entry = state.get(key) ?? { value: 0, high: 0 };
        state.set(key, entry);
        if (req.url === '/read') {
          send(res, 200, { value: entry.value, high: entry.high });
          return;
        }
        if (req.url !== '/write') {
          send(res, 404, { error: 'not found' });
          return;
        }
        const token = Number(body.token);
        if (!Number.isSafeInteger(token)) {
          send(res, 400, { error: 'token must be a safe integer' });
          return;
        }
        const at = sharedNow();
        const accepted = token >= entry.high;
        if (accepted) {
          entry.high = token;
          entry.value = Number(body.value);
        }
        writes.push({
          resource: `http:${key}`,
          worker: String(body.worker),
          token,
          sentAt: at,
          receivedAt: at,
          outcome: accepted ? 'accepted' : 'rejected',
          seq: seq++,
        });
        send(res, 200, { accepted, high: entry.high });
      },
      () => send(res, 400, { error: 'bad JSON' }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    writes,
    value: (key) => state.get(key)?.value ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
