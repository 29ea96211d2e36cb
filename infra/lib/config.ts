import { RemovalPolicy } from 'aws-cdk-lib';
import type { LeaseholdExamplesStackProps, LogLevel } from './examples-stack.js';

/**
 * CDK context keys understood by `infra/bin/app.ts` (pass with `-c key=value` or in cdk.json).
 * Every key is optional; with none set the stack uses DynamoDB for the locks and IAM-authorised routes.
 */
export const CONTEXT_KEYS = [
  'upstashUrl',
  'upstashTokenSecretName',
  'upstashTokenSecretArn',
  'dataRemovalPolicy',
  'apiAuth',
  'logLevel',
  'reservedConcurrency',
] as const;

export type ContextKey = (typeof CONTEXT_KEYS)[number];

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$/;
/** What Secrets Manager accepts as a secret name: 1-512 ASCII letters, digits and / _ + = . @ - */
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;

/** Reads one context value as a trimmed string; `undefined` when unset or empty. */
function text(get: (key: ContextKey) => unknown, key: ContextKey): string | undefined {
  const value = get(key);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    throw new TypeError(`CDK context "${key}" must be a string, got ${typeof value}`);
  }
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

/**
 * Turns CDK context into stack props, failing fast (at synth time, before any deployment) on
 * half-configured or misspelled values.
 */
export function examplesPropsFromContext(get: (key: ContextKey) => unknown): LeaseholdExamplesStackProps {
  const props: { -readonly [K in keyof LeaseholdExamplesStackProps]: LeaseholdExamplesStackProps[K] } = {};

  const upstashUrl = text(get, 'upstashUrl');
  const secretName = text(get, 'upstashTokenSecretName');
  const secretArn = text(get, 'upstashTokenSecretArn');
  if (upstashUrl === undefined) {
    if (secretName !== undefined || secretArn !== undefined) {
      throw new Error(
        'upstashTokenSecretName/upstashTokenSecretArn is set but upstashUrl is not: set both or neither',
      );
    }
  } else {
    if (secretName === undefined && secretArn === undefined) {
      throw new Error(
        'upstashUrl is set but the token secret is not: also pass -c upstashTokenSecretName=<name> ' +
          '(or -c upstashTokenSecretArn=<complete ARN>)',
      );
    }
    if (secretName !== undefined && secretArn !== undefined) {
      throw new Error('set only one of upstashTokenSecretName and upstashTokenSecretArn');
    }
    props.upstash =
      secretArn !== undefined
        ? { restUrl: upstashUrl, tokenSecretArn: secretArn }
        : { restUrl: upstashUrl, tokenSecretName: secretName! };
  }

  const removal = text(get, 'dataRemovalPolicy')?.toLowerCase();
  if (removal !== undefined) {
    if (removal === 'retain') props.dataRemovalPolicy = RemovalPolicy.RETAIN;
    else if (removal === 'destroy') props.dataRemovalPolicy = RemovalPolicy.DESTROY;
    else throw new Error(`dataRemovalPolicy must be "retain" or "destroy", got "${removal}"`);
  }

  const apiAuth = text(get, 'apiAuth')?.toLowerCase();
  if (apiAuth !== undefined) {
    if (apiAuth !== 'iam' && apiAuth !== 'none') {
      throw new Error(`apiAuth must be "iam" or "none", got "${apiAuth}"`);
    }
    props.apiAuth = apiAuth;
  }

  const logLevel = text(get, 'logLevel')?.toLowerCase();
  if (logLevel !== undefined) {
    if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
      throw new Error(`logLevel must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
    }
    props.logLevel = logLevel as LogLevel;
  }

  // `-c reservedConcurrency=20` arrives as a string; a cdk.json entry may be a number.
  const rawReserved = get('reservedConcurrency');
  const reserved = typeof rawReserved === 'number' ? String(rawReserved) : text(get, 'reservedConcurrency');
  if (reserved !== undefined) {
    const n = Number(reserved);
    if (!/^\d+$/.test(reserved) || !Number.isSafeInteger(n) || n < 1) {
      throw new Error(`reservedConcurrency must be a whole number from 1, got "${reserved}"`);
    }
    props.reservedConcurrency = n;
  }

  return props;
}

/** Validates an Upstash configuration passed as stack props (the context path goes through here too). */
export function validateUpstash(config: {
  restUrl: string;
  tokenSecretName?: string;
  tokenSecretArn?: string;
}) {
  let url: URL;
  try {
    url = new URL(config.restUrl);
  } catch {
    throw new Error(`upstash.restUrl is not a URL: "${config.restUrl}"`);
  }
  if (url.protocol !== 'https:') {
    throw new Error(
      'upstash.restUrl must be an https:// URL (the token travels in its Authorization header)',
    );
  }
  const hasName = config.tokenSecretName !== undefined;
  const hasArn = config.tokenSecretArn !== undefined;
  if (hasName === hasArn) {
    throw new Error('upstash needs exactly one of tokenSecretName and tokenSecretArn');
  }
  if (hasName && config.tokenSecretName!.startsWith('arn:')) {
    throw new Error(
      'upstash.tokenSecretName is an ARN: pass it as upstashTokenSecretArn (tokenSecretArn) instead; as a ' +
        "name it would give the functions a grant on a secret that doesn't exist",
    );
  }
  if (hasName && !SECRET_NAME.test(config.tokenSecretName!)) {
    throw new Error(
      `upstash.tokenSecretName is not a valid secret name (1-512 of A-Z a-z 0-9 / _ + = . @ -): "${config.tokenSecretName}"`,
    );
  }
  if (hasArn && !SECRET_ARN.test(config.tokenSecretArn!)) {
    throw new Error(
      'upstash.tokenSecretArn must be the complete secret ARN (ending in the 6-character suffix, ' +
        'e.g. arn:aws:secretsmanager:eu-west-1:123456789012:secret:leasehold/upstash-token-AbCdEf); ' +
        'use tokenSecretName for a name',
    );
  }
}
