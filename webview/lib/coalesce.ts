// Redraw coalescing: many updates between two frames (a burst of appended steps, a theme change
// on top) become one redraw per chart per animation frame.

export type FrameRequest = (cb: () => void) => unknown;

export class FrameCoalescer {
  private pending = new Map<string, () => void>();
  private scheduled = false;

  constructor(private readonly request: FrameRequest) {}

  /** Run `fn` on the next frame; a later call with the same key before then replaces it. */
  schedule(key: string, fn: () => void): void {
    this.pending.set(key, fn);
    if (this.scheduled) return;
    this.scheduled = true;
    this.request(() => this.flush());
  }

  /** Run everything scheduled now (also what the frame callback does). */
  flush(): void {
    this.scheduled = false;
    const jobs = [...this.pending.values()];
    this.pending.clear();
    for (const job of jobs) {
      try {
        job();
      } catch (err) {
        console.error(err); // one broken chart must not stop the others from drawing
      }
    }
  }

  get size(): number {
    return this.pending.size;
  }
}
