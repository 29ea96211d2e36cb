import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type Rng, randomSeed, rng, sharedNow } from './random.js';

/**
 * What the proxy does to one request.
 *
 * - `delay`: hold it `ms` before forwarding it (`phase: 'request'`), or forward it at once and hold the
 *   answer `ms` (`phase: 'response'`, the store has applied it while the client still waits).
 * - `drop`: forward it, wait for the store's answer, then cut the client's connection: applied but
 *   unanswered. The client sees a reset socket and may retry.
 * - `reset`: cut the client's connection (TCP RST) before forwarding: never applied.
 * - `stall`: hold it until `ms` have passed or {@link FaultProxy.releaseStalled} is called, then
 *   forward it late (`outcome: 'forward'`, the default) or cut the connection without forwarding
 *   (`outcome: 'drop'`).
 */
export type Fault =
  | { readonly kind: 'delay'; readonly ms: number; readonly phase?: 'request' | 'response' }
  | { readonly kind: 'drop' }
  | { readonly kind: 'reset' }
  | { readonly kind: 'stall'; readonly ms: number; readonly outcome?: 'forward' | 'drop' };

export type FaultKind = Fault['kind'];
export const FAULT_KINDS: readonly FaultKind[] = ['delay', 'drop', 'reset', 'stall'];

/**
 * Per-request fault probabilities (each in [0, 1], summing to at most 1) and the ranges their
 * parameters are drawn from. Only requests the proxy deems eligible are rolled.
 */
export interface FaultSchedule {
  readonly delay?: number;
  readonly drop?: number;
  readonly reset?: number;
  readonly stall?: number;
  /** Delay range in ms, inclusive. Default [5, 60]. */
  readonly delayMs?: readonly [number, number];
  /** Share of delays applied to the answer (after the store applied the request). Default 0.5. */
  readonly responseDelayShare?: number;
  /** Stall range in ms, inclusive. Default [200, 1500]. */
  readonly stallMs?: readonly [number, number];
  /** Share of stalls that are forwarded late (the rest are never forwarded). Default 0.5. */
  readonly stallForwardShare?: number;
}

/** The request as the proxy saw it, for {@link FaultProxyOptions.describe}. */
export interface ProxiedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** What a request is, as told by {@link FaultProxyOptions.describe}: `op` plus optional details. */
export interface RequestInfo {
  readonly op: string;
  readonly key?: string;
  readonly owner?: string;
  readonly table?: string;
  readonly ttlMs?: number;
}

/** One request that got a fault. */
export interface FaultRecord {
  readonly seq: number;
  readonly fault: Fault;
  readonly info: RequestInfo;
  /** When the proxy received the request (shared timeline, see `sharedNow`). */
  readonly receivedAt: number;
  /** When the upstream answered, if the request was forwarded and answered. */
  answeredAt?: number;
  status?: number;
  /** The upstream's answer body (kept for faulted requests only). */
  responseBody?: string;
  /** Whether the request reached the upstream. */
  forwarded: boolean;
}

export interface FaultCounters {
  /** Every request received, faulted or not. */
  requests: number;
  /** Requests passed to the upstream (late ones included). */
  forwarded: number;
  delay: number;
  drop: number;
  reset: number;
  stall: number;
  /** Requests per `op` (from `describe`). */
  readonly byOp: Record<string, number>;
}

export interface FaultProxyOptions {
  /** `http://host:port` of the service behind the proxy. */
  readonly upstream: string;
  /** Seed of the fault PRNG. Default: random (read it back from `proxy.seed` and print it). */
  readonly seed?: number;
  readonly schedule?: FaultSchedule;
  /** Classifies a request (default: `{ op: 'METHOD /path' }`). */
  readonly describe?: (request: ProxiedRequest) => RequestInfo;
  /**
   * Which requests may be faulted (scheduled or one-shot). Default: every request except
   * server-sent-event streams (`Accept: text/event-stream`), which are always passed through.
   */
  readonly eligible?: (info: RequestInfo, request: ProxiedRequest) => boolean;
  /** Called for every request once classified, before any fault (e.g. to freeze a client mid-call). */
  readonly onRequest?: (info: RequestInfo, fault: Fault | undefined) => void;
  /** Prints the start line with the seed. Default: nothing. */
  readonly log?: (line: string) => void;
  /** Port to listen on (127.0.0.1). Default: a free one. */
  readonly port?: number;
}

/**
 * An HTTP proxy in front of DynamoDB Local or the Upstash endpoint that injects faults on the wire,
 * so the real SDKs' HTTP handling, error parsing and retries all run.
 *
 * @example
 * ```ts
 * const proxy = await startFaultProxy({ upstream: ddb.endpoint, seed: 42, schedule: { drop: 0.02 } });
 * const client = new DynamoDBClient({ endpoint: proxy.url, ... });
 * proxy.next({ kind: 'drop' }); // the next request is applied, and its answer lost
 * ```
 */
export interface FaultProxy {
  /** `http://127.0.0.1:<port>`: point the client here. */
  readonly url: string;
  readonly port: number;
  readonly seed: number;
  /** Live counters (the same object is updated). */
  readonly counters: FaultCounters;
  /** Every faulted request, in arrival order. */
  readonly records: readonly FaultRecord[];
  /** Replace the schedule (`{}` = no scheduled faults; one-shot faults still apply). */
  setSchedule(schedule: FaultSchedule): void;
  /** Queue one-shot faults for the next eligible requests, in order. */
  next(...faults: Fault[]): void;
  /**
   * Queue one-shot faults for the next eligible requests that `match` accepts (e.g. one store
   * operation, or every retry of one owner's acquire), in order.
   */
  nextMatching(match: (info: RequestInfo) => boolean, ...faults: Fault[]): void;
  /** Forget queued one-shot faults that have not been used. */
  clearNext(): void;
  /** Requests currently held by a stall. */
  readonly stalled: number;
  /** End every stall now (each is forwarded late or dropped, as drawn); returns how many. */
  releaseStalled(): number;
  /** Zero the counters and forget the records and queued one-shot faults. */
  reset(): void;
  close(): Promise<void>;
}

function readBody(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

const defaultDescribe = (request: ProxiedRequest): RequestInfo => ({
  op: `${request.method} ${request.url.split('?')[0]}`,
});
const defaultEligible = (_info: RequestInfo, request: ProxiedRequest): boolean =>
  !String(request.headers.accept ?? '').includes('text/event-stream');

/** Cut a client connection abruptly: RST where supported. */
function cut(socket: Socket): void {
  const s = socket as Socket & { resetAndDestroy?: () => Socket };
  if (typeof s.resetAndDestroy === 'function' && !s.destroyed) s.resetAndDestroy();
  else s.destroy();
}

/** Draws a fault for one request from a schedule, or `undefined`. */
export function drawFault(schedule: FaultSchedule, random: Rng): Fault | undefined {
  const r = random();
  let edge = 0;
  const delayMs = schedule.delayMs ?? [5, 60];
  const stallMs = schedule.stallMs ?? [200, 1500];
  edge += schedule.delay ?? 0;
  if (r < edge) {
    const phase = random.chance(schedule.responseDelayShare ?? 0.5) ? 'response' : 'request';
    return { kind: 'delay', ms: random.int(delayMs[0], delayMs[1]), phase };
  }
  edge += schedule.drop ?? 0;
  if (r < edge) return { kind: 'drop' };
  edge += schedule.reset ?? 0;
  if (r < edge) return { kind: 'reset' };
  edge += schedule.stall ?? 0;
  if (r < edge) {
    const outcome = random.chance(schedule.stallForwardShare ?? 0.5) ? 'forward' : 'drop';
    return { kind: 'stall', ms: random.int(stallMs[0], stallMs[1]), outcome };
  }
  return undefined;
}

/**
 * Start a {@link FaultProxy} on a free loopback port.
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.upstream);
  const seed = (options.seed ?? randomSeed()) >>> 0;
  const random = rng(seed);
  const describe = options.describe ?? defaultDescribe;
  const eligible = options.eligible ?? defaultEligible;
  let schedule: FaultSchedule = options.schedule ?? {};
  const oneShot: Array<{ fault: Fault; match?: (info: RequestInfo) => boolean }> = [];
  const takeOneShot = (info: RequestInfo): Fault | undefined => {
    const i = oneShot.findIndex((q) => q.match === undefined || q.match(info));
    if (i < 0) return undefined;
    const [entry] = oneShot.splice(i, 1);
    return entry?.fault;
  };
  const records: FaultRecord[] = [];
  const counters: FaultCounters = {
    requests: 0,
    forwarded: 0,
    delay: 0,
    drop: 0,
    reset: 0,
    stall: 0,
    byOp: {},
  };
  const sockets = new Set<Socket>();
  const stalls = new Set<() => void>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  let seq = 0;
  let closed = false;

  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  /** Sends the request upstream; `onAnswer` gets the buffered answer, or pipe it when `stream`. */
  const forward = (
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
    mode:
      | { kind: 'pipe' }
      | { kind: 'buffer'; onAnswer: (status: number, headers: IncomingHttpHeaders, body: Buffer) => void },
  ) => {
    counters.forwarded++;
    const headers: IncomingHttpHeaders = { ...req.headers, host: target.host };
    const out = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers,
        agent,
      },
      (up) => {
        if (mode.kind === 'pipe') {
          if (res.destroyed) {
            up.destroy();
            return;
          }
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
          res.on('close', () => up.destroy());
          return;
        }
        readBody(up).then(
          (answer) => mode.onAnswer(up.statusCode ?? 502, up.headers, answer),
          () => cut(req.socket),
        );
      },
    );
    out.on('error', () => cut(req.socket));
    if (mode.kind === 'pipe') res.on('close', () => out.destroy());
    out.end(body);
  };

  const answer = (res: ServerResponse, status: number, headers: IncomingHttpHeaders, body: Buffer) => {
    if (res.destroyed || res.headersSent) return;
    const h: IncomingHttpHeaders = { ...headers };
    delete h['transfer-encoding'];
    h['content-length'] = String(body.length);
    res.writeHead(status, h);
    res.end(body);
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const raw = await readBody(req);
      counters.requests++;
      const request: ProxiedRequest = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: req.headers,
        body: raw.toString('utf8'),
      };
      let info: RequestInfo;
      try {
        info = describe(request);
      } catch {
        info = defaultDescribe(request);
      }
      counters.byOp[info.op] = (counters.byOp[info.op] ?? 0) + 1;
      const canFault = eligible(info, request);
      const fault = canFault ? (takeOneShot(info) ?? drawFault(schedule, random)) : undefined;
      options.onRequest?.(info, fault);
      if (fault === undefined) {
        if (!canFault) forward(req, res, raw, { kind: 'pipe' });
        else forward(req, res, raw, { kind: 'buffer', onAnswer: (s, h, b) => answer(res, s, h, b) });
        return;
      }
      counters[fault.kind]++;
      const record: FaultRecord = { seq: seq++, fault, info, receivedAt: sharedNow(), forwarded: false };
      records.push(record);
      const sendUpstream = (
        onAnswer: (status: number, headers: IncomingHttpHeaders, body: Buffer) => void,
      ) => {
        record.forwarded = true;
        forward(req, res, raw, {
          kind: 'buffer',
          onAnswer: (status, headers, body) => {
            record.answeredAt = sharedNow();
            record.status = status;
            record.responseBody = body.toString('utf8');
            onAnswer(status, headers, body);
          },
        });
      };
      switch (fault.kind) {
        case 'reset':
          cut(req.socket);
          return;
        case 'drop':
          sendUpstream(() => cut(req.socket));
          return;
        case 'delay':
          if (fault.phase === 'response') {
            sendUpstream((s, h, b) => later(fault.ms, () => answer(res, s, h, b)));
          } else {
            later(fault.ms, () => sendUpstream((s, h, b) => answer(res, s, h, b)));
          }
          return;
        case 'stall': {
          let done = false;
          const end = () => {
            if (done) return;
            done = true;
            stalls.delete(end);
            if (closed) return;
            if (fault.outcome === 'drop') cut(req.socket);
            else sendUpstream((s, h, b) => answer(res, s, h, b));
          };
          stalls.add(end);
          later(fault.ms, end);
          return;
        }
      }
    })().catch(() => cut(req.socket));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  options.log?.(`fault proxy ${url} -> ${options.upstream}, seed ${seed}`);

  return {
    url,
    port,
    seed,
    counters,
    records,
    setSchedule: (s) => {
      schedule = s;
    },
    next: (...faults) => {
      for (const fault of faults) oneShot.push({ fault });
    },
    nextMatching: (match, ...faults) => {
      for (const fault of faults) oneShot.push({ fault, match });
    },
    clearNext: () => {
      oneShot.length = 0;
    },
    get stalled() {
      return stalls.size;
    },
    releaseStalled: () => {
      const ends = [...stalls];
      for (const end of ends) end();
      return ends.length;
    },
    reset: () => {
      oneShot.length = 0;
      records.length = 0;
      counters.requests = 0;
      counters.forwarded = 0;
      for (const kind of FAULT_KINDS) counters[kind] = 0;
      for (const op of Object.keys(counters.byOp)) delete counters.byOp[op];
    },
    close: () =>
      new Promise<void>((resolve) => {
        closed = true;
        for (const t of timers) clearTimeout(t);
        timers.clear();
        stalls.clear();
        for (const s of sockets) s.destroy();
        agent.destroy();
        server.close(() => resolve());
      }),
  };
}
