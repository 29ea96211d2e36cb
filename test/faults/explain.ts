/**
 * Explains a saved soak history (`npm run soak -- --history FILE` writes FILE.<store>.json): runs the
 * checker again and prints, for the first violations, a timeline of everything that happened to that
 * key around it (store calls, lease events, pauses, kills, state losses, lost answers).
 *
 *   node --import tsx test/faults/explain.ts /tmp/run.dynamodb.json [--ttl 500] [--expiry-slack 200] [--max 3]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { checkHistory, formatCheckResult, type History } from '@leasehold/testkit/faults';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    ttl: { type: 'string', default: '500' },
    'expiry-slack': { type: 'string', default: '0' },
    max: { type: 'string', default: '3' },
    before: { type: 'string', default: '1500' },
  },
});
const file = positionals[0];
if (file === undefined) {
  console.error('usage: explain.ts HISTORY.json [--ttl MS] [--expiry-slack MS] [--max N] [--before MS]');
  process.exit(2);
}
const history = JSON.parse(readFileSync(file, 'utf8')) as History;
const result = checkHistory(history, {
  ttlMs: Number(values.ttl),
  expirySlackMs: Number(values['expiry-slack']),
});
console.log(formatCheckResult(result));

const ms = (t: number, t0: number) => (t - t0).toFixed(1).padStart(8);
const short = (owner: string) => owner.slice(0, 6);
for (const v of result.violations.slice(0, Number(values.max))) {
  if (v.at === undefined) continue;
  const t0 = v.at - Number(values.before);
  const t1 = v.at + 500;
  const key = v.key?.replace(/^(http|ddb):/, '');
  const rows: Array<[number, string]> = [];
  for (const o of history.ops) {
    if (o.key !== key || o.receivedAt < t0 || o.sentAt > t1) continue;
    const token = o.token === undefined ? '' : ` token ${o.token}`;
    const holder = o.holderToken === undefined ? '' : ` (holder ${o.holderToken})`;
    rows.push([
      o.sentAt,
      `${ms(o.sentAt, t0)} → ${ms(o.receivedAt, t0)}  ${o.worker} ${o.op} ${o.outcome}${token}${holder} owner ${short(o.owner)}`,
    ]);
  }
  for (const e of history.events) {
    if (e.key === key && e.at >= t0 && e.at <= t1) {
      rows.push([
        e.at,
        `${ms(e.at, t0)}             ${e.worker} EVENT ${e.type} token ${e.token} ${e.reason ?? ''}`,
      ]);
    }
  }
  for (const w of history.writes) {
    if (w.resource.endsWith(`:${key}`) && w.sentAt >= t0 && w.sentAt <= t1) {
      rows.push([
        w.sentAt,
        `${ms(w.sentAt, t0)} → ${ms(w.receivedAt, t0)}  ${w.worker} WRITE ${w.resource} token ${w.token} ${w.outcome}`,
      ]);
    }
  }
  for (const p of history.pauses) {
    if (p.to >= t0 && p.from <= t1)
      rows.push([p.from, `${ms(p.from, t0)} → ${ms(p.to, t0)}  PAUSE ${p.worker}`]);
  }
  for (const k of history.kills) {
    if (k.at >= t0 && k.at <= t1)
      rows.push([k.at, `${ms(k.at, t0)}             KILL ${k.worker} (held ${k.key} ${k.token})`]);
  }
  for (const l of history.stateLosses) {
    if (l.until >= t0 && l.at <= t1)
      rows.push([l.at, `${ms(l.at, t0)} → ${ms(l.until, t0)}  STATE LOSS ${l.what}`]);
  }
  for (const l of history.lostAnswers) {
    if (l.key === key && l.answeredAt >= t0 && l.sentAt <= t1) {
      rows.push([
        l.sentAt,
        `${ms(l.sentAt, t0)} → ${ms(l.answeredAt, t0)}  LOST ANSWER owner ${short(l.owner)} token ${l.token ?? '(refused)'}`,
      ]);
    }
  }
  rows.sort((a, b) => a[0] - b[0]);
  console.log(`\n${v.check}: ${v.message}\n  (times in ms from ${Number(values.before)} ms before it)`);
  for (const [, line] of rows) console.log(`  ${line}`);
}
process.exit(result.ok ? 0 : 1);
