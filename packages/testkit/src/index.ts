export { type ConformanceHarness, runConformance } from './conformance.js';
