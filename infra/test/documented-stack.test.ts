/**
 * infra/README.md documents what the stack deploys in tables. This file reads those tables (and the prose
 * around them) at run time and checks every row against the synthesized template, both ways where it can:
 * what a row states is what the template has, and the template has nothing of that kind the README leaves
 * out. A failure means the README and the stack disagree; the message names the README row.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// How the deployed functions turn SDK_REQUEST_TIMEOUT_MS into their AWS SDK timeouts.
import { awsClientConfig } from '../../functions/shared/lock-store.js';
import { createApp } from '../lib/app.js';
import { CONTEXT_KEYS } from '../lib/config.js';
import { PROJECT_ROOT, SDK_MAX_ATTEMPTS } from '../lib/examples-stack.js';
import {
  cdkJsonContext,
  envNamesReadByFunctions,
  logicalId,
  nagSuppressions,
  resources,
  roleStatements,
  synthExamples,
} from './helpers.js';

// ---------------------------------------------------------------------------------------------------
// The README, read as data.

const README = readFileSync(path.join(PROJECT_ROOT, 'infra', 'README.md'), 'utf8')
  // Shell comments in code blocks (`# …`) would read as headings.
  .replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '');

const headingLevel = (line: string) => /^(#+) /.exec(line)?.[1]?.length ?? 0;

/** The Markdown under a heading, down to the next heading of the same or a higher level. */
function section(heading: string): string {
  const lines = README.split('\n');
  const start = lines.findIndex((l) => headingLevel(l) > 0 && l.slice(headingLevel(l) + 1) === heading);
  if (start < 0) throw new Error(`infra/README.md has no "${heading}" section`);
  const level = headingLevel(lines[start]!);
  const end = lines.findIndex((l, i) => i > start && headingLevel(l) > 0 && headingLevel(l) <= level);
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** A section's text with its line breaks collapsed, so a sentence is found however the lines wrap. */
const prose = (heading: string) => section(heading).replace(/\s+/g, ' ');

type Row = Record<string, string>;

/** The first table under a heading: one object per row, keyed by the header cells (`\|` stays in a cell). */
function table(heading: string): Row[] {
  const lines = section(heading)
    .split('\n')
    .map((l) => l.trim());
  const first = lines.findIndex((l) => l.startsWith('|'));
  if (first < 0) throw new Error(`infra/README.md has no table under "${heading}"`);
  const end = lines.findIndex((l, i) => i > first && !l.startsWith('|'));
  const cells = (line: string) =>
    line
      .slice(1, -1)
      .split(/(?<!\\)\|/)
      .map((c) => c.trim());
  const [header = [], , ...body] = lines.slice(first, end < 0 ? undefined : end).map(cells);
  return body.map((row) => Object.fromEntries(header.map((h, i) => [h, row[i] ?? ''])));
}

/** A cell by its column name; fails loudly when the README's columns change. */
function cell(row: Row, column: string): string {
  const value = row[column];
  if (value === undefined) throw new Error(`no "${column}" column in README row ${JSON.stringify(row)}`);
  return value;
}

/** The `code` spans of a text, in order, with Markdown's `\|` unescaped. */
const code = (text: string) => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replaceAll('\\|', '|'));

/** The capture groups of `re` in a README text; fails quoting the text when the README no longer says it. */
function find(text: string, re: RegExp): string[] {
  const m = re.exec(text);
  if (!m) throw new Error(`infra/README.md no longer matches ${re} in: "${text.slice(0, 240)}"`);
  return m.slice(1).map((g) => g ?? '');
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const NUMBER_WORDS: Record<string, number> = { one: 1, two: 2, three: 3, four: 4, five: 5, six: 6 };
/** CloudFormation's DeletionPolicy for each CDK RemovalPolicy name the README uses. */
const DELETION_POLICY: Record<string, string> = { DESTROY: 'Delete', RETAIN: 'Retain', SNAPSHOT: 'Snapshot' };
const RETENTION_DAYS: Record<string, number> = {
  'one week': 7,
  'two weeks': 14,
  'one month': 30,
  'three months': 90,
  'six months': 180,
  'one year': 365,
};

const RESOURCES = table('What it creates'); // Resource | Details
const rowName = (row: Row) => cell(row, 'Resource').replaceAll('**', '');
const resourceRow = (name: string) => {
  const row = RESOURCES.find((r) => rowName(r) === name);
  if (!row) throw new Error(`"What it creates" has no "${name}" row`);
  return cell(row, 'Details');
};
const TABLE_ROWS = RESOURCES.filter((r) => / table$/.test(rowName(r)));
const FUNCTION_ROWS = RESOURCES.filter((r) => / function$/.test(rowName(r)));
/** `payment`, `booking`: the functions as the Permissions and environment tables name them. */
const FUNCTIONS = FUNCTION_ROWS.map((r) =>
  rowName(r)
    .replace(/ function$/, '')
    .toLowerCase(),
);

const OPTIONS = table('Options (CDK context)'); // Key | Values | Default
/** Options whose Values column lists every allowed value (`iam` or `none`, …), with the default. */
const ENUMERATED_OPTIONS = OPTIONS.flatMap((row) => {
  const [key, ...more] = code(cell(row, 'Key'));
  const values = [...new Set(code(cell(row, 'Values')))];
  const listed = key !== undefined && more.length === 0 && values.length > 1;
  return listed && values.every((v) => /^[a-z]+$/.test(v))
    ? [{ key, values, defaultValue: code(cell(row, 'Default'))[0] }]
    : [];
});
const option = (key: string) => {
  const row = OPTIONS.find((r) => code(cell(r, 'Key')).includes(key));
  if (!row) throw new Error(`"Options (CDK context)" has no ${key} row`);
  return row;
};

// ---------------------------------------------------------------------------------------------------
// The template side.

type Synth = ReturnType<typeof synthExamples>;
type FunctionProps = {
  Role: { 'Fn::GetAtt': [string, string] };
  LoggingConfig: { LogGroup: { Ref: string } };
  Environment: { Variables: Record<string, unknown> };
} & Record<string, unknown>;

const capitalized = (word: string) => word.charAt(0).toUpperCase() + word.slice(1).toLowerCase();
const idsOfType = (s: Synth, type: string) =>
  Object.entries(resources(s.template))
    .filter(([, r]) => r.Type === type)
    .map(([id]) => id)
    .sort();
const propertiesOf = (s: Synth, id: string) => resources(s.template)[id]!.Properties!;

/** The table a README name stands for: `Lock table`, `Orders` (a column), `SEATS` (from SEATS_TABLE_NAME). */
const tableId = (s: Synth, name: string) =>
  logicalId(s.template, 'AWS::DynamoDB::Table', `${capitalized(name.replace(/ table$/i, ''))}Table/Resource`);

/** A function (`payment`, `Booking function`) with its role, log group and environment in the template. */
function lambda(s: Synth, name: string) {
  const base = capitalized(name.replace(/ function$/i, ''));
  const id = logicalId(s.template, 'AWS::Lambda::Function', `${base}Function/Resource`);
  const props = propertiesOf(s, id) as FunctionProps;
  const role = props.Role['Fn::GetAtt'][0];
  return { id, props, role, logGroup: props.LoggingConfig.LogGroup.Ref, env: props.Environment.Variables };
}

/** Route keys (`POST /payments`) of the API, or of the routes whose integration invokes `functionId`. */
function routeKeys(s: Synth, functionId?: string): string[] {
  const all = resources(s.template);
  return Object.values(all)
    .filter((r) => r.Type === 'AWS::ApiGatewayV2::Route')
    .filter((r) => {
      if (functionId === undefined) return true;
      const integration = /"Ref":"(\w+)"/.exec(JSON.stringify(r.Properties!.Target))![1]!;
      return JSON.stringify(all[integration]!.Properties!.IntegrationUri).includes(`"${functionId}"`);
    })
    .map((r) => String(r.Properties!.RouteKey))
    .sort();
}

const stageOf = (s: Synth) => {
  const [stage, ...others] = idsOfType(s, 'AWS::ApiGatewayV2::Stage');
  expect(others).toEqual([]);
  return propertiesOf(s, stage!);
};

/** A policy Resource as text: `Fn::Join` ARNs with `${AWS::Region}`-style placeholders, GetAtts as ids. */
const arnText = (resource: string) => {
  if (!resource.startsWith('{"Fn::Join"')) return resource;
  const [separator, parts] = (JSON.parse(resource) as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
  return parts.map((p) => (typeof p === 'string' ? p : `\${${(p as { Ref: string }).Ref}}`)).join(separator);
};

interface Grant {
  effect: string;
  resource: string;
  actions: string[];
  condition?: unknown;
}
/** Every statement of a function's role, one per resource, sorted by resource. */
const grantsOf = (s: Synth, fnName: string): Grant[] =>
  roleStatements(s.template, lambda(s, fnName).role)
    .map((st) => ({
      effect: st.effect,
      resource: arnText(st.resource),
      actions: st.actions,
      ...(st.hasCondition ? { condition: st.condition } : {}),
    }))
    .sort((a, b) => a.resource.localeCompare(b.resource));

// ---------------------------------------------------------------------------------------------------
// Synthesis: the deployed app once, and each documented CDK context variant once.

/** Skips esbuild for the variants: bundling only changes the code asset, which no variant check reads. */
const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };
const UPSTASH_URL = 'https://eu2-docs-check-67890.upstash.io';
const SECRET_NAME = 'docs-check/upstash-token';
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-2:210987654321:secret:docs-check/upstash-token-XyZ789';
const UPSTASH_BY_NAME = { upstashUrl: UPSTASH_URL, upstashTokenSecretName: SECRET_NAME };
const UPSTASH_BY_ARN = { upstashUrl: UPSTASH_URL, upstashTokenSecretArn: SECRET_ARN };
const MIN_RESERVED = Number(
  find(cell(option('reservedConcurrency'), 'Values'), /A whole number from (\d+)/)[0],
);

/** Each synthesized context, or the error that context made synthesis fail with. */
const variants = new Map<string, Synth | Error>();
/** Synthesizes the app with this CDK context once, as `cdk synth -c key=value …` would. */
function prepare(context: Record<string, string> = {}): Synth | Error {
  const key = JSON.stringify(context);
  if (!variants.has(key)) {
    try {
      variants.set(key, synthExamples(undefined, { ...NO_BUNDLING, ...context }));
    } catch (error) {
      variants.set(key, error as Error); // reported by the test that uses this context
    }
  }
  return variants.get(key)!;
}
function withContext(context: Record<string, string> = {}): Synth {
  const s = prepare(context);
  if (s instanceof Error) throw s;
  return s;
}

/** Logical ids (and `Outputs.<name>`) that differ from the template synthesized without any option. */
function changedByContext(context: Record<string, string>): string[] {
  const before = withContext().template.toJSON();
  const after = withContext(context).template.toJSON();
  const changed: string[] = [];
  for (const part of ['Resources', 'Outputs']) {
    const a = before[part] ?? {};
    const b = after[part] ?? {};
    for (const id of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (JSON.stringify(a[id]) !== JSON.stringify(b[id]))
        changed.push(part === 'Outputs' ? `Outputs.${id}` : id);
    }
  }
  return changed.sort();
}

let deployed: Synth; // exactly what `cdk deploy` builds without options, bundles included
let scratch: string;
beforeAll(() => {
  deployed = synthExamples();
  scratch = mkdtempSync(path.join(tmpdir(), 'leasehold-cdk-docs-'));
  prepare();
  for (const { key, values } of ENUMERATED_OPTIONS) for (const v of values) prepare({ [key]: v });
  prepare({ reservedConcurrency: String(MIN_RESERVED) });
  prepare(UPSTASH_BY_NAME);
  prepare(UPSTASH_BY_ARN);
});
afterAll(() => {
  for (const s of [deployed, ...variants.values()]) {
    if (!(s instanceof Error)) rmSync(s.outdir, { recursive: true, force: true });
  }
  rmSync(scratch, { recursive: true, force: true });
});

/** `cdk synth` with this context fails before anything is synthesized. */
const refused = (context: Record<string, string>) => () =>
  createApp({ outdir: scratch, context: { ...cdkJsonContext(), ...context } });

// ---------------------------------------------------------------------------------------------------

describe('README "What it creates"', () => {
  /** The resource types each kind of row stands for; a type no row stands for is undocumented. */
  const ROW_KINDS: [RegExp, string[]][] = [
    [/ table$/, ['AWS::DynamoDB::Table']],
    [/ function$/, ['AWS::Lambda::Function']],
    [/^Log groups$/, ['AWS::Logs::LogGroup']],
    // A role's statements live in its AWS::IAM::Policy (CDK's DefaultPolicy): see "Permissions".
    [/^IAM roles$/, ['AWS::IAM::Role', 'AWS::IAM::Policy']],
    [
      /^HTTP API$/,
      [
        'AWS::ApiGatewayV2::Api',
        'AWS::ApiGatewayV2::Stage',
        'AWS::ApiGatewayV2::Route',
        'AWS::ApiGatewayV2::Integration',
        'AWS::Lambda::Permission',
      ],
    ],
  ];

  it('has a row for every kind of resource the template creates, and no row the test cannot check', () => {
    const documented = RESOURCES.flatMap((r) => {
      const kind = ROW_KINDS.find(([re]) => re.test(rowName(r)));
      if (!kind) throw new Error(`no check for the "${rowName(r)}" row: teach this test what it means`);
      return kind[1];
    });
    const inTemplate = new Set(Object.values(resources(deployed.template)).map((r) => r.Type));
    expect([...inTemplate].sort()).toEqual([...new Set(documented)].sort());
  });

  /** What each phrase of the tables' settings sentence means in the template. */
  const TABLE_SETTINGS: Record<string, Record<string, unknown>> = {
    'On-demand': { BillingMode: 'PAY_PER_REQUEST' },
    'point-in-time recovery': { PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } },
    'no point-in-time recovery': { PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: false } },
    // SSE on without a KMS key of its own: the AWS managed key. A customer key would add KMSMasterKeyId.
    'encrypted with the AWS managed key (`aws/dynamodb`)': { SSESpecification: { SSEEnabled: true } },
  };
  const settingsSentence = (details: string) =>
    details.split(/\.\s+/).find((s) => Object.keys(TABLE_SETTINGS).some((phrase) => s.includes(phrase)));

  it('creates exactly one DynamoDB table per table row, each with a generated name', () => {
    expect(idsOfType(deployed, 'AWS::DynamoDB::Table')).toEqual(
      TABLE_ROWS.map((r) => tableId(deployed, rowName(r))).sort(),
    );
    find(prose('What it creates'), /(Table names are generated by CloudFormation)/);
    for (const id of idsOfType(deployed, 'AWS::DynamoDB::Table')) {
      expect(propertiesOf(deployed, id).TableName).toBeUndefined();
    }
  });

  it.each(TABLE_ROWS.map((r) => [rowName(r), cell(r, 'Details')]))(
    '%s: has the documented keys, TTL, settings, removal policy and deletion protection, and nothing else',
    (name, details) => {
      const id = tableId(deployed, name);
      const props = propertiesOf(deployed, id);
      const [pk, pkType, sk, skType] = find(
        details,
        /Partition key `(\w+)` \((\w)\)(?:, sort key `(\w+)` \((\w)\))?/,
      );
      expect(props.KeySchema).toEqual([
        { AttributeName: pk, KeyType: 'HASH' },
        ...(sk ? [{ AttributeName: sk, KeyType: 'RANGE' }] : []),
      ]);
      expect(props.AttributeDefinitions).toEqual([
        { AttributeName: pk, AttributeType: pkType },
        ...(sk ? [{ AttributeName: sk, AttributeType: skType }] : []),
      ]);
      const ttl = /TTL on `(\w+)`/.exec(details)?.[1];
      expect(props.TimeToLiveSpecification).toEqual(
        ttl === undefined ? undefined : { AttributeName: ttl, Enabled: true },
      );

      // "Same settings": the settings sentence of the nearest row above that states its own.
      const above = TABLE_ROWS.slice(
        0,
        TABLE_ROWS.findIndex((r) => rowName(r) === name),
      )
        .map((r) => cell(r, 'Details'))
        .filter((d) => !/Same settings/.test(d));
      const sentence = settingsSentence(/Same settings/.test(details) ? (above.at(-1) ?? '') : details);
      expect(sentence, `the ${name} row states no billing/PITR/encryption settings`).toBeDefined();
      const settings: Record<string, unknown> = {};
      for (const phrase of sentence!.split(', ')) {
        expect(Object.keys(TABLE_SETTINGS), `unknown table setting "${phrase}"`).toContain(phrase);
        Object.assign(settings, TABLE_SETTINGS[phrase]);
      }
      expect(props).toMatchObject(settings);

      const removal = DELETION_POLICY[find(details, /Removal policy: \*\*(\w+)\*\*/)[0]!];
      expect(resources(deployed.template)[id]).toMatchObject({
        DeletionPolicy: removal,
        UpdateReplacePolicy: removal,
      });
      expect(props.DeletionProtectionEnabled === true).toBe(/deletion protection\**\s+on/.test(details));

      // No table property the README does not account for (tags aside: every resource gets `project`).
      const documented = [
        'KeySchema',
        'AttributeDefinitions',
        'DeletionProtectionEnabled',
        'Tags',
        ...(ttl === undefined ? [] : ['TimeToLiveSpecification']),
        ...Object.keys(settings),
      ];
      expect(Object.keys(props).filter((k) => !documented.includes(k))).toEqual([]);
    },
  );

  it('creates exactly one Lambda function per function row, and each route belongs to one of them', () => {
    expect(idsOfType(deployed, 'AWS::Lambda::Function')).toEqual(
      FUNCTION_ROWS.map((r) => lambda(deployed, rowName(r)).id).sort(),
    );
    const documentedRoutes = FUNCTION_ROWS.flatMap((r) => code(cell(r, 'Details'))).filter((c) =>
      /^[A-Z]+ \//.test(c),
    );
    expect(routeKeys(deployed)).toEqual(documentedRoutes.sort());
  });

  it.each(FUNCTION_ROWS.map((r) => [rowName(r), cell(r, 'Details')]))(
    '%s: serves the documented routes with the documented runtime, architecture, memory, timeout and code',
    (name, details) => {
      const f = lambda(deployed, name);
      expect(routeKeys(deployed, f.id)).toEqual(
        code(details)
          .filter((c) => /^[A-Z]+ \//.test(c))
          .sort(),
      );

      // "Same runtime and settings": those of the first function row.
      const settings = /Same runtime and settings/.test(details)
        ? cell(FUNCTION_ROWS[0]!, 'Details')
        : details;
      expect(f.props).toMatchObject({
        Runtime: find(settings, /\(`(nodejs[\d.]+x)`\)/)[0],
        Architectures: [find(settings, /\b(arm64|x86_64)\b/)[0]],
        MemorySize: Number(find(settings, /(\d+) MB/)[0]),
        Timeout: Number(find(settings, /(\d+) s timeout/)[0]),
      });
      // No undocumented function setting (VPC, layers, tracing, reserved concurrency, …). Description,
      // Handler and Tags carry no behaviour the README describes.
      const documented = [
        'Runtime',
        'Architectures',
        'MemorySize',
        'Timeout',
        'Environment',
        'Role',
        'LoggingConfig',
      ];
      const harmless = ['Code', 'Description', 'Handler', 'Tags'];
      expect(Object.keys(f.props).filter((k) => ![...documented, ...harmless].includes(k))).toEqual([]);

      // "Built from functions/<name>/handler.ts": the bundle's source map names that entry, not another's.
      const entry = (text: string) => path.join(PROJECT_ROOT, find(text, /Built from `([^`]+)`/)[0]!);
      const assetDir = path.join(
        deployed.outdir,
        String(resources(deployed.template)[f.id]!.Metadata!['aws:asset:path']),
      );
      const map = JSON.parse(readFileSync(path.join(assetDir, 'index.mjs.map'), 'utf8')) as {
        sources: string[];
      };
      const sources = map.sources.map((src) => path.resolve(assetDir, src));
      expect(sources).toContain(entry(details));
      for (const other of FUNCTION_ROWS.map((r) => cell(r, 'Details')).filter((d) => d !== details)) {
        expect(sources).not.toContain(entry(other));
      }
    },
  );

  it('Log groups: one per function plus the access logs, with the documented retention and removal policy', () => {
    const details = resourceRow('Log groups');
    const functionGroups = FUNCTION_ROWS.map((r) => lambda(deployed, rowName(r)).logGroup);
    expect(new Set(functionGroups).size).toBe(FUNCTION_ROWS.length);
    find(details, /(One for each function, plus one for the API access logs)/);
    const accessLogs = (stageOf(deployed).AccessLogSettings as { DestinationArn: { 'Fn::GetAtt': string[] } })
      .DestinationArn['Fn::GetAtt'][0]!;
    expect(idsOfType(deployed, 'AWS::Logs::LogGroup')).toEqual([...functionGroups, accessLogs].sort());

    const days =
      RETENTION_DAYS[find(details, /(\w+ (?:weeks?|months?|years?)) of retention/)[0]!.toLowerCase()];
    // "They follow the data removal policy": the dataRemovalPolicy option's default.
    find(details, /(They follow the data removal policy)/);
    const removal = DELETION_POLICY[code(cell(option('dataRemovalPolicy'), 'Default'))[0]!.toUpperCase()];
    for (const id of idsOfType(deployed, 'AWS::Logs::LogGroup')) {
      expect(propertiesOf(deployed, id).RetentionInDays).toBe(days);
      expect(resources(deployed.template)[id]).toMatchObject({ DeletionPolicy: removal });
    }
  });

  it('IAM roles: one role for each function, with no managed policies', () => {
    find(resourceRow('IAM roles'), /(One role for each function, with no managed policies)/);
    const roles = FUNCTION_ROWS.map((r) => lambda(deployed, rowName(r)).role);
    expect(idsOfType(deployed, 'AWS::IAM::Role')).toEqual([...new Set(roles)].sort());
    expect(roles).toHaveLength(FUNCTION_ROWS.length);
    for (const id of roles) expect(propertiesOf(deployed, id).ManagedPolicyArns).toBeUndefined();
  });

  it('HTTP API: an auto-deployed $default stage, per-route throttling, JSON access logs, IAM on every route', () => {
    const details = resourceRow('HTTP API');
    const stage = stageOf(deployed);
    expect(stage.StageName).toBe(find(details, /A `([^`]+)` stage that deploys automatically/)[0]);
    expect(stage.AutoDeploy).toBe(true);
    const [rate, burst] = find(details, /Each route throttled to (\d+) requests\/s with bursts of (\d+)/);
    // DefaultRouteSettings is each route's own bucket; RouteSettings would override single routes.
    expect(stage.DefaultRouteSettings).toEqual({
      ThrottlingRateLimit: Number(rate),
      ThrottlingBurstLimit: Number(burst),
    });
    expect(stage.RouteSettings).toBeUndefined();
    find(details, /(JSON access logs)/);
    const format = (stage.AccessLogSettings as { Format: string }).Format;
    expect(JSON.parse(format)).toBeTypeOf('object');
    find(details, /(IAM \(SigV4\) authorisation on every route\** by default)/);
    for (const id of idsOfType(deployed, 'AWS::ApiGatewayV2::Route')) {
      expect(propertiesOf(deployed, id).AuthorizationType).toBe('AWS_IAM');
    }
  });

  it('outputs exactly the documented stack outputs', () => {
    const sentence = find(prose('What it creates'), /Stack outputs: ([^.]+)\./)[0]!;
    const outputs = deployed.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    const counted = (noun: string, suffix: string, type: string) => {
      const names = Object.keys(outputs).filter((k) => k.endsWith(suffix));
      expect(names).toHaveLength(NUMBER_WORDS[find(sentence, new RegExp(`the (\\w+) ${noun} names`))[0]!]!);
      expect(names.map((k) => (outputs[k]!.Value as { Ref: string }).Ref).sort()).toEqual(
        idsOfType(deployed, type),
      );
      return names;
    };
    const documented = [
      ...code(sentence),
      ...counted('table', 'TableName', 'AWS::DynamoDB::Table'),
      ...counted('function', 'FunctionName', 'AWS::Lambda::Function'),
      ...counted('log group', 'LogGroupName', 'AWS::Logs::LogGroup'),
    ];
    expect(Object.keys(outputs).sort()).toEqual(documented.sort());
  });
});

describe('README "Permissions"', () => {
  const ROWS = table('Permissions'); // Function | Lock table | Orders | Charges | Seats | Other
  const text = prose('Permissions');
  const [operator, conditionKey] = find(text, /`(ForAll\w+:\w+)` `(dynamodb:\w+)`/);

  /** The statements a row grants: one per table column with actions, and the log statement ("Other"). */
  function documentedGrants(s: Synth, row: Row, { lockTable = true } = {}): Grant[] {
    const fnName = cell(row, 'Function');
    const grants: Grant[] = [];
    for (const column of Object.keys(row).filter((c) => c !== 'Function' && c !== 'Other')) {
      const value = cell(row, column);
      if (value === '—' || (!lockTable && /^Lock table$/.test(column))) continue;
      const [actions = '', rows] = value.split(' on ');
      const grant: Grant = {
        effect: 'Allow',
        resource: tableId(s, column),
        actions: code(actions)
          .map((a) => `dynamodb:${a}`)
          .sort(),
      };
      if (rows !== undefined) {
        grant.condition = { [operator!]: { [conditionKey!]: [find(rows, /^`([^`]+)` rows$/)[0]] } };
      }
      grants.push(grant);
    }
    // "same, on its own log group": the actions of the row above, on this function's log group.
    const other = (r: Row) => cell(r, 'Other');
    const index = ROWS.indexOf(row);
    const withActions = ROWS.slice(0, index + 1).findLast((r) => !/^same\b/.test(other(r)))!;
    find(other(row), /(on its own log group)$/);
    grants.push({
      effect: 'Allow',
      resource: lambda(s, fnName).logGroup,
      actions: code(other(withActions)).sort(),
    });
    return grants.sort((a, b) => a.resource.localeCompare(b.resource));
  }

  it("covers exactly the stack's functions", () => {
    expect(ROWS.map((r) => lambda(deployed, cell(r, 'Function')).id).sort()).toEqual(
      idsOfType(deployed, 'AWS::Lambda::Function'),
    );
  });

  it.each(ROWS.map((r) => [cell(r, 'Function'), r] as const))(
    '%s: the role allows exactly the documented actions per table (lock rows by key prefix) and log group',
    (fnName, row) => {
      expect(grantsOf(deployed, fnName)).toEqual(documentedGrants(deployed, row));
    },
  );

  it('grants each table or log group in a statement of its own, on that one ARN', () => {
    find(text, /(Every grant is an explicit statement on one table ARN)/);
    for (const id of idsOfType(deployed, 'AWS::IAM::Policy')) {
      const doc = propertiesOf(deployed, id).PolicyDocument as { Statement: { Resource: unknown }[] };
      for (const st of doc.Statement) expect(Array.isArray(st.Resource)).toBe(false);
    }
  });

  it.each([
    ['by secret name', UPSTASH_BY_NAME],
    ['by secret ARN', UPSTASH_BY_ARN],
  ] as const)(
    'with Upstash (%s): drops the lock-table grants and allows only reading that one secret',
    (_, context) => {
      find(text, /(With Upstash, both functions lose the lock-table grants)/);
      const [action, namePattern] = find(
        text,
        /Each function gets `([\w:]+)` on the token secret and on nothing else: `([^`]+)` when you give a name, or the exact ARN when you give one/,
      );
      const secret =
        'upstashTokenSecretArn' in context
          ? new RegExp(`^${escapeRegExp(context.upstashTokenSecretArn)}$`)
          : new RegExp(
              `^${escapeRegExp(namePattern!).replace('…', '.+').replace('<name>', escapeRegExp(SECRET_NAME))}$`,
            );
      const s = withContext(context);
      for (const row of ROWS) {
        const grants = grantsOf(s, cell(row, 'Function'));
        const onSecrets = grants.filter((g) => g.actions.some((a) => a.startsWith('secretsmanager:')));
        expect(grants.filter((g) => !onSecrets.includes(g))).toEqual(
          documentedGrants(s, row, { lockTable: false }),
        );
        expect(onSecrets).toEqual([
          { effect: 'Allow', resource: expect.stringMatching(secret), actions: [action] },
        ]);
      }
    },
  );
});

describe('README "Function environment"', () => {
  const ROWS = table('Function environment'); // Variable | Value

  /** The variables the README gives a function, with their values (a table's name is its `Ref`). */
  function documentedEnv(s: Synth, fnName: string, upstash?: { url: string; secretId: string }) {
    const env: Record<string, unknown> = {};
    for (const row of ROWS) {
      const names = code(cell(row, 'Variable'));
      const value = cell(row, 'Value');
      if (/^Only when Upstash is configured/.test(value)) {
        // The REST URL, and "the secret's name (as given) … or its complete ARN".
        for (const n of upstash ? names : []) env[n] = /_URL$/.test(n) ? upstash!.url : upstash!.secretId;
        continue;
      }
      const only = /^(\w+) function only/.exec(value)?.[1];
      if (only !== undefined && only.toLowerCase() !== fnName) continue;
      const table = /^The (\w+) table\b/.exec(value)?.[1];
      const whenUpstash = /or `(\w+)` when Upstash is configured/.exec(value)?.[1];
      for (const [i, n] of names.entries()) {
        if (only !== undefined) env[n] = { Ref: tableId(s, n.replace(/_TABLE_NAME$/, '')) };
        else if (table !== undefined) env[n] = { Ref: tableId(s, table) };
        else env[n] = upstash && whenUpstash ? whenUpstash : code(value)[i];
      }
    }
    return env;
  }

  it.each(
    FUNCTIONS.flatMap(
      (fnName) =>
        [
          [fnName, 'by default', undefined],
          [fnName, 'with Upstash by secret name', { context: UPSTASH_BY_NAME, secretId: SECRET_NAME }],
          [fnName, 'with Upstash by secret ARN', { context: UPSTASH_BY_ARN, secretId: SECRET_ARN }],
        ] as const,
    ),
  )('%s function %s: has exactly the documented variables and values', (fnName, _, upstash) => {
    const s = upstash === undefined ? deployed : withContext(upstash.context);
    const documented = documentedEnv(s, fnName, upstash && { url: UPSTASH_URL, secretId: upstash.secretId });
    expect(lambda(s, fnName).env).toEqual(documented);
  });

  it('lists only variables the function code reads (NODE_OPTIONS aside, which Node.js reads)', () => {
    find(prose('Function environment'), /(Every variable the stack sets is one the function code reads)/);
    const read = envNamesReadByFunctions();
    const names = ROWS.flatMap((r) => code(cell(r, 'Variable')));
    expect(names.filter((n) => n !== 'NODE_OPTIONS' && !read.has(n))).toEqual([]);
  });
});

describe('README "Timeout"', () => {
  const ROWS = table('Timeout'); // Step | Up to
  const seconds = (text: string) => [...text.matchAll(/([\d.]+) s\b/g)].map((m) => Number(m[1]));

  it('adds up, with the bounds the functions are given, to their Lambda timeout', () => {
    const steps = ROWS.filter((r) => !/Total/.test(cell(r, 'Step')));
    const total = ROWS.find((r) => /Total/.test(cell(r, 'Step')))!;
    const sum = steps.flatMap((r) => seconds(cell(r, 'Up to'))).reduce((a, b) => a + b, 0);
    const timeout = seconds(cell(total, 'Up to'))[0]!;
    expect(Math.ceil(sum)).toBe(timeout);

    for (const fnName of FUNCTIONS) {
      const f = lambda(deployed, fnName);
      expect(f.props.Timeout).toBe(timeout);
      const env = f.env as Record<string, string>;
      for (const step of steps) {
        const text = cell(step, 'Step').replace(/\s+/g, ' ');
        const upTo = seconds(cell(step, 'Up to'));
        const variable = code(text).find((c) => /^[A-Z_]+$/.test(c));
        if (variable === 'SDK_REQUEST_TIMEOUT_MS') {
          // N attempts of (connect + no answer), plus the SDK's backoff (under a second in all).
          const [attempts, connect, answer] = find(
            text,
            /every one of its (\d+) attempts: ([\d.]+) s to connect \+ ([\d.]+) s without an answer/,
          ).map(Number);
          const { connectionTimeout, socketTimeout } = awsClientConfig(env).requestHandler;
          expect([attempts, connect, answer]).toEqual([
            SDK_MAX_ATTEMPTS,
            connectionTimeout / 1000,
            socketTimeout / 1000,
          ]);
          const withoutBackoff = attempts! * (connect! + answer!);
          expect(upTo[0]).toBeGreaterThanOrEqual(withoutBackoff);
          expect(upTo[0]).toBeLessThan(withoutBackoff + 1);
        } else if (variable !== undefined) {
          // "3 s" for LOCK_WAIT_MS, "3 s + 3 s" for LOCK_REQUEST_TIMEOUT_MS each.
          for (const s of upTo) expect(s * 1000, `${variable} in "${text}"`).toBe(Number(env[variable]));
        }
      }
    }
  });

  it('keeps the timeout below the HTTP API integration timeout, and the lease shorter than the invocation', () => {
    const text = prose('Timeout');
    const timeout = Number(find(text, /The timeout, (\d+) s, covers every bound once/)[0]);
    const apiTimeout = Number(find(text, /stays below the HTTP API's (\d+) s integration timeout/)[0]);
    const lease = Number(find(text, /The lease \((\d+) s\) is shorter than the invocation/)[0]);
    for (const fnName of FUNCTIONS) {
      const f = lambda(deployed, fnName);
      expect(f.props.Timeout).toBe(timeout);
      expect(timeout).toBeLessThan(apiTimeout);
      expect(Number(f.env.LOCK_TTL_MS)).toBe(lease * 1000);
      expect(lease).toBeLessThan(timeout);
    }
  });
});

describe('README "Concurrency and throttling"', () => {
  const text = prose('Concurrency and throttling');

  it('states the per-route throttle, what it lets through to each function, and the invocations that allows', () => {
    const [rate, burst] = find(
      text,
      /each route has its own bucket of (\d+) requests\/s \(bursts of (\d+)\)/,
    );
    expect(stageOf(deployed).DefaultRouteSettings).toEqual({
      ThrottlingRateLimit: Number(rate),
      ThrottlingBurstLimit: Number(burst),
    });
    const perFunction = [...text.matchAll(/(\d+) to the (\w+) function \(([^)]*)\)/g)];
    expect(perFunction.map((m) => lambda(deployed, m[2]!).id).sort()).toEqual(
      idsOfType(deployed, 'AWS::Lambda::Function'),
    );
    const rps: Record<string, number> = {};
    for (const [, figure, fnName, routes] of perFunction) {
      const f = lambda(deployed, fnName!);
      expect(routeKeys(deployed, f.id)).toEqual(code(routes!).sort());
      rps[fnName!] = Number(rate) * routeKeys(deployed, f.id).length;
      expect(rps[fnName!], `${fnName} requests/s`).toBe(Number(figure));
    }
    const total = Number(find(text, /The API as a whole accepts (\d+) requests\/s/)[0]);
    expect(total).toBe(Object.values(rps).reduce((a, b) => a + b, 0));

    // With every invocation running to the timeout: requests/s × timeout at once.
    const [n1 = '', fn1 = '', n2 = '', fn2 = ''] = find(
      text,
      /lets up to ([\d,]+) (\w+) and ([\d,]+) (\w+) invocations run at once/,
    );
    for (const [figure, fnName] of [
      [n1, fn1],
      [n2, fn2],
    ] as const) {
      const timeout = Number(lambda(deployed, fnName).props.Timeout);
      expect(Number(figure.replaceAll(',', '')), `${fnName} invocations`).toBe(rps[fnName]! * timeout);
    }
  });

  it('sets no reserved concurrency by default', () => {
    find(text, /(By default the stack sets \*\*no reserved concurrency\*\*)/);
    for (const id of idsOfType(deployed, 'AWS::Lambda::Function')) {
      expect(propertiesOf(deployed, id).ReservedConcurrentExecutions).toBeUndefined();
    }
  });
});

describe('README "Options (CDK context)"', () => {
  const functionIds = () => FUNCTIONS.map((f) => lambda(withContext(), f).id).sort();

  it('lists exactly the context keys the app reads', () => {
    expect(OPTIONS.flatMap((r) => code(cell(r, 'Key'))).sort()).toEqual([...CONTEXT_KEYS].sort());
  });

  it.each(ENUMERATED_OPTIONS.map((o) => [o.key, o] as const))(
    '%s: its documented default changes nothing, and a value outside the documented list fails synthesis',
    (key, { defaultValue }) => {
      expect(defaultValue, `${key} has a default`).toBeDefined();
      expect(withContext({ [key]: defaultValue! }).template.toJSON()).toEqual(
        withContext().template.toJSON(),
      );
      expect(refused({ [key]: 'not-a-documented-value' })).toThrow(key);
    },
  );

  it('apiAuth=none removes IAM authorisation from every route, acknowledged (APIG4) on each, and nothing else', () => {
    const { values } = ENUMERATED_OPTIONS.find((o) => o.key === 'apiAuth')!;
    expect(values).toContain('none');
    const s = withContext({ apiAuth: 'none' });
    const routes = idsOfType(s, 'AWS::ApiGatewayV2::Route');
    for (const id of routes) {
      expect(propertiesOf(s, id).AuthorizationType).toBe('NONE');
      expect(propertiesOf(s, id).AuthorizerId).toBeUndefined();
    }
    const [rule] = find(
      prose('Public demo: `-c apiAuth=none`'),
      /acknowledgement \(`([\w-]+)`, on each route/,
    );
    const acknowledged = nagSuppressions(s.template).filter((a) => a.id === rule);
    expect(acknowledged.map((a) => a.resource).sort()).toEqual(routes);
    // The routes, and the ApiAuth output that reports the mode.
    expect(changedByContext({ apiAuth: 'none' })).toEqual([...routes, 'Outputs.ApiAuth'].sort());
  });

  it('dataRemovalPolicy applies to exactly the documented tables and the log groups, retain with deletion protection', () => {
    const { values, defaultValue } = ENUMERATED_OPTIONS.find((o) => o.key === 'dataRemovalPolicy')!;
    const text = cell(option('dataRemovalPolicy'), 'Values');
    const tables = find(text, /\(([\w, ]+) tables, and the log groups\)/)[0]!.split(/, | and /);
    const protectedWith = find(text, /`(\w+)` also turns on the tables' deletion protection/)[0];
    const base = withContext();
    const affected = [
      ...tables.map((t) => tableId(base, t)),
      ...idsOfType(base, 'AWS::Logs::LogGroup'),
    ].sort();
    for (const value of values) {
      const s = withContext({ dataRemovalPolicy: value });
      const policy = DELETION_POLICY[value.toUpperCase()];
      for (const id of affected) {
        expect(resources(s.template)[id], `${id} with ${value}`).toMatchObject({
          DeletionPolicy: policy,
          UpdateReplacePolicy: policy,
        });
      }
      for (const t of tables) {
        expect(propertiesOf(s, tableId(s, t)).DeletionProtectionEnabled).toBe(value === protectedWith);
      }
      // Nothing else changes (the lock table keeps its own removal policy).
      expect(changedByContext({ dataRemovalPolicy: value })).toEqual(value === defaultValue ? [] : affected);
    }
  });

  it('logLevel sets LOG_LEVEL of both functions to each documented level, and nothing else', () => {
    const { values, defaultValue } = ENUMERATED_OPTIONS.find((o) => o.key === 'logLevel')!;
    // The "Function environment" table points at the same list.
    const levelRow = table('Function environment').find((r) =>
      code(cell(r, 'Variable')).includes('LOG_LEVEL'),
    )!;
    const hint = code(cell(levelRow, 'Value')).find((c) => c.startsWith('-c logLevel='))!;
    expect(hint.slice('-c logLevel='.length).split('|')).toEqual(values);
    for (const level of values) {
      const s = withContext({ logLevel: level });
      for (const f of FUNCTIONS) expect(lambda(s, f).env.LOG_LEVEL).toBe(level);
      expect(changedByContext({ logLevel: level })).toEqual(level === defaultValue ? [] : functionIds());
    }
  });

  it('reservedConcurrency reserves that many executions for each function, from the documented minimum', () => {
    const text = cell(option('reservedConcurrency'), 'Values');
    find(text, /(reserved concurrency of \*\*each\*\* function)/);
    expect(code(cell(option('reservedConcurrency'), 'Default'))).toEqual([]); // "not set"
    const context = { reservedConcurrency: String(MIN_RESERVED) };
    for (const id of functionIds()) {
      expect(propertiesOf(withContext(context), id).ReservedConcurrentExecutions).toBe(MIN_RESERVED);
    }
    expect(changedByContext(context)).toEqual(functionIds());
    expect(refused({ reservedConcurrency: String(MIN_RESERVED - 1) })).toThrow(/reservedConcurrency/);
    expect(refused({ reservedConcurrency: '1.5' })).toThrow(/reservedConcurrency/);
  });

  it('upstashUrl with exactly one of the secret options switches the functions to Upstash, and only them', () => {
    expect(cell(option('upstashUrl'), 'Default')).toMatch(/DynamoDB locks/);
    const outputs = deployed.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.LockStore?.Value).toBe('dynamodb');
    for (const context of [UPSTASH_BY_NAME, UPSTASH_BY_ARN]) {
      const s = withContext(context);
      // The functions' environment and their roles' statements (checked above), and the LockStore output.
      const policies = idsOfType(s, 'AWS::IAM::Policy');
      expect(changedByContext(context)).toEqual([...functionIds(), ...policies, 'Outputs.LockStore'].sort());
      expect((s.template.toJSON().Outputs as typeof outputs).LockStore?.Value).toBe('upstash');
    }
    find(cell(option('upstashTokenSecretName'), 'Values'), /(\(exactly one\))/);
    expect(refused({ ...UPSTASH_BY_NAME, upstashTokenSecretArn: SECRET_ARN })).toThrow(/only one/);
  });

  it('fails synthesis on the half-set or malformed Upstash options the README names', () => {
    const text = prose('Options (CDK context)');
    find(text, /(a URL without a secret, a partial ARN or an ARN given as `upstashTokenSecretName`)/);
    expect(refused({ upstashUrl: UPSTASH_URL })).toThrow(/secret/);
    const partialArn = SECRET_ARN.replace(/-\w{6}$/, '');
    expect(refused({ upstashUrl: UPSTASH_URL, upstashTokenSecretArn: partialArn })).toThrow(
      /complete secret ARN/,
    );
    expect(refused({ upstashUrl: UPSTASH_URL, upstashTokenSecretName: SECRET_ARN })).toThrow(/ARN/);
  });
});
