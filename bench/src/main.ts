/**
 * `npm run bench`: Leasehold, its peers and the raw-store floor on the same local services, in one run.
 * Prints tables and target marks, and writes bench-results/latest.json. Never part of `npm test`.
 *
 * Settings (environment variable or `--name=value`):
 *   cycles (BENCH_CYCLES, 1500)           uncontended acquire+release cycles per Redis/Upstash contender
 *   ddbCycles (BENCH_DDB_CYCLES, 400)     the same on DynamoDB Local (slower per request)
 *   countCycles (BENCH_COUNT_CYCLES, 20)  cycles counted at the proxies
 *   hotMs (BENCH_HOT_MS, 2000)            length of each hot-key run
 *   hotRuns (BENCH_HOT_RUNS, 2)           runs per hot-key scenario, in separate passes; the best one counts
 *                                         (other load on the machine only ever makes a run slower)
 *   waiters (BENCH_WAITERS, 8), processes (BENCH_PROCESSES, 4), workMs (BENCH_WORK_MS, 1)
 *   hotTtlMs (BENCH_HOT_TTL_MS, 1000)     lease length in the hot-key scenarios (all contenders)
 *   importRuns (BENCH_IMPORT_RUNS, 15)    fresh `node` processes per bundle, interleaved round by round
 *   only (BENCH_ONLY)                     comma list of: uncontended,requests,hotkey,bundles
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { arch, cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createLockTable } from '@leasehold/dynamodb';
import { startLocalStores } from '@leasehold/local';
import { type BundleResult, measureBundles } from './bundles.js';
import {
  CONTENDERS,
  type Contender,
  type Endpoints,
  PEER_RETRY_DELAY_MS,
  type StoreKind,
} from './contenders.js';
import { type HotKeyResult, runHotKey, runTask } from './hot-key.js';
import { type Checks, evaluateTargets, renderReport } from './report.js';
import type { Latency, Requests } from './worker.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function setting(name: string, env: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  const raw = arg?.slice(name.length + 3) ?? process.env[env];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
  return n;
}

const onlyArg = process.argv.find((a) => a.startsWith('--only='))?.slice(7) ?? process.env.BENCH_ONLY;
const only = new Set((onlyArg ?? 'uncontended,requests,hotkey,bundles').split(',').map((s) => s.trim()));

export const SETTINGS = {
  cycles: setting('cycles', 'BENCH_CYCLES', 1500),
  ddbCycles: setting('ddbCycles', 'BENCH_DDB_CYCLES', 400),
  countCycles: setting('countCycles', 'BENCH_COUNT_CYCLES', 20),
  hotMs: setting('hotMs', 'BENCH_HOT_MS', 2000),
  hotRuns: setting('hotRuns', 'BENCH_HOT_RUNS', 2),
  waiters: setting('waiters', 'BENCH_WAITERS', 8),
  processes: setting('processes', 'BENCH_PROCESSES', 4),
  workMs: setting('workMs', 'BENCH_WORK_MS', 1),
  hotTtlMs: setting('hotTtlMs', 'BENCH_HOT_TTL_MS', 1000),
  importRuns: setting('importRuns', 'BENCH_IMPORT_RUNS', 15),
  peerRetryDelayMs: PEER_RETRY_DELAY_MS,
};

export interface ContenderResult {
  readonly id: string;
  readonly label: string;
  readonly store: StoreKind;
  readonly role: Contender['role'];
  uncontended?: Latency;
  requests?: Requests;
  hotOneProcess?: HotKeyResult;
  hotProcesses?: HotKeyResult;
  /** Two processes with one waiter each: every handoff crosses processes, with little CPU contention. */
  hotPair?: HotKeyResult;
  bundle?: BundleResult;
}

type HotField = 'hotOneProcess' | 'hotProcesses' | 'hotPair';

const log = (s: string) => process.stderr.write(`${s}\n`);

async function main(): Promise<void> {
  const started = performance.now();
  const loadBefore = loadavg()[0]!;
  // Quiet the SDKs' Node-version and maintenance notices (also for the child processes).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE = '1';
  log(`leasehold bench: starting DynamoDB Local, redis-server and the Upstash-compatible endpoint...`);
  const stores = await startLocalStores();
  const results = new Map<string, ContenderResult>(
    CONTENDERS.map((c) => [c.id, { id: c.id, label: c.label, store: c.store, role: c.role }]),
  );
  try {
    const ddb = stores.dynamodb!;
    const table = 'leasehold-bench';
    const admin = new DynamoDBClient({
      endpoint: ddb.endpoint,
      region: ddb.region,
      credentials: ddb.credentials,
    });
    await createLockTable(admin, table, { ifNotExists: true });
    admin.destroy();
    const direct: Endpoints = {
      redisPort: stores.redis!.port,
      upstashUrl: stores.upstash!.url,
      upstashToken: stores.upstash!.token,
      dynamoEndpoint: ddb.endpoint,
      region: ddb.region,
      credentials: ddb.credentials,
      table,
    };
    // DynamoDB Local's JVM keeps a core busy now and then: freeze it while other stores are measured.
    let ddbPaused = false;
    const dynamoDbNeeded = (needed: boolean) => {
      if (needed && ddbPaused) ddb.resume();
      if (!needed && !ddbPaused) ddb.pause();
      ddbPaused = !needed;
    };

    if (only.has('uncontended')) {
      for (const store of ['redis', 'upstash', 'dynamodb'] as const) {
        const group = CONTENDERS.filter((c) => c.store === store);
        const cycles = store === 'dynamodb' ? SETTINGS.ddbCycles : SETTINGS.cycles;
        dynamoDbNeeded(store === 'dynamodb');
        log(`uncontended acquire+release on ${store}: ${cycles} cycles x ${group.length} contenders`);
        const latencies = await runTask<Record<string, Latency>>({
          task: 'latency',
          contenders: group.map((c) => c.id),
          endpoints: direct,
          cycles,
          workMs: SETTINGS.workMs,
        });
        for (const [id, latency] of Object.entries(latencies)) results.get(id)!.uncontended = latency;
      }
    }

    if (only.has('requests')) {
      log(
        `store requests per operation, counted at a pass-through proxy: ${SETTINGS.countCycles} cycles each`,
      );
      for (const c of CONTENDERS) {
        dynamoDbNeeded(c.store === 'dynamodb');
        results.get(c.id)!.requests = await runTask<Requests>({
          task: 'count',
          contender: c.id,
          endpoints: direct,
          cycles: SETTINGS.countCycles,
        });
      }
    }

    if (only.has('hotkey')) {
      for (let run = 1; run <= SETTINGS.hotRuns; run++) {
        // Every other pass runs the contenders in reverse order, so that no contender always runs
        // first, last, or right after the same other one (the best run of each counts).
        const order = run % 2 === 1 ? CONTENDERS : [...CONTENDERS].reverse();
        for (const c of order) {
          dynamoDbNeeded(c.store === 'dynamodb');
          // A floor runs one waiter in one process: the section rate of one client, measured with the
          // same harness right beside the scenarios it is the yardstick of.
          const floor = c.role === 'floor';
          const scenarios: Array<[processes: number, waiters: number, field: HotField]> = floor
            ? [[1, 1, 'hotOneProcess']]
            : [
                [1, SETTINGS.waiters, 'hotOneProcess'],
                [SETTINGS.processes, SETTINGS.waiters, 'hotProcesses'],
                [2, 2, 'hotPair'],
              ];
          for (const [processes, waiters, field] of scenarios) {
            log(
              `hot key (run ${run}/${SETTINGS.hotRuns}): ${c.id}, ${waiters} waiter(s) in ${processes} process(es), ${SETTINGS.hotMs} ms`,
            );
            const result = await runHotKey(
              {
                task: 'hotkey',
                contender: c.id,
                endpoints: direct,
                key: `bench:hot:${c.id}:${field}:${run}`,
                waiters,
                workMs: SETTINGS.workMs,
                durationMs: SETTINGS.hotMs,
                ttlMs: SETTINGS.hotTtlMs,
                graceMs: 2 * SETTINGS.hotTtlMs,
              },
              processes,
            );
            const r = results.get(c.id)!;
            const best = r[field];
            if (best === undefined || result.perSecond > best.perSecond) r[field] = result;
          }
        }
      }
    }

    dynamoDbNeeded(true);
  } finally {
    await stores.stop();
  }

  let baseline: BundleResult | undefined;
  if (only.has('bundles')) {
    log(
      `Lambda bundles (esbuild --bundle --minify, ESM) and cold import (${SETTINGS.importRuns} fresh node processes each)`,
    );
    const bundles = await measureBundles(join(ROOT, 'bench-results', 'bundles'), SETTINGS.importRuns, log);
    for (const b of bundles) {
      const r = results.get(b.id);
      if (r) r.bundle = b;
      else if (b.id === 'baseline') baseline = b;
    }
  }

  const contenders = [...results.values()];
  const checks: Checks = evaluateTargets(contenders, SETTINGS);
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${platform()} ${release()} ${arch()}`,
    node: process.version,
    /** 1-minute load average before and after: other work on the machine makes every figure noisier. */
    load: `${loadBefore.toFixed(1)} -> ${loadavg()[0]!.toFixed(1)}`,
  };
  const elapsedS = (performance.now() - started) / 1000;
  process.stdout.write(renderReport(contenders, checks, { machine, settings: SETTINGS, baseline, elapsedS }));
  const out = join(ROOT, 'bench-results');
  await mkdir(out, { recursive: true });
  await writeFile(
    join(out, 'latest.json'),
    `${JSON.stringify({ date: new Date().toISOString(), machine, settings: SETTINGS, elapsedS, contenders, baseline, targets: checks }, null, 2)}\n`,
  );
  log(`wrote bench-results/latest.json (${elapsedS.toFixed(0)} s)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
