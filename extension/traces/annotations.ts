// Annotations on trace documents (the hbpo-trace: scheme): a marker where the trace crosses each
// tier's budget, the text beyond its own budget shaded, reflection phrases highlighted, a header
// CodeLens with the rollout's figures and one with its reasoning markers, and a hover with the
// tokens and reward at any point. The figures come from annotate.ts (pure); this file only places
// them. Decoration text and lens titles are our own strings and numbers, never trace text; hovers
// are plain text (appendText, untrusted, no HTML).
import * as vscode from 'vscode';
import { annotate, cleanPatterns, hoverLines, lineTable, offsetOf, positionOf, type TraceMarkup, type TraceSpec } from './annotate';
import type { TraceContentSink } from './traceProvider';
import type { TraceLayout } from './traceText';
import { TRACE_SCHEME } from './traceUri';

/** The setting (under `hbpo.`) with the reflection phrases to mark. */
export const PATTERNS_SETTING = 'traces.reasoningPatterns';

const TIER_MARK: vscode.ThemableDecorationAttachmentRenderOptions = {
  color: new vscode.ThemeColor('editorInfo.foreground'), margin: '0 1px', fontStyle: 'normal', fontWeight: 'bold',
};
const OWN_TIER_MARK: vscode.ThemableDecorationAttachmentRenderOptions = {
  ...TIER_MARK, color: new vscode.ThemeColor('editorWarning.foreground'),
};

interface DocState {
  layout: TraceLayout;
  spec: TraceSpec;
  table: { start: number; end: number }[];
  markup: TraceMarkup;
}

export class TraceAnnotations implements TraceContentSink, vscode.CodeLensProvider, vscode.HoverProvider, vscode.Disposable {
  private readonly docs = new Map<string, DocState>();
  private readonly lensesChanged = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.lensesChanged.event;
  private patterns: string[] = readPatterns();

  // The marker text is per decoration (renderOptions), so each carries its style too: an instance's
  // `before` replaces the type's.
  private readonly tierMark = vscode.window.createTextEditorDecorationType({
    before: TIER_MARK,
    overviewRulerColor: new vscode.ThemeColor('editorInfo.foreground'),
    overviewRulerLane: vscode.OverviewRulerLane.Left,
  });
  private readonly ownTierMark = vscode.window.createTextEditorDecorationType({
    before: OWN_TIER_MARK,
    overviewRulerColor: new vscode.ThemeColor('editorWarning.foreground'),
    overviewRulerLane: vscode.OverviewRulerLane.Left,
  });
  private readonly overBudget = vscode.window.createTextEditorDecorationType({
    backgroundColor: new vscode.ThemeColor('diffEditor.removedTextBackground'),
    rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
  });
  private readonly pattern = vscode.window.createTextEditorDecorationType({
    backgroundColor: new vscode.ThemeColor('editor.wordHighlightStrongBackground'),
    border: '1px solid',
    borderColor: new vscode.ThemeColor('editor.wordHighlightStrongBorder'),
    overviewRulerColor: new vscode.ThemeColor('editorOverviewRuler.wordHighlightStrongForeground'),
    overviewRulerLane: vscode.OverviewRulerLane.Right,
  });

  /** The providers and listeners, to push on the extension's subscriptions. */
  register(): vscode.Disposable[] {
    const selector: vscode.DocumentSelector = { scheme: TRACE_SCHEME };
    return [
      this,
      vscode.languages.registerCodeLensProvider(selector, this),
      vscode.languages.registerHoverProvider(selector, this),
      vscode.window.onDidChangeVisibleTextEditors((editors) => editors.forEach((e) => this.decorate(e))),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.document.uri.scheme === TRACE_SCHEME) this.decorateDocument(e.document);
      }),
      vscode.workspace.onDidCloseTextDocument((doc) => {
        if (doc.uri.scheme === TRACE_SCHEME) this.docs.delete(doc.uri.toString());
      }),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (!e.affectsConfiguration(`hbpo.${PATTERNS_SETTING}`)) return;
        this.patterns = readPatterns();
        for (const s of this.docs.values()) s.markup = annotate(s.spec, this.patterns);
        this.lensesChanged.fire();
        vscode.window.visibleTextEditors.forEach((e) => this.decorate(e));
      }),
    ];
  }

  /** From the provider: the document it just produced for `uri` (no spec: nothing to annotate). */
  set(uri: vscode.Uri, layout: TraceLayout, spec: TraceSpec | undefined): void {
    const key = uri.toString();
    if (spec) {
      this.docs.set(key, { layout, spec, table: lineTable(layout.content), markup: annotate(spec, this.patterns) });
    } else {
      this.docs.delete(key);
    }
    this.lensesChanged.fire();
    // The document takes the new text after this returns; onDidChangeTextDocument decorates it then.
    for (const e of vscode.window.visibleTextEditors) if (e.document.uri.toString() === key) this.decorate(e);
  }

  /** The state of a document, if it shows the text the state was computed for. */
  private stateOf(doc: vscode.TextDocument): DocState | undefined {
    const s = this.docs.get(doc.uri.toString());
    if (!s || doc.lineCount !== s.table.length) return undefined;
    const last = s.table.length - 1;
    const probe = Math.max(0, last - 1);
    const line = s.table[probe] as { start: number; end: number };
    return doc.lineAt(probe).text.length === line.end - line.start ? s : undefined;
  }

  private range(s: DocState, start: number, end = start): vscode.Range {
    const a = positionOf(s.table, s.layout.bodyOffset + start);
    const b = positionOf(s.table, s.layout.bodyOffset + end);
    return new vscode.Range(a.line, a.character, b.line, b.character);
  }

  private decorateDocument(doc: vscode.TextDocument): void {
    for (const e of vscode.window.visibleTextEditors) if (e.document === doc) this.decorate(e);
  }

  private decorate(editor: vscode.TextEditor): void {
    if (editor.document.uri.scheme !== TRACE_SCHEME) return;
    const s = this.stateOf(editor.document);
    const tiers: vscode.DecorationOptions[] = [];
    const own: vscode.DecorationOptions[] = [];
    const over: vscode.Range[] = [];
    const patterns: vscode.Range[] = [];
    if (s) {
      for (const c of s.markup.crossings) {
        const contentText = c.exact ? `⟨${c.tier}⟩` : `⟨~${c.tier}⟩`;
        const isOwn = c.tier === s.spec.tier;
        (isOwn ? own : tiers).push({ range: this.range(s, c.char), renderOptions: { before: { ...(isOwn ? OWN_TIER_MARK : TIER_MARK), contentText } } });
      }
      if (s.markup.overBudget) over.push(this.range(s, s.markup.overBudget.start, s.markup.overBudget.end));
      for (const m of s.markup.matches) patterns.push(this.range(s, m.start, m.end));
    }
    editor.setDecorations(this.tierMark, tiers);
    editor.setDecorations(this.ownTierMark, own);
    editor.setDecorations(this.overBudget, over);
    editor.setDecorations(this.pattern, patterns);
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    const s = this.stateOf(doc);
    if (!s) return [];
    const bodyLine = positionOf(s.table, s.layout.bodyOffset).line;
    return s.markup.lenses.map((title, i) => {
      const line = i === 0 ? 0 : bodyLine;
      // A title-only lens: no command id, nothing to click.
      return new vscode.CodeLens(new vscode.Range(line, 0, line, 0), { title, command: '' });
    });
  }

  provideHover(doc: vscode.TextDocument, position: vscode.Position): vscode.Hover | undefined {
    const s = this.stateOf(doc);
    if (!s) return undefined;
    const offset = offsetOf(s.table, position.line, position.character) - s.layout.bodyOffset;
    if (offset < 0 || offset > s.spec.text.length) return undefined;
    const md = new vscode.MarkdownString();
    md.isTrusted = false;
    md.supportHtml = false;
    md.supportThemeIcons = false;
    for (const line of hoverLines(s.spec, offset, s.markup)) md.appendText(`${line}\n`);
    const marker = s.markup.matches.find((m) => m.start <= offset && offset <= m.end);
    return new vscode.Hover(md, marker ? this.range(s, marker.start, marker.end) : undefined);
  }

  dispose(): void {
    this.docs.clear();
    this.lensesChanged.dispose();
    for (const t of [this.tierMark, this.ownTierMark, this.overBudget, this.pattern]) t.dispose();
  }
}

function readPatterns(): string[] {
  return cleanPatterns(vscode.workspace.getConfiguration('hbpo').get<unknown>(PATTERNS_SETTING));
}
