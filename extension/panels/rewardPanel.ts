// Host of the reward-curve explorer: a single panel. The page computes the curves itself; the host
// seeds the parameters (and re-seeds when the explorer is opened again with others).
import * as vscode from 'vscode';
import { parseRewardExplorerRequest, type RewardExplorerRequest, type RewardExplorerToWebview } from '../../common/protocol/rewardExplorer';
import type { RewardExplorerParams } from '../../common/protocol/rewardExplorer';
import { explorerParams, revivedParams, type ParamsInput } from './rewardParams';
import { Channel, createPanel, loadPage } from './webviewHost';

export const REWARD_VIEW_TYPE = 'hbpo.rewardExplorer';
const TITLE = 'HBPO reward curves';

export class RewardPanel {
  static readonly viewType = REWARD_VIEW_TYPE;
  private static current: RewardPanel | undefined;

  static show(ctx: vscode.ExtensionContext, input: ParamsInput | undefined, source: string): void {
    const { params, problems } = explorerParams(input);
    if (problems.length > 0) {
      void vscode.window.showWarningMessage(`Reward explorer: using the paper's defaults (${problems.join(' ')})`);
      source = 'paper defaults';
    }
    if (RewardPanel.current) {
      RewardPanel.current.panel.reveal();
      RewardPanel.current.seed(params, source);
    } else {
      RewardPanel.current = new RewardPanel(createPanel(ctx, REWARD_VIEW_TYPE, TITLE, 'rewardExplorer'), params, source);
    }
  }

  /** A panel VS Code restored after a reload: re-seed what the page saved, so its edited form stays. */
  static revive(ctx: vscode.ExtensionContext, panel: vscode.WebviewPanel, state: unknown): void {
    loadPage(ctx, panel, 'rewardExplorer', TITLE);
    RewardPanel.current?.panel.dispose();
    const saved = revivedParams(state) ?? { params: explorerParams().params, source: 'paper defaults' };
    RewardPanel.current = new RewardPanel(panel, saved.params, saved.source);
  }

  private readonly channel: Channel<RewardExplorerRequest, RewardExplorerToWebview>;

  private constructor(private readonly panel: vscode.WebviewPanel, private params: RewardExplorerParams, private source: string) {
    this.channel = new Channel(panel, parseRewardExplorerRequest, () => this.send());
    panel.onDidDispose(() => {
      this.channel.dispose();
      if (RewardPanel.current === this) RewardPanel.current = undefined;
    });
  }

  private seed(params: RewardExplorerParams, source: string): void {
    this.params = params;
    this.source = source;
    this.send();
  }

  private send(): void {
    this.channel.post({ type: 'params', params: this.params, source: this.source });
  }
}
