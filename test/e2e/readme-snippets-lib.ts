/**
 * Helpers of `readme-snippets.test.ts`: pull the code blocks out of a README, type-check them all in
 * one TypeScript program against the workspace's built packages, and run one with real modules.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** Languages whose blocks are checked (the first word of a fence's info string). */
export const CODE_LANGS = new Set(['ts', 'typescript', 'js', 'mjs']);

export interface CodeBlock {
  /** The README, relative to the repository root. */
  readonly readme: string;
  /** 1-based line in the README of the block's first code line (the line after the opening fence). */
  readonly line: number;
  /** The fence's language, lower case ('' when none). */
  readonly lang: string;
  readonly code: string;
}

/** Every fenced block (``` or ~~~, any language) of a Markdown text, in order. */
export function fencedBlocks(readme: string, markdown: string): CodeBlock[] {
  const lines = markdown.split('\n');
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^( {0,3})(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[i]!);
    if (!open) continue;
    const [, , fence, info] = open;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !lines[j]!.trimStart().startsWith(fence!)) body.push(lines[j++]!);
    if (j === lines.length) throw new Error(`${readme}:${i + 1}: code block is never closed`);
    blocks.push({ readme, line: i + 2, lang: info!.toLowerCase(), code: body.join('\n') });
    i = j;
  }
  return blocks;
}

/**
 * Names a README's fragments use without declaring them, each with its type (a TypeScript type
 * expression; `import('pkg').Name` for package types, so that it never clashes with a snippet's own
 * imports).
 */
export type Prelude = Readonly<Record<string, string>>;

export interface Snippet extends CodeBlock {
  readonly prelude: Prelude;
}

export interface SnippetError {
  readonly readme: string;
  /** The block's first code line in the README. */
  readonly blockLine: number;
  /** The README line the error points at. */
  readonly line: number;
  readonly column: number;
  readonly code: number;
  readonly message: string;
}

/** `README.md:65:31 (code block opened at line 55): TS7006 Parameter 'event' implicitly has an 'any' type.` */
export const formatError = (e: SnippetError) =>
  `${e.readme}:${e.line}:${e.column} (code block opened at line ${e.blockLine - 1}): ${e.code ? `TS${e.code}` : 'doc'} ${e.message}`;

/** The names a snippet declares at its top level (imports, variables, functions, classes, enums). */
export function topLevelNames(code: string): Set<string> {
  const source = ts.createSourceFile('snippet.ts', code, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const names = new Set<string>();
  const bind = (name: ts.BindingName | undefined) => {
    if (!name) return;
    if (ts.isIdentifier(name)) names.add(name.text);
    else for (const element of name.elements) if (!ts.isOmittedExpression(element)) bind(element.name);
  };
  for (const statement of source.statements) {
    if (ts.isImportDeclaration(statement) && statement.importClause) {
      const clause = statement.importClause;
      if (clause.name) names.add(clause.name.text);
      const bindings = clause.namedBindings;
      if (bindings && ts.isNamespaceImport(bindings)) names.add(bindings.name.text);
      if (bindings && ts.isNamedImports(bindings))
        for (const el of bindings.elements) names.add(el.name.text);
    } else if (ts.isVariableStatement(statement)) {
      for (const decl of statement.declarationList.declarations) bind(decl.name);
    } else if (
      (ts.isFunctionDeclaration(statement) ||
        ts.isClassDeclaration(statement) ||
        ts.isEnumDeclaration(statement)) &&
      statement.name
    ) {
      names.add(statement.name.text);
    }
  }
  return names;
}

const isJs = (lang: string) => lang === 'js' || lang === 'mjs';

/**
 * The prelude declarations a snippet needs: every prelude name the snippet does not declare itself.
 * Appended after the snippet (ambient declarations may be used before them), so that the snippet's
 * lines keep their numbers.
 */
export function preludeText(snippet: Snippet): string {
  const own = topLevelNames(snippet.code);
  const lines = Object.entries(snippet.prelude)
    .filter(([name]) => !own.has(name))
    .map(([name, type]) =>
      isJs(snippet.lang)
        ? `var ${name} = /** @type {${type}} */ (/** @type {unknown} */ (undefined));`
        : `declare const ${name}: ${type};`,
    );
  // Every block is its own ES module (top-level await allowed), whether or not it imports anything.
  return `\n// --- prelude (not part of the README) ---\n${lines.join('\n')}\nexport {};\n`;
}

/**
 * Type-check every snippet in ONE program with the repository's strict compiler options, resolving
 * packages as a user's project would (`@leasehold/*` from the workspace's built `dist`). Each snippet is
 * an in-memory file under `dir` (an existing directory inside the `"type": "module"` test workspace),
 * so it is an ES module whose imports resolve through the workspace's node_modules.
 */
export function typeCheckSnippets(
  snippets: readonly Snippet[],
  tsconfig: string,
  dir: string,
): SnippetError[] {
  const config = ts.getParsedCommandLineOfConfigFile(
    tsconfig,
    { noEmit: true, types: ['node'], allowJs: true, checkJs: true },
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => failWith(d) },
  );
  if (!config) throw new Error(`cannot read ${tsconfig}`);
  const options = config.options;
  const files = new Map<string, { snippet: Snippet; text: string }>();
  for (const snippet of snippets) {
    const slug = snippet.readme.replace(/[^A-Za-z0-9]+/g, '-');
    const ext = isJs(snippet.lang) ? 'mjs' : 'ts';
    const name = join(dir, `__readme-${slug}-L${snippet.line}.${ext}`);
    files.set(name, { snippet, text: snippet.code + preludeText(snippet) });
  }
  const host = ts.createCompilerHost(options, true);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => files.has(f) || fileExists.call(host, f);
  host.readFile = (f) => files.get(f)?.text ?? readFile.call(host, f);
  host.getSourceFile = (f, languageVersion, onError, shouldCreate) => {
    const file = files.get(f);
    return file
      ? ts.createSourceFile(f, file.text, languageVersion, true)
      : getSourceFile.call(host, f, languageVersion, onError, shouldCreate);
  };
  const program = ts.createProgram({ rootNames: [...files.keys()], options, host });

  const errors: SnippetError[] = [];
  for (const d of [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()]) failWith(d);
  for (const [name, { snippet }] of files) {
    const source = program.getSourceFile(name);
    if (!source)
      throw new Error(`${snippet.readme}:${snippet.line}: the snippet did not make it into the program`);
    errors.push(...documentedShapeErrors(program.getTypeChecker(), source, snippet));
    const codeLines = snippet.code.split('\n').length;
    for (const d of ts.getPreEmitDiagnostics(program, source)) {
      if (d.file && d.file !== source) continue; // reported against another file: that file's own report
      const pos = d.file && d.start !== undefined ? source.getLineAndCharacterOfPosition(d.start) : undefined;
      const offset = pos?.line ?? 0;
      errors.push({
        readme: snippet.readme,
        blockLine: snippet.line,
        // An error inside the prelude is reported at the block's last line.
        line: snippet.line + Math.min(offset, codeLines - 1),
        column: (pos?.character ?? 0) + 1,
        code: d.code,
        message: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
      });
    }
  }
  return errors;
}

/**
 * `const state = await locker.inspect('k'); // { key, held, token }`: a comment that spells out what a
 * call returns must name only members of its type. Reported as code 0 (not a compiler error).
 */
function documentedShapeErrors(
  checker: ts.TypeChecker,
  source: ts.SourceFile,
  snippet: Snippet,
): SnippetError[] {
  const errors: SnippetError[] = [];
  for (const statement of source.statements) {
    if (!ts.isVariableStatement(statement)) continue;
    const { line } = source.getLineAndCharacterOfPosition(statement.getEnd());
    const comment = /\/\/ \{ ([^}]*) \}/.exec(source.text.split('\n')[line] ?? '')?.[1];
    const decl = statement.declarationList.declarations[0];
    if (!comment || !decl) continue;
    const type = checker.getNonNullableType(checker.getTypeAtLocation(decl.name));
    for (const field of comment.split(',').map((f) => f.trim().replace(/\(\)$/, ''))) {
      if (type.getProperty(field)) continue;
      errors.push({
        readme: snippet.readme,
        blockLine: snippet.line,
        line: snippet.line + line,
        column: 1,
        code: 0,
        message: `the comment says the value has \`${field}\`, but its type \`${checker.typeToString(type)}\` has no such member`,
      });
    }
  }
  return errors;
}

function failWith(d: ts.Diagnostic): never {
  throw new Error(`TypeScript configuration error: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

/** The blocks to check from each README, with their preludes. */
export function readmeSnippets(root: string, preludes: Readonly<Record<string, Prelude>>): Snippet[] {
  return Object.entries(preludes).flatMap(([readme, prelude]) =>
    fencedBlocks(readme, readFileSync(join(root, readme), 'utf8'))
      .filter((b) => CODE_LANGS.has(b.lang))
      .map((b) => ({ ...b, prelude })),
  );
}

/**
 * Run a snippet's code for real: transpiled to a function body whose `import`s are served from
 * `modules` (the test imports them statically, so they are the very modules the tests use) and whose
 * prelude names come from `given`. Resolves with the snippet's own top-level declarations (its
 * `const`s, functions and exports), after the snippet's top-level code, awaits included, has run.
 */
export async function runSnippet(
  snippet: CodeBlock,
  modules: Readonly<Record<string, unknown>>,
  given: Readonly<Record<string, unknown>> = {},
): Promise<Record<string, unknown>> {
  const source = ts.createSourceFile('s.ts', snippet.code, ts.ScriptTarget.Latest, true);
  const own = [...topLevelNames(snippet.code)].filter((n) => !isImported(source, n));
  const { outputText } = ts.transpileModule(`${snippet.code}\n;__declared({ ${own.join(', ')} });\n`, {
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2022,
      esModuleInterop: true,
      verbatimModuleSyntax: false,
    },
    fileName: 'snippet.ts',
  });
  const require = (specifier: string) => {
    if (!(specifier in modules))
      throw new Error(`${snippet.readme}:${snippet.line}: no module given for '${specifier}'`);
    return modules[specifier];
  };
  const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (
    ...args: string[]
  ) => (...args: unknown[]) => Promise<Record<string, unknown>>;
  const names = Object.keys(given);
  const body = new AsyncFunction('require', 'exports', '__declared', ...names, outputText);
  const exports: Record<string, unknown> = {};
  let declared: Record<string, unknown> = {};
  await body(require, exports, (d: Record<string, unknown>) => (declared = d), ...names.map((n) => given[n]));
  return { ...declared, ...exports };
}

const isImported = (source: ts.SourceFile, name: string) =>
  source.statements.some(
    (s) => ts.isImportDeclaration(s) && s.importClause && topLevelNames(s.getText(source)).has(name),
  );

/** The directory of this file (where the in-memory snippet files live). */
export const HERE = dirname(fileURLToPath(import.meta.url));
