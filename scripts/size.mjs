// Minified size of the bench's minimal Leasehold Lambda per store, store SDK excluded, per input file.
// Usage: npm run build && node scripts/size.mjs   (the bench's figure is the same build)
import { build } from 'esbuild';

const handler = `export const handler = (event, context) =>
  locker.withLock(event.key, async (lease) => ({ token: lease.token }), { context });`;
const specs = {
  dynamodb: {
    external: ['@aws-sdk/*', '@smithy/*'],
    source: `import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createLocker } from '@leasehold/core';
import { dynamoDbStore } from '@leasehold/dynamodb';
const locker = createLocker({ store: dynamoDbStore({ client: new DynamoDBClient({}), tableName: 't' }) });
${handler}`,
  },
  upstash: {
    external: ['@upstash/redis'],
    source: `import { createLocker } from '@leasehold/core';
import { upstashStore } from '@leasehold/upstash';
const locker = createLocker({ store: upstashStore({ url: 'http://127.0.0.1:1', token: 't' }) });
${handler}`,
  },
};
for (const [name, spec] of Object.entries(specs)) {
  const result = await build({
    stdin: { contents: spec.source, resolveDir: new URL('../bench', import.meta.url).pathname, loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    mainFields: ['module', 'main'],
    external: spec.external,
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const out = Object.values(result.metafile.outputs)[0];
  const files = Object.entries(out.inputs)
    .map(([f, i]) => [f.replace(/^.*packages\//, ''), i.bytesInOutput])
    .filter(([, b]) => b > 0)
    .sort((a, b) => b[1] - a[1]);
  console.log(`${name}: ${result.outputFiles[0].contents.length} B (limit 10240)`);
  for (const [f, b] of files) console.log(`  ${String(b).padStart(6)}  ${f}`);
}
