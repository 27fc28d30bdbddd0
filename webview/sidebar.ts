/**
 * The sidebar: checkpoint, test data, precision, LayerNorm mode with the "Expose LayerNorm
 * entries" toggle, execution provider, heads and Run. It renders the SidebarState the host sends
 * and reports each change; the host writes the settings and sends the new state back.
 */
import {
  provideVSCodeDesignSystem, vsCodeButton, vsCodeCheckbox, vsCodeDivider, vsCodeDropdown, vsCodeOption, vsCodeProgressRing, vsCodeTextField,
} from '@vscode/webview-ui-toolkit';
import { EP_CHOICES, LAYERNORM_MODES, PRECISIONS } from '../extension/core/report';
import { fromWire, parseHostToSidebar, type SidebarOption, type SidebarState, type SidebarToHost } from '../extension/host/protocol';
import { h, post } from './vscode';

provideVSCodeDesignSystem().register(vsCodeButton(), vsCodeCheckbox(), vsCodeDivider(), vsCodeDropdown(), vsCodeOption(), vsCodeProgressRing(), vsCodeTextField());

const send = (m: SidebarToHost) => post(m);

const LN_HELP: Record<string, string> = {
  plain: 'as exported: overflows in FP16 when (x−mean)² passes 65504',
  expose: 'difference/mean/std become outputs (the seed\'s workaround)',
  fp32: 'LayerNorm computed in FP32',
  fused: 'one LayerNormalization op, accumulated in FP32',
  prescaled: 'input scaled by 2⁻³ so (x−mean)² stays in range',
};

type Field = HTMLElement & { value: string; disabled: boolean; checked: boolean };
let state: SidebarState | undefined;

function field(label: string, control: HTMLElement, ...extra: (HTMLElement | undefined)[]): HTMLElement {
  const input = control.matches('.row') ? control.firstElementChild! : control;
  input.setAttribute('aria-label', label);
  return h('div', { class: 'field' }, h('label', { for: input.id }, label), control, ...extra);
}

function dropdown(id: string, key: SidebarOption['key']): Field {
  const el = h('vscode-dropdown', { id, position: 'below' }) as Field;
  el.addEventListener('change', () => {
    if (!state) return;
    const current = key === 'checkpoint' ? state.checkpoint : key === 'testData' ? state.testDataPath : String(state[key as 'precision' | 'layerNorm' | 'ep']);
    if (el.value && el.value !== current) send({ type: 'set', option: { key, value: el.value } as SidebarOption });
  });
  return el;
}

/** Replaces a dropdown's options only when they changed (keeps an open list and focus intact). */
function setOptions(el: Field, options: { value: string; label: string; title?: string }[], value: string | undefined): void {
  const sig = JSON.stringify(options);
  if (el.dataset.options !== sig) {
    el.dataset.options = sig;
    el.replaceChildren(...options.map((o) => h('vscode-option', { value: o.value, title: o.title }, o.label)));
  }
  if (value !== undefined && el.value !== value) el.value = value;
  // What the host holds (the settings), as opposed to what the control shows while a change is on its way.
  el.dataset.value = value ?? '';
}

// -------------------------------------------------------------------------------------------
// Layout (built once; render() only updates it)

const checkpoint = dropdown('checkpoint', 'checkpoint');
const testData = dropdown('testData', 'testData');
const precision = dropdown('precision', 'precision');
const layerNorm = dropdown('layerNorm', 'layerNorm');
const ep = dropdown('ep', 'ep');
const expose = h('vscode-checkbox', { id: 'expose' }, 'Expose LayerNorm entries') as Field;
const heads = h('vscode-text-field', { id: 'heads', placeholder: 'detect from test data', size: 6 }) as Field;
const runButton = h('vscode-button', { id: 'run', appearance: 'primary' }, 'Run') as Field;
const cancelButton = h('vscode-button', { id: 'cancel', appearance: 'secondary' }, 'Cancel') as Field;
const browse = (kind: 'checkpoint' | 'testData') => {
  const b = h('vscode-button', { id: `browse-${kind}`, appearance: 'icon', 'aria-label': 'Browse…', title: 'Browse…' }, '…');
  b.addEventListener('click', () => send({ type: 'browse', kind }));
  return b;
};
const lnNote = h('div', { id: 'layerNorm-note', class: 'note' });
const exposeNote = h('div', { class: 'note' }, 'LayerNorm difference, mean and std tensors become graph outputs; overrides the mode above.');
const epNote = h('div', { id: 'providers', class: 'note' });
const status = h('div', { id: 'status', class: 'status', role: 'status' });
const last = h('div', { id: 'last', class: 'last' });

expose.addEventListener('change', () => {
  if (state && expose.checked !== state.exposeLayerNorm) send({ type: 'set', option: { key: 'exposeLayerNorm', value: expose.checked } });
});
heads.addEventListener('change', () => {
  if (!state) return;
  const v = heads.value.trim();
  const n = Number(v);
  if (v === '') send({ type: 'set', option: { key: 'heads', value: null } });
  else if (Number.isInteger(n) && n > 0) send({ type: 'set', option: { key: 'heads', value: n } });
  else heads.value = state.heads === null ? '' : String(state.heads);
});
runButton.addEventListener('click', () => !runButton.disabled && send({ type: 'run' }));
cancelButton.addEventListener('click', () => send({ type: 'cancel' }));

document.getElementById('root')!.append(
  h('form', { id: 'form', autocomplete: 'off' },
    field('Checkpoint', h('div', { class: 'row' }, checkpoint, browse('checkpoint'))),
    field('Test data', h('div', { class: 'row' }, testData, browse('testData'))),
    h('vscode-divider'),
    field('Precision', precision),
    field('LayerNorm mode', layerNorm, lnNote),
    h('div', { class: 'field' }, expose, exposeNote),
    field('Execution provider', ep, epNote),
    field('Heads', heads),
    h('div', { class: 'actions' }, runButton, cancelButton),
    status,
    last,
  ),
);
document.getElementById('form')!.addEventListener('submit', (e) => e.preventDefault());

const FIX_LABEL: Record<string, string> = { fp32: 'LayerNorm in FP32', fused: 'fused LayerNorm', prescaled: 'prescaled LayerNorm', expose: 'expose LayerNorm entries' };

/** One click per fix: the host sets the LayerNorm mode and runs again. The first is the primary one. */
function fixButtons(fixes: SidebarState['last'] extends infer L ? (L extends { fixes: infer F } ? F : never) : never, running: boolean): HTMLElement[] {
  if (!fixes.length) return [];
  const buttons = fixes.filter((m) => m !== 'expose').map((mode, i) => {
    const b = h('vscode-button', { id: `fix-${mode}`, class: 'fix', 'data-fix': mode, appearance: i === 0 ? 'primary' : 'secondary' }, `${i === 0 ? 'Fix: ' : ''}${FIX_LABEL[mode]}`) as Field;
    b.disabled = running;
    b.addEventListener('click', () => !b.disabled && send({ type: 'fix', mode }));
    return b;
  });
  return [h('div', { class: 'fixes', role: 'group', 'aria-label': 'Fix the overflow and run again' }, ...buttons)];
}

function render(s: SidebarState): void {
  state = s;
  const files = (list: SidebarState['checkpoints'], none: string) =>
    list.length ? list.map((f) => ({ value: f.path, label: f.label, title: f.path })) : [{ value: '', label: none }];
  setOptions(checkpoint, files(s.checkpoints, 'none found (*.pyth, *.pth, *.pt)'), s.checkpoint ?? '');
  setOptions(testData, files(s.testData, 'none found (*.p, *.pkl)'), s.testDataPath ?? '');
  setOptions(precision, PRECISIONS.map((p) => ({ value: p, label: p.toUpperCase() })), s.precision);
  setOptions(layerNorm, LAYERNORM_MODES.map((m) => ({ value: m, label: m, title: LN_HELP[m] })), s.layerNorm);
  const prov = new Map((s.providers ?? []).map((p) => [p.ep, p]));
  setOptions(ep, EP_CHOICES.map((e) => {
    const p = prov.get(e as never);
    return { value: e, label: e === 'auto' ? 'auto (best available)' : p && !p.available ? `${e} — not available here` : e, title: p?.reason };
  }), s.ep);

  expose.checked = s.exposeLayerNorm;
  expose.dataset.value = String(s.exposeLayerNorm);
  layerNorm.disabled = s.exposeLayerNorm || s.running;
  layerNorm.dataset.overridden = String(s.exposeLayerNorm);
  lnNote.textContent = s.exposeLayerNorm ? 'Overridden: "Expose LayerNorm entries" is on (mode expose).' : LN_HELP[s.layerNorm] ?? '';
  lnNote.classList.toggle('warn', s.exposeLayerNorm);

  epNote.textContent = s.providers === null
    ? 'Checking which providers load here…'
    : `Available here: ${s.providers.filter((p) => p.available).map((p) => p.ep).join(', ') || 'none'}`;
  epNote.title = (s.providers ?? []).filter((p) => !p.available).map((p) => `${p.ep}: ${p.reason}`).join('\n');
  epNote.dataset.available = (s.providers ?? []).filter((p) => p.available).map((p) => p.ep).join(',');

  if (document.activeElement !== heads) heads.value = s.heads === null ? '' : String(s.heads);
  for (const el of [checkpoint, testData, precision, ep, heads, expose]) el.disabled = s.running;
  runButton.disabled = s.running || !s.checkpoint || !s.testDataPath;
  cancelButton.hidden = !s.running;
  document.body.dataset.running = String(s.running);

  status.replaceChildren(...(s.running ? [h('vscode-progress-ring'), h('span', {}, s.stage ? `${s.stage}…` : 'starting…')] : []));
  last.replaceChildren(...(s.last
    ? [
      h('div', { class: `verdict ${s.last.verdict}`, 'data-verdict': s.last.verdict }, `${s.last.verdict === 'pass' ? '✓ PASS' : '✗ FAIL'} — ${s.last.label}`),
      h('div', { class: 'sentence' }, s.last.sentence),
      ...fixButtons(s.last.fixes, s.running),
    ]
    : []));
}

window.addEventListener('message', (e: MessageEvent) => {
  const m = parseHostToSidebar(fromWire(e.data));
  if (m) render(m.state);
});
send({ type: 'ready' });
