import { rmSync } from 'node:fs';
import { mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import type * as BookingModule from '../booking/handler.js';
import type * as PaymentModule from '../payment/handler.js';

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

/** The handler modules as bundled: what a Lambda instance loads. */
export interface BundledHandlers {
  readonly payment: typeof PaymentModule;
  readonly booking: typeof BookingModule;
  /** Size of each bundle in bytes. */
  readonly bytes: { readonly payment: number; readonly booking: number };
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Bundles both handlers ({@link bundleFunction}) into a temporary directory, imports the bundles and
 * removes the directory (also when interrupted meanwhile). The bundles' exports are the handler
 * modules' (`handler`, `createPaymentHandler`, `paymentDepsFromEnv`, ...), their code the bundled one.
 */
export async function importBundledHandlers(): Promise<BundledHandlers> {
  const dir = await mkdtemp(path.join(tmpdir(), 'leasehold-demo-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  const onSignal = (signal: NodeJS.Signals) => {
    remove();
    unhook();
    process.kill(process.pid, signal); // what the signal would have done
  };
  const unhook = () => {
    process.off('exit', remove);
    for (const s of SIGNALS) process.off(s, onSignal);
  };
  process.on('exit', remove);
  for (const s of SIGNALS) process.on(s, onSignal);
  try {
    const [paymentFile, bookingFile] = await Promise.all([
      bundleFunction('payment', dir),
      bundleFunction('booking', dir),
    ]);
    const load = async (file: string) => ({
      module: (await import(pathToFileURL(file).href)) as unknown,
      bytes: (await stat(file)).size,
    });
    const payment = await load(paymentFile);
    const booking = await load(bookingFile);
    return {
      payment: payment.module as typeof PaymentModule,
      booking: booking.module as typeof BookingModule,
      bytes: { payment: payment.bytes, booking: booking.bytes },
    };
  } finally {
    unhook();
    remove();
  }
}
