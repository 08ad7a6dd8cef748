// Just enough of a DOM for ui/dom.ts and the table/header renderers, with traps: any attempt to
// parse markup (innerHTML, outerHTML, insertAdjacentHTML) throws, so a test that renders untrusted
// text fails if a renderer ever takes that path.

export class FakeNode {
  childNodes: FakeNode[] = [];
  parentNode: FakeNode | null = null;
  get textContent(): string {
    return this.childNodes.map((c) => c.textContent).join('');
  }
  set textContent(value: string) {
    this.replaceChildren();
    if (value !== '') this.appendChild(new FakeText(value));
  }
  appendChild<T extends FakeNode>(child: T): T {
    child.parentNode = this;
    this.childNodes.push(child);
    return child;
  }
  append(...nodes: (FakeNode | string)[]): void {
    for (const n of nodes) this.appendChild(typeof n === 'string' ? new FakeText(n) : n);
  }
  replaceChildren(...nodes: FakeNode[]): void {
    this.childNodes = [];
    this.append(...nodes);
  }
}

export class FakeText extends FakeNode {
  constructor(public data: string) {
    super();
  }
  override get textContent(): string {
    return this.data;
  }
}

const trap = () => {
  throw new Error('markup parsing used');
};

export class FakeElement extends FakeNode {
  attributes = new Map<string, string>();
  listeners = new Map<string, ((ev: unknown) => void)[]>();
  className = '';
  title = '';
  hidden = false;
  constructor(public tagName: string) {
    super();
  }
  setAttribute(name: string, value: string): void {
    this.attributes.set(name, value);
  }
  getAttribute(name: string): string | null {
    return this.attributes.get(name) ?? null;
  }
  addEventListener(type: string, fn: (ev: unknown) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), fn]);
  }
  dispatch(type: string, ev: unknown = {}): void {
    for (const fn of this.listeners.get(type) ?? []) fn(ev);
  }
  get innerHTML(): string {
    return trap();
  }
  set innerHTML(_v: string) {
    trap();
  }
  get outerHTML(): string {
    return trap();
  }
  set outerHTML(_v: string) {
    trap();
  }
  insertAdjacentHTML(): void {
    trap();
  }
  /** Every element below (and including) this one. */
  all(): FakeElement[] {
    const out: FakeElement[] = [this];
    for (const c of this.childNodes) if (c instanceof FakeElement) out.push(...c.all());
    return out;
  }
  /** Every text node below this one. */
  texts(): string[] {
    return this.childNodes.flatMap((c) => (c instanceof FakeElement ? c.texts() : c instanceof FakeText ? [c.data] : []));
  }
}

/** Install a fake `document` for the duration of a test; returns the elements it created. */
export function installFakeDocument(): { created: FakeElement[]; restore: () => void } {
  const created: FakeElement[] = [];
  const g = globalThis as { document?: unknown };
  const previous = g.document;
  g.document = {
    createElement: (tag: string) => {
      const el = new FakeElement(tag.toLowerCase());
      created.push(el);
      return el;
    },
    createTextNode: (data: string) => new FakeText(data),
  };
  return { created, restore: () => (g.document = previous) };
}
