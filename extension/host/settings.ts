/**
 * The user's settings (timesformerLab.*) read as the store's defaults: paths resolved against the
 * first workspace folder, the test data `none` read as no test data (setting-paths.ts). Never written here: "Save as Workspace Settings" (commands/settings.ts)
 * is the one place that writes them, when asked.
 */
import * as vscode from 'vscode';
import type { Accumulate, EpChoice, Precision } from '../core/report';
import type { LayerNormChoice } from './protocol';
import { readTestDataSetting, resolveSettingPath } from './setting-paths';
import type { SettingsDefaults } from './state';

export const SECTION = 'timesformerLab';

export function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(SECTION);
}

/** The first workspace folder: the path settings are relative to it (setting-paths.ts). */
export function settingsRoot(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

/** A setting's path: absolute, or relative to the first workspace folder. */
export function resolvePath(p: string | undefined): string | undefined {
  return resolveSettingPath(p, settingsRoot());
}

export function settingsDefaults(): SettingsDefaults {
  const c = config();
  return {
    checkpoint: resolvePath(c.get<string>('checkpoint')),
    testData: readTestDataSetting(c.get<string>('testData'), settingsRoot()),
    precision: c.get<Precision>('precision', 'fp16'),
    accumulate: c.get<Accumulate>('accumulate', 'fp32'),
    layerNorm: c.get<LayerNormChoice>('layerNorm', 'plain'),
    exposeLayerNorm: c.get<boolean>('exposeLayerNorm', false),
    ep: c.get<EpChoice>('executionProvider', 'cpu'),
    heads: c.get<number | null>('heads', null) || null,
    tolerance: c.get<number | null>('tolerance', null) ?? null,
    deviceId: c.get<number>('deviceId', 0),
    trtCacheDir: c.get<string>('tensorrtCacheDir', ''),
  };
}
