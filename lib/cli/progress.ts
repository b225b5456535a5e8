// Following a job in the terminal. On a TTY one line is redrawn in place (`\r`, erase to end of line):
// status, a bar, percent, bytes and rate; otherwise (a pipe, a CI log) a plain line is printed each time
// the status or the whole percent changes — `status=active progress=42% transferred=80.0MiB/192MiB
// rate=12.3MiB/s` — so a log shows the path without a redraw's noise. Rendering is pure (tested by
// itself); the printer only decides when and how to write.

export interface ProgressState {
  status: string;
  /** 0..1, or null when the job has no measurable progress (a restore). */
  progress: number | null;
  transferredBytes?: number | null;
  totalBytes?: number | null;
  bytesPerSec?: number | null;
  /** Since the job started, for jobs without a percent. */
  elapsedMs?: number;
}

const BAR_WIDTH = 24;

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)}MiB`;
}

function percentOf(p: number | null): number | null {
  return p === null ? null : Math.max(0, Math.min(100, Math.floor(p * 100)));
}

/** The one-line TTY view, without the leading `\r` and erase sequence. */
export function renderBar(s: ProgressState): string {
  const parts = [s.status.padEnd(9)];
  const pct = percentOf(s.progress);
  if (pct !== null) {
    const filled = Math.round((pct / 100) * BAR_WIDTH);
    parts.push(`[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}]`, `${String(pct).padStart(3)}%`);
  }
  if (s.transferredBytes != null)
    parts.push(s.totalBytes ? `${mib(s.transferredBytes)}/${mib(s.totalBytes)}` : mib(s.transferredBytes));
  if (s.bytesPerSec != null && s.bytesPerSec > 0) parts.push(`${mib(s.bytesPerSec)}/s`);
  if (pct === null && s.elapsedMs !== undefined) parts.push(`${(s.elapsedMs / 1000).toFixed(0)}s`);
  return parts.join("  ");
}

/** The plain line for logs and pipes. */
export function renderPlain(s: ProgressState): string {
  const parts = [`status=${s.status}`];
  const pct = percentOf(s.progress);
  if (pct !== null) parts.push(`progress=${pct}%`);
  if (s.transferredBytes != null)
    parts.push(
      `transferred=${s.totalBytes ? `${mib(s.transferredBytes)}/${mib(s.totalBytes)}` : mib(s.transferredBytes)}`,
    );
  if (s.bytesPerSec != null && s.bytesPerSec > 0) parts.push(`rate=${mib(s.bytesPerSec)}/s`);
  return parts.join(" ");
}

export interface ProgressPrinter {
  update(s: ProgressState): void;
  /** Ends the redrawn line (TTY) so what follows starts on its own line. */
  finish(): void;
}

export function createProgressPrinter(out: { write(s: string): unknown }, tty: boolean): ProgressPrinter {
  let lastKey = "";
  let drawn = false;
  return {
    update(s) {
      if (tty) {
        out.write(`\r${renderBar(s)}\x1b[K`);
        drawn = true;
        return;
      }
      const key = `${s.status}:${percentOf(s.progress)}`;
      if (key === lastKey) return;
      lastKey = key;
      out.write(`${renderPlain(s)}\n`);
    },
    finish() {
      if (tty && drawn) out.write("\n");
      drawn = false;
    },
  };
}
