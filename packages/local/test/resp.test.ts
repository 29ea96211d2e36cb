import { describe, expect, it, vi } from 'vitest';
import { encodeCommand, RespError, RespParser, RespSimple, type RespValue } from '../src/resp.js';

function parseAll(chunks: Buffer[]): RespValue[] {
  const replies: RespValue[] = [];
  const parser = new RespParser((value) => replies.push(value));
  for (const chunk of chunks) parser.push(chunk);
  return replies;
}

function bytewise(buffer: Buffer): Buffer[] {
  return [...buffer].map((byte) => Buffer.from([byte]));
}

describe('RESP2 encoding', () => {
  it('encodes a command as an array of bulk strings with byte lengths', () => {
    expect(encodeCommand(['SET', 'k', 'é']).toString('latin1')).toBe(
      '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n\u00c3\u00a9\r\n',
    );
  });

  it('encodes binary arguments byte for byte, next to text ones', () => {
    const encoded = encodeCommand(['SET', Buffer.from([0, 0xff, 13, 10]), '\u{1F512}']);
    expect(encoded.toString('latin1')).toBe(
      '*3\r\n$3\r\nSET\r\n$4\r\n\u0000\u00ff\r\n\r\n$4\r\n\u00f0\u009f\u0094\u0092\r\n',
    );
    expect(encodeCommand(['GET', '\u{1F512}'])).toEqual(
      Buffer.from('*2\r\n$3\r\nGET\r\n$4\r\n\u{1F512}\r\n'),
    );
  });
});

describe('RESP2 parsing', () => {
  const wire = Buffer.concat([
    Buffer.from('+OK\r\n-ERR boom\r\n:-42\r\n:9007199254740993\r\n$-1\r\n*-1\r\n$0\r\n\r\n'),
    Buffer.from('$4\r\n\r\n\x00\xff\r\n', 'latin1'),
    Buffer.from('*3\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n+QUEUED\r\n'),
  ]);
  const expected: RespValue[] = [
    new RespSimple('OK'),
    new RespError('ERR boom'),
    -42n,
    9007199254740993n,
    null,
    null,
    Buffer.alloc(0),
    Buffer.from([13, 10, 0, 0xff]),
    [Buffer.from('a'), [1n, null], new RespSimple('QUEUED')],
  ];

  it('parses every reply type in one chunk', () => {
    expect(parseAll([wire])).toEqual(expected);
  });

  it('parses the same replies fed one byte at a time', () => {
    expect(parseAll(bytewise(wire))).toEqual(expected);
  });

  it('reassembles a large bulk string split over many chunks', () => {
    const payload = Buffer.alloc(1_000_000, 7);
    const message = Buffer.concat([
      Buffer.from(`$${payload.length}\r\n`),
      payload,
      Buffer.from('\r\n+OK\r\n'),
    ]);
    const chunks: Buffer[] = [];
    for (let i = 0; i < message.length; i += 65_536) chunks.push(message.subarray(i, i + 65_536));
    const replies = parseAll(chunks);
    expect(replies).toHaveLength(2);
    expect(Buffer.compare(replies[0] as Buffer, payload)).toBe(0);
    expect(replies[1]).toEqual(new RespSimple('OK'));
  });

  it('parses a large array arriving in many chunks without re-parsing the elements it already has', () => {
    // Like LRANGE/KEYS/HGETALL of a big key: 200 000 elements, 2.6 MB, in 64 KiB socket reads.
    const count = 200_000;
    const parts = [Buffer.from(`*${count}\r\n`)];
    for (let i = 0; i < count; i++) parts.push(Buffer.from(`$7\r\nv${String(i).padStart(6, '0')}\r\n`));
    parts.push(Buffer.from('+OK\r\n'));
    const wire = Buffer.concat(parts);
    const chunks: Buffer[] = [];
    for (let i = 0; i < wire.length; i += 65_536) chunks.push(wire.subarray(i, i + 65_536));
    // Counts the work done, not the time taken: each element should be parsed about once.
    const parseAt = vi.spyOn(RespParser.prototype as unknown as { parseAt: () => unknown }, 'parseAt');
    try {
      const replies = parseAll(chunks);
      expect(replies).toHaveLength(2);
      const array = replies[0] as Buffer[];
      expect(array).toHaveLength(count);
      expect(array[0]).toEqual(Buffer.from('v000000'));
      expect(array[count - 1]).toEqual(Buffer.from(`v${String(count - 1).padStart(6, '0')}`));
      expect(replies[1]).toEqual(new RespSimple('OK'));
      expect(parseAt.mock.calls.length).toBeLessThan(2 * count);
    } finally {
      parseAt.mockRestore();
    }
  });

  it('parses nested and empty arrays split at every byte', () => {
    const wire = Buffer.from('*3\r\n*0\r\n*2\r\n*1\r\n:7\r\n$-1\r\n*-1\r\n*1\r\n*1\r\n+x\r\n');
    const expected = [[[], [[7n], null], null], [[new RespSimple('x')]]];
    expect(parseAll([wire])).toEqual(expected);
    expect(parseAll(bytewise(wire))).toEqual(expected);
  });

  it('rejects bytes that are not RESP2', () => {
    expect(() => parseAll([Buffer.from('%1\r\n')])).toThrow(/unexpected RESP type/);
  });
});
