import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../lib/app.js';
import type { LeaseholdExamplesStackProps } from '../lib/examples-stack.js';
import {
  actionsByResource,
  cdkJsonContext,
  envNamesReadByFunctions,
  logicalId,
  nagSuppressions,
  resources,
  roleStatements,
  synthExamples,
  validationReport,
} from './helpers.js';

const URL = 'https://eu1-leasehold-12345.upstash.io';
const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:leasehold/upstash-token-AbC123';

type Synth = ReturnType<typeof synthExamples>;
const fnIds = (s: Synth) => ({
  payment: logicalId(s.template, 'AWS::Lambda::Function', 'PaymentFunction/Resource'),
  booking: logicalId(s.template, 'AWS::Lambda::Function', 'BookingFunction/Resource'),
});
const env = (s: Synth, id: string) =>
  (resources(s.template)[id]!.Properties!.Environment as { Variables: Record<string, unknown> }).Variables;
const roleOf = (s: Synth, id: string) =>
  (resources(s.template)[id]!.Properties!.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
const secretStatements = (s: Synth, id: string) =>
  roleStatements(s.template, roleOf(s, id)).filter((st) =>
    st.actions.some((a) => a.startsWith('secretsmanager:')),
  );

// Each variant is synthesized once (through CDK context, exactly as `cdk synth -c …` would), then shared.
let byName: Synth;
let byArn: Synth;
let publicApi: Synth;
let reserved: Synth;
beforeAll(() => {
  byName = synthExamples(undefined, { upstashUrl: URL, upstashTokenSecretName: 'leasehold/upstash-token' });
  byArn = synthExamples(undefined, { upstashUrl: URL, upstashTokenSecretArn: ARN });
  publicApi = synthExamples(undefined, { apiAuth: 'none', dataRemovalPolicy: 'destroy', logLevel: 'debug' });
  reserved = synthExamples(undefined, { reservedConcurrency: '20' });
});
afterAll(() => {
  for (const s of [byName, byArn, publicApi, reserved]) rmSync(s.outdir, { recursive: true, force: true });
});

describe('Upstash as the lock store', () => {
  it('switches both functions to LOCK_STORE=upstash with the REST URL and the token secret (by name, or by its ARN)', () => {
    const { payment, booking } = fnIds(byName);
    for (const id of [payment, booking]) {
      expect(env(byName, id)).toMatchObject({
        LOCK_STORE: 'upstash',
        UPSTASH_REDIS_REST_URL: URL,
        // The name, not a partial ARN built from it: Secrets Manager takes a partial ARN whose name ends
        // in -XXXXXX for a complete one.
        UPSTASH_TOKEN_SECRET_ID: 'leasehold/upstash-token',
      });
    }
    const ids2 = fnIds(byArn);
    expect(env(byArn, ids2.payment).UPSTASH_TOKEN_SECRET_ID).toBe(ARN);
  });

  it('sets only variables the functions read (NODE_OPTIONS aside), the Upstash ones included', () => {
    const read = envNamesReadByFunctions();
    for (const s of [byName, byArn]) {
      const { payment, booking } = fnIds(s);
      for (const id of [payment, booking]) {
        expect(Object.keys(env(s, id)).filter((n) => n !== 'NODE_OPTIONS' && !read.has(n))).toEqual([]);
      }
    }
  });

  it('grants secretsmanager:GetSecretValue on that one secret only (name → name-??????, ARN → exact)', () => {
    for (const [s, resource] of [
      [byName, /^.*:secret:leasehold\/upstash-token-\?\?\?\?\?\?"\]\]\}$/],
      [byArn, new RegExp(`^${ARN.replaceAll('/', '\\/')}$`)],
    ] as const) {
      const { payment, booking } = fnIds(s);
      for (const id of [payment, booking]) {
        const statements = secretStatements(s, id);
        expect(statements).toHaveLength(1);
        expect(statements[0]!.actions).toEqual(['secretsmanager:GetSecretValue']);
        expect(statements[0]!.resource).toMatch(resource);
      }
    }
  });

  it('drops the lock-table permissions the functions no longer need', () => {
    const lock = logicalId(byName.template, 'AWS::DynamoDB::Table', 'LockTable/Resource');
    const { payment, booking } = fnIds(byName);
    for (const id of [payment, booking]) {
      expect(actionsByResource(roleStatements(byName.template, roleOf(byName, id)))[lock]).toBeUndefined();
    }
  });

  it('stays free of cdk-nag findings and adds no acknowledgement for the secret', () => {
    // The lock table stays (and stays without point-in-time recovery) when Upstash holds the locks.
    for (const s of [byName, byArn]) {
      expect(validationReport(s.assembly.directory).pluginReports.flatMap((r) => r.violations ?? [])).toEqual(
        [],
      );
      expect(
        nagSuppressions(s.template)
          .map((x) => x.id)
          .sort(),
      ).toEqual(['AwsSolutions-DDB3', 'AwsSolutions-L1', 'AwsSolutions-L1']);
    }
  });

  it('has no Upstash variable or secret grant when Upstash is not configured', () => {
    const { payment } = fnIds(publicApi);
    expect(Object.keys(env(publicApi, payment)).filter((k) => k.startsWith('UPSTASH'))).toEqual([]);
    expect(secretStatements(publicApi, payment)).toEqual([]);
  });

  it('rejects half or wrong Upstash configuration before anything is deployed', () => {
    const outdir = mkdtempSync(path.join(tmpdir(), 'leasehold-cdk-bad-'));
    const app = (context: Record<string, unknown>, props?: LeaseholdExamplesStackProps) =>
      createApp({ outdir, context: { ...cdkJsonContext(), ...context } }, props);
    try {
      expect(() => app({ upstashUrl: URL })).toThrow(/upstashTokenSecretName/);
      expect(() => app({ upstashTokenSecretName: 'x' })).toThrow(/upstashUrl/);
      expect(() => app({}, { upstash: { restUrl: 'http://plain.example', tokenSecretName: 'x' } })).toThrow(
        /https/,
      );
      const partialArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:partial';
      expect(() => app({}, { upstash: { restUrl: URL, tokenSecretArn: partialArn } })).toThrow(
        /complete secret ARN/,
      );
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});

describe('public API, destroyable data and debug logs (-c apiAuth=none -c dataRemovalPolicy=destroy -c logLevel=debug)', () => {
  it('leaves the routes unauthenticated and acknowledges APIG4 on each with a specific reason', () => {
    const routes = Object.values(resources(publicApi.template)).filter(
      (r) => r.Type === 'AWS::ApiGatewayV2::Route',
    );
    expect(routes).toHaveLength(3);
    for (const r of routes) expect(r.Properties!.AuthorizationType).toBe('NONE');
    const apig4 = nagSuppressions(publicApi.template).filter((s) => s.id === 'AwsSolutions-APIG4');
    expect(apig4).toHaveLength(3);
    for (const s of apig4) expect(s.reason).toMatch(/apiAuth=none/);
    expect(
      validationReport(publicApi.assembly.directory).pluginReports.flatMap((r) => r.violations ?? []),
    ).toEqual([]);
  });

  it('deletes every table and log group with the stack and sets LOG_LEVEL=debug', () => {
    const all = resources(publicApi.template) as Record<
      string,
      { Type: string; DeletionPolicy?: string; Properties?: Record<string, unknown> }
    >;
    for (const r of Object.values(all)) {
      if (r.Type === 'AWS::DynamoDB::Table' || r.Type === 'AWS::Logs::LogGroup')
        expect(r.DeletionPolicy).toBe('Delete');
      // DynamoDB refuses to delete a protected table, which would leave `cdk destroy` in DELETE_FAILED.
      if (r.Type === 'AWS::DynamoDB::Table') expect(r.Properties?.DeletionProtectionEnabled).not.toBe(true);
    }
    const { payment, booking } = fnIds(publicApi);
    expect(env(publicApi, payment).LOG_LEVEL).toBe('debug');
    expect(env(publicApi, booking).LOG_LEVEL).toBe('debug');
  });
});

describe('reserved concurrency (-c reservedConcurrency=20)', () => {
  it('reserves that many concurrent executions for each function', () => {
    const { payment, booking } = fnIds(reserved);
    for (const id of [payment, booking]) {
      expect(resources(reserved.template)[id]!.Properties!.ReservedConcurrentExecutions).toBe(20);
    }
    expect(
      validationReport(reserved.assembly.directory).pluginReports.flatMap((r) => r.violations ?? []),
    ).toEqual([]);
  });

  it('refuses a reservation that is not a whole number from 1 before anything is deployed', () => {
    const outdir = mkdtempSync(path.join(tmpdir(), 'leasehold-cdk-bad-'));
    try {
      for (const bad of [0, -5, 1.5]) {
        expect(() => createApp({ outdir, context: cdkJsonContext() }, { reservedConcurrency: bad })).toThrow(
          /reservedConcurrency/,
        );
      }
      expect(() =>
        createApp({ outdir, context: { ...cdkJsonContext(), reservedConcurrency: 'ten' } }),
      ).toThrow(/reservedConcurrency/);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
