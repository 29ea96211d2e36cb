import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

/**
 * `npm test`'s last step (scripts/test-summary.mjs) decides CI's verdict from each workspace's vitest
 * report. vitest exits 0 for a suite of only skipped or todo tests, so the summary must not count one
 * as a pass, nor a workspace that left no report.
 */
const SCRIPT = fileURLToPath(new URL('../../scripts/test-summary.mjs', import.meta.url));
const run = promisify(execFile);
let root: string | undefined;

type Report = {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests?: number;
  numTodoTests?: number;
};

/** A tree with workspaces packages/a and packages/b (both with a test script) and their reports. */
async function tree(reports: { a?: Report; b?: Report }): Promise<string> {
  root = await mkdtemp(join(tmpdir(), 'leasehold-summary-'));
  for (const name of ['a', 'b'] as const) {
    const dir = join(root, 'packages', name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name, scripts: { test: 'vitest run' } }));
    const report = reports[name];
    if (report) await writeFile(join(dir, '.vitest-results.json'), JSON.stringify(report));
  }
  return root;
}

async function summary(dir: string): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run(process.execPath, [SCRIPT, '--root', dir]);
    return { code: 0, out: stdout };
  } catch (err) {
    const { code, stdout } = err as { code: number; stdout: string };
    return { code, out: stdout };
  }
}

const ok: Report = { numPassedTests: 3, numFailedTests: 0, numPendingTests: 0, numTodoTests: 0 };

afterEach(async () => {
  if (root) await rm(root, { recursive: true, force: true });
  root = undefined;
});

describe('the test summary', () => {
  it('passes when every workspace ran and passed its tests', async () => {
    expect(await summary(await tree({ a: ok, b: ok }))).toEqual({
      code: 0,
      out: expect.stringContaining('6 passed, 0 failed'),
    });
  });

  it('fails on a failed test', async () => {
    expect((await summary(await tree({ a: ok, b: { ...ok, numFailedTests: 1 } }))).code).toBe(1);
  });

  it('fails when a workspace left no report, though the others passed', async () => {
    const { code, out } = await summary(await tree({ a: ok }));
    expect(code).toBe(1);
    expect(out).toContain('packages/b: no test report');
  });

  it('fails when a workspace skipped tests or passed none, though vitest exited 0', async () => {
    const skipped = await summary(await tree({ a: ok, b: { ...ok, numPendingTests: 2 } }));
    expect(skipped.code).toBe(1);
    expect(skipped.out).toContain('packages/b: 2 test(s) skipped or todo');
    await rm(root!, { recursive: true, force: true });
    const none = await summary(
      await tree({ a: ok, b: { numPassedTests: 0, numFailedTests: 0, numTodoTests: 4 } }),
    );
    expect(none.code).toBe(1);
    expect(none.out).toContain('packages/b: no test passed');
  });
});
