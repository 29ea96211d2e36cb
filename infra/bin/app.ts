#!/usr/bin/env node
// The CDK app (cdk.json at the repository root runs `npx tsx infra/bin/app.ts`).
// Context: -c upstashUrl=… -c upstashTokenSecretName=… | -c dataRemovalPolicy=destroy | -c apiAuth=none | -c logLevel=debug
import { createApp } from '../lib/app.js';

createApp().app.synth();
