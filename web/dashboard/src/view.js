// What the page shows. Every value from the server goes into the page as text
// (`textContent`), never as markup.

const $ = (id) => document.getElementById(id);

const RECENT_EVENTS = 50;
const NOTIFICATIONS = 50;
const SEVERITIES = ["low", "medium", "high", "critical"];
const URGENCY_TEXT = { immediate: "Immediate", same_day: "Same day", monitor: "Monitor" };
const CONCERN_STATUS_TEXT = { open: "Open", acknowledged: "Acknowledged" };

const STATE_TEXT = {
  offline: "Offline",
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  unavailable: "Live updates unavailable",
};

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function timeElement(iso) {
  const node = document.createElement("time");
  node.dateTime = iso;
  const date = new Date(iso);
  node.textContent = Number.isNaN(date.getTime())
    ? iso
    : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  node.title = Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
  return node;
}

export function showLoading(on) {
  $("loading").hidden = !on;
}

export function showConnection(state, detail) {
  const node = $("connection");
  node.dataset.state = state;
  $("connection-text").textContent = STATE_TEXT[state] || state;
  node.title = detail || "";
}

export function showSignIn(notice) {
  $("board").hidden = true;
  $("account").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").hidden = true;
  $("sign-in-notice").hidden = !notice;
  $("sign-in-notice").textContent = notice || "";
  $("password").value = "";
  $("sign-in-submit").disabled = false;
  $("email").focus();
}

export function showSignInError(message) {
  const node = $("sign-in-error");
  node.textContent = message;
  node.hidden = false;
  $("sign-in-submit").disabled = false;
}

export function showBoard(user) {
  $("sign-in").hidden = true;
  $("account").hidden = false;
  $("account-name").textContent = user.name || user.email || "";
  $("board").hidden = false;
  $("main").focus();
}

export function showBoardError(message) {
  const node = $("board-error");
  node.textContent = message || "";
  node.hidden = !message;
}

/** Fills the class picker; `classes` is `[{id, name}]`. */
export function showClasses(classes, selected) {
  const select = $("class-select");
  while (select.options.length > 1) select.remove(1);
  for (const c of classes) {
    const option = element("option", "", c.name);
    option.value = c.id;
    select.append(option);
  }
  select.value = selected || "";
  select.disabled = classes.length === 0;
  $("class-empty").hidden = classes.length > 0;
}

export function clearClass() {
  $("class-board").hidden = true;
  $("events").replaceChildren();
  $("struggling").replaceChildren();
  $("concerns-card").hidden = true;
  $("concerns").replaceChildren();
  $("concerns-more").hidden = true;
}

/** The class dashboard: counters and recent events; `names` maps user ids to names. */
export class ClassView {
  constructor(names) {
    this.names = names;
    this.events = [];
  }

  studentName(id) {
    if (!id) return "";
    return this.names.get(id) || `Student ${id.slice(0, 8)}`;
  }

  /** A snapshot from `GET /classes/{id}/dashboard`. */
  snapshot(board) {
    $("class-board").hidden = false;
    this.counters(board);
    this.events = (board.recent_events || []).slice(0, RECENT_EVENTS);
    const list = $("events");
    list.replaceChildren(...this.events.map((e) => this.eventItem(e, false)));
    $("events-empty").hidden = this.events.length > 0;
  }

  /** A live update: `{position, class_id, dashboard, events}` (events oldest first). */
  update(update) {
    $("class-board").hidden = false;
    if (update.dashboard) this.counters(update.dashboard);
    for (const event of update.events || []) {
      if (this.events.some((e) => e.position === event.position)) continue;
      this.events.unshift(event);
      const list = $("events");
      list.prepend(this.eventItem(event, true));
      while (this.events.length > RECENT_EVENTS) {
        this.events.pop();
        list.lastElementChild?.remove();
      }
      $("events-empty").hidden = true;
    }
  }

  counters(board) {
    $("active-sessions").textContent = String(board.active_sessions ?? "–");
    $("open-safety-concerns").textContent = String(board.open_safety_concerns ?? "–");
    $("assessments-awaiting-review").textContent = String(board.assessments_awaiting_review ?? "–");
    $("submissions-awaiting-grade").textContent = String(board.submissions_awaiting_grade ?? "–");
    for (const [row, counts] of [
      ["misbehavior-today", board.misbehavior?.today],
      ["misbehavior-total", board.misbehavior?.total],
    ]) {
      for (const severity of SEVERITIES) {
        const cell = $(row).querySelector(`[data-severity="${severity}"]`);
        cell.textContent = String(counts?.[severity] ?? "–");
      }
    }
    const struggling = board.struggling_students || [];
    $("struggling").replaceChildren(
      ...struggling.map((s) => {
        const item = element("li");
        item.append(element("strong", "", this.studentName(s.student_id)));
        item.append(document.createTextNode(` — ${s.topic}, since `));
        item.append(timeElement(s.since));
        return item;
      }),
    );
    $("struggling-empty").hidden = struggling.length > 0;
  }

  eventItem(event, fresh) {
    const item = element("li", fresh ? "new" : "");
    item.dataset.position = String(event.position);
    item.dataset.type = event.type || "";
    item.append(timeElement(event.recorded_at));
    const text = element("span", "", event.summary);
    if (event.student_id) {
      text.append(" ");
      text.append(element("span", "who", `· ${this.studentName(event.student_id)}`));
    }
    item.append(text);
    return item;
  }
}

/**
 * The class's unresolved safety concerns (`open` or `acknowledged`), newest first, for those
 * who handle them; `names` maps user ids to names. A concern that is resolved leaves the list.
 */
export class ConcernsView {
  constructor(names) {
    this.names = names;
    /** By id. */
    this.concerns = new Map();
  }

  studentName(id) {
    return this.names.get(id) || `Student ${id.slice(0, 8)}`;
  }

  /** A snapshot from `GET /safety-concerns?class_id=…` (the unresolved ones, newest first). */
  snapshot(page) {
    this.concerns = new Map((page.items || []).map((c) => [c.id, c]));
    const more = $("concerns-more");
    more.hidden = !page.next_cursor;
    more.textContent = page.next_cursor ? `Only the newest ${this.concerns.size} are listed.` : "";
    this.render(new Set());
  }

  /** A live update: `{position, class_id, concern}`, the concern after the change. */
  update(update) {
    const concern = update.concern;
    if (!concern || !concern.id) return;
    const fresh = new Set();
    if (concern.status === "resolved") {
      this.concerns.delete(concern.id);
    } else {
      if (!this.concerns.has(concern.id)) fresh.add(concern.id);
      this.concerns.set(concern.id, concern);
    }
    this.render(fresh);
  }

  render(fresh) {
    const concerns = [...this.concerns.values()].sort(
      (a, b) => Date.parse(b.opened_at) - Date.parse(a.opened_at) || b.id.localeCompare(a.id),
    );
    $("concerns").replaceChildren(
      ...concerns.map((c) => {
        const item = element("li", fresh.has(c.id) ? "new" : "");
        item.dataset.id = c.id;
        item.dataset.status = c.status || "";
        item.dataset.urgency = c.urgency || "";
        const head = element("p", "title");
        head.append(element("span", "urgency", URGENCY_TEXT[c.urgency] || c.urgency || ""));
        head.append(" ");
        head.append(element("strong", "", this.studentName(c.student_id)));
        head.append(` — ${c.concern_type}`);
        item.append(head);
        const meta = element("p", "meta");
        meta.append(timeElement(c.opened_at));
        meta.append(` · ${CONCERN_STATUS_TEXT[c.status] || c.status}`);
        if (Number.isInteger(c.level)) meta.append(` · alerted to level ${c.level}`);
        if (c.session_paused) meta.append(" · session paused");
        item.append(meta);
        return item;
      }),
    );
    $("concerns-empty").hidden = concerns.length > 0;
    $("concerns-card").hidden = false;
  }
}

/** The notifications panel; `markRead(id)` is called by its buttons. */
export class NotificationsView {
  constructor(markRead) {
    this.markRead = markRead;
    this.items = [];
  }

  /** A snapshot: `{items}` of `GET /notifications` and the unread count. */
  snapshot(page, unread) {
    this.items = (page.items || []).slice(0, NOTIFICATIONS);
    this.render(new Set());
    this.unread(unread);
  }

  /** A live update: `{position, change, notification, unread_count}`. */
  update(update) {
    const n = update.notification;
    const fresh = new Set();
    if (n) {
      const index = this.items.findIndex((i) => i.id === n.id);
      if (index >= 0) {
        this.items[index] = n;
      } else if (update.change === "created") {
        this.items.unshift(n);
        this.items.length = Math.min(this.items.length, NOTIFICATIONS);
        fresh.add(n.id);
      }
    }
    this.render(fresh);
    if (Number.isInteger(update.unread_count)) this.unread(update.unread_count);
  }

  unread(count) {
    const badge = $("unread");
    badge.dataset.count = String(count);
    badge.textContent = `${count} unread`;
  }

  clear() {
    this.items = [];
    $("notifications").replaceChildren();
    this.unread(0);
  }

  render(fresh) {
    $("notifications").replaceChildren(
      ...this.items.map((n) => {
        const item = element("li", [n.read_at ? "" : "unread", fresh.has(n.id) ? "new" : ""].join(" ").trim());
        item.dataset.id = n.id;
        item.dataset.kind = n.kind || "";
        item.append(element("p", "title", n.title));
        item.append(element("p", "", n.body));
        const meta = element("p", "meta");
        meta.append(timeElement(n.created_at));
        if (!n.read_at) {
          const button = element("button", "quiet", "Mark read");
          button.type = "button";
          button.setAttribute("aria-label", `Mark read: ${n.title}`);
          button.addEventListener("click", () => {
            button.disabled = true;
            this.markRead(n.id);
          });
          meta.append(button);
        }
        item.append(meta);
        return item;
      }),
    );
    $("notifications-empty").hidden = this.items.length > 0;
  }
}
