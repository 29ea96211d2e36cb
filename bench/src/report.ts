/** Tables, target marks and the figures they rest on. */
import { type BundleResult, libraryBytes } from './bundles.js';
import type { StoreKind } from './contenders.js';
import type { ContenderResult } from './main.js';

/** "10 KB": 10 × 1024 bytes, as esbuild reports sizes. */
export const BUNDLE_LIMIT_BYTES = 10 * 1024;

export interface Check {
  readonly target: string;
  readonly store: StoreKind;
  readonly measured: string;
  readonly limit: string;
  /** null when a figure it needs was not measured in this run. */
  readonly pass: boolean | null;
}
export type Checks = Check[];

interface SettingsLike {
  readonly workMs: number;
  readonly processes: number;
  readonly waiters: number;
}

const STORES: readonly StoreKind[] = ['upstash', 'dynamodb'];
const STORE_LABEL: Record<StoreKind, string> = {
  redis: 'Redis (TCP)',
  upstash: 'Upstash REST',
  dynamodb: 'DynamoDB Local',
};

const f1 = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '—' : n.toFixed(n < 10 ? 2 : 1));
const f0 = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '—' : n.toFixed(n < 10 ? 1 : 0));

type HotRun = ContenderResult['hotPair'];
/** The columns every hot-key table shares: sections/s, handoff p50 and p99, requests per section. */
const hotColumns = (h: HotRun) => [
  f0(h?.perSecond),
  f1(h?.handoffP50),
  f1(h?.handoffP99),
  f1(h?.requestsPerSection),
];
/** Sections done by the least and the most served process. */
const fairness = (h: HotRun) => (h ? `${h.fewestByProcess}/${h.mostByProcess}` : '—');
const kb = (bytes: number | undefined) =>
  bytes === undefined ? '—' : (bytes / 1024).toFixed(bytes < 10_240 ? 2 : 1);
const reqs = (n: number | null | undefined) =>
  n === undefined ? '—' : n === null ? 'n/a' : Number.isInteger(n) ? String(n) : n.toFixed(2);
/** The first acquire / extend / release of a fresh client after a script-cache flush, e.g. `2/1/1`. */
const firstCall = (r: ContenderResult['requests']) =>
  r?.first
    ? [r.first.acquire, r.first.extend, r.first.release].map((n) => (n === null ? '-' : reqs(n))).join('/')
    : '—';

export function evaluateTargets(results: readonly ContenderResult[], settings: SettingsLike): Checks {
  const checks: Checks = [];
  for (const store of STORES) {
    const ours = results.find((r) => r.store === store && r.role === 'leasehold');
    const floor = results.find((r) => r.store === store && r.role === 'floor');
    const peers = results.filter((r) => r.store === store && r.role === 'peer');
    if (!ours) continue;
    // A round trip as the hot key sees it: the floor's own handoff in the hot-key harness (one client:
    // release, then acquire at once, each section ~workMs of CPU work) is 2 RT, measured directly.
    // Back-to-back requests (the uncontended cycle) can differ on this machine: an idle millisecond
    // between requests costs wake-ups in every process on the path. Both are shown.
    const serial = floor?.uncontended?.serialPerSecond;
    const twoRt =
      floor?.hotOneProcess?.handoffP50 ??
      (serial === undefined ? undefined : 1000 / serial - settings.workMs);
    const twoRtBackToBack = floor?.uncontended?.cycleP50;
    const req = ours.requests;
    checks.push({
      target: 'store requests per uncontended acquire / extend / release',
      store,
      measured: req
        ? `${reqs(req.acquire)} / ${reqs(req.extend)} / ${reqs(req.release)} (first call: ${firstCall(req)})`
        : '—',
      limit: 'exactly 1 / 1 / 1 (steady state)',
      pass: req ? req.acquire === 1 && req.extend === 1 && req.release === 1 : null,
    });
    const ratio =
      ours.uncontended && floor?.uncontended
        ? ours.uncontended.cycleP50 / floor.uncontended.cycleP50
        : undefined;
    checks.push({
      target: 'uncontended acquire+release p50 vs the floor',
      store,
      measured: ratio === undefined ? '—' : `${ratio.toFixed(2)}x`,
      limit: '<= 1.15x',
      pass: ratio === undefined ? null : ratio <= 1.15,
    });
    // The issue's formula, 1/(work + 2 RT), from the RT above (not the floor row's sections/s, which
    // also holds the harness's own time per section and so is a lower, easier yardstick).
    const ideal = twoRt === undefined ? undefined : 1000 / (settings.workMs + twoRt);
    const idealBackToBack =
      twoRtBackToBack === undefined ? undefined : 1000 / (settings.workMs + twoRtBackToBack);
    const one = ours.hotOneProcess;
    checks.push({
      target: `hot key, ${settings.waiters} waiters in 1 process: sections/s vs 1/(work + 2 RT)`,
      store,
      measured:
        one && ideal !== undefined && idealBackToBack !== undefined
          ? `${f0(one.perSecond)}/s = ${((100 * one.perSecond) / ideal).toFixed(0)}% (${((100 * one.perSecond) / idealBackToBack).toFixed(0)}% of ${f0(idealBackToBack)}/s back-to-back)`
          : '—',
      limit: ideal === undefined ? '>= 70%' : `>= 70% of ${f0(ideal)}/s`,
      pass: one && ideal !== undefined ? one.perSecond >= 0.7 * ideal : null,
    });
    const many = ours.hotProcesses;
    const bestPeer = Math.max(...peers.map((p) => p.hotProcesses?.perSecond ?? 0));
    checks.push({
      target: `hot key across ${settings.processes} processes: sections/s vs the best peer`,
      store,
      measured:
        many && bestPeer > 0 ? `${f0(many.perSecond)}/s = ${(many.perSecond / bestPeer).toFixed(1)}x` : '—',
      limit: `>= 3x (best peer ${f0(bestPeer)}/s)`,
      pass: many && bestPeer > 0 ? many.perSecond >= 3 * bestPeer : null,
    });
    const handoffs: Array<[string, number | undefined]> = [['1 process', one?.handoffP50]];
    // Across processes: two processes with one waiter each, so that every handoff crosses processes
    // (in the 4-process hot key most handoffs are passes within a process, and the few at a cohort's
    // end queue behind four CPU-bound processes on two cores: reported in the table, not judged).
    if (store === 'upstash') handoffs.push(['between 2 processes', ours.hotPair?.handoffP50]);
    for (const [where, p50] of handoffs) {
      checks.push({
        target: `release-to-next-grant handoff p50, ${where}`,
        store,
        measured:
          p50 === undefined || twoRt === undefined || twoRtBackToBack === undefined
            ? '—'
            : `${f1(p50)} ms = ${(p50 / (twoRt / 2)).toFixed(2)} RT (${(p50 / (twoRtBackToBack / 2)).toFixed(2)} back-to-back)`,
        limit: twoRt === undefined ? '<= 2 RT' : `<= 2 RT (${f1(twoRt)} ms)`,
        pass: p50 === undefined || twoRt === undefined ? null : p50 <= twoRt,
      });
    }
    // The target is Leasehold's own weight: core + store files, not the handler's few lines around them.
    const bytes = ours.bundle && libraryBytes(ours.bundle.inputs);
    const lambdaBytes = ours.bundle?.withoutSdkBytes;
    checks.push({
      target: 'core + store, minified ESM bundle, store SDK excluded',
      store,
      measured: bytes === undefined ? '—' : `${kb(bytes)} KB (${bytes} B; whole Lambda ${lambdaBytes} B)`,
      limit: `<= 10 KB (${BUNDLE_LIMIT_BYTES} B)`,
      pass: bytes === undefined ? null : bytes <= BUNDLE_LIMIT_BYTES,
    });
  }
  return checks;
}

function table(head: readonly string[], rows: readonly (readonly string[])[], rightFrom = 2): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i >= rightFrom ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

const ROLE: Record<ContenderResult['role'], string> = {
  floor: 'floor',
  leasehold: 'Leasehold',
  peer: 'peer',
};

export interface ReportContext {
  readonly machine: { cpu: string; cores: number; memoryGiB: number; os: string; node: string; load: string };
  readonly settings: Record<string, number>;
  readonly baseline: BundleResult | undefined;
  readonly elapsedS: number;
}

export function renderReport(
  results: readonly ContenderResult[],
  checks: Checks,
  ctx: ReportContext,
): string {
  const s = ctx.settings;
  const order: StoreKind[] = ['redis', 'upstash', 'dynamodb'];
  const sorted = order.flatMap((store) => results.filter((r) => r.store === store));
  const floorOf = (store: StoreKind) => results.find((r) => r.store === store && r.role === 'floor');
  const out: string[] = [];
  out.push(
    `Leasehold bench — ${ctx.machine.cores} cores (${ctx.machine.cpu}), ${ctx.machine.memoryGiB} GiB, ${ctx.machine.os}, Node ${ctx.machine.node}, load ${ctx.machine.load}`,
    `local services: redis-server (TCP), the Upstash-compatible REST endpoint of @leasehold/local over it, DynamoDB Local`,
    '',
    `Uncontended acquire + release, ms (floor = the raw store calls any lock needs; x floor = p50 / floor p50);`,
    `store requests per acquire / extend / release, counted at a pass-through proxy: steady state, and (1st call) the first`,
    `acquire/extend/release of a fresh client on a server whose Lua script cache was just flushed (EVALSHA -> NOSCRIPT -> EVAL);`,
    `serial/s = one client looping acquire -> ${s.workMs} ms of work -> release (no contention: 1/(work + 2 RT))`,
  );
  out.push(
    table(
      [
        'store',
        'contender',
        'kind',
        'p50',
        'p99',
        'x floor',
        'acq req',
        'ext req',
        'rel req',
        '1st call',
        'serial/s',
      ],
      sorted.map((r) => {
        const floor = floorOf(r.store)?.uncontended?.cycleP50;
        const u = r.uncontended;
        return [
          STORE_LABEL[r.store],
          r.label,
          ROLE[r.role],
          f1(u?.cycleP50),
          f1(u?.cycleP99),
          u && floor ? `${(u.cycleP50 / floor).toFixed(2)}x` : '—',
          reqs(r.requests?.acquire),
          reqs(r.requests?.extend),
          reqs(r.requests?.release),
          firstCall(r.requests),
          f0(u?.serialPerSecond),
        ];
      }),
      3,
    ),
  );
  out.push(
    '',
    `Hot key: ${s.waiters} waiters, each section ~${s.workMs} ms of CPU work, leases of ${s.hotTtlMs} ms, best of ${s.hotRuns} runs of ${s.hotMs} ms;`,
    `handoff = release called -> next holder's acquire resolved, ms; req/sect = store requests (HTTP requests or Redis`,
    `commands) sent by all waiters during the run per section granted during it. Peers retry every ${s.peerRetryDelayMs} ms (faster than their defaults).`,
    `Across processes: x-proc = the handoffs whose next holder runs in another process (p50 ms, share of all handoffs);`,
    `min/max = sections done by the least and the most served process (fairness).`,
    `A floor row is ONE client looping acquire -> work -> release alone; its handoff p50 is the 2 RT of the targets below.`,
  );
  out.push(
    table(
      [
        'store',
        'contender',
        'kind',
        '1 proc/s',
        'handoff p50',
        'p99',
        'req/sect',
        `${s.processes} procs/s`,
        'handoff p50',
        'p99',
        'x-proc p50',
        'share',
        'req/sect',
        'min/max',
      ],
      sorted
        .filter((r) => r.role !== 'floor' || r.hotOneProcess)
        .map((r) => [
          STORE_LABEL[r.store],
          r.label,
          ROLE[r.role],
          ...hotColumns(r.hotOneProcess),
          ...hotColumns(r.hotProcesses).slice(0, 3),
          f1(r.hotProcesses?.crossHandoffP50),
          r.hotProcesses ? `${(100 * r.hotProcesses.crossShare).toFixed(0)}%` : '—',
          f1(r.hotProcesses?.requestsPerSection),
          fairness(r.hotProcesses),
        ]),
      3,
    ),
  );
  out.push(
    '',
    'Handoff between two processes, one waiter each (every handoff crosses processes): sections/s, release called ->',
    "the other process's grant, ms, and store requests per section.",
  );
  out.push(
    table(
      ['store', 'contender', 'kind', 'sections/s', 'handoff p50', 'p99', 'req/sect', 'min/max'],
      sorted
        .filter((r) => r.hotPair)
        .map((r) => [
          STORE_LABEL[r.store],
          r.label,
          ROLE[r.role],
          ...hotColumns(r.hotPair),
          fairness(r.hotPair),
        ]),
      3,
    ),
  );
  const anomalies = results.flatMap((r) =>
    [r.hotOneProcess, r.hotProcesses, r.hotPair].flatMap((h) =>
      h && (h.overlaps > 0 || h.errors.length > 0)
        ? [
            `  ${r.id} (${h.processes} proc): ${h.overlaps} overlapping sections, errors: ${h.errors.join('; ') || 'none'}`,
          ]
        : [],
    ),
  );
  if (anomalies.length > 0) out.push('anomalies:', ...anomalies);
  const base = ctx.baseline;
  out.push(
    '',
    `Minimal Lambda handler per contender: esbuild --bundle --minify --format=esm; cold import = median of ${s.importRuns} fresh node processes`,
    `importing the full bundle${base ? ` (an empty handler: ${f1(base.coldImportMs)} ms)` : ''}`,
  );
  out.push(
    table(
      ['store', 'contender', 'kind', 'KB w/o SDK', 'gzip', 'KB with SDK', 'import ms'],
      sorted.map((r) => [
        STORE_LABEL[r.store],
        r.label,
        ROLE[r.role],
        kb(r.bundle?.withoutSdkBytes),
        kb(r.bundle?.withoutSdkGzipBytes),
        kb(r.bundle?.withSdkBytes),
        f1(r.bundle?.coldImportMs),
      ]),
      3,
    ),
  );
  out.push(
    '',
    'Targets. RT = one store round trip = half the handoff p50 of the floor row of the hot-key table (one client: release,',
    `then acquire at once); 1/(work + 2 RT) computed from it with work = ${s.workMs} ms. In parentheses: against the back-to-back`,
    'floor cycle (uncontended p50 = 2 RT). Request counts are judged in the steady state; the first call is shown.',
  );
  out.push(
    table(
      ['', 'store', 'target', 'measured', 'limit'],
      checks.map((c) => [
        c.pass === null ? '?' : c.pass ? 'PASS' : 'FAIL',
        STORE_LABEL[c.store],
        c.target,
        c.measured,
        c.limit,
      ]),
      99,
    ),
  );
  out.push('', `(${ctx.elapsedS.toFixed(0)} s)`, '');
  return out.join('\n');
}
