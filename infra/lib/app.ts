import { App, type AppProps, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { type ContextKey, examplesPropsFromContext } from './config.js';
import { LeaseholdExamplesStack, type LeaseholdExamplesStackProps } from './examples-stack.js';

export const STACK_NAME = 'LeaseholdExamplesStack';

/**
 * Builds the CDK app exactly as `infra/bin/app.ts` (and so `cdk synth`/`cdk deploy`) does: the stack,
 * configured from CDK context unless `stackProps` is given, with cdk-nag's AwsSolutions checks applied.
 * Tests call this too, so what they assert is what gets deployed.
 */
export function createApp(appProps: AppProps = {}, stackProps?: LeaseholdExamplesStackProps) {
  const app = new App(appProps);
  const props = stackProps ?? examplesPropsFromContext((key: ContextKey) => app.node.tryGetContext(key));
  const stack = new LeaseholdExamplesStack(app, STACK_NAME, {
    description: 'Leasehold examples: payment and booking Lambda functions guarded by fenced leases',
    ...props,
  });
  Tags.of(app).add('project', 'leasehold-examples');
  // cdk-nag 3 is a policy-validation plugin (no longer an Aspect): findings fail `cdk synth`.
  Validations.of(app).addPlugins(
    new AwsSolutionsChecks(app, { verbose: true, writeSuppressionsToCloudFormation: true }),
  );
  return { app, stack };
}
