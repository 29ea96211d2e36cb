import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const FUNCTIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Bundles a function's handler much as the CDK stack's NodejsFunction does (ESM, minified, the AWS SDK
 * bundled in, a `require` shim for CommonJS dependencies), so tests and the demo run a bundle, not the
 * sources. Two settings differ: it targets node20 (the Node these run on locally; the stack targets
 * node22, its Lambda runtime) and writes no source map (the stack writes one, without sources content).
 */
export async function bundleFunction(name: 'payment' | 'booking', outDir?: string): Promise<string> {
  const dir = outDir ?? (await mkdtemp(path.join(tmpdir(), `leasehold-${name}-`)));
  const outfile = path.join(dir, `${name}.mjs`);
  await build({
    entryPoints: [path.join(FUNCTIONS_DIR, name, 'handler.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    mainFields: ['module', 'main'],
    banner: {
      js: "import{createRequire as __leaseholdCreateRequire}from'node:module';const require=__leaseholdCreateRequire(import.meta.url);",
    },
    minify: true,
    sourcemap: false,
    logLevel: 'error',
  });
  return outfile;
}
