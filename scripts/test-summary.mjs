// The closing line of `npm test`: `N passed, N failed` over every workspace, read from the JSON
// report each workspace's vitest writes (.vitest-results.json). `--clean` deletes old reports first,
// so a workspace that did not run cannot be counted. Exits non-zero when a test failed, when a
// workspace with a test script left no report or passed no test, or when any test was skipped (vitest
// itself exits 0 for a suite of skipped or todo tests: it would pass unnoticed beside the others).
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// `--root <dir>`: another tree laid out alike (the script's own test).
const rootAt = process.argv.indexOf('--root');
const root =
  rootAt > 0
    ? path.resolve(process.argv[rootAt + 1])
    : path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
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
  const problems = [];
  for (const dir of workspaces) {
    const manifestPath = path.join(root, dir, 'package.json');
    if (!existsSync(manifestPath)) continue;
    if (!JSON.parse(readFileSync(manifestPath, 'utf8')).scripts?.test) continue;
    let report;
    try {
      report = JSON.parse(readFileSync(reportOf(dir), 'utf8'));
    } catch {
      problems.push(`${dir}: no test report (did its tests run?)`);
      continue;
    }
    const skippedHere = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
    passed += report.numPassedTests ?? 0;
    failed += report.numFailedTests ?? 0;
    skipped += skippedHere;
    console.log(`  ${dir}: ${report.numPassedTests} passed, ${report.numFailedTests} failed`);
    if (!(report.numPassedTests > 0)) problems.push(`${dir}: no test passed`);
    if (skippedHere > 0) problems.push(`${dir}: ${skippedHere} test(s) skipped or todo`);
  }
  console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
  for (const problem of problems) console.log(`  not counted as a pass: ${problem}`);
  process.exitCode = failed > 0 || passed === 0 || problems.length > 0 ? 1 : 0;
}
