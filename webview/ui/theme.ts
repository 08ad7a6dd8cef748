// Colours for canvas charts, read from the --vscode-* CSS variables VS Code sets on the page.
// A canvas does not follow CSS, so charts re-read these and redraw when the theme changes (VS Code
// swaps the body's vscode-light/-dark/-high-contrast class and rewrites the variables on <html>).

export interface ChartTheme {
  foreground: string;
  muted: string;
  grid: string;
  background: string;
  warning: string;
  fontFamily: string;
  fontSize: number;
  palette: string[];
}

const PALETTE_VARS: [string, string][] = [
  ['--vscode-charts-blue', '#3794ff'],
  ['--vscode-charts-orange', '#d18616'],
  ['--vscode-charts-green', '#89d185'],
  ['--vscode-charts-purple', '#b180d7'],
  ['--vscode-charts-red', '#f14c4c'],
  ['--vscode-charts-yellow', '#cca700'],
];

export function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

export function readTheme(): ChartTheme {
  const base = PALETTE_VARS.map(([name, fallback]) => cssVar(name, fallback));
  return {
    foreground: cssVar('--vscode-foreground', '#cccccc'),
    muted: cssVar('--vscode-descriptionForeground', '#9d9d9d'),
    grid: cssVar('--vscode-charts-lines', 'rgba(128, 128, 128, 0.35)'),
    background: cssVar('--vscode-editor-background', '#1e1e1e'),
    warning: cssVar('--vscode-editorWarning-foreground', '#cca700'),
    fontFamily: cssVar('--vscode-font-family', 'sans-serif'),
    fontSize: Number.parseFloat(cssVar('--vscode-font-size', '13px')) || 13,
    palette: base,
  };
}

/** Colour of series `i`: the six chart colours, then the same again (tiers past six are rare). */
export function colorAt(theme: ChartTheme, i: number): string {
  return theme.palette[i % theme.palette.length];
}

/** Call `fn` whenever VS Code changes the theme. */
export function onThemeChange(fn: () => void): void {
  const observer = new MutationObserver(() => fn());
  observer.observe(document.body, { attributes: true, attributeFilter: ['class', 'data-vscode-theme-kind'] });
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ['style'] });
}
