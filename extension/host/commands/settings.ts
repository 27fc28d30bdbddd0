/**
 * The settings and the sidebar's choices: "Save as Workspace Settings" (the one place the
 * extension writes settings, when asked), and a setting the user edits winning over the sidebar's
 * value for it.
 */
import * as vscode from 'vscode';
import { command, type CommandGroup, type Lab } from '../lab';
import { notify } from '../notify';
import type { OptionKey } from '../protocol';
import { config, SECTION, settingsRoot } from '../settings';
import { settingPath, testDataSetting } from '../setting-paths';
import { OPTION_KEYS, SETTING_OF } from '../state';

async function saveSettings(lab: Lab): Promise<void> {
  const { state } = lab;
  const target = vscode.workspace.workspaceFolders?.length ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  const s = state.settings;
  const c = config();
  for (const k of OPTION_KEYS) await c.update(SETTING_OF[k], s[k], target);
  const ck = state.checkpoint;
  const td = state.testData;
  // written as settingsDefaults reads them back: relative to the first folder (or absolute), none as `none`
  const root = settingsRoot();
  if (ck) await c.update('checkpoint', settingPath(ck, root), target);
  if (td !== undefined) await c.update('testData', testDataSetting(td, root), target);
  state.saved();
  lab.log('saved the sidebar\'s choices as workspace settings');
  void notify.info('TimeSformer: the sidebar\'s choices are saved in the workspace settings.');
}

/** A setting the user edited wins over the sidebar's value for it. */
function onSettings(lab: Lab, e: vscode.ConfigurationChangeEvent): void {
  if (!e.affectsConfiguration(SECTION)) return;
  if (e.affectsConfiguration(`${SECTION}.trtexecPath`)) lab.engine.findTrtexec();
  const keys: (OptionKey | 'checkpoint' | 'testData')[] = [];
  for (const k of OPTION_KEYS) if (e.affectsConfiguration(`${SECTION}.${SETTING_OF[k]}`)) keys.push(k);
  if (e.affectsConfiguration(`${SECTION}.checkpoint`)) keys.push('checkpoint');
  if (e.affectsConfiguration(`${SECTION}.testData`)) keys.push('testData');
  lab.state.settingsChanged(keys);
}

export const settingsGroup: CommandGroup = {
  name: 'settings',
  register: (lab) => [
    command('saveSettings', () => saveSettings(lab)),
    vscode.workspace.onDidChangeConfiguration((e) => onSettings(lab, e)),
  ],
};
