import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

// withLocks's TSDoc @example, as a user copies it, type-checked with the repository's own compiler
// options (strict, noUncheckedIndexedAccess): with the keys given as a literal, `fn` receives one
// `Lease` per key, so `debit.token` compiles without a `!`.
it("withLocks's @example compiles under the project's compiler options", () => {
  const source = readFileSync(join(SRC, 'with-locks.ts'), 'utf8');
  const example = /@example\s*\n\s*\* ```ts\n([\s\S]*?)\n\s*\* ```/
    .exec(source)![1]!
    .split('\n')
    .map((line) => line.replace(/^\s*\* ?/, ''))
    .join('\n');
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-withlocks-'));
  try {
    const file = join(dir, 'example.mts');
    writeFileSync(
      file,
      [
        `import { withLocks, type Locker } from ${JSON.stringify(join(SRC, 'index.js'))};`,
        'declare const locker: Locker;',
        'declare const from: string, to: string, amount: number;',
        'declare function move(amount: number, fences: { from: number; to: number }): Promise<void>;',
        example,
        'export {};',
      ].join('\n'),
    );
    const root = fileURLToPath(new URL('../../../tsconfig.json', import.meta.url));
    const { config } = ts.readConfigFile(root, ts.sys.readFile);
    const { options } = ts.parseJsonConfigFileContent(config, ts.sys, dir);
    const program = ts.createProgram([file], { ...options, noEmit: true, types: [] });
    const messages = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file?.fileName === file)
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(messages).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
