/**
 * `npm run size -w @leasehold/bench` (after `npm run build`): the minified bytes of the bench's minimal
 * Leasehold Lambda per store, store SDK excluded, file by file — the bundle figure of `npm run bench`
 * without starting any service.
 */
import { BUNDLES, bundle } from './bundles.js';
import { BUNDLE_LIMIT_BYTES } from './report.js';

for (const spec of BUNDLES.filter((s) => s.id.startsWith('leasehold-'))) {
  const { text, inputs } = await bundle(spec, false);
  process.stdout.write(`${spec.id}: ${Buffer.byteLength(text)} B (limit ${BUNDLE_LIMIT_BYTES})\n`);
  for (const [file, bytes] of Object.entries(inputs)) {
    process.stdout.write(`  ${String(bytes).padStart(6)}  ${file}\n`);
  }
}
