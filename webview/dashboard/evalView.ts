// The eval table: per dataset, natural vs efficiency vs each budget: accuracy and mean tokens,
// overall and per difficulty, and how many tokens a mode spends relative to natural.
import { evalTables, type EvalDatasetTable, type EvalRow } from '../lib/evalTable';
import { fmtInt, fmtPct } from '../lib/format';
import { fill, h } from '../ui/dom';

export function tokensVsNatural(row: EvalRow, table: EvalDatasetTable): string {
  const natural = table.rows.find((r) => r.mode === 'natural')?.meanTokens;
  if (row.mode === 'natural' || natural === undefined || natural === null || natural <= 0 || row.meanTokens === null) return '';
  const change = row.meanTokens / natural - 1;
  return `${change >= 0 ? '+' : '−'}${Math.abs(100 * change).toFixed(0)} %`;
}

export function renderEvals(root: HTMLElement, results: Parameters<typeof evalTables>[0]): void {
  const tables = evalTables(results);
  if (tables.length === 0) {
    fill(root, h('p', { class: 'muted', text: 'No evaluation yet.' }));
    return;
  }
  fill(root, ...tables.map((t) => {
    const diff = t.difficulties;
    const rowspan = diff.length > 0 ? 2 : undefined; // a second header row only for the difficulty columns
    const head1 = h('tr', {},
      h('th', { class: 'text', attrs: { rowspan }, text: 'mode' }),
      h('th', { attrs: { rowspan }, text: 'n' }),
      h('th', { attrs: { rowspan }, text: 'accuracy' }),
      h('th', { attrs: { rowspan }, text: 'mean tokens' }),
      h('th', { attrs: { rowspan }, text: 'tokens vs natural' }),
      h('th', { attrs: { rowspan }, text: 'step' }),
      ...diff.map((d) => h('th', { class: 'span', attrs: { colspan: 2 }, text: `difficulty ${d}` })));
    const head2 = h('tr', {}, ...diff.flatMap(() => [h('th', { text: 'acc.' }), h('th', { text: 'tokens' })]));
    const body = t.rows.map((r) => h('tr', {},
      h('td', { class: 'text', text: r.label }),
      h('td', { text: String(r.n) }),
      h('td', { text: fmtPct(r.accuracy) }),
      h('td', { text: fmtInt(r.meanTokens) }),
      h('td', { text: tokensVsNatural(r, t) }),
      h('td', { class: 'muted', text: String(r.step) }),
      ...diff.flatMap((d) => {
        const c = Object.hasOwn(r.byDifficulty, d) ? r.byDifficulty[d] : undefined;
        return [h('td', { text: c ? fmtPct(c.accuracy) : '', title: c ? `n = ${c.n}` : undefined }), h('td', { text: c ? fmtInt(c.meanTokens) : '' })];
      })));
    return h('div', { class: 'card' },
      h('h3', { text: t.dataset }),
      h('table', { class: 'data' }, h('thead', {}, head1, diff.length > 0 ? head2 : null), h('tbody', {}, ...body)));
  }));
}
