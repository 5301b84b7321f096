// The stitching of snapshots and live updates (src/feed.js): node --test test/

import assert from "node:assert/strict";
import { test } from "node:test";

import { HistoryGone, TopicFeed, grants, renewalDelay, subjectFor } from "../src/feed.js";

/** A promise and its resolver, to hold a request open while messages arrive. */
function pending() {
  let resolve;
  const promise = new Promise((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function recorder() {
  const seen = [];
  return {
    seen,
    sink: {
      snapshot: (s) => seen.push(`snapshot@${s.position}`),
      update: (u) => seen.push(u.position),
    },
  };
}

test("updates at or below the snapshot's position are dropped, later ones applied once", async () => {
  const { seen, sink } = recorder();
  const feed = new TopicFeed("class.c.dashboard", { snapshot: async () => ({ position: 10 }) }, sink);
  await feed.load();
  for (const position of [9, 10, 11, 11, 12, 12, 10]) feed.receive({ position });
  assert.deepEqual(seen, ["snapshot@10", 11, 12]);
  assert.equal(feed.last, 12);
});

test("messages that arrive while the snapshot loads are held, then applied in order", async () => {
  const { seen, sink } = recorder();
  const snapshot = pending();
  const feed = new TopicFeed("t", { snapshot: () => snapshot.promise }, sink);
  const loading = feed.load();
  // The subscription is live before the snapshot answers: 8 is in the snapshot, 14 and 12
  // are not (and arrive out of order).
  feed.receive({ position: 14 });
  feed.receive({ position: 8 });
  feed.receive({ position: 12 });
  snapshot.resolve({ position: 10 });
  await loading;
  assert.deepEqual(seen, ["snapshot@10", 12, 14]);
});

test("catching up applies the missed updates page by page, then what arrived meanwhile", async () => {
  const { seen, sink } = recorder();
  const asked = [];
  const second = pending();
  const source = {
    snapshot: async () => ({ position: 100 }),
    async updates(topic, after) {
      asked.push([topic, after]);
      if (after === 100) {
        return {
          items: [
            { topic, position: 110, body: { position: 110 } },
            { topic, position: 120, body: { position: 120 } },
          ],
          next_after: 120,
          more: true,
        };
      }
      return second.promise;
    },
  };
  const feed = new TopicFeed("t", source, sink);
  await feed.load();
  const catching = feed.catchUp();
  await new Promise((r) => setImmediate(r));
  feed.receive({ position: 140 });
  feed.receive({ position: 130 });
  second.resolve({ items: [{ topic: "t", position: 130, body: { position: 130 } }], next_after: 130, more: false });
  await catching;
  assert.deepEqual(asked, [["t", 100], ["t", 120]]);
  assert.deepEqual(seen, ["snapshot@100", 110, 120, 130, 140]);
});

test("a catch-up whose history is gone reloads the snapshot", async () => {
  const { seen, sink } = recorder();
  let snapshots = 0;
  const source = {
    snapshot: async () => ({ position: snapshots++ === 0 ? 5 : 50 }),
    updates: async () => {
      throw new HistoryGone();
    },
  };
  const feed = new TopicFeed("t", source, sink);
  await feed.load();
  await feed.catchUp();
  feed.receive({ position: 40 });
  feed.receive({ position: 60 });
  assert.deepEqual(seen, ["snapshot@5", "snapshot@50", 60]);
});

test("a catch-up before any snapshot loads the snapshot", async () => {
  const { seen, sink } = recorder();
  const source = {
    snapshot: async () => ({ position: 7 }),
    updates: async () => assert.fail("no catch-up without a position"),
  };
  await new TopicFeed("t", source, sink).catchUp();
  assert.deepEqual(seen, ["snapshot@7"]);
});

test("loads and catch-ups run one at a time", async () => {
  const { seen, sink } = recorder();
  const first = pending();
  let calls = 0;
  const source = {
    snapshot: () => (calls++ === 0 ? first.promise : Promise.resolve({ position: 3 })),
    updates: async () => ({ items: [{ position: 4, body: { position: 4 } }], next_after: 4, more: false }),
  };
  const feed = new TopicFeed("t", source, sink);
  const load = feed.load();
  const catchUp = feed.catchUp();
  first.resolve({ position: 2 });
  await Promise.all([load, catchUp]);
  assert.deepEqual(seen, ["snapshot@2", 4]);
});

test("a failed snapshot still releases the held messages and the next load works", async () => {
  const { seen, sink } = recorder();
  let fail = true;
  const source = {
    snapshot: async () => {
      if (fail) throw new Error("503");
      return { position: 20 };
    },
  };
  const feed = new TopicFeed("t", source, sink);
  await assert.rejects(feed.load(), /503/);
  fail = false;
  await feed.load();
  feed.receive({ position: 21 });
  assert.deepEqual(seen, ["snapshot@20", 21]);
});

test("a closed feed applies nothing", async () => {
  const { seen, sink } = recorder();
  const feed = new TopicFeed("t", { snapshot: async () => ({ position: 1 }) }, sink);
  await feed.load();
  feed.close();
  feed.receive({ position: 2 });
  assert.deepEqual(seen, ["snapshot@1"]);
});

test("messages without a position are ignored", async () => {
  const { seen, sink } = recorder();
  const feed = new TopicFeed("t", { snapshot: async () => ({ position: 1 }) }, sink);
  await feed.load();
  feed.receive({ change: "created" });
  feed.receive({ position: "3" });
  assert.deepEqual(seen, ["snapshot@1"]);
});

test("the subject of a topic is found among the granted subjects", () => {
  const subjects = ["rapt.user.u1.notifications", "rapt.class.c1.dashboard"];
  assert.equal(subjectFor(subjects, "class.c1.dashboard"), "rapt.class.c1.dashboard");
  assert.equal(subjectFor(subjects, "user.u1.notifications"), "rapt.user.u1.notifications");
  // A wildcard grant: the topic goes under the same prefix.
  assert.equal(subjectFor(["t42.user.u1.>"], "user.u1.notifications"), "t42.user.u1.notifications");
  assert.equal(subjectFor([], "class.c1.dashboard"), null);
});

test("an optional topic is granted only when a subject names it", () => {
  const teacher = ["rapt.user.u1.notifications", "rapt.class.c1.dashboard", "rapt.class.c1.interventions"];
  assert.equal(grants(teacher, "class.c1.dashboard"), true);
  assert.equal(grants(teacher, "class.c1.safety_concerns"), false);
  assert.equal(grants([...teacher, "rapt.class.c1.safety_concerns"], "class.c1.safety_concerns"), true);
  // Another class's concerns are not this one's.
  assert.equal(grants(["rapt.class.c11.safety_concerns"], "class.c1.safety_concerns"), false);
});

test("a credential is renewed at half its remaining life", () => {
  const now = Date.parse("2026-12-07T10:00:00Z");
  assert.equal(renewalDelay("2026-12-07T10:10:00Z", now), 300_000);
  assert.equal(renewalDelay("2026-12-07T10:00:01Z", now), 1_000);
  assert.equal(renewalDelay("not a date", now), 60_000);
});
