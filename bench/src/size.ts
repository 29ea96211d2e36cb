/**
 * `npm run size -w @leasehold/bench` (after `npm run build`): the minified bytes of the bench's minimal
 * Leasehold Lambda per store, store SDK excluded, file by file — the bundle target of `npm run bench`
 * without starting any service.
 */
import { BUNDLES, bundle, libraryBytes } from './bundles.js';
import { BUNDLE_LIMIT_BYTES } from './report.js';

for (const spec of BUNDLES.filter((s) => s.id.startsWith('leasehold-'))) {
  const { text, inputs } = await bundle(spec, false);
  process.stdout.write(
    `${spec.id}: core + store ${libraryBytes(inputs)} B (limit ${BUNDLE_LIMIT_BYTES}), whole Lambda ${Buffer.byteLength(text)} B\n`,
  );
  for (const [file, bytes] of Object.entries(inputs)) {
    process.stdout.write(`  ${String(bytes).padStart(6)}  ${file}\n`);
  }
}
