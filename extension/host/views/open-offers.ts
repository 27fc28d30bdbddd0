/**
 * One fix-offer notification per finding. Toggling "Expose LayerNorm entries" off and on runs the
 * same failing plain mode again and again, and each run used to add its own notification, the same
 * words under another run number (session 23's warm-engine screenshot: #1's and #3's side by side).
 * A run whose finding is already offered by a notification the user has not answered yet (shown,
 * or in the notification center) adds none: its verdict and fixes are in the sidebar and the log.
 * That notification stays bound to the run it was made for (models.e2e "bug 3"). No vscode here.
 */
import type { StoredRun } from '../labels';

/** What a fix offer says: the same inputs, options and finding give the same words and the same fixes. */
export function findingKey(run: Pick<StoredRun, 'inputs' | 'options' | 'offers' | 'report'>): string {
  const d = run.report.diagnosis;
  const { confirmed, layerNorms } = d.minimalFix ?? {};
  return JSON.stringify([run.inputs, run.options, run.offers, d.culprit ?? null, layerNorms ?? null, confirmed?.verdict ?? null]);
}

export class OpenOffers {
  private readonly open = new Set<string>();

  /**
   * Whether `run` gets a notification of its own: yes unless one of the same finding is still
   * unanswered. `shown` is the notification's answer (a button, or undefined when closed): once it
   * comes, the finding may be offered again.
   */
  offer(run: Pick<StoredRun, 'inputs' | 'options' | 'offers' | 'report'>, show: () => PromiseLike<unknown>): boolean {
    const key = findingKey(run);
    if (this.open.has(key)) return false;
    this.open.add(key);
    const done = () => void this.open.delete(key);
    show().then(done, done);
    return true;
  }

  /** Findings offered and not answered yet. */
  get size(): number {
    return this.open.size;
  }
}
