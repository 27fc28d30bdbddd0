/** The webview's handle on VS Code: typed postMessage and persisted UI state. */
interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const api = acquireVsCodeApi();

export function post<T>(message: T): void {
  api.postMessage(message);
}

export function getState<S>(fallback: S): S {
  return { ...fallback, ...((api.getState() as Partial<S> | undefined) ?? {}) };
}

export function setState<S>(state: S): void {
  api.setState(state);
}

/** Creates an element with attributes and children (text is always set as text, never as HTML). */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K | string, attrs: Record<string, string | number | boolean | undefined> = {}, ...children: (Node | string | undefined)[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== undefined) el.append(c);
  return el;
}
