/**
 * `npm run soak`: the long fault soak, on both stores by default.
 *
 *   npm run soak -- --attempts 50000 --store upstash --seed 1234
 *
 * Flags (or environment variables): --attempts (LEASEHOLD_SOAK_ATTEMPTS, default 20000 per store),
 * --store dynamodb|upstash|both (LEASEHOLD_SOAK_STORE, default both), --seed (LEASEHOLD_SOAK_SEED,
 * default random; printed, pass it back to replay the same fault schedule), --workers (8), --keys (6),
 * --ttl (500 ms), --clock-offset (±50 ms), --skew-margin (the DynamoDB store's clockSkewMs, default
 * twice the offset; less breaks the clock assumption on purpose: only fencing then protects, and the
 * exclusive-validity check is skipped), --history FILE (writes FILE.<store>.json). Prints a summary table and the checker's report; exits 1 if
 * any check failed.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatCheckResult, randomSeed } from '@leasehold/testkit/faults';
import { formatSoakTable, runSoak, type SoakResult, type SoakStore } from './soak.js';

const { values } = parseArgs({
  options: {
    attempts: { type: 'string' },
    store: { type: 'string' },
    seed: { type: 'string' },
    workers: { type: 'string' },
    keys: { type: 'string' },
    ttl: { type: 'string' },
    'clock-offset': { type: 'string' },
    'skew-margin': { type: 'string' },
    history: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help) {
  console.log(
    'npm run soak -- [--attempts N] [--store dynamodb|upstash|both] [--seed N] [--workers N] [--keys N] [--ttl MS] [--clock-offset MS] [--skew-margin MS] [--history FILE]',
  );
  process.exit(0);
}

function int(name: string, flag: string | undefined, env: string | undefined, fallback: number): number {
  const raw = flag ?? env;
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`--${name} must be a whole number, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

const attempts = int('attempts', values.attempts, process.env.LEASEHOLD_SOAK_ATTEMPTS, 20_000);
const seed = int('seed', values.seed, process.env.LEASEHOLD_SOAK_SEED, randomSeed());
const storeArg = values.store ?? process.env.LEASEHOLD_SOAK_STORE ?? 'both';
if (!['dynamodb', 'upstash', 'both'].includes(storeArg)) {
  console.error(`--store must be dynamodb, upstash or both, got ${JSON.stringify(storeArg)}`);
  process.exit(2);
}
const stores: SoakStore[] = storeArg === 'both' ? ['dynamodb', 'upstash'] : [storeArg as SoakStore];

console.log(
  `leasehold fault soak: seed ${seed} (replay with --seed ${seed}), ${attempts} attempts per store`,
);
const results: SoakResult[] = [];
for (const store of stores) {
  const result = await runSoak({
    store,
    attempts,
    seed,
    workers: int('workers', values.workers, undefined, 8),
    keys: int('keys', values.keys, undefined, 6),
    ttlMs: int('ttl', values.ttl, undefined, 500),
    maxClockOffsetMs: int('clock-offset', values['clock-offset'], undefined, 50),
    ...(values['skew-margin'] === undefined
      ? {}
      : { storeSkewMs: int('skew-margin', values['skew-margin'], undefined, 100) }),
    minEachFault: Math.max(3, Math.floor(attempts / 500)),
    log: (line) => console.log(line),
  });
  results.push(result);
  if (values.history !== undefined) {
    const file = `${values.history}.${store}.json`;
    writeFileSync(file, JSON.stringify(result.history));
    console.log(`[${store}] history written to ${file}`);
  }
  console.log(`\n[${store}] checks:\n${formatCheckResult(result.check)}`);
  for (const crash of result.crashes.slice(0, 10)) console.log(`  crash: ${crash}`);
  console.log('');
}
console.log(formatSoakTable(results));
console.log(`seed ${seed}`);
const failed = results.some((r) => !r.check.ok || r.crashes.length > 0);
process.exit(failed ? 1 : 0);
