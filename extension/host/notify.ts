/** Notifications with text from files: plain text, never links or icons (text.ts); errors in words. */
import * as vscode from 'vscode';
import { RunError } from './runner';
import { plain } from './text';

export const notify = {
  error: (msg: string, ...actions: string[]) => vscode.window.showErrorMessage(plain(msg), ...actions),
  warn: (msg: string, ...actions: string[]) => vscode.window.showWarningMessage(plain(msg), ...actions),
  info: (msg: string, ...actions: string[]) => vscode.window.showInformationMessage(plain(msg), ...actions),
};

export function errorText(e: unknown): { code: string; msg: string } {
  return { code: e instanceof RunError ? e.code : 'INTERNAL', msg: e instanceof Error ? e.message : String(e) };
}

export function isCancel(e: unknown): boolean {
  return e instanceof RunError && e.code === 'CANCELLED';
}
