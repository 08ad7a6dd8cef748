// Map a config problem (`field.path: message`, as `python -m hbpo validate --json` reports it) to a
// place in the YAML (or pretty-printed JSON) file, for an editor diagnostic. No YAML parser: an
// indentation-aware search for the key path, good for the block style configs are written in, with
// single-line flow collections (`tiers: [32, 64]`, `run: {seed: 7}`) handled too. Where a key is not
// in the file (a default, or an override), the nearest ancestor that is (or the first line) is used.

/** 0-based line and columns; `exact` is false when only an ancestor (or nothing) was found. */
export interface FieldLocation {
  line: number;
  column: number;
  endColumn: number;
  exact: boolean;
}

export interface ProblemLocation extends FieldLocation {
  problem: string;
  /** The field path the problem names (`train.steps`, `tiers`, `eval.modes[0]`), or '' if none. */
  field: string;
  message: string;
}

type Segment = string | number;

/** `train.steps: must be ...` -> field `train.steps`, message `must be ...`. */
export function splitProblem(problem: string): { field: string; message: string } {
  const colon = problem.indexOf(': ');
  if (colon > 0) {
    // `ppo.clip_low / ppo.clip_high: ...` names two fields: the first one is where to point.
    const field = problem.slice(0, colon).split(' / ')[0].trim();
    if (parsePath(field)) return { field, message: problem.slice(colon + 2) };
  }
  return { field: '', message: problem };
}

/** `eval.modes[0]` -> ['eval', 'modes', 0]; undefined if it is not a field path. */
export function parsePath(field: string): Segment[] | undefined {
  if (!/^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*|\[\d+\])*$/.test(field)) return undefined;
  const segments: Segment[] = [];
  for (const m of field.matchAll(/([A-Za-z_][\w-]*)|\[(\d+)\]/g)) {
    segments.push(m[1] !== undefined ? m[1] : Number(m[2]));
  }
  return segments;
}

export function locateProblems(text: string, problems: readonly string[]): ProblemLocation[] {
  return problems.map((problem) => {
    const { field, message } = splitProblem(problem);
    return { problem, field, message, ...locateProblem(text, field, message) };
  });
}

function locateProblem(text: string, field: string, message: string): FieldLocation {
  if (field === 'config') {
    // A YAML syntax error: PyYAML's message ends with the problem's mark, `line N, column M` (1-based).
    const marks = [...message.matchAll(/line (\d+), column (\d+)/g)];
    const last = marks[marks.length - 1];
    if (last) {
      const line = Number(last[1]) - 1;
      const column = Number(last[2]) - 1;
      return { line, column, endColumn: column + 1, exact: true };
    }
  }
  return locateField(text, field);
}

interface Line {
  text: string;
  indent: number;
  /** Column where the content starts, after the indentation and any `- ` sequence markers. */
  content: number;
  meaningful: boolean;
}

/** A region to search: block lines [from, to), and optionally a flow value on one line from `col`. */
interface Scope {
  from: number;
  to: number;
  inline?: { line: number; col: number };
}

interface Found {
  loc: FieldLocation;
  scope: Scope;
}

export function locateField(text: string, field: string): FieldLocation {
  const lines = splitLines(text);
  const firstLine = lines.findIndex((l) => l.meaningful);
  const fallback: FieldLocation = {
    line: Math.max(firstLine, 0), column: 0, endColumn: lines[Math.max(firstLine, 0)]?.text.length ?? 0, exact: false,
  };
  const path = parsePath(field);
  if (!path) return fallback;
  let scope: Scope = { from: 0, to: lines.length };
  let best = fallback;
  for (const segment of path) {
    const found = typeof segment === 'number' ? findIndex(lines, scope, segment) : findKey(lines, scope, segment);
    if (!found) return { ...best, exact: false };
    best = found.loc;
    scope = found.scope;
  }
  return best;
}

function splitLines(text: string): Line[] {
  return text.split(/\r?\n/).map((raw) => {
    const indent = raw.length - raw.trimStart().length;
    const trimmed = raw.trim();
    const meaningful = trimmed !== '' && !trimmed.startsWith('#') && trimmed !== '---' && trimmed !== '...'
      && !trimmed.startsWith('%');
    let content = indent;
    for (;;) {
      const m = /^-(?:\s+|$)/.exec(raw.slice(content));
      if (!m || m[0].length === 0) break;
      content += m[0].length;
      if (content >= raw.length) break;
    }
    return { text: raw, indent, content, meaningful };
  });
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function keyPattern(key: string): string {
  const k = escapeRegExp(key);
  return `(?:"${k}"|'${k}'|${k})`;
}

/** The block lines that belong to a key (or item) at `line` whose content starts at `col`. */
function childBlock(lines: Line[], line: number, col: number, end: number): Scope {
  let j = line + 1;
  const next = lines.slice(j, end).find((l) => l.meaningful);
  // A block sequence may sit at the same indentation as its key (`tiers:\n- 32`).
  const sameIndentSeq = next !== undefined && next.indent === col && /^-(\s|$)/.test(next.text.slice(col));
  for (; j < end; j++) {
    const l = lines[j];
    if (!l.meaningful) continue;
    if (l.indent > col) continue;
    if (sameIndentSeq && l.indent === col && /^-(\s|$)/.test(l.text.slice(col))) continue;
    break;
  }
  // Trailing blank/comment lines are harmless in the range.
  return { from: line + 1, to: j };
}

/** Where the value after `key:` on a line starts, if anything but a comment follows the colon. */
function inlineValue(text: string, afterColon: number): number | undefined {
  const rest = text.slice(afterColon);
  const start = rest.length - rest.trimStart().length;
  if (rest.trim() === '' || rest.trimStart().startsWith('#')) return undefined;
  return afterColon + start;
}

function findKey(lines: Line[], scope: Scope, key: string): Found | undefined {
  if (scope.inline) {
    const { line, col } = scope.inline;
    const text = lines[line].text;
    const re = new RegExp(`(^|[{,\\s])${keyPattern(key)}\\s*:`, 'g');
    re.lastIndex = Math.max(0, col - 1); // the separator before a key may be the character before `col`
    const m = re.exec(text);
    if (m) {
      const column = m.index + m[1].length;
      const token = /^("[^"]*"|'[^']*'|[^\s:]+)/.exec(text.slice(column))?.[0] ?? key;
      const afterColon = m.index + m[0].length;
      return {
        loc: { line, column, endColumn: column + token.length, exact: true },
        scope: { from: scope.from, to: scope.from, inline: { line, col: afterColon } },
      };
    }
  }
  // Lines of only brackets (a JSON file's opening `{`) hold no keys.
  const first = lines.slice(scope.from, scope.to).find((l) => l.meaningful && !/^[[\]{},\s]+$/.test(l.text));
  if (!first) return undefined;
  const col = first.content;
  const re = new RegExp(`^${keyPattern(key)}\\s*:(?=\\s|$)`);
  for (let i = scope.from; i < scope.to; i++) {
    const l = lines[i];
    if (!l.meaningful || l.content !== col) continue;
    const m = re.exec(l.text.slice(col));
    if (!m) continue;
    const token = /^("[^"]*"|'[^']*'|[^\s:]+)/.exec(l.text.slice(col))?.[0] ?? key;
    const value = inlineValue(l.text, col + m[0].length);
    const block = childBlock(lines, i, col, scope.to);
    return {
      loc: { line: i, column: col, endColumn: col + token.length, exact: true },
      scope: value === undefined ? block : { ...block, inline: { line: i, col: value } },
    };
  }
  return undefined;
}

function findIndex(lines: Line[], scope: Scope, index: number): Found | undefined {
  if (scope.inline) {
    const { line, col } = scope.inline;
    const item = flowItem(lines[line].text, col, index);
    if (item) {
      return {
        loc: { line, column: item.start, endColumn: item.end, exact: true },
        scope: { from: scope.from, to: scope.from, inline: { line, col: item.start } },
      };
    }
  }
  const first = lines.slice(scope.from, scope.to).find((l) => l.meaningful);
  if (!first || !/^-(\s|$)/.test(first.text.slice(first.indent))) return undefined;
  const col = first.indent;
  let seen = 0;
  for (let i = scope.from; i < scope.to; i++) {
    const l = lines[i];
    if (!l.meaningful || l.indent !== col || !/^-(\s|$)/.test(l.text.slice(col))) continue;
    if (seen++ < index) continue;
    const rest = childBlock(lines, i, col, scope.to);
    return {
      loc: { line: i, column: col, endColumn: l.text.trimEnd().length, exact: true },
      // The item's own line comes first: a `- key: value` item's first key lives there.
      scope: { from: i, to: rest.to, inline: l.content < l.text.length ? { line: i, col: l.content } : undefined },
    };
  }
  return undefined;
}

/** The `index`-th element of a one-line flow sequence starting at or after `col`. */
function flowItem(text: string, col: number, index: number): { start: number; end: number } | undefined {
  const open = text.indexOf('[', col);
  if (open === -1) return undefined;
  let depth = 0;
  let quote = '';
  let item = 0;
  let start = open + 1;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = '';
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === '[' || c === '{') depth++;
    else if ((c === ']' || c === '}') || (c === ',' && depth === 1)) {
      if (c !== ',') depth--;
      if (depth === 0 || c === ',') {
        if (item === index) {
          const raw = text.slice(start, i);
          const lead = raw.length - raw.trimStart().length;
          const s = start + lead;
          const e = start + raw.trimEnd().length;
          return e > s ? { start: s, end: e } : undefined;
        }
        item++;
        start = i + 1;
        if (depth === 0) return undefined;
      }
    }
  }
  return undefined;
}
