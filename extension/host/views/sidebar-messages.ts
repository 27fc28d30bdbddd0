/**
 * The sidebar's messages (webview/sidebar.ts -> the host), checked and handled: choices (an option,
 * a listed file) go to the store as its intents; actions go out as the lab's commands, by id, or to
 * the actions activation hands over. Messages are handled in order, so that Run sees the choices
 * made just before it; Cancel jumps the queue, and neither a run nor a fix (a run and its
 * confirmation) holds it: Compare, Save as workspace settings, Export for TensorRT… and a
 * reloaded sidebar's `ready` are answered during a run. No vscode import (unit-tested).
 */
import { parseSidebarMessage, type SidebarToHost } from '../protocol';
import type { LabState, StoreReader } from '../state';

/** What the sidebar reads of the store, and the intents it sends it. */
export type SidebarStore = StoreReader & Pick<LabState, 'setOption' | 'chooseCheckpoint' | 'chooseTestData'>;

export interface SidebarActions {
  /** The view (re)loaded: render it, and probe the execution providers (and trtexec) once. */
  ready(): void;
  /** Look for trtexec again (the engine choice "TensorRT (trtexec)" was chosen: it may have been installed since). */
  findTrtexec(): void;
  /** Runs `timesformerLab.<id>` (awaited: the next message waits for it). */
  command(id: 'run' | 'applyFix' | 'cancel' | 'saveSettings' | 'compareRuns' | 'showGraph' | 'exportTrt', ...args: unknown[]): Thenable<unknown>;
  browse(kind: 'checkpoint' | 'testData'): Promise<void>;
  copyTrtexec(runId: string): Promise<void>;
  error(e: unknown): void;
  log(line: string): void;
}

export class SidebarMessages {
  private queue = Promise.resolve();

  constructor(
    private readonly store: SidebarStore,
    private readonly actions: SidebarActions,
  ) {}

  /** A message from the webview: checked (a malformed one is logged and ignored), then handled. */
  receive(raw: unknown): void {
    const m = parseSidebarMessage(raw);
    if (m) this.onMessage(m);
    else this.actions.log(`ignored a malformed sidebar message: ${JSON.stringify(raw).slice(0, 200)}`);
  }

  private onMessage(m: SidebarToHost): void {
    if (m.type === 'cancel') {
      void this.actions.command('cancel');
      return;
    }
    this.queue = this.queue.then(() => this.handle(m)).catch((e: unknown) => this.actions.error(e));
  }

  private beside(p: Thenable<unknown>): void {
    p.then(undefined, (e: unknown) => this.actions.error(e));
  }

  private async handle(m: Exclude<SidebarToHost, { type: 'cancel' }>): Promise<void> {
    const { store, actions } = this;
    switch (m.type) {
      case 'ready':
        actions.ready();
        return;
      case 'set':
        store.setOption(m.option.key, m.option.value);
        if (m.option.key === 'ep' && m.option.value === 'trtexec') actions.findTrtexec();
        return;
      case 'exportTrt':
        await actions.command('exportTrt');
        return;
      case 'choose':
        // Only files the sidebar was given: a webview cannot name an arbitrary path.
        if (m.kind === 'checkpoint' && store.isListed('checkpoint', m.path)) store.chooseCheckpoint(m.path);
        else if (m.kind === 'testData' && (m.path === null || store.isListed('testData', m.path))) store.chooseTestData(m.path);
        return;
      case 'browse':
        // its button is disabled while a run is in progress; a click sent just before is dropped, not run after it
        if (store.running) return actions.log(`not browsing for the ${m.kind === 'checkpoint' ? 'checkpoint' : 'test data'}: a run is in progress`);
        await actions.browse(m.kind);
        return;
      // a run (and a fix's run with its confirmation) goes on beside the queue; its errors are still said
      case 'run':
        this.beside(actions.command('run'));
        return;
      case 'fix':
        this.beside(actions.command('applyFix', m.runId, m.mode));
        return;
      case 'copyTrtexec':
        await actions.copyTrtexec(m.runId);
        return;
      case 'saveSettings':
        await actions.command('saveSettings');
        return;
      case 'compare':
        await actions.command('compareRuns');
        return;
      case 'showGraph':
        await actions.command('showGraph');
        return;
    }
  }
}
