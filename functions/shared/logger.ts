/** Log levels in increasing severity. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Keys whose values are never written, whatever a caller passes. */
const secretKeys = /token|secret|password|authorization|owner|api[-_]?key|credential|cookie/i;

/**
 * Credentials written inside text, under no key of their own: a header line of a raw HTTP head (a
 * node:http request's `_header`: "POST …\r\nAuthorization: Bearer …"), a query parameter of a URL
 * (`?api_key=…`), a bearer token anywhere, an authorization header quoted mid-line, a URL's userinfo. The
 * name stays, the value is redacted.
 */
const secretsInText: ReadonlyArray<readonly [RegExp, string]> = [
  [
    /(^|\n)([\w-]*(?:token|secret|password|authorization|api[-_]?key|credential|cookie)[\w-]*[ \t]*:)[^\r\n]*/gim,
    '$1$2 [redacted]',
  ],
  [
    /([?&][\w.-]*(?:token|secret|password|api[-_]?key|credential|signature)[\w.-]*=)[^&#\s"']*/gi,
    '$1[redacted]',
  ],
  [/\b(Bearer)\s+[\w.~+/=-]+/gi, '$1 [redacted]'],
  // A header quoted mid-line ("sent headers: Authorization: Basic …"): the scheme goes with the value.
  [
    /\b((?:proxy-)?authorization|x-api-key|api[-_]?key)[ \t]*:[ \t]*(?:(?:Basic|Bearer|Digest)[ \t]+)?[^\s,;]+/gi,
    '$1: [redacted]',
  ],
  // A URL's userinfo (`https://user:key@host`: HTTP Basic credentials; Node's fetch quotes the whole URL).
  [/(\b[a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*@/gi, '$1[redacted]@'],
];

function scrubText(text: string): string {
  let out = text;
  for (const [pattern, replacement] of secretsInText) out = out.replace(pattern, replacement);
  return out;
}

/**
 * One JSON object per line, the shape CloudWatch Logs Insights queries well. Fencing tokens are
 * logged as `fence` (they are not secrets); anything whose key looks like a secret is redacted.
 */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export function createLogger(
  base: Record<string, unknown>,
  level: LogLevel = 'info',
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Logger {
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (order[lvl] < order[level]) return;
    write(
      JSON.stringify({ level: lvl, msg, time: new Date().toISOString(), ...scrub(base), ...scrub(fields) }),
    );
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (fields) => createLogger({ ...base, ...fields }, level, write),
  };
}

function scrub(fields: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!fields) return {};
  return clean(fields, []) as Record<string, unknown>;
}

/**
 * A copy of `value` that JSON can write and that holds no secret: secret-looking keys are redacted at
 * every depth (what a caller logs is not always flat: a provider may throw a plain object carrying the
 * request it sent, headers included), and credentials written as text in strings and error messages
 * (a raw request head, a URL's query); errors are reduced to name, message and code, cycles and
 * depths past 8 are cut, bigints become strings.
 */
function clean(value: unknown, parents: object[]): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string') return scrubText(value);
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Error) {
    return { name: value.name, message: scrubText(String(value.message)), code: codeOf(value) };
  }
  if (parents.includes(value) || parents.length >= 8) return '[omitted]';
  parents.push(value);
  try {
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return clean(toJSON.call(value), parents);
    if (Array.isArray(value)) return value.map((item) => clean(item, parents));
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      out[key] = secretKeys.test(key) ? '[redacted]' : clean(item, parents);
    }
    return out;
  } finally {
    parents.pop();
  }
}

function codeOf(err: Error): unknown {
  return (err as { code?: unknown }).code;
}

export function parseLogLevel(value: string | undefined): LogLevel {
  return value === 'debug' || value === 'warn' || value === 'error' ? value : 'info';
}
