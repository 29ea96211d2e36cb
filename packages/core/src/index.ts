export * from './errors.js';
export type * from './store.js';
