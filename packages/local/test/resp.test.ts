import { describe, expect, it } from 'vitest';
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

  it('rejects bytes that are not RESP2', () => {
    expect(() => parseAll([Buffer.from('%1\r\n')])).toThrow(/unexpected RESP type/);
  });
});
