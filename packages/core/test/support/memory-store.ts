import { type LockState, type LockStore, StoreError } from '../../src/index.js';

interface Row {
  owner?: string;
  expiresAt: number;
  fence: number;
}

/** In-memory store for core unit tests only: real stores are tested against real services. */
export interface MemoryStore extends LockStore {
  readonly rows: Map<string, Row>;
  readonly calls: { acquire: number; extend: number; release: number; inspect: number };
  /** Makes the next `n` calls of any kind reject with a StoreError. */
  failNext(n?: number): void;
  /** Simulates another client taking the key over (our lease is lost). */
  steal(key: string, ttlMs?: number): void;
  /** Adds latency to every call. */
  latencyMs: number;
}

export function memoryStore(): MemoryStore {
  const rows = new Map<string, Row>();
  const calls = { acquire: 0, extend: 0, release: 0, inspect: 0 };
  let failures = 0;
  const gate = async () => {
    if (store.latencyMs > 0) await new Promise((r) => setTimeout(r, store.latencyMs));
    if (failures > 0) {
      failures--;
      throw new StoreError('memory', 'unreachable', 'injected failure');
    }
  };
  const store: MemoryStore = {
    name: 'memory',
    rows,
    calls,
    latencyMs: 0,
    failNext(n = 1) {
      failures = n;
    },
    steal(key, ttlMs = 60_000) {
      const row = rows.get(key) ?? { expiresAt: 0, fence: 0 };
      rows.set(key, { owner: 'thief', expiresAt: Date.now() + ttlMs, fence: row.fence + 1 });
    },
    async acquire({ key, owner, ttlMs }) {
      calls.acquire++;
      await gate();
      const now = Date.now();
      const row = rows.get(key);
      if (row?.owner !== undefined && row.owner !== owner && row.expiresAt > now) {
        return { acquired: false, holderRemainingMs: row.expiresAt - now, holderToken: row.fence };
      }
      const fence = row?.owner === owner ? row.fence : (row?.fence ?? 0) + 1;
      rows.set(key, { owner, expiresAt: now + ttlMs, fence });
      return { acquired: true, token: fence };
    },
    async extend({ key, owner, token, ttlMs }) {
      calls.extend++;
      await gate();
      const row = rows.get(key);
      if (row?.owner !== owner || row.fence !== token || row.expiresAt <= Date.now()) return false;
      row.expiresAt = Date.now() + ttlMs;
      return true;
    },
    async release({ key, owner, token }) {
      calls.release++;
      await gate();
      const row = rows.get(key);
      if (row?.owner !== owner || row.fence !== token) return false;
      delete row.owner;
      row.expiresAt = 0;
      return true;
    },
    async inspect(key): Promise<LockState> {
      calls.inspect++;
      await gate();
      const row = rows.get(key);
      const now = Date.now();
      if (!row) return { key, held: false };
      const held = row.owner !== undefined && row.expiresAt > now;
      return held
        ? { key, held, token: row.fence, expiresAt: row.expiresAt, remainingMs: row.expiresAt - now }
        : { key, held, token: row.fence };
    },
  };
  return store;
}
