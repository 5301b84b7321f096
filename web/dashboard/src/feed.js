// One topic's stream of updates, stitched onto a snapshot with no gap and no double.
//
// Every update and every snapshot carries the log position it reflects. An update is applied
// only when its position is above the last one applied. While the feed (re)synchronizes —
// loading the snapshot, or catching up over REST after a reconnect — live messages are held
// and applied afterwards in position order, so an update that arrives early is neither lost
// nor applied ahead of older ones.

/** The answer of the catch-up endpoint when the history before `after` was pruned. */
export class HistoryGone extends Error {
  constructor() {
    super("the updates after this position are no longer kept");
    this.name = "HistoryGone";
  }
}

/** A position as the server sends it (an integer), or null when absent. */
export function positionOf(body) {
  const position = body == null ? undefined : body.position;
  return Number.isSafeInteger(position) ? position : null;
}

export class TopicFeed {
  /**
   * @param {string} topic e.g. `class.<id>.dashboard`
   * @param {object} source
   * @param {() => Promise<object>} source.snapshot loads the snapshot (with its `position`)
   * @param {(topic: string, after: number) => Promise<{items: {position: number, body: object}[], next_after: number, more: boolean}>} source.updates
   *   one page of the catch-up endpoint; rejects with {@link HistoryGone} on a 410
   * @param {object} sink
   * @param {(snapshot: object) => void} sink.snapshot shows a snapshot
   * @param {(update: object) => void} sink.update applies one update
   */
  constructor(topic, source, sink) {
    this.topic = topic;
    this.source = source;
    this.sink = sink;
    /** The position of the last snapshot or update applied; null before the first. */
    this.last = null;
    this.held = [];
    /** Loads and catch-ups asked for and not finished: live messages wait meanwhile. */
    this.syncs = 0;
    this.closed = false;
    /** Loads and catch-ups run one after the other. */
    this.queue = Promise.resolve();
  }

  /** A message that arrived live. */
  receive(body) {
    if (this.closed) return;
    if (this.syncs > 0) {
      this.held.push(body);
      return;
    }
    this.apply(body);
  }

  /** Loads the snapshot (again), then applies what arrived meanwhile. */
  load() {
    return this.serially(() => this.takeSnapshot());
  }

  /**
   * After a reconnect: fetches every update after the last one applied, in order; reloads the
   * snapshot when that history is gone (or when no position is known yet).
   */
  catchUp() {
    return this.serially(() => this.catchUpNow());
  }

  /** Runs `step` after the loads and catch-ups before it, holding live messages from now. */
  serially(step) {
    this.syncs++;
    const run = this.queue.then(step).finally(() => this.release());
    this.queue = run.catch(() => {});
    return run;
  }

  /** One sync finished: when none is left, applies the held messages in position order. */
  release() {
    this.syncs--;
    if (this.syncs > 0) return;
    const held = this.held.splice(0);
    held.sort((a, b) => (positionOf(a) ?? 0) - (positionOf(b) ?? 0));
    for (const body of held) this.apply(body);
  }

  async catchUpNow() {
    if (this.last === null || !(await this.fetchMissed())) await this.takeSnapshot();
  }

  async takeSnapshot() {
    const snapshot = await this.source.snapshot();
    if (this.closed) return;
    this.last = positionOf(snapshot);
    this.sink.snapshot(snapshot);
  }

  /** Applies the stored updates after the last position; false when they are gone. */
  async fetchMissed() {
    let after = this.last;
    for (;;) {
      let page;
      try {
        page = await this.source.updates(this.topic, after);
      } catch (error) {
        if (error instanceof HistoryGone) return false;
        throw error;
      }
      if (this.closed) return true;
      for (const item of page.items) {
        this.apply(positionOf(item.body) === null ? { ...item.body, position: item.position } : item.body);
      }
      const next = Number.isSafeInteger(page.next_after) ? page.next_after : after;
      if (!page.more || next <= after) return true;
      after = next;
    }
  }

  /** Stops applying anything (the class was switched or the user signed out). */
  close() {
    this.closed = true;
    this.held = [];
  }

  apply(body) {
    if (this.closed) return;
    const position = positionOf(body);
    if (position === null) return;
    if (this.last !== null && position <= this.last) return;
    this.last = position;
    this.sink.update(body);
  }
}

/**
 * The NATS subject of `topic` among the subjects a credential grants: the one that ends with
 * it, or the topic under the prefix the granted subjects share.
 */
export function subjectFor(subjects, topic) {
  const exact = subjects.find((s) => s === topic || s.endsWith(`.${topic}`));
  if (exact) return exact;
  for (const subject of subjects) {
    const match = /^(.+?)\.(?:user|class)\./.exec(subject);
    if (match) return `${match[1]}.${topic}`;
  }
  return null;
}

/** Whether `subjects` (a credential's grant) names `topic` itself. */
export function grants(subjects, topic) {
  return subjects.some((s) => s === topic || s.endsWith(`.${topic}`));
}

/** When to renew a credential that expires at `expiresAt`: at half its remaining life. */
export function renewalDelay(expiresAt, now = Date.now()) {
  const end = Date.parse(expiresAt);
  if (Number.isNaN(end)) return 60_000;
  return Math.max(1_000, Math.floor((end - now) / 2));
}
