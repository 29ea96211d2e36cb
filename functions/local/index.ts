export * from './bundle.js';
export * from './environment.js';
export * from './events.js';
export * from './storms.js';
