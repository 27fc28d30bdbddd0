/**
 * The registry of command groups: each file of commands/ holds the commands that act on one thing
 * and registers them from the shared services (lab.ts). Adding a group is one line here; a group
 * never imports another (.dependency-cruiser.json, "command-groups-stand-alone").
 */
import type * as vscode from 'vscode';
import type { CommandGroup, Lab } from '../lab';
import { exportsGroup } from './exports';
import { filesAndExplorer } from './files';
import { makeTestDataGroup } from './make-test-data-command';
import { runAndFix } from './run-fix';
import { runsAndCompare } from './runs';
import { settingsGroup } from './settings';
import { sweepGroup } from './sweep';
import { tensorRtGroup } from './tensorrt';

export const COMMAND_GROUPS: readonly CommandGroup[] = [
  runAndFix,
  runsAndCompare,
  exportsGroup,
  filesAndExplorer,
  settingsGroup,
  tensorRtGroup,
  sweepGroup,
  makeTestDataGroup,
];

export function registerCommands(lab: Lab): vscode.Disposable[] {
  return COMMAND_GROUPS.flatMap((g) => g.register(lab));
}
