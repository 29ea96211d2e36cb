/**
 * Every alternative of a finite regular expression (groups, `|`, `?`, anchors), for tests that check a
 * README lists exactly what an error classifier matches. A character class or `.` stays as written;
 * `\b` is dropped; any other escape `\c` becomes `escaped(c)`. A pattern with repetition (`*`, `+`,
 * `{n}`) has no finite list: it throws.
 *
 * @example
 * ```ts
 * regexAlternatives('^(Abort|Timeout)Error$'); // ['AbortError', 'TimeoutError']
 * ```
 */
export function regexAlternatives(source: string, escaped = (c: string) => `\\${c}`): string[] {
  let i = 0;
  const alternatives = (): string[] => {
    const out = sequence();
    while (source[i] === '|') {
      i++;
      out.push(...sequence());
    }
    return out;
  };
  const sequence = (): string[] => {
    let out = [''];
    while (i < source.length && source[i] !== '|' && source[i] !== ')') {
      const c = source[i++] as string;
      let atom: string[];
      if (c === '(') {
        atom = alternatives();
        i++; // the `)`
      } else if (c === '^' || c === '$') atom = [''];
      else if (c === '\\') {
        const next = source[i++] as string;
        atom = [next === 'b' ? '' : escaped(next)];
      } else if (c === '[') {
        const end = source.indexOf(']', i);
        atom = [source.slice(i - 1, end + 1)];
        i = end + 1;
      } else if ('*+{}'.includes(c)) throw new Error(`cannot list what /${source}/ matches (${c})`);
      else atom = [c];
      if (source[i] === '?') {
        i++;
        atom = ['', ...atom];
      }
      out = out.flatMap((head) => atom.map((tail) => head + tail));
    }
    return out;
  };
  return alternatives();
}
