/**
 * Peak resident memory of this process since the last reset. The engine process serves many
 * requests: without a reset, every Report would repeat the largest peak of any request before it
 * (a sweep, a bigger checkpoint). Linux resets the high-water mark (VmHWM) on writing 5 to
 * /proc/self/clear_refs; elsewhere, or where that is refused, the figure stays the process's peak
 * (getrusage's maxRSS), which is what a one-run CLI process measures anyway.
 */
import * as fs from 'fs';

/** Start a new peak here (the start of a request); false where the platform cannot. */
export function resetPeakRss(): boolean {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return vmHwmBytes() !== undefined;
  } catch {
    return false;
  }
}

function vmHwmBytes(): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The peak since the last resetPeakRss (Linux), else the process's peak. */
export function peakRssBytes(): number {
  return vmHwmBytes() ?? process.resourceUsage().maxRSS * 1024;
}
