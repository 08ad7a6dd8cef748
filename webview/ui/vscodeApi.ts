// The webview side of postMessage, typed per panel. acquireVsCodeApi may be called once per page.

interface VsCodeApi {
  postMessage(msg: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

export interface Host<Out, In> {
  post(msg: Out): void;
  /** Messages from the host; `type` is checked by the caller's switch. */
  onMessage(fn: (msg: In) => void): void;
  getState<S>(): S | undefined;
  setState<S>(state: S): void;
}

export function connect<Out, In extends { type: string }>(): Host<Out, In> {
  const api = acquireVsCodeApi();
  return {
    post: (msg) => api.postMessage(msg),
    onMessage: (fn) =>
      window.addEventListener('message', (ev: MessageEvent) => {
        const data: unknown = ev.data;
        if (typeof data === 'object' && data !== null && typeof (data as { type?: unknown }).type === 'string') fn(data as In);
      }),
    getState: <S>() => (api.getState() ?? undefined) as S | undefined,
    setState: (state) => api.setState(state),
  };
}
