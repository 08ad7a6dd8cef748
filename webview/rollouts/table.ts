// The rollout-group table: one header row per tier (its summary), then its rollouts. Built with
// ui/dom.ts only, so the model's answer (untrusted) lands in a text node.
import { fmt, fmtInt } from '../lib/format';
import type { SortKey, SortSpec, TierGroup } from '../lib/rolloutTable';
import type { RolloutRow } from '../../common/protocol/rollouts';
import { h } from '../ui/dom';

export interface Column {
  key: SortKey;
  title: string;
  hint: string;
  text?: boolean;
  cell: (r: RolloutRow) => { text: string; class?: string };
}

const yesNo = (b: boolean, good: boolean) => ({ text: b ? 'yes' : 'no', class: b === good ? 'good' : 'bad' });

export const COLUMNS: Column[] = [
  { key: 'sample', title: 'sample', hint: 'rollout index within its tier (every tier has a sample 0)', cell: (r) => ({ text: String(r.sample) }) },
  { key: 'nGen', title: 'tokens', hint: 'n_gen: tokens generated after the prompt (EOS included)', cell: (r) => ({ text: fmtInt(r.nGen) }) },
  {
    key: 'budget', title: 'budget', hint: 'n_gen against the tier budget',
    cell: (r) => ({ text: r.budget === 'none' ? '—' : r.budget, class: r.budget === 'over' ? 'warn' : undefined }),
  },
  { key: 'truncated', title: 'truncated', hint: 'hit L_max', cell: (r) => yesNo(r.truncated, false) },
  { key: 'correct', title: 'correct', hint: 'grader verdict', cell: (r) => yesNo(r.correct, true) },
  { key: 'answer', title: 'answer', hint: 'the answer the grader read (model output)', text: true, cell: (r) => ({ text: r.answer ?? '—' }) },
  { key: 'reward', title: 'R', hint: 'reward used for training', cell: (r) => ({ text: fmt(r.reward) }) },
  { key: 'case', title: 'case', hint: 'within / over budget, wrong, truncated, natural', text: true, cell: (r) => ({ text: r.case }) },
  { key: 'f1', title: 'f1', hint: 'beta·cos(πn/2L) − alpha·|n − b|', cell: (r) => ({ text: fmt(r.f1) }) },
  { key: 'f2', title: 'f2', hint: 'beta·cos(πb/2L): the tier ceiling', cell: (r) => ({ text: fmt(r.f2) }) },
  { key: 'cos', title: 'cos', hint: 'beta·cos(πn/2L)', cell: (r) => ({ text: fmt(r.cos) }) },
  { key: 'penalty', title: 'penalty', hint: 'alpha·|n − b|', cell: (r) => ({ text: fmt(r.penalty, 4) }) },
  { key: 'intra', title: 'A intra', hint: 'mean reward of the tier − f2(tier)', cell: (r) => ({ text: fmt(r.intra) }) },
  { key: 'inter', title: 'A inter', hint: '(R − mean R) / (std R + eps) over the query', cell: (r) => ({ text: fmt(r.inter) }) },
  { key: 'total', title: 'A', hint: 'A intra + A inter: every token of the response gets it', cell: (r) => ({ text: fmt(r.total) }) },
];

export function tierHeading(g: TierGroup): string {
  const s = g.summary;
  const name = g.tier === null ? 'natural (no budget)' : `tier ${g.tier} tokens`;
  const shown = g.rows.length < s.n ? ` · showing ${g.rows.length}` : '';
  return `${name} · ${s.n} rollouts, ${s.correct} correct · mean ${fmt(s.meanTokens, 0)} tokens · ` +
    `mean R ${fmt(s.meanReward)} · A intra ${fmt(s.intra)}${shown}`;
}

export function renderRolloutTable(
  groups: readonly TierGroup[], sort: SortSpec, onSort: (key: SortKey) => void, onOpen: (row: RolloutRow) => void,
): HTMLTableElement {
  const head = h('tr', {}, ...COLUMNS.map((c) => {
    const active = sort.key === c.key;
    const arrow = active ? (sort.dir === 'asc' ? ' ▲' : ' ▼') : '';
    return h('th', {
      class: c.text ? 'text' : undefined,
      attrs: { 'aria-sort': active ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none', scope: 'col' },
    }, h('button', { class: 'sort', title: c.hint, on: { click: () => onSort(c.key) } }, c.title, arrow));
  }));
  const body = h('tbody');
  for (const g of groups) {
    body.append(h('tr', { class: 'group' }, h('td', { attrs: { colspan: COLUMNS.length }, text: tierHeading(g) })));
    for (const r of g.rows) {
      const open = () => onOpen(r);
      body.append(h('tr', {
        class: 'rollout',
        title: 'open the trace',
        attrs: { tabindex: 0, 'data-tier': r.tier ?? 'natural', 'data-sample': r.sample },
        on: { click: open, keydown: (e) => { if ((e as KeyboardEvent).key === 'Enter') open(); } },
      }, ...COLUMNS.map((c) => {
        const cell = c.cell(r);
        return h('td', { class: [c.text ? 'text' : '', cell.class ?? ''].join(' ').trim() || undefined, text: cell.text });
      })));
    }
  }
  return h('table', { class: 'data' }, h('thead', {}, head), body) as HTMLTableElement;
}
