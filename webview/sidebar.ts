/**
 * The sidebar: checkpoint and test data (with how they agree), precision, accumulation (FP16),
 * LayerNorm mode with the "Expose LayerNorm entries" toggle, execution provider, heads, Run, and
 * the outcome of the last run for the chosen inputs with its fix offers (the minimal fix first). It renders the SidebarState the host sends and
 * reports intents; it holds no state of its own, so what it shows is always what runs.
 *
 * Native form controls styled with VS Code's theme variables: the Webview UI Toolkit is deprecated
 * (archived by Microsoft in January 2025), and its dropdown dropped a value set before its new
 * options were slotted in — the sidebar then kept showing the old checkpoint (issue 10, bug 1).
 * Test hooks: the controls' ids, [data-value] (what the host holds), #pairing[data-status],
 * #last[data-kind][data-after], .fix[data-run][data-fix], #minimal-note, #copy-trtexec[data-run], #realization,
 * #heads-note, #after, #trtexec-note[data-available], #export-trt.
 */
import { ACCUMULATE, EP_CHOICES, PRECISIONS } from '../extension/core/report';
import {
  LAYERNORM_CHOICES, confirmationText, fixLabel, fromWire, layerNormHelp, parseHostToSidebar,
  type AttemptView, type FileChoice, type OptionKey, type OutcomeView, type SidebarOption, type SidebarState, type SidebarToHost,
} from '../extension/host/protocol';
import { h, post } from './vscode';

const send = (m: SidebarToHost) => post(m);

const ACC_HELP: Record<string, string> = {
  fp32: 'fp16 storage, fp32 sums inside MatMul/Conv/attention/LayerNorm reductions, as TensorRT and cuBLAS',
  fp16: 'the provider\'s raw fp16-accumulating kernels: a worst case, not what TensorRT builds',
};
const NONE = '';

let state: SidebarState | undefined;

function field(label: string, control: HTMLElement, ...extra: (HTMLElement | undefined)[]): HTMLElement {
  const input = control.matches('.row') ? control.firstElementChild! : control;
  return h('div', { class: 'field' }, h('label', { for: input.id }, label), control, ...extra);
}

function select(id: string): HTMLSelectElement {
  return h('select', { id }) as HTMLSelectElement;
}

/** Replaces a select's options only when they changed (keeps an open list intact), then selects `value`. */
function setOptions(el: HTMLSelectElement, options: { value: string; label: string; title?: string }[], value: string): void {
  const sig = JSON.stringify(options);
  if (el.dataset.options !== sig) {
    el.dataset.options = sig;
    el.replaceChildren(...options.map((o) => h('option', { value: o.value, title: o.title }, o.label)));
  }
  el.value = value;
  // What the host holds: the control shows it (never a value the host does not run).
  el.dataset.value = value;
}

function option(el: HTMLSelectElement, key: Exclude<OptionKey, 'exposeLayerNorm' | 'heads'>): void {
  el.addEventListener('change', () => {
    if (!state) return;
    send({ type: 'set', option: { key, value: el.value } as SidebarOption });
  });
}

// -------------------------------------------------------------------------------------------
// Layout (built once; render() only updates it)

const checkpoint = select('checkpoint');
const testData = select('testData');
const precision = select('precision');
const accumulate = select('accumulate');
const layerNorm = select('layerNorm');
const ep = select('ep');
const expose = h('input', { id: 'expose', type: 'checkbox' }) as HTMLInputElement;
const heads = h('input', { id: 'heads', type: 'text', inputmode: 'numeric', placeholder: 'detect from test data', size: 6 }) as HTMLInputElement;
const runButton = h('button', { id: 'run', class: 'primary', type: 'button' }, 'Run') as HTMLButtonElement;
const cancelButton = h('button', { id: 'cancel', class: 'secondary', type: 'button' }, 'Cancel') as HTMLButtonElement;
const browse = (kind: 'checkpoint' | 'testData') => {
  const b = h('button', { id: `browse-${kind}`, class: 'icon', type: 'button', 'aria-label': `Browse for the ${kind === 'checkpoint' ? 'checkpoint' : 'test data'}…`, title: 'Browse…' }, '…') as HTMLButtonElement;
  b.addEventListener('click', () => !b.disabled && send({ type: 'browse', kind }));
  return b;
};
const browseCheckpoint = browse('checkpoint');
const browseTestData = browse('testData');
const restricted = h('div', { id: 'restricted', class: 'banner', hidden: true }, 'Restricted Mode: files are not read until you trust this workspace, and Run asks first.');
const pairing = h('div', { id: 'pairing', class: 'note', role: 'status' });
const lnNote = h('div', { id: 'layerNorm-note', class: 'note' });
const accNote = h('div', { id: 'accumulate-note', class: 'note' });
const accField = field('Accumulation', accumulate, accNote);
const exposeNote = h('div', { class: 'note' }, 'LayerNorm difference, mean and std tensors become graph outputs; overrides the mode above.');
const epNote = h('div', { id: 'providers', class: 'note' });
const trtexecNote = h('div', { id: 'trtexec-note', class: 'note' });
const whyNot = h('div', { id: 'why-not', class: 'note warn', hidden: true });
const status = h('div', { id: 'status', class: 'status', role: 'status' });
const last = h('div', { id: 'last', class: 'last', 'aria-live': 'polite' });
const runsLine = h('div', { id: 'runs', class: 'runs-line' });
const saveLink = h('button', { id: 'save-settings', class: 'link', type: 'button', hidden: true, title: 'Write these choices into .vscode/settings.json' }, 'Save as workspace settings');
saveLink.addEventListener('click', () => send({ type: 'saveSettings' }));

checkpoint.addEventListener('change', () => state && checkpoint.value && send({ type: 'choose', kind: 'checkpoint', path: checkpoint.value }));
testData.addEventListener('change', () => state && send({ type: 'choose', kind: 'testData', path: testData.value === NONE ? null : testData.value }));
option(precision, 'precision');
option(accumulate, 'accumulate');
option(layerNorm, 'layerNorm');
option(ep, 'ep');
expose.addEventListener('change', () => {
  if (state && expose.checked !== state.exposeLayerNorm) send({ type: 'set', option: { key: 'exposeLayerNorm', value: expose.checked } });
});
heads.addEventListener('change', () => {
  if (!state) return;
  const v = heads.value.trim();
  const n = Number(v);
  if (v === '') send({ type: 'set', option: { key: 'heads', value: null } });
  else if (Number.isInteger(n) && n > 0 && n <= 1024) send({ type: 'set', option: { key: 'heads', value: n } });
  else heads.value = state.heads === null ? '' : String(state.heads);
});
runButton.addEventListener('click', () => !runButton.disabled && send({ type: 'run' }));
cancelButton.addEventListener('click', () => send({ type: 'cancel' }));

document.getElementById('root')!.append(
  h('form', { id: 'form', autocomplete: 'off' },
    restricted,
    field('Checkpoint', h('div', { class: 'row' }, checkpoint, browseCheckpoint)),
    field('Test data', h('div', { class: 'row' }, testData, browseTestData), pairing),
    h('hr'),
    field('Precision', precision),
    accField,
    field('LayerNorm mode', layerNorm, lnNote),
    h('div', { class: 'field' }, h('label', { class: 'check' }, expose, 'Expose LayerNorm entries'), exposeNote),
    field('Execution provider', ep, epNote, trtexecNote),
    field('Heads', heads),
    h('div', { class: 'actions' }, runButton, cancelButton),
    whyNot,
    status,
    last,
    h('hr'),
    runsLine,
    saveLink,
  ),
);
document.getElementById('form')!.addEventListener('submit', (e) => e.preventDefault());

function fileOptions(list: FileChoice[], none: string): { value: string; label: string; title?: string }[] {
  return list.length ? list.map((f) => ({ value: f.path, label: f.note && !f.fit ? `${f.label} — ${f.note}` : f.label, title: f.path })) : [{ value: NONE, label: none }];
}

/**
 * One click per fix, bound to the run that offered it: the host runs that run again with the fix.
 * The minimal fix comes first, with what its confirmation run found and its trtexec line to copy.
 */
function fixButtons(o: Extract<OutcomeView, { kind: 'run' }>, busy: boolean): HTMLElement[] {
  const runId = o.runId;
  // Every fix the run offers, titled as the palette titles them.
  const buttons = o.fixes.map((mode, i) => {
    const text = fixLabel(mode, o.minimal?.count ?? 0);
    const b = h('button', { id: `fix-${mode}`, type: 'button', class: `fix ${i === 0 ? 'primary' : 'secondary'}`, 'data-fix': mode, 'data-run': runId }, text) as HTMLButtonElement;
    b.disabled = busy;
    b.addEventListener('click', () => !b.disabled && send({ type: 'fix', runId, mode }));
    return b;
  });
  if (!buttons.length) return [];
  const minimal: HTMLElement[] = [];
  if (o.fixes.includes('minimal') && o.minimal) {
    const copy = h('button', { id: 'copy-trtexec', class: 'link', type: 'button', 'data-run': runId, title: o.minimal.trtexec }, 'Copy trtexec line');
    copy.addEventListener('click', () => send({ type: 'copyTrtexec', runId }));
    minimal.push(h('div', { id: 'minimal-note', class: 'note' }, `Minimal fix ${confirmationText(o.minimal.confirmed, o.minimal.confirming, o.minimal.stopped)}. `, copy));
  }
  return [h('div', { class: 'fixes', role: 'group', 'aria-label': 'Fix the overflow and run again' }, ...buttons), ...minimal];
}

/** A cancel or an error: on its own, or beside the run it came after (`after`: a smaller line above that run). */
function attemptView(a: AttemptView, after: boolean): HTMLElement[] {
  if (after && a.confirmation) {
    // the run below landed; what ended is its minimal fix's confirmation run, not a re-run of it
    return [h('div', { id: 'after', class: `after ${a.kind}`, 'data-kind': a.kind, 'data-confirmation': 'true' },
      h('span', { class: `verdict ${a.kind}` }, a.kind === 'error' ? `⚠ Confirmation failed (${a.code})` : '⊘ Confirmation cancelled'),
      ` ${a.label}${a.kind === 'error' ? `: ${a.message}` : ''}. The run whose minimal fix it was confirming:`)];
  }
  const head = a.kind === 'error' ? `⚠ ERROR ${a.code}` : '⊘ Cancelled';
  if (after) {
    return [h('div', { id: 'after', class: `after ${a.kind}`, 'data-kind': a.kind },
      h('span', { class: `verdict ${a.kind}` }, head), ` ${a.label}${a.kind === 'error' ? `: ${a.message}` : ''}. The latest completed run of these inputs and options:`)];
  }
  return [
    h('div', { class: `verdict ${a.kind}`, 'data-verdict': a.kind }, head),
    h('div', { class: 'run-label' }, a.label),
    ...(a.kind === 'error' ? [h('div', { class: 'sentence' }, a.message)] : []),
  ];
}

function renderOutcome(s: SidebarState): void {
  const o = s.outcome;
  last.dataset.kind = o?.kind ?? 'none';
  last.dataset.after = o?.kind === 'run' ? o.after?.kind ?? 'none' : 'none';
  if (!o) {
    last.replaceChildren();
    return;
  }
  if (o.kind === 'run') {
    last.dataset.run = o.runId;
    last.replaceChildren(
      ...(o.after ? attemptView(o.after, true) : []),
      h('div', { class: `verdict ${o.verdict}`, 'data-verdict': o.verdict }, o.verdict === 'pass' ? '✓ PASS' : '✗ FAIL'),
      h('div', { class: 'run-label', title: o.label }, o.label),
      h('div', { class: 'reference' }, o.reference),
      h('div', { id: 'realization', class: 'reference' }, o.realization),
      ...(o.heads ? [h('div', { id: 'heads-note', class: 'note warn' }, o.heads)] : []),
      h('div', { class: 'sentence' }, o.sentence),
      ...fixButtons(o, s.running || s.sweeping),
      h('button', { id: 'show-graph', class: 'link', type: 'button' }, 'Show graph'),
    );
    last.querySelector('#show-graph')!.addEventListener('click', () => send({ type: 'showGraph' }));
  } else {
    delete last.dataset.run;
    last.replaceChildren(...attemptView(o, false));
  }
}

function render(s: SidebarState): void {
  state = s;
  restricted.hidden = s.trusted;
  setOptions(checkpoint, fileOptions(s.checkpoints, 'none found (*.pyth, *.pth, *.pt, HF folder)'), s.checkpoint ?? NONE);
  const dataOptions = [
    // Short enough for a narrow sidebar; the title says it whole.
    { value: NONE, label: 'none (own FP32)', title: 'No test data: compare with the FP32 graph of this model on the CPU' },
    ...s.testData.map((f) => ({
      value: f.path, title: f.note ? `${f.path}\n${f.note}` : f.path,
      label: `${f.label}${f.fit === 'agree' ? ' ✓' : f.fit === 'disagree' ? ` ✗ (${f.note})` : ''}`,
    })),
  ];
  setOptions(testData, dataOptions, s.testDataPath ?? NONE);
  pairing.textContent = s.pairing?.text ?? '';
  pairing.dataset.status = s.pairing?.status ?? 'none';
  pairing.className = `note pairing ${s.pairing?.status ?? ''}`;

  setOptions(precision, PRECISIONS.map((p) => ({ value: p, label: p.toUpperCase() })), s.precision);
  setOptions(accumulate, ACCUMULATE.map((a) => ({ value: a, label: a === 'fp32' ? 'fp32 (as TensorRT)' : 'fp16 (worst case)', title: ACC_HELP[a] })), s.accumulate);
  // An FP16 option: BF16's range does not overflow, FP32 has nothing to accumulate in 16 bits.
  accField.hidden = s.precision !== 'fp16';
  accNote.textContent = ACC_HELP[s.accumulate] ?? '';
  setOptions(layerNorm, LAYERNORM_CHOICES.map((m) => ({ value: m, label: m, title: layerNormHelp(m, s.precision) })), s.layerNorm);
  const prov = new Map((s.providers ?? []).map((p) => [p.ep, p]));
  setOptions(ep, EP_CHOICES.map((e): { value: string; label: string; title?: string } => {
    const p = prov.get(e as never);
    return { value: e, label: e === 'auto' ? 'auto (best available)' : p && !p.available ? `${e} — not available here` : e, title: p?.reason };
  }).concat([{
    value: 'trtexec',
    label: s.trtexec === null || s.trtexec === undefined ? 'TensorRT (trtexec) — looking for it…' : s.trtexec.available ? `TensorRT (trtexec) ${s.trtexec.version}` : 'TensorRT (trtexec) — not found here',
    title: s.trtexec?.available ? s.trtexec.path : s.trtexec?.reason,
  }]), s.ep);
  renderTrtexec(s);

  expose.checked = s.exposeLayerNorm;
  expose.dataset.value = String(s.exposeLayerNorm);
  layerNorm.disabled = s.exposeLayerNorm || s.running;
  layerNorm.dataset.overridden = String(s.exposeLayerNorm);
  lnNote.textContent = s.exposeLayerNorm ? 'Overridden: "Expose LayerNorm entries" is on (mode expose).' : layerNormHelp(s.layerNorm, s.precision);
  lnNote.classList.toggle('warn', s.exposeLayerNorm);

  epNote.textContent = s.providers === null
    ? 'Checking which providers load here…'
    : `Available here: ${s.providers.filter((p) => p.available).map((p) => p.ep).join(', ') || 'none'}`;
  epNote.title = (s.providers ?? []).filter((p) => !p.available).map((p) => `${p.ep}: ${p.reason}`).join('\n');
  epNote.dataset.available = (s.providers ?? []).filter((p) => p.available).map((p) => p.ep).join(',');

  if (document.activeElement !== heads) heads.value = s.heads === null ? '' : String(s.heads);
  heads.dataset.value = s.heads === null ? '' : String(s.heads);
  heads.placeholder = s.headsPlaceholder;
  // What runs is read when Run starts: nothing that changes it (a browsed file included) while a run is in progress.
  for (const el of [checkpoint, testData, browseCheckpoint, browseTestData, precision, accumulate, ep, heads, expose]) el.disabled = s.running;
  runButton.disabled = !s.canRun;
  cancelButton.hidden = !s.running;
  whyNot.hidden = s.running || !s.whyNot;
  whyNot.textContent = s.whyNot ?? '';
  document.body.dataset.running = String(s.running);

  status.replaceChildren(...(s.running ? [h('span', { class: 'spinner', 'aria-hidden': 'true' }), h('span', {}, s.stage ? `${s.stage}…` : 'starting…')] : []));
  renderOutcome(s);
  runsLine.replaceChildren(...(s.runCount
    ? [
      h('span', {}, `${s.runCount} run${s.runCount > 1 ? 's' : ''} kept in this workspace`),
      ...(s.runCount > 1 ? [h('button', { id: 'compare', class: 'link', type: 'button' }, 'Compare…')] : []),
    ]
    : []));
  runsLine.querySelector('#compare')?.addEventListener('click', () => send({ type: 'compare' }));
  saveLink.hidden = !s.unsaved.length;
  saveLink.title = `Write ${s.unsaved.join(', ')} (and the chosen files) into the workspace settings`;
}

/** Where trtexec is, or why it is not and what to do instead (the bundle). */
function renderTrtexec(s: SidebarState): void {
  const t = s.trtexec;
  trtexecNote.dataset.available = t ? String(t.available) : 'unknown';
  if (!t) {
    trtexecNote.replaceChildren(s.ep === 'trtexec' ? 'Looking for trtexec…' : '');
    return;
  }
  if (t.available) {
    trtexecNote.replaceChildren(`TensorRT (trtexec): TensorRT ${t.version}, ${t.path}${t.fp16 ? '' : ' (no --fp16: strongly typed, FP32 here)'}`);
    trtexecNote.title = 'Builds the engine with trtexec (cached by model, precision, fix and TensorRT version), runs it once on the clip and compares every block';
    return;
  }
  const exportTrt = h('button', { id: 'export-trt', class: 'link', type: 'button', title: 'A folder with the ONNX, the clip, the reference and run_trtexec.sh, for a machine with TensorRT' }, 'Export for TensorRT…');
  exportTrt.addEventListener('click', () => send({ type: 'exportTrt' }));
  trtexecNote.title = t.reason;
  trtexecNote.replaceChildren(`TensorRT (trtexec) is not available here: ${t.reason}. `, exportTrt);
}

window.addEventListener('message', (e: MessageEvent) => {
  const m = parseHostToSidebar(fromWire(e.data));
  if (m) render(m.state);
});
send({ type: 'ready' });
