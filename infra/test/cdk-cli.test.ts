import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../lib/examples-stack.js';

describe('the cdk CLI', () => {
  const out = mkdtempSync(path.join(tmpdir(), 'leasehold-cdk-cli-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('synthesizes the app offline from the repository root (npx cdk synth --quiet exits 0)', () => {
    const started = performance.now();
    const run = spawnSync('npx', ['cdk', 'synth', '--quiet', '--no-notices', '--output', out], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      timeout: 110_000,
      // No credentials, no network: lookups are not used and telemetry is off for this run.
      env: {
        ...Object.fromEntries(
          Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !k.startsWith('CDK_')),
        ),
        CI: 'true',
        CDK_DISABLE_CLI_TELEMETRY: 'true',
        AWS_EC2_METADATA_DISABLED: 'true',
      },
    });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    expect(run.status, `cdk synth failed after ${seconds}s:\n${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stderr).not.toMatch(/Docker/i);

    const template = JSON.parse(readFileSync(path.join(out, 'LeaseholdExamplesStack.template.json'), 'utf8'));
    const types = Object.values(template.Resources as Record<string, { Type: string }>).map((r) => r.Type);
    expect(types.filter((t) => t === 'AWS::Lambda::Function')).toHaveLength(2);
    expect(types.filter((t) => t === 'AWS::DynamoDB::Table')).toHaveLength(4);
    const report = JSON.parse(readFileSync(path.join(out, 'validation-report.json'), 'utf8'));
    expect(report.pluginReports.flatMap((r: { violations?: unknown[] }) => r.violations ?? [])).toEqual([]);
  });
});
