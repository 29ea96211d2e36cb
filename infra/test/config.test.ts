import { RemovalPolicy } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { CONTEXT_KEYS, type ContextKey, examplesPropsFromContext, validateUpstash } from '../lib/config.js';

const from = (ctx: Partial<Record<ContextKey, unknown>>) => examplesPropsFromContext((k) => ctx[k]);
const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:leasehold/upstash-token-a1B2c3';

describe('CDK context → stack props', () => {
  it('defaults to nothing (DynamoDB locks, IAM auth, retained data) when no context is set', () => {
    expect(from({})).toEqual({});
    expect(from({ upstashUrl: '  ', logLevel: '' })).toEqual({});
  });

  it('reads the Upstash URL with a secret name or a complete secret ARN', () => {
    expect(from({ upstashUrl: 'https://x.upstash.io', upstashTokenSecretName: 'leasehold/token' })).toEqual({
      upstash: { restUrl: 'https://x.upstash.io', tokenSecretName: 'leasehold/token' },
    });
    expect(from({ upstashUrl: 'https://x.upstash.io', upstashTokenSecretArn: ARN })).toEqual({
      upstash: { restUrl: 'https://x.upstash.io', tokenSecretArn: ARN },
    });
  });

  it('refuses a URL without a secret, a secret without a URL, or both secret forms at once', () => {
    expect(() => from({ upstashUrl: 'https://x.upstash.io' })).toThrow(/token secret is not/);
    expect(() => from({ upstashTokenSecretArn: ARN })).toThrow(/upstashUrl is not/);
    expect(() =>
      from({ upstashUrl: 'https://x.upstash.io', upstashTokenSecretName: 'a', upstashTokenSecretArn: ARN }),
    ).toThrow(/only one/);
  });

  it('parses dataRemovalPolicy, apiAuth and logLevel case-insensitively and rejects anything else', () => {
    expect(from({ dataRemovalPolicy: 'DESTROY', apiAuth: 'None', logLevel: 'Debug' })).toEqual({
      dataRemovalPolicy: RemovalPolicy.DESTROY,
      apiAuth: 'none',
      logLevel: 'debug',
    });
    expect(from({ dataRemovalPolicy: 'retain' })).toEqual({ dataRemovalPolicy: RemovalPolicy.RETAIN });
    expect(() => from({ dataRemovalPolicy: 'snapshot' })).toThrow(/retain.*destroy/);
    expect(() => from({ apiAuth: 'cognito' })).toThrow(/iam.*none/);
    expect(() => from({ logLevel: 'trace' })).toThrow(/debug, info, warn, error/);
    expect(() => from({ logLevel: 3 })).toThrow(TypeError);
  });

  it('reads reservedConcurrency as a whole number from 1 (string from -c, or number from cdk.json)', () => {
    expect(from({ reservedConcurrency: '20' })).toEqual({ reservedConcurrency: 20 });
    expect(from({ reservedConcurrency: ' 5 ' })).toEqual({ reservedConcurrency: 5 });
    expect(from({ reservedConcurrency: 7 })).toEqual({ reservedConcurrency: 7 });
    expect(from({ reservedConcurrency: '' })).toEqual({});
    for (const bad of ['0', '-1', '1.5', '1e3', 'ten', 0, 2.5]) {
      expect(() => from({ reservedConcurrency: bad })).toThrow(/reservedConcurrency/);
    }
  });

  it('documents every key it reads', () => {
    expect([...CONTEXT_KEYS].sort()).toEqual(
      [
        'apiAuth',
        'dataRemovalPolicy',
        'logLevel',
        'reservedConcurrency',
        'upstashTokenSecretArn',
        'upstashTokenSecretName',
        'upstashUrl',
      ].sort(),
    );
  });
});

describe('Upstash props validation', () => {
  it('needs https and exactly one complete-ARN-or-name secret reference', () => {
    expect(() => validateUpstash({ restUrl: 'https://x.upstash.io', tokenSecretName: 'n' })).not.toThrow();
    expect(() => validateUpstash({ restUrl: 'https://x.upstash.io', tokenSecretArn: ARN })).not.toThrow();
    expect(() => validateUpstash({ restUrl: 'not a url', tokenSecretName: 'n' })).toThrow(/not a URL/);
    expect(() => validateUpstash({ restUrl: 'http://x.upstash.io', tokenSecretName: 'n' })).toThrow(/https/);
    expect(() => validateUpstash({ restUrl: 'https://x.upstash.io' })).toThrow(/exactly one/);
    expect(() =>
      validateUpstash({ restUrl: 'https://x.upstash.io', tokenSecretArn: ARN.slice(0, -7) }),
    ).toThrow(/complete secret ARN/);
  });

  it('refuses an ARN (or any other invalid name) given as the secret name', () => {
    // The grant would be built as arn:…:secret:<the ARN>-?????? and match nothing: every cold start would
    // then fail with AccessDenied (503 on every request) after a deploy that looked fine.
    expect(() => validateUpstash({ restUrl: 'https://x.upstash.io', tokenSecretName: ARN })).toThrow(
      /upstashTokenSecretArn/,
    );
    expect(() => validateUpstash({ restUrl: 'https://x.upstash.io', tokenSecretName: 'has space' })).toThrow(
      /secret name/,
    );
    expect(() =>
      validateUpstash({ restUrl: 'https://x.upstash.io', tokenSecretName: 'leasehold/upstash_token+=.@-1' }),
    ).not.toThrow();
  });
});
