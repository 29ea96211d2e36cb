import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The functions' own parsers: what the stack sets is checked the way the deployed code reads it.
import { seatLockKey } from '../../functions/booking/booking-service.js';
import { orderLockKey } from '../../functions/payment/payment-service.js';
import { awsClientConfig, readLockSettings } from '../../functions/shared/lock-store.js';
import { createApp } from '../lib/app.js';
import { LOCK_KEY_PREFIXES, PROJECT_ROOT } from '../lib/examples-stack.js';
import {
  actionsByResource,
  cdkJsonContext,
  envNamesReadByFunctions,
  logicalId,
  nagSuppressions,
  resources,
  roleStatements,
  sorted,
  synthExamples,
  validationReport,
} from './helpers.js';

// One synthesis (with real esbuild bundling of both handlers) shared by every test in this file.
let synth: ReturnType<typeof synthExamples>;
let ids: Record<'lock' | 'orders' | 'charges' | 'seats' | 'payment' | 'booking', string>;
beforeAll(() => {
  synth = synthExamples();
  const t = synth.template;
  ids = {
    lock: logicalId(t, 'AWS::DynamoDB::Table', 'LockTable/Resource'),
    orders: logicalId(t, 'AWS::DynamoDB::Table', 'OrdersTable/Resource'),
    charges: logicalId(t, 'AWS::DynamoDB::Table', 'ChargesTable/Resource'),
    seats: logicalId(t, 'AWS::DynamoDB::Table', 'SeatsTable/Resource'),
    payment: logicalId(t, 'AWS::Lambda::Function', 'PaymentFunction/Resource'),
    booking: logicalId(t, 'AWS::Lambda::Function', 'BookingFunction/Resource'),
  };
});
afterAll(() => rmSync(synth.outdir, { recursive: true, force: true }));

const propsOf = (id: string) => resources(synth.template)[id]!.Properties!;
const roleOf = (fnId: string) => (propsOf(fnId).Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
const logGroupOf = (fnId: string) =>
  (propsOf(fnId).LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;

describe('tables', () => {
  it('creates exactly four tables: locks, orders, charges and seats', () => {
    synth.template.resourceCountIs('AWS::DynamoDB::Table', 4);
  });

  it('keys the lock table by pk and expires its rows through the ttl attribute', () => {
    synth.template.hasResource('AWS::DynamoDB::Table', {
      Properties: {
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      },
      // Lock rows are leases that expire in seconds; losing them is safe (fences restart from a clock floor).
      DeletionPolicy: 'Delete',
    });
  });

  it('keys orders by orderId, charges by idempotencyKey and seats by eventId + seatId', () => {
    const keys = (id: string) => resources(synth.template)[id]!.Properties!.KeySchema;
    expect(keys(ids.orders)).toEqual([{ AttributeName: 'orderId', KeyType: 'HASH' }]);
    expect(keys(ids.charges)).toEqual([{ AttributeName: 'idempotencyKey', KeyType: 'HASH' }]);
    expect(keys(ids.seats)).toEqual([
      { AttributeName: 'eventId', KeyType: 'HASH' },
      { AttributeName: 'seatId', KeyType: 'RANGE' },
    ]);
    for (const id of [ids.orders, ids.charges, ids.seats]) {
      expect(resources(synth.template)[id]!.Properties!.TimeToLiveSpecification).toBeUndefined();
    }
  });

  it('makes every table on-demand and encrypted with the AWS managed key, and all but the lock table point-in-time recoverable', () => {
    for (const id of Object.values(ids).slice(0, 4)) {
      expect(propsOf(id)).toMatchObject({
        BillingMode: 'PAY_PER_REQUEST',
        // A restored lock table would issue fencing tokens again that fenced writes already used.
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: id !== ids.lock },
        SSESpecification: { SSEEnabled: true },
      });
      expect(propsOf(id).ProvisionedThroughput).toBeUndefined();
      expect(propsOf(id).TableName).toBeUndefined(); // generated names: a retained table never blocks a redeploy
    }
  });

  it('retains the business tables (and their data) when the stack is deleted', () => {
    const all = resources(synth.template) as Record<
      string,
      { DeletionPolicy?: string; UpdateReplacePolicy?: string }
    >;
    for (const id of [ids.orders, ids.charges, ids.seats]) {
      expect(all[id]).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    }
  });

  it('turns on deletion protection for the retained business tables, not for the destroyable lock table', () => {
    // Retain only covers stack deletion; a DeleteTable from the console, the CLI or a script would still
    // drop the orders and charges (Security Hub DynamoDB.6, AWS Config dynamodb-table-deletion-protection-enabled).
    for (const id of [ids.orders, ids.charges, ids.seats]) {
      expect(propsOf(id).DeletionProtectionEnabled).toBe(true);
    }
    // The lock table is deleted with the stack: protection would make `cdk destroy` fail (DELETE_FAILED).
    expect(propsOf(ids.lock).DeletionProtectionEnabled).not.toBe(true);
  });
});

describe('functions', () => {
  it('runs both handlers as Node.js 22 on arm64 with 512 MB and a 23 s timeout', () => {
    synth.template.resourceCountIs('AWS::Lambda::Function', 2);
    for (const id of [ids.payment, ids.booking]) {
      expect(propsOf(id)).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        MemorySize: 512,
        Timeout: 23,
        Handler: 'index.handler',
      });
    }
  });

  it('sets no reserved concurrency and no X-Ray tracing by default (both decisions are documented)', () => {
    for (const id of [ids.payment, ids.booking]) {
      expect(propsOf(id).ReservedConcurrentExecutions).toBeUndefined();
      expect(propsOf(id).TracingConfig).toBeUndefined();
      for (const s of roleStatements(synth.template, roleOf(id))) {
        expect(s.actions.filter((a) => a.startsWith('xray:'))).toEqual([]);
      }
    }
  });

  it('gives the payment function its lock, orders and charges tables and nothing about seats', () => {
    const env = (propsOf(ids.payment).Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env).toEqual({
      LOCK_STORE: 'dynamodb',
      LOCK_TABLE_NAME: { Ref: ids.lock },
      ORDERS_TABLE_NAME: { Ref: ids.orders },
      CHARGES_TABLE_NAME: { Ref: ids.charges },
      LOG_LEVEL: 'info',
      NODE_OPTIONS: '--enable-source-maps',
      LOCK_TTL_MS: '10000',
      LOCK_WAIT_MS: '3000',
      LOCK_REQUEST_TIMEOUT_MS: '3000',
      SDK_REQUEST_TIMEOUT_MS: '1000',
    });
  });

  it('gives the booking function its lock and seats tables and nothing about payments', () => {
    const env = (propsOf(ids.booking).Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env).toEqual({
      LOCK_STORE: 'dynamodb',
      LOCK_TABLE_NAME: { Ref: ids.lock },
      SEATS_TABLE_NAME: { Ref: ids.seats },
      LOG_LEVEL: 'info',
      NODE_OPTIONS: '--enable-source-maps',
      LOCK_TTL_MS: '10000',
      LOCK_WAIT_MS: '3000',
      LOCK_REQUEST_TIMEOUT_MS: '3000',
      SDK_REQUEST_TIMEOUT_MS: '1000',
    });
  });

  it('sets only environment variables that the functions (or Node.js itself) read', () => {
    const read = envNamesReadByFunctions();
    for (const id of [ids.payment, ids.booking]) {
      const names = Object.keys((propsOf(id).Environment as { Variables: object }).Variables);
      expect(names.filter((n) => n !== 'NODE_OPTIONS' && !read.has(n))).toEqual([]);
    }
  });

  it('logs each function to its own explicit log group with one month of retention', () => {
    const groups = [logGroupOf(ids.payment), logGroupOf(ids.booking)];
    expect(new Set(groups).size).toBe(2);
    for (const g of groups) {
      expect(resources(synth.template)[g]).toMatchObject({
        Type: 'AWS::Logs::LogGroup',
        Properties: { RetentionInDays: 30 },
      });
    }
    // No implicit /aws/lambda/* group and no log-retention custom resource.
    synth.template.resourceCountIs('AWS::Logs::LogGroup', 3); // two functions + API access logs
    synth.template.resourceCountIs('Custom::LogRetention', 0);
  });

  it('bundles each handler locally into one minified ESM file with a source map and the AWS SDK inside', () => {
    for (const id of [ids.payment, ids.booking]) {
      const assetPath = resources(synth.template)[id]!.Metadata!['aws:asset:path'] as string;
      const dir = path.join(synth.outdir, assetPath);
      expect(sorted(readdirSync(dir))).toEqual(['index.mjs', 'index.mjs.map']);
      const code = readFileSync(path.join(dir, 'index.mjs'), 'utf8');
      expect(code.startsWith("import{createRequire as __leaseholdCreateRequire}from'node:module';")).toBe(
        true,
      );
      // Only node: builtins stay external; @aws-sdk/*, @smithy/*, @leasehold/* and @upstash/* are inside.
      const staticImports = /(?:^|[;}\n])\s*import\s*(?:[\w$*{}\s,]+?from\s*)?["']([^"']+)["']/g;
      const dynamicImports = /\bimport\(\s*["']([^"']+)["']\s*\)/g;
      const externals = [...code.matchAll(staticImports), ...code.matchAll(dynamicImports)].map((m) => m[1]!);
      expect(externals.length).toBeGreaterThan(0);
      expect(externals.filter((s) => !s.startsWith('node:'))).toEqual([]);
      expect(code.length / code.split('\n').length).toBeGreaterThan(1_000); // minified: very long lines
    }
  });

  it('produces bundles that Node.js loads and that export a handler function', () => {
    for (const id of [ids.payment, ids.booking]) {
      const assetPath = resources(synth.template)[id]!.Metadata!['aws:asset:path'] as string;
      const file = path.join(synth.outdir, assetPath, 'index.mjs');
      const vars = (propsOf(id).Environment as { Variables: Record<string, unknown> }).Variables;
      const env: Record<string, string> = { PATH: process.env.PATH ?? '', AWS_REGION: 'eu-west-1' };
      for (const [k, v] of Object.entries(vars))
        env[k] = typeof v === 'string' ? v : `test-${k.toLowerCase()}`;
      const out = execFileSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const m = await import(${JSON.stringify(file)}); process.stdout.write(typeof m.handler);`,
        ],
        { env, encoding: 'utf8', timeout: 30_000 },
      );
      expect(out).toBe('function');
    }
  });
});

describe('request time budget', () => {
  // How the functions bound a request, read from the synthesized environment with the functions' own
  // parsers (functions/shared/lock-store.ts), so a variable the stack sets wrong or leaves to a default
  // counts exactly as the deployed code counts it.
  const bounds = (id: string) => {
    const env = (propsOf(id).Environment as { Variables: Record<string, unknown> }).Variables;
    const strings = Object.fromEntries(
      Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string'),
    );
    const aws = awsClientConfig(strings);
    return { lock: readLockSettings(strings), sdk: aws.requestHandler, attempts: aws.maxAttempts };
  };

  it('pins the lease, lock wait and request bounds the functions read to their documented defaults', () => {
    for (const id of [ids.payment, ids.booking]) {
      const { lock, sdk } = bounds(id);
      expect(lock).toEqual({ ttlMs: 10_000, waitMs: 3_000, requestTimeoutMs: 3_000 });
      expect(sdk).toEqual({ connectionTimeout: 3_000, socketTimeout: 1_000 });
    }
  });

  it('answers before the Lambda times out: a full lock wait, the lock store calls and one hung AWS call fit', () => {
    for (const id of [ids.payment, ids.booking]) {
      // The attempts the functions' clients are configured with (sdk-attempts.test.ts: and make).
      const { lock, sdk, attempts } = bounds(id);
      // One of the function's own calls (orders, charges, seats, Secrets Manager) spending every attempt:
      // each may take the connection timeout, then the socket timeout without an answer; the SDK backs
      // off at most 50 ms, then 100 ms, after such transient errors.
      const sdkCallMs = attempts * (sdk.connectionTimeout + sdk.socketTimeout) + 150;
      // The wait for a held lock, the acquire's last call at its bound, the release at its bound.
      const lockMs = lock.waitMs + 2 * lock.requestTimeoutMs!;
      // Plus a second for the fast calls (the reads before the lock, the other writes) and the handler.
      const budgetMs = lockMs + sdkCallMs + 1_000;
      expect(Number(propsOf(id).Timeout) * 1_000).toBeGreaterThanOrEqual(budgetMs);
    }
  });

  it('stays under the HTTP API integration timeout (30 s), past which the function answer is lost', () => {
    for (const id of [ids.payment, ids.booking]) expect(Number(propsOf(id).Timeout)).toBeLessThan(30);
  });

  it('keeps the lease shorter than the invocation: a crashed or frozen instance frees the lock early', () => {
    // withLock extends the lease while the work runs, capped by the Lambda context's remaining time.
    for (const id of [ids.payment, ids.booking]) {
      expect(bounds(id).lock.ttlMs).toBeLessThan(Number(propsOf(id).Timeout) * 1_000);
    }
  });
});

describe('least-privilege IAM', () => {
  const lockActions = ['dynamodb:GetItem', 'dynamodb:UpdateItem'];

  it('uses a dedicated role per function, assumable only by Lambda, with no managed policies', () => {
    const roles = [roleOf(ids.payment), roleOf(ids.booking)];
    expect(new Set(roles).size).toBe(2);
    for (const r of roles) {
      expect(resources(synth.template)[r]!.Properties).toMatchObject({
        AssumeRolePolicyDocument: {
          Statement: [
            { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
          ],
        },
      });
      expect(resources(synth.template)[r]!.Properties!.ManagedPolicyArns).toBeUndefined();
    }
  });

  it('lets the payment function GetItem/UpdateItem on locks and orders, GetItem/PutItem on charges, and log', () => {
    expect(actionsByResource(roleStatements(synth.template, roleOf(ids.payment)))).toEqual({
      [ids.lock]: lockActions,
      [ids.orders]: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
      [ids.charges]: ['dynamodb:GetItem', 'dynamodb:PutItem'],
      [logGroupOf(ids.payment)]: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    });
  });

  it('lets the booking function GetItem/UpdateItem on locks, GetItem/Query/UpdateItem on seats, and log', () => {
    expect(actionsByResource(roleStatements(synth.template, roleOf(ids.booking)))).toEqual({
      [ids.lock]: lockActions,
      [ids.seats]: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
      [logGroupOf(ids.booking)]: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    });
  });

  it('confines each function to its own lock rows on the shared lock table (dynamodb:LeadingKeys)', () => {
    for (const [fn, name] of [
      [ids.payment, 'payment'],
      [ids.booking, 'booking'],
    ] as const) {
      const onLocks = roleStatements(synth.template, roleOf(fn)).filter((s) => s.resource === ids.lock);
      expect(onLocks).toHaveLength(1);
      expect(onLocks[0]!.actions).toEqual(lockActions);
      expect(onLocks[0]!.condition).toEqual({
        'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${name}:*`] },
      });
      // The only conditional statement: the business tables are the function's own, whole.
      expect(roleStatements(synth.template, roleOf(fn)).filter((s) => s.hasCondition)).toHaveLength(1);
    }
  });

  it('scopes the lock rows to the prefix the handler code really locks under', () => {
    // A lock key the condition does not match is AccessDenied on every request (503 lock_store_unavailable).
    const keyOf = {
      payment: ['orderLockKey', orderLockKey('o-1:x')],
      booking: ['seatLockKey', seatLockKey('e-1:x', 's-1:y')],
    } as const;
    for (const name of ['payment', 'booking'] as const) {
      const [fn, key] = keyOf[name];
      expect(key.startsWith(LOCK_KEY_PREFIXES[name])).toBe(true);
      // And the service locks under that function's keys, and nothing else.
      const code = readFileSync(path.join(PROJECT_ROOT, 'functions', name, `${name}-service.ts`), 'utf8');
      const locked = [...code.matchAll(/\.withLock\(\s*([A-Za-z]+)\(/g)].map((m) => m[1]);
      expect(locked.length).toBeGreaterThan(0);
      expect(new Set(locked)).toEqual(new Set([fn]));
      expect(code.match(/\.withLock\(/g)?.length).toBe(locked.length);
    }
  });

  it('never grants payment access to seats, booking access to orders or charges, or either the other log group', () => {
    const pay = actionsByResource(roleStatements(synth.template, roleOf(ids.payment)));
    const book = actionsByResource(roleStatements(synth.template, roleOf(ids.booking)));
    expect(pay[ids.seats]).toBeUndefined();
    expect(pay[logGroupOf(ids.booking)]).toBeUndefined();
    expect(book[ids.orders]).toBeUndefined();
    expect(book[ids.charges]).toBeUndefined();
    expect(book[logGroupOf(ids.payment)]).toBeUndefined();
  });

  it('allows no wildcards, deletes, scans, batch writes or secrets in any statement', () => {
    for (const fn of [ids.payment, ids.booking]) {
      for (const s of roleStatements(synth.template, roleOf(fn))) {
        expect(s.effect).toBe('Allow');
        expect(s.resource).not.toContain('*');
        for (const a of s.actions) {
          expect(a).not.toContain('*');
          expect(a).not.toMatch(/DeleteItem|Scan|BatchWriteItem|secretsmanager|kms:/);
        }
      }
    }
  });
});

describe('HTTP API', () => {
  it('routes POST /payments to payment, POST /bookings and GET /events/{eventId}/seats to booking', () => {
    const all = resources(synth.template);
    const integrationTarget = (integrationId: string) =>
      (all[integrationId]!.Properties!.IntegrationUri as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const routes: Record<string, string> = {};
    for (const r of Object.values(all)) {
      if (r.Type !== 'AWS::ApiGatewayV2::Route') continue;
      const target = (r.Properties!.Target as { 'Fn::Join': [string, [string, { Ref: string }]] })[
        'Fn::Join'
      ][1][1].Ref;
      routes[r.Properties!.RouteKey as string] = integrationTarget(target);
    }
    expect(routes).toEqual({
      'POST /payments': ids.payment,
      'POST /bookings': ids.booking,
      'GET /events/{eventId}/seats': ids.booking,
    });
  });

  it('requires SigV4 (IAM) authorisation on every route by default', () => {
    for (const r of Object.values(resources(synth.template))) {
      if (r.Type === 'AWS::ApiGatewayV2::Route') expect(r.Properties!.AuthorizationType).toBe('AWS_IAM');
    }
  });

  it('lets API Gateway invoke each function only from this API, each permission for one route path', () => {
    synth.template.resourceCountIs('AWS::Lambda::Permission', 3);
    const api = logicalId(synth.template, 'AWS::ApiGatewayV2::Api', 'Api/Resource');
    const paths: Record<string, string> = {};
    for (const r of Object.values(resources(synth.template))) {
      if (r.Type !== 'AWS::Lambda::Permission') continue;
      expect(r.Properties).toMatchObject({
        Action: 'lambda:InvokeFunction',
        Principal: 'apigateway.amazonaws.com',
      });
      const parts = (r.Properties!.SourceArn as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
      // arn:<partition>:execute-api:<region>:<account>:<this API id>/<stage>/<method>/<path>
      expect(parts.at(-2)).toEqual({ Ref: api });
      const fn = (r.Properties!.FunctionName as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      paths[String(parts.at(-1))] = fn;
    }
    expect(paths).toEqual({
      '/*/*/payments': ids.payment,
      '/*/*/bookings': ids.booking,
      '/*/*/events/{eventId}/seats': ids.booking,
    });
  });

  it('auto-deploys a throttled $default stage that writes JSON access logs to its own log group', () => {
    synth.template.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
    const accessLogs = logicalId(synth.template, 'AWS::Logs::LogGroup', 'ApiAccessLogs/Resource');
    synth.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
      AccessLogSettings: {
        DestinationArn: { 'Fn::GetAtt': [accessLogs, 'Arn'] },
        Format: Match.stringLikeRegexp('"requestId":"\\$context.requestId"'),
      },
    });
  });

  it('logs why API Gateway answered by itself (auth, throttling) and who called, in each access log line', () => {
    const stage = Object.values(resources(synth.template)).find(
      (r) => r.Type === 'AWS::ApiGatewayV2::Stage',
    )!;
    const format = JSON.parse((stage.Properties!.AccessLogSettings as { Format: string }).Format) as Record<
      string,
      string
    >;
    expect(format).toMatchObject({
      requestId: '$context.requestId',
      routeKey: '$context.routeKey',
      status: '$context.status',
      error: '$context.error.message',
      userArn: '$context.identity.userArn',
      integrationError: '$context.integrationErrorMessage',
      lambdaStatus: '$context.integrationStatus',
    });
  });

  it('throttles each route on its own (default route settings) and documents what that allows per function', () => {
    const all = resources(synth.template);
    const stage = Object.values(all).find((r) => r.Type === 'AWS::ApiGatewayV2::Stage')!;
    // DefaultRouteSettings is route-level throttling: every route gets its own token bucket.
    expect(stage.Properties!.RouteSettings).toBeUndefined();
    const rate = (stage.Properties!.DefaultRouteSettings as { ThrottlingRateLimit: number })
      .ThrottlingRateLimit;
    const integrationFn = (id: string) =>
      (all[id]!.Properties!.IntegrationUri as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const routesOf = (fn: string) =>
      Object.values(all).filter(
        (r) =>
          r.Type === 'AWS::ApiGatewayV2::Route' &&
          integrationFn(
            (r.Properties!.Target as { 'Fn::Join': [string, [string, { Ref: string }]] })['Fn::Join'][1][1]
              .Ref,
          ) === fn,
      ).length;
    const perFunction = {
      payment: rate * routesOf(ids.payment),
      booking: rate * routesOf(ids.booking),
    };
    expect(perFunction).toEqual({ payment: 50, booking: 100 });
    // Worst case with every invocation running to the timeout (a dependency outage), without reserved
    // concurrency: the README states these figures, so they must be the ones this template allows.
    const readme = readFileSync(path.join(PROJECT_ROOT, 'infra', 'README.md'), 'utf8');
    for (const [fn, rps] of [
      [ids.payment, perFunction.payment],
      [ids.booking, perFunction.booking],
    ] as const) {
      const concurrent = rps * Number(propsOf(fn).Timeout);
      expect(readme).toContain(concurrent.toLocaleString('en-US'));
    }
    expect(readme).toContain(`${perFunction.payment + perFunction.booking} requests/s`);
  });

  it('outputs the API URL, every table name and the log group names', () => {
    const outputs = synth.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.LockTableName!.Value).toEqual({ Ref: ids.lock });
    expect(outputs.OrdersTableName!.Value).toEqual({ Ref: ids.orders });
    expect(outputs.ChargesTableName!.Value).toEqual({ Ref: ids.charges });
    expect(outputs.SeatsTableName!.Value).toEqual({ Ref: ids.seats });
    expect(JSON.stringify(outputs.ApiUrl!.Value)).toContain('.execute-api.');
    expect(outputs.LockStore!.Value).toBe('dynamodb');
    expect(outputs.ApiAuth!.Value).toBe('iam');
    expect(outputs.PaymentLogGroupName!.Value).toEqual({ Ref: logGroupOf(ids.payment) });
    expect(outputs.BookingLogGroupName!.Value).toEqual({ Ref: logGroupOf(ids.booking) });
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('reports no unacknowledged finding: synthesis passed and the validation report is empty', () => {
    // app.synth() in synthExamples throws ValidationFailed on any unacknowledged cdk-nag error.
    const report = validationReport(synth.assembly.directory);
    expect(report.pluginReports.flatMap((r) => r.violations ?? [])).toEqual([]);
    const direct = new AwsSolutionsChecks().validateScope(synth.app);
    expect(direct.violations).toEqual([]);
    expect(direct.success).toBe(true);
  });

  it('leaves no AwsSolutions (or any other) error or warning annotation on the stack', () => {
    const annotations = Annotations.fromStack(synth.stack);
    expect(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
    expect(annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
    expect(annotations.findError('*', Match.anyValue())).toEqual([]);
    expect(annotations.findWarning('*', Match.anyValue())).toEqual([]);
  });

  it('acknowledges only the lock table without point-in-time recovery (DDB3) and the pinned Node.js 22 runtime (L1), each with a specific reason', () => {
    const suppressions = nagSuppressions(synth.template);
    expect(suppressions.map((s) => `${s.resource}:${s.id}`).sort()).toEqual(
      [
        `${ids.lock}:AwsSolutions-DDB3`,
        `${ids.booking}:AwsSolutions-L1`,
        `${ids.payment}:AwsSolutions-L1`,
      ].sort(),
    );
    const [ddb3] = suppressions.filter((s) => s.id === 'AwsSolutions-DDB3');
    expect(ddb3!.reason).toMatch(/Restoring it would bring back old counters/);
    expect(ddb3!.reason).toMatch(/fencing tokens again/);
    for (const s of suppressions.filter((x) => x.id === 'AwsSolutions-L1')) {
      expect(s.reason.length).toBeGreaterThan(60);
      expect(s.reason).toMatch(/nodejs22\.x/);
      // The reason must be checkable: it names the bundle target that goes with the deployed runtime,
      // not a Node version the test suite may not run on (it runs on whatever Node >= 20 is installed).
      const major = String(propsOf(ids.payment).Runtime).match(/^nodejs(\d+)\.x$/)![1];
      expect(s.reason).toContain(`esbuild target node${major}`);
      expect(s.reason).not.toMatch(/tested on/);
    }
  });

  it('is really wired into the app: an unencrypted topic added to the stack fails synthesis', () => {
    const outdir = mkdtempSync(path.join(tmpdir(), 'leasehold-cdk-probe-'));
    try {
      // The same app and stack as deployed; the probe topic is the only difference.
      const { app, stack } = createApp({ outdir, context: cdkJsonContext() });
      new Topic(Stack.of(stack), 'NagProbeTopic');
      expect(() => app.synth()).toThrow(/AwsSolutions-SNS/);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});

describe('cdk.json', () => {
  it('runs the TypeScript app with tsx and sets the recommended feature flags', () => {
    const cdkJson = JSON.parse(readFileSync(path.join(import.meta.dirname, '../../cdk.json'), 'utf8'));
    expect(cdkJson.app).toBe('npx tsx infra/bin/app.ts');
    expect(existsSync(path.join(import.meta.dirname, '../bin/app.ts'))).toBe(true);
    expect(cdkJsonContext()).toMatchObject({
      '@aws-cdk/aws-iam:minimizePolicies': true,
      '@aws-cdk/core:validateAgainstDefaultRules': true,
    });
  });
});
