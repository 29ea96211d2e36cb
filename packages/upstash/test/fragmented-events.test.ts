/**
 * Server-sent events split across network reads. The local endpoint writes each event in one piece, so
 * over loopback every `data:` line reaches the client in one read; a real Upstash stream passes through
 * TLS, proxies and HTTP/2 framing and can cut an event anywhere. @upstash/redis before 1.36.1 dropped a
 * line cut in two (Upstash's Realtime release notes require 1.36.1 for that reason), hence the peer
 * range. The second test puts a TCP proxy that cuts every
 * chunk from the endpoint in two between the client and the endpoint.
 */
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseChannel, upstashStore } from '../src/index.js';
import { freshKey, freshOwner, hold, type Services, startServices, subscribers } from './support/services.js';

let services: Services;
let proxy: Server;
let proxyUrl: string;
const sockets = new Set<Socket>();

beforeAll(async () => {
  services = await startServices();
  const target = new URL(services.url);
  proxy = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      // Every chunk from the endpoint in two halves, the second a little later: each SSE line is cut.
      const cut = Math.max(1, chunk.length >> 1);
      client.write(chunk.subarray(0, cut));
      setTimeout(() => client.writable && client.write(chunk.subarray(cut)), 15);
    });
    upstream.on('end', () => setTimeout(() => client.end(), 30));
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const address = proxy.address();
  if (address === null || typeof address === 'string') throw new Error('no proxy address');
  proxyUrl = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => proxy?.close(resolve));
  await services?.stop();
});

/** [major, minor, patch] of the lowest version a range like `^1.34.5` / `>=1.36.1` admits. */
const floor = (range: string): number[] => (/(\d+)\.(\d+)\.(\d+)/.exec(range) ?? []).slice(1).map(Number);

describe('release events split across network reads', () => {
  it('the peer range admits no @upstash/redis that drops a data: line cut across two reads (< 1.36.1)', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      peerDependencies: Record<string, string>;
    };
    const [major = 0, minor = 0, patch = 0] = floor(pkg.peerDependencies['@upstash/redis'] ?? '');
    expect(major * 1e6 + minor * 1e3 + patch).toBeGreaterThanOrEqual(1 * 1e6 + 36 * 1e3 + 1);
  });

  it('with the installed client, a waiter still wakes at once on a release whose event arrives in pieces', async () => {
    const key = freshKey('fragmented');
    const direct = upstashStore({ url: services.url, token: services.token });
    const viaProxy = upstashStore({
      redis: new Redis({
        url: proxyUrl,
        token: services.token,
        automaticDeserialization: false,
        enableAutoPipelining: false,
      }),
    });
    try {
      const lease = await hold(direct, key);
      const started = Date.now();
      const waiting = viaProxy.waitForRelease(key, 5_000);
      expect(await subscribers(services, releaseChannel(key), 1)).toBe(1);
      expect(await direct.release({ key, ...lease })).toBe(true);
      await waiting;
      // A lost message would leave it asleep until the 5 s timeout.
      expect(Date.now() - started).toBeLessThan(2_500);
      // The script path works through the proxy too.
      expect((await viaProxy.acquire({ key, owner: freshOwner(), ttlMs: 1_000 })).acquired).toBe(true);
    } finally {
      await viaProxy.close();
      await direct.close();
    }
  });
});
