import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, startRedisServer } from '../src/index.js';
import { RespConnection, RespError, RespSimple } from '../src/resp.js';
import { childPids, isAlive, portAcceptsConnections, settlesWithin } from './helpers.js';

async function withConnection<T>(port: number, fn: (conn: RespConnection) => Promise<T>): Promise<T> {
  const conn = await RespConnection.open('127.0.0.1', port);
  try {
    return await fn(conn);
  } finally {
    conn.close();
  }
}

describe('startRedisServer', () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await startRedisServer();
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('listens on a loopback port and answers PING', async () => {
    expect(server.host).toBe('127.0.0.1');
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    expect(isAlive(server.pid)).toBe(true);
    const reply = await withConnection(server.port, (conn) => conn.send(['PING']));
    expect(reply).toEqual(new RespSimple('PONG'));
  });

  it('runs without persistence', async () => {
    const [save, appendonly] = await withConnection(server.port, (conn) =>
      conn.sendMany([
        ['CONFIG', 'GET', 'save'],
        ['CONFIG', 'GET', 'appendonly'],
      ]),
    );
    expect(save).toEqual([Buffer.from('save'), Buffer.from('')]);
    expect(appendonly).toEqual([Buffer.from('appendonly'), Buffer.from('no')]);
  });

  it('stores binary values byte for byte', async () => {
    const value = Buffer.from([0, 1, 2, 0xff, 0xfe, 13, 10, 0x24, 0x2a]);
    const [, got] = await withConnection(server.port, (conn) =>
      conn.sendMany([
        [Buffer.from('SET'), Buffer.from('bin'), value],
        ['GET', 'bin'],
      ]),
    );
    expect(got).toEqual(value);
  });

  it('stops answering while paused and answers again after resume', async () => {
    await withConnection(server.port, async (conn) => {
      server.pause();
      try {
        const ping = conn.send(['PING']);
        expect(await settlesWithin(ping, 300)).toBe('pending');
        server.resume();
        expect(await ping).toEqual(new RespSimple('PONG'));
      } finally {
        server.resume();
      }
    });
  });

  it('restarts on the same port with empty data and a new pid', async () => {
    await withConnection(server.port, (conn) => conn.send(['SET', 'survives', 'no']));
    const oldPid = server.pid;
    const port = server.port;
    await server.restart();
    expect(server.port).toBe(port);
    expect(server.pid).not.toBe(oldPid);
    expect(isAlive(oldPid)).toBe(false);
    const reply = await withConnection(server.port, (conn) => conn.send(['GET', 'survives']));
    expect(reply).toBeNull();
  });

  it('returns error replies as values, not exceptions', async () => {
    const reply = await withConnection(server.port, (conn) => conn.send(['NOSUCHCOMMAND']));
    expect(reply).toBeInstanceOf(RespError);
    expect((reply as RespError).message).toMatch(/^ERR unknown command/);
  });
});

describe('RedisServer.stop', () => {
  it('kills the process, frees the port and can be called twice', async () => {
    const server = await startRedisServer();
    const { pid, port } = server;
    expect(isAlive(pid)).toBe(true);
    await server.stop();
    expect(isAlive(pid)).toBe(false);
    expect(() => process.kill(pid, 0)).toThrow();
    expect(await portAcceptsConnections(port)).toBe(false);
    await server.stop();
  });

  it('leaves no process behind (its watchdog neither) after stop(), also when stopped concurrently', async () => {
    const before = childPids();
    const server = await startRedisServer();
    await server.restart();
    expect(childPids().length).toBe(before.length + 2); // redis-server and its watchdog
    await Promise.all([server.stop(), server.stop()]);
    expect(childPids()).toEqual(before);
  });

  it('stops a paused server too', async () => {
    const server = await startRedisServer();
    server.pause();
    await server.stop();
    expect(isAlive(server.pid)).toBe(false);
  });

  it('uses a fixed port when asked', async () => {
    const probe = await startRedisServer();
    const port = probe.port;
    await probe.stop();
    const server = await startRedisServer({ port });
    try {
      expect(server.port).toBe(port);
      expect(await portAcceptsConnections(port)).toBe(true);
    } finally {
      await server.stop();
    }
  });

  it('rejects an invalid port', async () => {
    await expect(startRedisServer({ port: 70_000 })).rejects.toThrow(RangeError);
  });
});
