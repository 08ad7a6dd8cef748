// Who may do what, checked on the sources (issue 13): only extension/runs/ reads events.jsonl (the
// EVENTS_FILE constant, or a string naming the file as a path), and extension/traces/ does not import
// extension/panels/. Comments and prose that mention the file are fine; the TypeScript parser tells
// them apart from code.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const extensionDir = join(root, 'extension');

function sources(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.ts')).map((f) => join(dir, f)).sort();
}

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
}

function walk(node: ts.Node, visit: (n: ts.Node) => void): void {
  visit(node);
  node.forEachChild((c) => walk(c, visit));
}

/** A string that names the events file as a path or file name (not prose that mentions it). */
const EVENTS_PATH = /(^|[\\/])events\.jsonl$/;

/** `file:line: what` for every way a source could name the events file in code. */
function eventsFileUses(sf: ts.SourceFile): string[] {
  const out: string[] = [];
  const at = (n: ts.Node, what: string) => out.push(`${relative(root, sf.fileName)}:${sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1}: ${what}`);
  walk(sf, (n) => {
    if (ts.isIdentifier(n) && n.text === 'EVENTS_FILE') at(n, 'EVENTS_FILE');
    else if ((ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) && EVENTS_PATH.test(n.text)) at(n, JSON.stringify(n.text));
    else if (ts.isTemplateExpression(n) && [n.head.text, ...n.templateSpans.map((x) => x.literal.text)].some((t) => /events\.jsonl$/.test(t))) {
      at(n, 'a template naming events.jsonl');
    }
  });
  return out;
}

/** Every module `file` imports or re-exports, statically or dynamically. */
function importsOf(file: string): string[] {
  const specs: string[] = [];
  walk(parse(file), (n) => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      specs.push(n.moduleSpecifier.text);
    } else if (ts.isCallExpression(n) && (n.expression.kind === ts.SyntaxKind.ImportKeyword ||
      (ts.isIdentifier(n.expression) && n.expression.text === 'require')) && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) {
      specs.push(n.arguments[0].text);
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) {
      specs.push(n.argument.literal.text);
    }
  });
  return specs;
}

const inside = (file: string, dir: string) => file.startsWith(dir + sep);

test('only extension/runs/ names events.jsonl in code', () => {
  const runsDir = join(extensionDir, 'runs');
  const all = sources(extensionDir);
  assert.ok(all.some((f) => inside(f, runsDir)) && all.length > 30, `found the extension sources (${all.length})`);
  const offenders = all.filter((f) => !inside(f, runsDir)).flatMap((f) => eventsFileUses(parse(f)));
  assert.deepEqual(offenders, [], 'read runs through extension/runs/ (RunIndex, readRunMarks, loadRunModel, RunTailer)');
  // The check does see what it looks for.
  assert.ok(eventsFileUses(parse(join(runsDir, 'runFile.ts'))).length > 0, 'runs/runFile.ts defines EVENTS_FILE');
});

test('the check tells code from comments and prose', () => {
  const probe = (text: string) => eventsFileUses(ts.createSourceFile(join(root, 'probe.ts'), text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS))
    .map((u) => u.replace(/^probe\.ts:\d+: /, ''));
  assert.deepEqual(probe("// reads events.jsonl\n/* events.jsonl */\nconst m = 'its events.jsonl was replaced';"), []);
  assert.deepEqual(probe("join(d, 'events.jsonl'); const p = `${d}/events.jsonl`; f(EVENTS_FILE); g(\"runs/x/events.jsonl\");"),
    ['"events.jsonl"', 'a template naming events.jsonl', 'EVENTS_FILE', '"runs/x/events.jsonl"']);
});

test('extension/traces/ imports nothing from extension/panels/', () => {
  const tracesDir = join(extensionDir, 'traces');
  const panelsDir = join(extensionDir, 'panels');
  const files = sources(tracesDir);
  assert.ok(files.length > 0);
  const offenders = files.flatMap((f) => importsOf(f)
    .filter((spec) => spec.startsWith('.') && (() => {
      const target = resolve(dirname(f), spec);
      return target === panelsDir || inside(target, panelsDir);
    })())
    .map((spec) => `${relative(root, f)} imports ${spec}`));
  assert.deepEqual(offenders, [], 'move what traces and panels share into extension/runs/ (or another neutral place)');
});
