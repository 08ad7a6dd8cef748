// What every panel host does the same way: create the panel with tight options, load its page,
// and run the message channel (ready handshake, validation, request errors).
import * as vscode from 'vscode';
import { makeNonce, webviewHtml } from './html';

/** Bundles of the webview side, built by esbuild.config.mjs from webview/<name>.ts. */
export type WebviewEntry = 'dashboard' | 'rollouts' | 'rewardExplorer' | 'compare';

function webviewRoot(ctx: vscode.ExtensionContext): vscode.Uri {
  return vscode.Uri.joinPath(ctx.extensionUri, 'dist', 'webview');
}

/**
 * A panel whose page can load nothing but dist/webview. No retainContextWhenHidden: every panel
 * rebuilds from the host's full state on `ready`, which is cheaper than keeping hidden charts alive.
 */
export function createPanel(
  ctx: vscode.ExtensionContext, viewType: string, title: string, entry: WebviewEntry,
  column: vscode.ViewColumn = vscode.ViewColumn.Active,
): vscode.WebviewPanel {
  const panel = vscode.window.createWebviewPanel(viewType, title, { viewColumn: column, preserveFocus: false }, {
    enableScripts: true,
    enableFindWidget: true,
    retainContextWhenHidden: false,
    localResourceRoots: [webviewRoot(ctx)],
  });
  loadPage(ctx, panel, entry, title);
  return panel;
}

/** (Re)load the page, with a new nonce. Also used by a serializer reviving a panel. */
export function loadPage(ctx: vscode.ExtensionContext, panel: vscode.WebviewPanel, entry: WebviewEntry, title: string): void {
  const webview = panel.webview;
  webview.options = { enableScripts: true, localResourceRoots: [webviewRoot(ctx)] };
  const root = webviewRoot(ctx);
  webview.html = webviewHtml({
    title,
    cspSource: webview.cspSource,
    nonce: makeNonce(),
    scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(root, `${entry}.js`)).toString(),
    styleUri: webview.asWebviewUri(vscode.Uri.joinPath(root, `${entry}.css`)).toString(),
  });
}

/**
 * The host end of one panel's protocol. Incoming messages go through `parse` and are dropped when
 * malformed; `ready` is tracked so nothing is posted to a page that is not listening (a hidden
 * panel's page is torn down and says `ready` again when shown).
 */
export class Channel<Req extends { type: string }, Out> implements vscode.Disposable {
  private isReady = false;
  private readonly subs: vscode.Disposable[] = [];

  constructor(
    private readonly panel: vscode.WebviewPanel,
    parse: (msg: unknown) => Req | undefined,
    handle: (req: Req) => void | Promise<void>,
  ) {
    this.subs.push(
      panel.webview.onDidReceiveMessage(async (raw: unknown) => {
        const req = parse(raw);
        if (!req) return;
        if (req.type === 'ready') this.isReady = true;
        try {
          await handle(req);
        } catch (err) {
          const id = (req as { id?: unknown }).id;
          if (typeof id === 'number') this.send({ type: 'error', id, message: (err as Error).message } as Out);
        }
      }),
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.isReady = false;
      }),
    );
  }

  get ready(): boolean {
    return this.isReady;
  }

  /** Post when the page is listening; returns whether it was posted. */
  post(msg: Out): boolean {
    if (!this.isReady) return false;
    this.send(msg);
    return true;
  }

  /** Post an answer to a request (the page asked, so it is listening). */
  send(msg: Out): void {
    void this.panel.webview.postMessage(msg);
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
  }
}
