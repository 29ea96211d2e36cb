import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { drawFault, type FaultProxy, startFaultProxy } from '../src/fault-proxy.js';
import { rng } from '../src/random.js';
import { describeDynamoDbRequest, describeUpstashRequest, upstashGrantedToken } from '../src/requests.js';

// A real upstream that applies every request it receives (counts it) and answers with the count.
let upstream: Server;
let upstreamUrl: string;
let applied: string[] = [];

beforeAll(async () => {
  upstream = createServer((req, res) => {
    if (req.url === '/stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: one\n\n');
      setTimeout(() => res.end('data: two\n\n'), 50);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      applied.push(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ applied: applied.length }));
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => upstream.close(() => resolve())));

let proxy: FaultProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
  applied = [];
});

const post = (url: string, body: string) =>
  fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } }).then((r) => r.json());

describe('fault proxy', () => {
  it('forwards requests and counts them by operation', async () => {
    proxy = await startFaultProxy({ upstream: upstreamUrl, seed: 7, describe: (r) => ({ op: r.body }) });
    expect(await post(proxy.url, 'a')).toEqual({ applied: 1 });
    expect(await post(proxy.url, 'b')).toEqual({ applied: 2 });
    expect(proxy.counters).toMatchObject({ requests: 2, forwarded: 2, drop: 0, byOp: { a: 1, b: 1 } });
    expect(proxy.seed).toBe(7);
  });

  it('drop: the upstream applies the request, the client gets no answer', async () => {
    proxy = await startFaultProxy({ upstream: upstreamUrl });
    proxy.next({ kind: 'drop' });
    await expect(post(proxy.url, 'x')).rejects.toThrow();
    expect(applied).toEqual(['x']);
    expect(proxy.counters.drop).toBe(1);
    expect(proxy.records[0]).toMatchObject({ fault: { kind: 'drop' }, forwarded: true, status: 200 });
    expect(proxy.records[0]?.responseBody).toBe('{"applied":1}');
  });

  it('reset: the connection is cut before forwarding; nothing is applied', async () => {
    proxy = await startFaultProxy({ upstream: upstreamUrl });
    proxy.next({ kind: 'reset' });
    await expect(post(proxy.url, 'x')).rejects.toThrow();
    expect(applied).toEqual([]);
    expect(await post(proxy.url, 'y')).toEqual({ applied: 1 });
    expect(proxy.counters).toMatchObject({ reset: 1, requests: 2, forwarded: 1 });
  });

  it('delay of the answer: applied first, answered later', async () => {
    proxy = await startFaultProxy({ upstream: upstreamUrl });
    proxy.next({ kind: 'delay', ms: 300, phase: 'response' });
    let answered = false;
    const pending = post(proxy.url, 'x').then((r) => {
      answered = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 150));
    expect(applied).toEqual(['x']);
    expect(answered).toBe(false);
    expect(await pending).toEqual({ applied: 1 });
  });

  it('delay of the request: not applied until the delay has passed', async () => {
    proxy = await startFaultProxy({ upstream: upstreamUrl });
    proxy.next({ kind: 'delay', ms: 300, phase: 'request' });
    const pending = post(proxy.url, 'x');
    await new Promise((r) => setTimeout(r, 150));
    expect(applied).toEqual([]);
    expect(await pending).toEqual({ applied: 1 });
  });

  it('stall: held until released, then forwarded late', async () => {
    proxy = await startFaultProxy({ upstream: upstreamUrl });
    proxy.next({ kind: 'stall', ms: 60_000, outcome: 'forward' });
    const pending = post(proxy.url, 'x');
    await new Promise((r) => setTimeout(r, 100));
    expect(proxy.stalled).toBe(1);
    expect(applied).toEqual([]);
    expect(proxy.releaseStalled()).toBe(1);
    expect(await pending).toEqual({ applied: 1 });
    expect(proxy.stalled).toBe(0);
  });

  it('stall that ends in a drop: never applied', async () => {
    proxy = await startFaultProxy({ upstream: upstreamUrl });
    proxy.next({ kind: 'stall', ms: 100, outcome: 'drop' });
    await expect(post(proxy.url, 'x')).rejects.toThrow();
    expect(applied).toEqual([]);
    expect(proxy.records[0]?.forwarded).toBe(false);
  });

  it('one-shot faults can target matching requests only', async () => {
    proxy = await startFaultProxy({ upstream: upstreamUrl, describe: (r) => ({ op: r.body }) });
    proxy.nextMatching((info) => info.op === 'b', { kind: 'reset' }, { kind: 'reset' });
    expect(await post(proxy.url, 'a')).toEqual({ applied: 1 });
    await expect(post(proxy.url, 'b')).rejects.toThrow();
    await expect(post(proxy.url, 'b')).rejects.toThrow();
    expect(await post(proxy.url, 'b')).toEqual({ applied: 2 });
    proxy.nextMatching(() => false, { kind: 'reset' });
    proxy.clearNext();
    proxy.next({ kind: 'drop' });
    await expect(post(proxy.url, 'c')).rejects.toThrow();
    expect(proxy.counters).toMatchObject({ reset: 2, drop: 1 });
  });

  it('a schedule faults eligible requests only; event streams pass through', async () => {
    proxy = await startFaultProxy({ upstream: upstreamUrl, schedule: { reset: 1 } });
    await expect(post(proxy.url, 'x')).rejects.toThrow();
    const stream = await fetch(`${proxy.url}/stream`, { headers: { accept: 'text/event-stream' } });
    expect(await stream.text()).toBe('data: one\n\ndata: two\n\n');
    expect(proxy.counters).toMatchObject({ requests: 2, reset: 1 });
    proxy.setSchedule({});
    expect(await post(proxy.url, 'y')).toEqual({ applied: 1 });
  });

  it('draws the same faults from the same seed', () => {
    const schedule = { delay: 0.2, drop: 0.1, reset: 0.1, stall: 0.1 };
    const a = rng(42);
    const b = rng(42);
    const runA = Array.from({ length: 200 }, () => drawFault(schedule, a));
    const runB = Array.from({ length: 200 }, () => drawFault(schedule, b));
    expect(runA).toEqual(runB);
    const kinds = new Set(runA.map((f) => f?.kind ?? 'none'));
    expect(kinds).toEqual(new Set(['delay', 'drop', 'reset', 'stall', 'none']));
    const other = Array.from({ length: 200 }, () => drawFault(schedule, rng(43)));
    expect(other).not.toEqual(runA);
  });
});

describe('request classifiers', () => {
  it('tell the DynamoDB store operations apart', () => {
    const headers = { 'x-amz-target': 'DynamoDB_20120810.UpdateItem' };
    const acquire = describeDynamoDbRequest({
      method: 'POST',
      url: '/',
      headers,
      body: JSON.stringify({
        TableName: 'locks',
        Key: { pk: { S: 'k' } },
        ConditionExpression: 'attribute_not_exists(#owner) OR #expiresAt < :expired OR #owner = :owner',
        ExpressionAttributeValues: {
          ':owner': { S: 'o1' },
          ':expiresAt': { N: '1500' },
          ':floor': { N: '1000000' },
        },
      }),
    });
    expect(acquire).toEqual({ op: 'acquire', table: 'locks', key: 'k', owner: 'o1', ttlMs: 500 });
    const release = describeDynamoDbRequest({
      method: 'POST',
      url: '/',
      headers,
      body: JSON.stringify({
        Key: { pk: { S: 'k' } },
        UpdateExpression: 'SET #released = :nonce REMOVE #owner, #expiresAt',
        ExpressionAttributeValues: { ':owner': { S: 'o1' } },
      }),
    });
    expect(release.op).toBe('release');
  });

  it('tell the Upstash store scripts apart and read granted tokens', () => {
    const body = JSON.stringify([
      'evalsha',
      'abc',
      '4',
      'leasehold:{k}',
      'leasehold:{k}:fence',
      'leasehold:{k}:queue',
      'leasehold:{k}:waiters',
      'o1',
      '500',
      '1',
      '0',
      '1',
    ]);
    expect(describeUpstashRequest({ method: 'POST', url: '/', headers: {}, body })).toEqual({
      op: 'acquire',
      key: 'k',
      owner: 'o1',
      ttlMs: 500,
    });
    expect(upstashGrantedToken('{"result":[1,1795000000000000]}')).toBe(1795000000000000);
    expect(upstashGrantedToken('{"result":[0,120,17]}')).toBeUndefined();
  });
});
