/**
 * Dropping trtexec / Polygraphy output files onto the graph imports them as runs (issue 19): the
 * drop's file: URIs (a drag from the editor's explorer) go to the host as they are; files without a
 * path (a browser's drop, code-server) are read here, each at most MAX_DROP_BYTES, and sent by name
 * and text. The host checks both (protocol.ts parseGraphMessage) and imports them as "Import
 * TensorRT Outputs…" does. While something is dragged over the panel, body[data-dropping].
 * Test hook: body[data-drop] — "sent", or why nothing was sent.
 */
import { MAX_DROP_BYTES, type DroppedFile, type GraphToHost } from '../extension/host/protocol';

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
    const uris = droppedUris(dt);
    void (async () => {
      const files: DroppedFile[] = [];
      if (!uris.length) {
        for (const f of Array.from(dt.files).slice(0, 16)) {
          if (f.size > MAX_DROP_BYTES) {
            body.dataset.drop = `${f.name} is larger than ${MAX_DROP_BYTES / 2 ** 20} MiB: use Import TensorRT Outputs… for it`;
            return;
          }
          files.push({ name: f.name, text: await f.text() });
        }
      }
      if (!uris.length && !files.length) {
        body.dataset.drop = 'nothing to import: drop trtexec --exportOutput or Polygraphy --save-outputs JSON files';
        return;
      }
      send({ type: 'drop', uris: uris.slice(0, 16), files });
      body.dataset.drop = 'sent';
    })();
  });
}
