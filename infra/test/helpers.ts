import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { createApp } from '../lib/app.js';
import { type LeaseholdExamplesStackProps, PROJECT_ROOT } from '../lib/examples-stack.js';

/** The feature flags and other context from the repository's cdk.json, so tests see what `cdk synth` sees. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

/**
 * Synthesizes the app as bin/app.ts builds it (cdk-nag included: an unacknowledged finding makes
 * `app.synth()` throw). Bundles both functions with the local esbuild, so call it once per test file.
 */
export function synthExamples(
  stackProps?: LeaseholdExamplesStackProps,
  context: Record<string, unknown> = {},
) {
  const outdir = mkdtempSync(path.join(tmpdir(), 'leasehold-cdk-'));
  // The CLI turns on path and asset metadata; do the same so resources can be found by construct path.
  const cliContext = { 'aws:cdk:enable-path-metadata': true, 'aws:cdk:enable-asset-metadata': true };
  const { app, stack } = createApp(
    { outdir, context: { ...cliContext, ...cdkJsonContext(), ...context } },
    stackProps,
  );
  const assembly = app.synth();
  const template = Template.fromStack(stack);
  return { app, stack, assembly, template, outdir };
}

type Json = unknown;
type Resources = Record<
  string,
  { Type: string; Properties?: Record<string, Json>; Metadata?: Record<string, Json> }
>;

export function resources(template: Template): Resources {
  return (template.toJSON() as { Resources: Resources }).Resources;
}

/** The single logical id of the resource of `type` whose `aws:cdk:path` ends with `/<pathSuffix>`. */
export function logicalId(template: Template, type: string, pathSuffix: string): string {
  const ids = Object.entries(resources(template))
    .filter(
      ([, r]) => r.Type === type && String(r.Metadata?.['aws:cdk:path'] ?? '').endsWith(`/${pathSuffix}`),
    )
    .map(([id]) => id);
  if (ids.length !== 1) throw new Error(`expected one ${type} at */${pathSuffix}, found ${ids.length}`);
  return ids[0]!;
}

/** A readable name for a policy Resource: `Fn::GetAtt [X, Arn]` becomes `X`; strings stay as they are. */
function resourceName(resource: Json): string {
  if (typeof resource === 'string') return resource;
  const getAtt = (resource as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
  if (getAtt && getAtt[1] === 'Arn') return getAtt[0];
  return JSON.stringify(resource);
}

export interface FlatStatement {
  effect: string;
  actions: string[];
  resource: string;
  hasCondition: boolean;
  condition: Json;
}

/**
 * Every (action list, resource) pair the role's inline and attached policies allow, one entry per
 * resource, so the assertions do not depend on how CDK merges statements (`minimizePolicies`).
 */
export function roleStatements(template: Template, roleLogicalId: string): FlatStatement[] {
  const out: FlatStatement[] = [];
  const all = resources(template);
  const role = all[roleLogicalId];
  if (role?.Type !== 'AWS::IAM::Role') throw new Error(`${roleLogicalId} is not a role`);
  const documents: Json[] = [];
  for (const p of (role.Properties?.Policies as { PolicyDocument: Json }[] | undefined) ?? []) {
    documents.push(p.PolicyDocument);
  }
  for (const r of Object.values(all)) {
    if (r.Type !== 'AWS::IAM::Policy' && r.Type !== 'AWS::IAM::ManagedPolicy') continue;
    const roles = (r.Properties?.Roles as Json[] | undefined) ?? [];
    if (roles.some((ref) => (ref as { Ref?: string }).Ref === roleLogicalId)) {
      documents.push(r.Properties?.PolicyDocument);
    }
  }
  for (const doc of documents) {
    for (const s of (doc as { Statement: Record<string, Json>[] }).Statement) {
      const actions = ([] as string[]).concat(s.Action as string | string[]).sort();
      for (const resource of ([] as Json[]).concat(s.Resource as Json)) {
        out.push({
          effect: String(s.Effect),
          actions,
          resource: resourceName(resource),
          hasCondition: s.Condition !== undefined,
          condition: s.Condition,
        });
      }
    }
  }
  return out;
}

/** resource name → sorted, de-duplicated actions allowed on it. */
export function actionsByResource(statements: FlatStatement[]): Record<string, string[]> {
  const map: Record<string, Set<string>> = {};
  for (const s of statements) {
    map[s.resource] ??= new Set();
    for (const a of s.actions) map[s.resource]!.add(a);
  }
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, [...v].sort()]));
}

/** All `cdk_nag.rules_to_suppress` entries written into the template (the acknowledgement audit trail). */
export function nagSuppressions(template: Template): { resource: string; id: string; reason: string }[] {
  const out: { resource: string; id: string; reason: string }[] = [];
  for (const [id, r] of Object.entries(resources(template))) {
    const rules = (
      r.Metadata?.cdk_nag as { rules_to_suppress?: { id: string; reason: string }[] } | undefined
    )?.rules_to_suppress;
    for (const rule of rules ?? []) out.push({ resource: id, id: rule.id, reason: rule.reason });
  }
  return out;
}

/** The validation report CDK writes into the cloud assembly (cdk-nag's findings land here). */
export function validationReport(assemblyDir: string): { pluginReports: { violations?: unknown[] }[] } {
  return JSON.parse(readFileSync(path.join(assemblyDir, 'validation-report.json'), 'utf8'));
}

export const sorted = (xs: readonly string[]) => [...xs].sort();

/**
 * The environment variable names the deployed function code mentions (functions/payment, booking and
 * shared, as `env.NAME`, `env[NAME]` or a quoted name): what a variable the stack sets is checked against.
 */
export function envNamesReadByFunctions(): Set<string> {
  const names = new Set<string>();
  for (const dir of ['payment', 'booking', 'shared']) {
    const folder = path.join(PROJECT_ROOT, 'functions', dir);
    for (const file of readdirSync(folder).filter((f) => f.endsWith('.ts'))) {
      const code = readFileSync(path.join(folder, file), 'utf8');
      for (const m of code.matchAll(
        /\benv\.([A-Z][A-Z0-9_]+)\b|['"`]([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)['"`]/g,
      )) {
        names.add((m[1] ?? m[2])!);
      }
    }
  }
  return names;
}
