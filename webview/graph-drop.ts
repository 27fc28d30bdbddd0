/**
 * Dropping trtexec / Polygraphy output files onto the graph imports them as runs (issue 19): the
 * drop's file: URIs (a drag from the editor's explorer) go to the host as they are; files without a
 * path (a browser's drop, code-server) are read here, each at most MAX_DROP_BYTES, and sent by name
 * and text; at most MAX_DROP_FILES of each (drop-sort.ts). What is not sent (too large, past the limit, a drop with
 * no file) goes to the host as `refused`, which names it in a warning with the host's own refusals.
 * The host checks both (protocol.ts parseGraphMessage) and imports them as "Import TensorRT
 * Outputs…" does. While something is dragged over the panel, body[data-dropping] (highlighted).
 * Test hook: body[data-drop] — "sent", with what was refused after it.
 */
import type { DroppedFile, GraphToHost } from '../extension/host/protocol';
import { sortDrop } from './drop-sort';

/** file: URIs of a drop: VS Code's own list, else the standard uri-list (comments start with #). */
function droppedUris(dt: DataTransfer): string[] {
  const text = dt.getData('application/vnd.code.uri-list') || dt.getData('text/uri-list');
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#') && l.startsWith('file:'));
}

export function installDrop(send: (m: GraphToHost) => void): void {
  const body = document.body;
  const over = (e: DragEvent) => {
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
    body.dataset.dropping = 'true';
  };
  document.addEventListener('dragenter', over);
  document.addEventListener('dragover', over);
  document.addEventListener('dragleave', (e) => {
    if (!e.relatedTarget) delete body.dataset.dropping;
  });
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    delete body.dataset.dropping;
    const dt = e.dataTransfer;
    if (!dt) return;
    const all = Array.from(dt.files);
    const d = sortDrop(droppedUris(dt), all);
    void (async () => {
      const files: DroppedFile[] = [];
      for (const i of d.read) files.push({ name: all[i].name, text: await all[i].text() });
      send({ type: 'drop', uris: d.uris, files, ...(d.refused.length ? { refused: d.refused } : {}) });
      body.dataset.drop = ['sent', ...d.refused].join('; ');
    })();
  });
}
