// A teacher watches a class on the dashboard page (/dashboard) in headless Chromium:
// signs in through the page, picks the class, sees the snapshot (the count of open safety
// concerns, not the concerns); a detection posted over REST appears within 1 second (and its
// notification soon after); after signing out, the page receives nothing more. Then a
// counselor of the district signs in on the same page and picks the class: a safety concern
// posted over REST appears in its open safety concerns within 1 second, and leaves the list
// when it is resolved. Run by tests/integration/dashboard_page.rs, which seeds the school and
// passes it in the environment:
//
//   RAPT_BASE_URL            the API, e.g. http://127.0.0.1:8080
//   RAPT_TEACHER_EMAIL       a teacher of the class, and their password:
//   RAPT_TEACHER_PASSWORD
//   RAPT_COUNSELOR_EMAIL     a counselor of a group above the class, and their password:
//   RAPT_COUNSELOR_PASSWORD
//   RAPT_CLASS_ID            the class, and its name:
//   RAPT_CLASS_NAME
//   RAPT_SERVICE_TOKEN       a service account's secret that may record detections
//   RAPT_LEARNING_SESSION    a running learning session of the class
//   CHROMIUM                 the browser (default /usr/bin/chromium)
//   RAPT_SCREENSHOT          where to save a screenshot when a step fails (optional)
//
// Exits 0 when every step passed; otherwise prints the failed step, the page's console and
// the websocket traffic, and exits 1.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";

import { chromium } from "playwright-core";

const env = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set`);
    process.exit(2);
  }
  return value;
};

const base = env("RAPT_BASE_URL").replace(/\/$/, "");
const teacher = { email: env("RAPT_TEACHER_EMAIL"), password: env("RAPT_TEACHER_PASSWORD") };
const counselor = { email: env("RAPT_COUNSELOR_EMAIL"), password: env("RAPT_COUNSELOR_PASSWORD") };
const classId = env("RAPT_CLASS_ID");
const className = env("RAPT_CLASS_NAME");
const service = env("RAPT_SERVICE_TOKEN");
const session = env("RAPT_LEARNING_SESSION");

const LIVE_WITHIN_MS = 1_000;
const NOTIFICATION_WITHIN_MS = 5_000;
const QUIET_AFTER_SIGN_OUT_MS = 3_000;

const log = (...args) => console.log(`[${new Date().toISOString()}]`, ...args);
const consoleLines = [];
const sockets = [];
/** Every websocket frame the page received: when, and its text. */
const frames = [];

/** Records a detection over REST as the tutoring service. */
async function record(detection) {
  const response = await fetch(`${base}/learning-sessions/${session}/detections`, {
    method: "POST",
    headers: { Authorization: `Bearer ${service}`, "Content-Type": "application/json" },
    body: JSON.stringify(detection),
  });
  const body = await response.text();
  assert.equal(response.status, 200, `recording a detection: ${body}`);
}

/** Records a misbehavior detection over REST as the tutoring service; returns its category. */
async function detect(label) {
  const category = `${label}-${randomUUID().slice(0, 8)}`;
  const started = Date.now();
  await record({ type: "misbehavior", category, severity: "medium", evidence: "asked the tutor for the answer key" });
  return { category, started };
}

/** Records a safety concern (urgency `same_day`) as the tutoring service; returns its type. */
async function detectConcern(label) {
  const concernType = `${label}-${randomUUID().slice(0, 8)}`;
  const started = Date.now();
  await record({ type: "safety_concern", concern_type: concernType, urgency: "same_day", evidence: "said they feel unsafe" });
  return { concernType, started };
}

/** A call to the API with a bearer token; answers the JSON body. */
async function callAs(token, method, path, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Signs in over REST (a session apart from the page's); answers the bearer token. */
async function signInOverRest(person) {
  const response = await fetch(`${base}/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email: person.email, password: person.password }),
  });
  const text = await response.text();
  assert.equal(response.status, 200, `signing in over REST: ${text}`);
  return JSON.parse(text).token;
}

async function step(name, run) {
  log(`step: ${name}`);
  await run();
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // The test runs as root, where Chromium's sandbox cannot start.
  args: ["--no-sandbox"],
});
const context = await browser.newContext();
const page = await context.newPage();
page.on("console", (m) => consoleLines.push(`console.${m.type()}: ${m.text()}`));
page.on("pageerror", (e) => consoleLines.push(`page error: ${e.message}`));
page.on("requestfailed", (r) => consoleLines.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
page.on("websocket", (ws) => {
  sockets.push(ws);
  consoleLines.push(`websocket opened: ${ws.url()}`);
  ws.on("framereceived", ({ payload }) => frames.push({ at: Date.now(), text: String(payload) }));
  ws.on("close", () => consoleLines.push(`websocket closed: ${ws.url()}`));
});

const connection = page.locator("#connection");
const events = page.locator("#events li");
const concerns = page.locator("#concerns li");

/** Waits until the indicator says `Live`. */
async function waitLive() {
  try {
    await page.locator('#connection[data-state="live"]').waitFor({ timeout: 10_000 });
  } catch (error) {
    const state = await connection.getAttribute("data-state");
    const detail = await connection.getAttribute("title");
    throw new Error(`the connection is "${state}" (${detail || "no detail"}), not live`, { cause: error });
  }
}

let failed = null;
try {
  await step("the page asks an anonymous visitor to sign in", async () => {
    const response = await page.goto(`${base}/dashboard`);
    assert.equal(response.status(), 200);
    await page.locator("#sign-in").waitFor({ state: "visible", timeout: 5_000 });
    assert.equal(await page.title(), "Class dashboard · Raptscallions");
  });

  await step("a wrong password is refused on the page", async () => {
    await page.getByLabel("Email").fill(teacher.email);
    await page.getByLabel("Password").fill(`${teacher.password} but wrong`);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").filter({ hasText: "Wrong email or password." }).waitFor({ timeout: 5_000 });
  });

  await step("the teacher signs in and picks the class", async () => {
    await page.getByLabel("Password").fill(teacher.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#board").waitFor({ state: "visible", timeout: 5_000 });
    const select = page.getByRole("combobox", { name: "Class" });
    await page.locator(`#class-select option[value="${classId}"]`).waitFor({ state: "attached", timeout: 5_000 });
    assert.equal(await page.locator(`#class-select option[value="${classId}"]`).textContent(), className);
    await select.selectOption(classId);
  });

  await step("the class's snapshot is shown", async () => {
    await page.locator("#class-board").waitFor({ state: "visible", timeout: 5_000 });
    await page.locator("#active-sessions").filter({ hasText: /^1$/ }).waitFor({ timeout: 5_000 });
    await events.filter({ hasText: "Session started" }).first().waitFor({ timeout: 5_000 });
    assert.equal(await page.locator('#misbehavior-today [data-severity="medium"]').textContent(), "0");
    assert.equal(await page.locator("#open-safety-concerns").textContent(), "0");
  });

  await step("the live connection comes up", waitLive);

  await step("a teacher sees the count of open safety concerns, not the concerns", async () => {
    assert.equal(await page.locator("#concerns-card").isVisible(), false);
    assert.equal(await concerns.count(), 0);
  });

  let first;
  await step(`a detection posted over REST appears within ${LIVE_WITHIN_MS} ms`, async () => {
    first = await detect("live-check");
    const item = events.filter({ hasText: `Misbehavior (medium): ${first.category}` });
    const left = LIVE_WITHIN_MS - (Date.now() - first.started);
    try {
      await item.waitFor({ timeout: Math.max(left, 1) });
    } catch (error) {
      throw new Error(`the detection was not on the page ${LIVE_WITHIN_MS} ms after it was posted`, { cause: error });
    }
    log(`shown ${Date.now() - first.started} ms after the POST started`);
    assert.equal(await page.locator('#misbehavior-today [data-severity="medium"]').textContent(), "1");
    // Newest first.
    assert.match(await events.first().textContent(), new RegExp(first.category));
  });

  await step("the teacher's notification about it arrives with the unread count", async () => {
    await page.locator("#notifications li[data-kind='misbehavior']").first().waitFor({ timeout: NOTIFICATION_WITHIN_MS });
    await page.locator("#unread[data-count='1']").waitFor({ timeout: NOTIFICATION_WITHIN_MS });
  });

  await step("a reload reuses the session cookie and goes live again", async () => {
    // The sockets of the page before the reload go with it (Playwright reports no close).
    sockets.length = 0;
    await page.reload();
    await page.locator("#board").waitFor({ state: "visible", timeout: 5_000 });
    assert.equal(await page.locator("#sign-in").isVisible(), false);
    // The teacher's only class is picked at once; the snapshot has the detection.
    await events.filter({ hasText: first.category }).waitFor({ timeout: 5_000 });
    await page.locator('#connection[data-state="live"]').waitFor({ timeout: 10_000 });
  });

  await step("signing out closes the live connection", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.locator("#sign-in").waitFor({ state: "visible", timeout: 5_000 });
    await page.locator('#connection[data-state="offline"]').waitFor({ timeout: 5_000 });
    assert.ok(sockets.length > 0, "the page opened a websocket");
    const deadline = Date.now() + 5_000;
    while (sockets.some((ws) => !ws.isClosed()) && Date.now() < deadline) await page.waitForTimeout(50);
    assert.ok(sockets.every((ws) => ws.isClosed()), "every websocket of the page is closed");
  });

  await step(`after signing out, a detection does not reach the page (${QUIET_AFTER_SIGN_OUT_MS} ms)`, async () => {
    const signedOutAt = Date.now();
    const later = await detect("after-sign-out");
    await page.waitForTimeout(QUIET_AFTER_SIGN_OUT_MS);
    const leaked = frames.filter((f) => f.at >= signedOutAt && f.text.includes(later.category));
    assert.deepEqual(leaked, [], "no websocket frame carried the later detection");
    assert.ok(!(await page.content()).includes(later.category), "the page does not show the later detection");
    assert.ok(!(await page.content()).includes(first.category), "nothing of the class is left on the page");
    assert.equal(await page.locator("#board").isVisible(), false);
  });

  await step("a counselor of the district signs in on the page and picks the class", async () => {
    await page.getByLabel("Email").fill(counselor.email);
    await page.getByLabel("Password").fill(counselor.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#board").waitFor({ state: "visible", timeout: 5_000 });
    await page.locator(`#class-select option[value="${classId}"]`).waitFor({ state: "attached", timeout: 5_000 });
    await page.getByRole("combobox", { name: "Class" }).selectOption(classId);
    await page.locator("#class-board").waitFor({ state: "visible", timeout: 5_000 });
  });

  await step("the counselor sees the class's open safety concerns: none yet", async () => {
    await page.locator("#concerns-card").waitFor({ state: "visible", timeout: 5_000 });
    await page.locator("#concerns-empty").waitFor({ state: "visible", timeout: 5_000 });
    assert.equal(await concerns.count(), 0);
    assert.equal(await page.locator("#open-safety-concerns").textContent(), "0");
    await waitLive();
  });

  let concern;
  await step(`a safety concern posted over REST is listed within ${LIVE_WITHIN_MS} ms`, async () => {
    concern = await detectConcern("distress");
    const item = concerns.filter({ hasText: concern.concernType });
    const left = LIVE_WITHIN_MS - (Date.now() - concern.started);
    try {
      await item.waitFor({ timeout: Math.max(left, 1) });
    } catch (error) {
      throw new Error(`the concern was not listed ${LIVE_WITHIN_MS} ms after it was posted`, { cause: error });
    }
    log(`listed ${Date.now() - concern.started} ms after the POST started`);
    assert.equal(await concerns.count(), 1);
    assert.equal(await item.getAttribute("data-urgency"), "same_day");
    assert.equal(await item.getAttribute("data-status"), "open");
    const text = await item.textContent();
    assert.match(text, /Same day/);
    assert.match(text, /Open/);
    assert.equal(await page.locator("#concerns-empty").isVisible(), false);
    await page.locator("#open-safety-concerns").filter({ hasText: /^1$/ }).waitFor({ timeout: 5_000 });
    concern.id = await item.getAttribute("data-id");
  });

  await step("resolved over REST, the concern leaves the list", async () => {
    const token = await signInOverRest(counselor);
    const resolved = await callAs(token, "POST", `/safety-concerns/${concern.id}/resolve`, {
      outcome: "addressed",
      notes: "Talked with the student.",
    });
    assert.equal(resolved.status, "resolved");
    await concerns.filter({ hasText: concern.concernType }).waitFor({ state: "detached", timeout: 5_000 });
    assert.equal(await concerns.count(), 0);
    await page.locator("#concerns-empty").waitFor({ state: "visible", timeout: 5_000 });
    await page.locator("#open-safety-concerns").filter({ hasText: /^0$/ }).waitFor({ timeout: 5_000 });
  });
} catch (error) {
  failed = error;
}

if (failed) {
  console.error(`FAILED: ${failed.message}`);
  if (failed.cause) console.error(`  cause: ${failed.cause.message?.split("\n")[0]}`);
  console.error("page console and websockets:");
  for (const line of consoleLines) console.error(`  ${line}`);
  console.error(`websocket frames received: ${frames.length}`);
  for (const f of frames.slice(-20)) console.error(`  ${new Date(f.at).toISOString()} ${f.text.slice(0, 300)}`);
  if (process.env.RAPT_SCREENSHOT) {
    await page.screenshot({ path: process.env.RAPT_SCREENSHOT, fullPage: true }).catch(() => {});
    console.error(`screenshot: ${process.env.RAPT_SCREENSHOT}`);
  }
}
await browser.close();
if (failed) process.exit(1);
log("every step passed");
