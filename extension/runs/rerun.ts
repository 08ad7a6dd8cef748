// One pass of some work at a time; a request while a pass runs makes it go round once more (so
// requests during a pass coalesce into one more pass, none is lost). The run store's folder listing
// and each tailer's reads use it.
export class Rerun {
  private running: Promise<void> | undefined;
  private again = false;

  constructor(private readonly pass: () => Promise<void>, private readonly stopped: () => boolean) {}

  /** Runs a pass now, or once more after the one in progress; resolves when no pass is left. */
  request(): Promise<void> {
    if (this.stopped()) return Promise.resolve();
    this.again = true;
    this.running ??= (async () => {
      try {
        while (this.again && !this.stopped()) {
          this.again = false;
          await this.pass();
        }
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** From inside a pass: go round once more when it ends. */
  repeat(): void {
    this.again = true;
  }
}
