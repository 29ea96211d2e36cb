export { type ConformanceHarness, runConformance } from './conformance.js';
export * from './faults.js';
export { regexAlternatives } from './regex-alternatives.js';
