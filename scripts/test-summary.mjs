// The closing line of `npm test`: `N passed, N failed` over every workspace, read from the JSON
// report each workspace's vitest writes (.vitest-results.json). `--clean` deletes old reports first,
// so a workspace that did not run cannot be counted. Exits non-zero when a test failed or none ran.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const workspaces = [
  ...readdirSync(path.join(root, 'packages')).map((d) => path.join('packages', d)),
  'functions',
  'infra',
  'test',
  'bench',
];
const reportOf = (dir) => path.join(root, dir, '.vitest-results.json');

if (process.argv.includes('--clean')) {
  for (const dir of workspaces) rmSync(reportOf(dir), { force: true });
} else {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const dir of workspaces) {
    let report;
    try {
      report = JSON.parse(readFileSync(reportOf(dir), 'utf8'));
    } catch {
      continue;
    }
    passed += report.numPassedTests ?? 0;
    failed += report.numFailedTests ?? 0;
    skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
    console.log(`  ${dir}: ${report.numPassedTests} passed, ${report.numFailedTests} failed`);
  }
  console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
  process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
}
