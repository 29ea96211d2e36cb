// Proves that the conformance suite catches each mutant of mutants.ts: runs the suite over it (a real
// store, wrapped) and checks that every test named in its `fails` failed. Also lists the other tests
// that failed: none of the suite's older tests catching a mutant shows the gap the new test closes.
//
//   node test/mutants/prove.mjs                 # every mutant (about 15 s each)
//   node test/mutants/prove.mjs step-one ...    # some
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const source = readFileSync(join(root, 'test/mutants/mutants.ts'), 'utf8');
const all = [...source.matchAll(/^ {2}'([\w-]+)': \{$/gm)].map((m) => m[1]);
const names = process.argv.slice(2).length ? process.argv.slice(2) : all;
const fails = (name) => {
  const block = source.slice(source.indexOf(`  '${name}': {`));
  return [.../fails: \[(.*?)\]/s.exec(block)[1].matchAll(/'([^']*)'/g)].map((m) => m[1]);
};

let ok = true;
for (const name of names) {
  const out = join(root, `.mutant-${name}.json`);
  spawnSync(
    'npx',
    ['vitest', 'run', '--config', 'vitest.mutants.config.ts', '--reporter=json', `--outputFile=${out}`],
    {
      cwd: root,
      env: { ...process.env, LEASEHOLD_MUTANT: name },
      stdio: 'ignore',
    },
  );
  let report;
  try {
    report = JSON.parse(readFileSync(out, 'utf8'));
  } catch {
    console.log(`${name}: no report (the run crashed)`);
    ok = false;
    continue;
  }
  rmSync(out, { force: true });
  const tests = report.testResults.flatMap((file) => file.assertionResults);
  const failed = tests.filter((t) => t.status === 'failed').map((t) => t.title);
  const missed = fails(name).filter((part) => !failed.some((title) => title.includes(part)));
  const others = failed.filter((title) => !fails(name).some((part) => title.includes(part)));
  if (missed.length) ok = false;
  console.log(
    `${missed.length ? 'NOT CAUGHT' : 'caught'} ${name}: ${failed.length} of ${tests.length} failed` +
      (missed.length ? `; expected to fail: ${missed.join(' | ')}` : '') +
      (others.length ? `; also failed: ${others.join(' | ')}` : '; no older test failed'),
  );
}
process.exit(ok ? 0 : 1);
