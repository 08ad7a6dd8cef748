// Dashboard header: run label, method, status, step/total, speed, ETA, and how far a big run's first load is.
import { loadingLine } from '../../common/loading';
import type { DashboardHeader } from '../../common/protocol/dashboard';
import { fmtDuration, fmtRate } from '../lib/format';
import { fill, h } from '../ui/dom';

export function renderHeader(root: HTMLElement, hd: DashboardHeader): void {
  const total = hd.totalSteps;
  const progress = total ? h('progress', { attrs: { max: total, value: Math.min(hd.step, total), 'aria-label': 'steps done' } }) : null;
  fill(root,
    h('div', { class: 'row' },
      h('h1', { text: hd.label, title: hd.runDir }),
      hd.method ? h('span', { class: 'badge', text: hd.method, title: 'method' }) : null,
      h('span', { class: `badge status-${hd.status}`, text: hd.status, title: statusHint(hd.status) }),
    ),
    h('div', { class: 'row muted' },
      h('span', { text: `step ${hd.step}${total ? ` / ${total}` : ''}` }),
      progress,
      h('span', { text: fmtRate(hd.stepsPerSecond) }),
      hd.status === 'running' && hd.etaSeconds !== null ? h('span', { text: `ETA ${fmtDuration(hd.etaSeconds)}` }) : null,
      hd.device ? h('span', { text: hd.device }) : null,
      hd.errorCount > 0 ? h('span', { class: 'warn', text: `${hd.errorCount} unreadable line(s) in events.jsonl` }) : null,
    ),
    // Trainer text: set as text, never as HTML.
    hd.preparing ? h('p', { class: 'muted preparing', text: `preparing · ${hd.preparing}` }) : null,
    hd.loading ? h('p', { class: 'muted', attrs: { 'data-testid': 'run-loading', role: 'status' }, text: loadingLine(hd.loading) }) : null,
  );
}

function statusHint(status: DashboardHeader['status']): string {
  switch (status) {
    case 'stale': return 'started, never ended, and its process is gone';
    case 'pending': return 'no run_start event yet';
    default: return status;
  }
}
