// redlock 5.0.0-beta.2 ships types its package.json "exports" does not expose under NodeNext;
// this declares the part the bench uses.
declare module 'redlock' {
  import type { EventEmitter } from 'node:events';
  import type { Redis } from 'ioredis';

  export interface Settings {
    readonly driftFactor: number;
    readonly retryCount: number;
    readonly retryDelay: number;
    readonly retryJitter: number;
    readonly automaticExtensionThreshold: number;
  }
  export class Lock {
    readonly value: string;
    release(): Promise<unknown>;
    extend(duration: number): Promise<Lock>;
  }
  export default class Redlock extends EventEmitter {
    constructor(clients: Iterable<Redis>, settings?: Partial<Settings>);
    acquire(resources: string[], duration: number, settings?: Partial<Settings>): Promise<Lock>;
  }
}
