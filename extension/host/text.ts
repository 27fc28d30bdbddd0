/**
 * Text from files (names, keys, dtype strings, error details) shown by VS Code's own widgets must
 * stay text. Notifications turn `[label](command:…)` / `(https:…)` / `(file:…)` into clickable links
 * (VS Code's parseLinkedText), and quick picks and the status bar turn `$(name)` into icons. A zero-width space
 * after `]` and after `$` breaks both patterns while the text reads exactly the same. Webviews need
 * nothing: they set text with textContent, never as HTML.
 */

const ZWSP = '\u200b';

/** The text as plain text for notifications, quick picks and the status bar. */
export function plain(text: string): string {
  return text.replace(/\]\s*\(/g, (m) => `]${ZWSP}${m.slice(1)}`).replace(/\$\(/g, `$${ZWSP}(`);
}

/** What a user reads (the zero-width spaces removed): for tests and logs. */
export function visible(text: string): string {
  return text.split(ZWSP).join('');
}
