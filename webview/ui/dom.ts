// The only way the panels build DOM. Text (and every string child) becomes a text node, attributes
// go through setAttribute with inline handlers and inline styles refused, and nothing here parses
// markup: trace text, problems and answers are untrusted model/data output and must stay text.
// (test/unit/panels/dom.test.ts checks this with a payload; a source scan there keeps innerHTML
// and friends out of webview/ entirely.)

export type Child = Node | string | number | null | undefined | false;

export interface Props {
  class?: string;
  text?: string;
  title?: string;
  attrs?: Record<string, string | number | boolean | undefined>;
  on?: Record<string, (ev: Event) => void>;
}

export function h(tag: string, props: Props = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  if (props.class) el.className = props.class;
  if (props.title !== undefined) el.title = props.title;
  for (const [name, value] of Object.entries(props.attrs ?? {})) {
    if (value === undefined || value === false) continue;
    // `on…` attributes would be script and `style` attributes are blocked by the CSP anyway.
    if (/^on/i.test(name) || name.toLowerCase() === 'style') throw new Error(`refusing attribute ${name}`);
    el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const [type, fn] of Object.entries(props.on ?? {})) el.addEventListener(type, fn);
  if (props.text !== undefined) el.textContent = props.text;
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** Replace an element's children. */
export function fill(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
}
