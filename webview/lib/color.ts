// Theme colours come from --vscode-* CSS variables as #rgb, #rrggbb, #rrggbbaa or rgb()/rgba();
// bands and fills need the same colour with a lower alpha.

/** `color` at opacity `alpha` (0..1) as rgba(); the input unchanged when it is not a colour we can read. */
export function withAlpha(color: string, alpha: number): string {
  const c = color.trim();
  let r: number, g: number, b: number, a = 1;
  const hex = /^#([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/i.exec(c);
  if (hex) {
    let h = hex[1];
    if (h.length <= 4) h = [...h].map((d) => d + d).join('');
    r = parseInt(h.slice(0, 2), 16);
    g = parseInt(h.slice(2, 4), 16);
    b = parseInt(h.slice(4, 6), 16);
    if (h.length === 8) a = parseInt(h.slice(6, 8), 16) / 255;
  } else {
    const fn = /^rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)(?:[\s,/]+([\d.]+%?))?\s*\)$/i.exec(c);
    if (!fn) return c;
    [r, g, b] = [Number(fn[1]), Number(fn[2]), Number(fn[3])];
    if (fn[4] !== undefined) a = fn[4].endsWith('%') ? Number(fn[4].slice(0, -1)) / 100 : Number(fn[4]);
  }
  const out = Math.round(Math.max(0, Math.min(1, alpha * a)) * 1000) / 1000;
  return `rgba(${r}, ${g}, ${b}, ${out})`;
}
