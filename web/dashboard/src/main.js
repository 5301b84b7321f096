// The class dashboard page: sign in (or reuse the `session` cookie), pick a class, then watch
// its dashboard, its open safety concerns (for those who handle them) and the user's
// notifications live. Snapshots come from the REST API; updates come over a NATS websocket
// (see live.js) and are stitched onto them by position (feed.js).

import { api, ApiProblem } from "./api.js";
import { TopicFeed } from "./feed.js";
import { LiveConnection, State } from "./live.js";
import * as view from "./view.js";

const $ = (id) => document.getElementById(id);

const page = {
  user: null,
  classId: "",
  /** The classes the user may watch: id → {id, name, actions}. */
  classes: new Map(),
  classFeed: null,
  concernFeed: null,
  notificationFeed: null,
  notifications: new view.NotificationsView(markRead),
  live: null,
};

page.live = new LiveConnection({
  state: view.showConnection,
  message(topic, body) {
    for (const feed of [page.classFeed, page.concernFeed, page.notificationFeed]) {
      if (feed && feed.topic === topic) feed.receive(body);
    }
  },
  async resumed() {
    const feeds = [page.notificationFeed, page.classFeed, page.concernFeed].filter(Boolean);
    try {
      await Promise.all(feeds.map((f) => f.catchUp()));
    } catch (error) {
      handleError(error);
      throw error;
    }
  },
  signedOut() {
    endSession("Your session has ended. Sign in again.");
  },
  notGranted(topic) {
    // The policy no longer lets the user handle the class's safety concerns: the count stays.
    if (page.concernFeed && page.concernFeed.topic === topic) closeConcerns();
  },
});

function message(error) {
  if (error instanceof ApiProblem) {
    if (error.status === 429 && error.retryAfter) {
      return `Too many attempts. Try again in ${error.retryAfter} seconds.`;
    }
    return error.title && error.message !== error.title
      ? `${error.title}: ${error.message}`
      : error.message;
  }
  return String(error && error.message ? error.message : error);
}

/** Any failure of a request: a 401 means the session is gone. */
function handleError(error) {
  if (error instanceof ApiProblem && error.status === 401) {
    endSession("Your session has ended. Sign in again.");
    return;
  }
  view.showBoardError(message(error));
}

function closeConcerns() {
  page.concernFeed?.close();
  page.concernFeed = null;
  $("concerns-card").hidden = true;
}

function closeFeeds() {
  page.classFeed?.close();
  page.concernFeed?.close();
  page.notificationFeed?.close();
  page.classFeed = null;
  page.concernFeed = null;
  page.notificationFeed = null;
}

/** Back to the sign-in form, with nothing of the last user left on the page. */
function endSession(notice) {
  page.live.stop();
  closeFeeds();
  page.user = null;
  page.classId = "";
  page.classes = new Map();
  view.clearClass();
  page.notifications.clear();
  view.showClasses([], "");
  view.showBoardError("");
  view.showSignIn(notice);
}

async function markRead(id) {
  try {
    await api.markRead(id);
  } catch (error) {
    handleError(error);
  }
}

/** The classes whose dashboard the user may read, by name, each with what the user may do. */
async function watchableClasses() {
  const [memberships, abilities] = await Promise.all([api.memberships(), api.abilities()]);
  const allowed = abilities.classes || {};
  const byId = new Map();
  for (const m of memberships.items || []) {
    if (m.kind !== "class" || byId.has(m.id)) continue;
    const actions = allowed[m.id] || [];
    if (actions.includes("class.read_dashboard")) byId.set(m.id, { id: m.id, name: m.name, actions });
  }
  return [...byId.values()].sort((a, b) => a.name.localeCompare(b.name));
}

async function studentNames(classId) {
  const names = new Map();
  try {
    const members = await api.members(classId);
    for (const m of members.items || []) names.set(m.user_id, m.name);
  } catch (error) {
    if (error instanceof ApiProblem && error.status === 401) throw error;
    // Without the roster the page shows short ids instead of names.
  }
  return names;
}

async function startBoard(user) {
  page.user = user;
  view.showBoard(user);
  page.notificationFeed = new TopicFeed(
    `user.${user.id}.notifications`,
    {
      async snapshot() {
        const [list, unread] = await Promise.all([api.notifications(), api.unreadCount()]);
        return { ...list, unread: unread.count };
      },
      updates: api.updates,
    },
    {
      snapshot: (s) => page.notifications.snapshot(s, s.unread),
      update: (u) => page.notifications.update(u),
    },
  );
  const [classes] = await Promise.all([watchableClasses(), page.notificationFeed.load()]);
  page.classes = new Map(classes.map((c) => [c.id, c]));
  const only = classes.length === 1 ? classes[0].id : "";
  view.showClasses(classes, only);
  if (only) await selectClass(only);
}

async function selectClass(classId) {
  if (classId === page.classId) return;
  page.live.stop();
  page.classFeed?.close();
  page.classFeed = null;
  closeConcerns();
  page.classId = classId;
  view.clearClass();
  view.showBoardError("");
  if (!classId) return;
  const names = await studentNames(classId);
  if (page.classId !== classId) return;
  const board = new view.ClassView(names);
  page.classFeed = new TopicFeed(
    `class.${classId}.dashboard`,
    { snapshot: () => api.dashboard(classId), updates: api.updates },
    { snapshot: (s) => board.snapshot(s), update: (u) => board.update(u) },
  );
  // The safety concerns themselves for those who handle them (counselors, admins); the others
  // (teachers) see only their count, on the dashboard.
  const actions = page.classes.get(classId)?.actions || [];
  if (actions.includes("class.handle_safety_concerns")) {
    const concerns = new view.ConcernsView(names);
    page.concernFeed = new TopicFeed(
      `class.${classId}.safety_concerns`,
      { snapshot: () => api.safetyConcerns(classId), updates: api.updates },
      { snapshot: (s) => concerns.snapshot(s), update: (u) => concerns.update(u) },
    );
  }
  // The snapshots first, so the page shows the class even while live updates are not there;
  // the connection's catch-up then fetches whatever happened in between.
  const concernFeed = page.concernFeed;
  await Promise.all([
    page.classFeed.load(),
    concernFeed?.load().catch((error) => {
      if (!(error instanceof ApiProblem) || ![403, 404].includes(error.status)) throw error;
      // No longer allowed since the abilities were read: the count stays.
      if (page.concernFeed === concernFeed) closeConcerns();
    }),
  ]);
  if (page.classId !== classId) return;
  const topics = [page.classFeed.topic, page.notificationFeed.topic];
  const optional = page.concernFeed ? [page.concernFeed.topic] : [];
  page.live.start([classId], [...topics, ...optional], optional);
}

async function signIn(event) {
  event.preventDefault();
  const email = $("email").value.trim();
  const password = $("password").value;
  if (!email || !password) {
    view.showSignInError("Enter your email and password.");
    return;
  }
  $("sign-in-submit").disabled = true;
  try {
    const signedIn = await api.login(email, password);
    await startBoard(signedIn.user);
  } catch (error) {
    if (page.user) {
      handleError(error);
    } else {
      view.showSignInError(
        error instanceof ApiProblem && error.status === 401 ? "Wrong email or password." : message(error),
      );
    }
  }
}

async function signOut() {
  page.live.stop();
  closeFeeds();
  try {
    await api.logout();
  } catch (error) {
    if (!(error instanceof ApiProblem && error.status === 401)) {
      view.showBoardError(`Signing out failed: ${message(error)}`);
      return;
    }
  }
  endSession("You have signed out.");
}

async function boot() {
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("class-select").addEventListener("change", (event) => {
    selectClass(event.target.value).catch(handleError);
  });
  view.showConnection(State.OFFLINE);
  try {
    const me = await api.me();
    view.showLoading(false);
    await startBoard(me.user);
  } catch (error) {
    view.showLoading(false);
    if (error instanceof ApiProblem && error.status === 401) {
      view.showSignIn("");
    } else if (page.user) {
      handleError(error);
    } else {
      view.showSignIn(`The service cannot be reached: ${message(error)}`);
    }
  }
}

boot();
