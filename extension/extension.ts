/**
 * HBPO Studio extension entry point: activation and command registration.
 * Features register here as they land; each lives in its own file under extension/.
 */
import * as vscode from 'vscode';
import { HBPO_DEFAULTS } from './budgetMath';

/** Text of the `hbpo.about` message: extension version and the paper's tier defaults. */
export function aboutMessage(version: string): string {
  const d = HBPO_DEFAULTS;
  return (
    `HBPO Studio ${version}. Default budget tiers: ${d.tiers.join(', ')} tokens; ` +
    `${d.rollouts} rollouts per query; L_max ${d.lMax} tokens; beta ${d.beta}; alpha 1/L_max.`
  );
}

export function activate(context: vscode.ExtensionContext): void {
  const version = String(context.extension.packageJSON.version ?? 'unknown');
  context.subscriptions.push(
    vscode.commands.registerCommand('hbpo.about', () => {
      void vscode.window.showInformationMessage(aboutMessage(version));
    }),
  );
}

export function deactivate(): void {
  // Nothing to clean up yet: everything registered above is disposed via context.subscriptions.
}
