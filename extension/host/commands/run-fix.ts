/**
 * Commands that act on a run of the chosen inputs: Build & Run Engine, Cancel, and the LayerNorm
 * fix applied to the run that offered it ("Fix LayerNorm Overflow and Run Again", also the
 * sidebar's and the notification's fix buttons, which send this command with the run and mode).
 */
import * as fs from 'fs';
import * as path from 'path';
import { command, type CommandGroup, type Lab } from '../lab';
import { notify } from '../notify';
import { LAYERNORM_CHOICES, type FixMode } from '../protocol';
import { pickFix } from '../views/fix-offers';

/**
 * One click: run `runId`'s inputs and options again with the LayerNorm fix `mode`. The fix is
 * bound to its run: after a switch to another model, an old offer still fixes the model it was
 * made for (the sidebar switches back to it and says so), never the model chosen since.
 */
async function applyFix(lab: Lab, runId?: string, mode?: FixMode): Promise<void> {
  const { state } = lab;
  // before adoptFix changes the sidebar's choices: a fix that cannot run now changes nothing
  const busy = state.whyBusy();
  if (busy) {
    void notify.info(`TimeSformer: ${busy}; fix when it ends.`);
    return;
  }
  let id = runId;
  // `mode` may come from a command's arguments: only a fix the lab knows.
  let fix = LAYERNORM_CHOICES.find((m): m is FixMode => m !== 'plain' && m === mode);
  if (!id) {
    const run = state.currentRunWithOffers();
    if (!run) {
      void notify.info('TimeSformer: no fix is offered for the chosen checkpoint: run it first (fixes are offered after a LayerNorm overflow).');
      return;
    }
    id = run.id;
    // The palette: the run's offers to pick from, the minimal fix first (Enter takes it).
    if (!fix && run.offers.length > 1) {
      fix = await pickFix(run);
      if (!fix) return;
    }
  }
  fix ??= state.get(id)?.offers[0] ?? 'fp32';
  const fixed = state.get(id);
  if (fixed && !(await lab.consent('The LayerNorm fix', [fixed.inputs.checkpoint, fixed.inputs.testData]))) return;
  const before = { checkpoint: state.checkpoint, testData: state.testData };
  const run = state.adoptFix(id, fix, (p) => fs.existsSync(p));
  if (typeof run === 'string') {
    void notify.warn(`TimeSformer: ${run}`);
    return;
  }
  if (before.checkpoint !== run.inputs.checkpoint || before.testData !== run.inputs.testData) {
    lab.log(`fix for ${run.label}: switched back to ${path.basename(run.inputs.checkpoint)}`);
    void notify.info(`TimeSformer: the fix offered by ${run.short} runs on ${path.basename(run.inputs.checkpoint)}${run.inputs.testData ? ` + ${path.basename(run.inputs.testData)}` : ''}, the model it was offered for.`);
  }
  lab.log(`fix: LayerNorm ${fix} for ${run.label}, running again`);
  await lab.engine.runChosen(!!fixed);
}

export const runAndFix: CommandGroup = {
  name: 'run and fix',
  register: (lab) => [
    command('run', () => lab.engine.runChosen()),
    command('applyFix', (runId?: string, mode?: FixMode) => applyFix(lab, runId, mode)),
    command('cancel', () => lab.engine.cancel()),
  ],
};
