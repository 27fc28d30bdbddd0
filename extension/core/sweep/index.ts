/** The sweep: many clips, one model, sessions built once (sweep.ts); no vscode. */
export { sweep, type SweepHooks } from './sweep';
export { sweepMarkdown } from './markdown';
export { listClips, CLIP_EXTENSIONS } from './clips';
export { CLIPS_FILE, RESULT_FILE, MARKDOWN_FILE } from './store';
export * from './types';
