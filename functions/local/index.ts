export * from './bundle.js';
export * from './environment.js';
export * from './events.js';
export * from './frozen-holder.js';
export * from './storms.js';
