export {
  type ConformanceHarness,
  type ConformanceOptions,
  type ConformanceSupports,
  runConformance,
} from './conformance.js';
export * from './faults.js';
export { regexAlternatives } from './regex-alternatives.js';
