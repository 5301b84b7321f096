// The REST calls the page makes, same origin, with the `session` cookie.

import { HistoryGone } from "./feed.js";

/** An RFC 9457 problem answer, or a failure to reach the API. */
export class ApiProblem extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.name = "ApiProblem";
    this.status = status;
    /** The stable slug of the problem type, e.g. `invalid-credentials`. */
    this.type = typeof problem.type === "string" ? problem.type.split("/").pop() : "";
    this.title = problem.title || "";
    this.retryAfter = problem.retryAfter;
  }
}

async function call(method, path, body) {
  const init = {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json, application/problem+json" },
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiProblem(0, { title: "The server cannot be reached" });
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    const problem = json && typeof json === "object" ? json : {};
    problem.retryAfter = response.headers.get("Retry-After");
    throw new ApiProblem(response.status, problem);
  }
  return json;
}

const enc = encodeURIComponent;

/** The unresolved safety concerns of a class the page lists at most (newest first). */
export const SAFETY_CONCERNS = 100;

export const api = {
  me: () => call("GET", "/auth/me"),
  login: (email, password) => call("POST", "/auth/login", { email, password }),
  logout: () => call("POST", "/auth/logout"),
  memberships: () => call("GET", "/me/memberships"),
  abilities: () => call("GET", "/me/abilities"),
  dashboard: (classId) => call("GET", `/classes/${enc(classId)}/dashboard`),
  members: (classId) => call("GET", `/classes/${enc(classId)}/members`),
  safetyConcerns: (classId) => call("GET", `/safety-concerns?class_id=${enc(classId)}&limit=${SAFETY_CONCERNS}`),
  notifications: () => call("GET", "/notifications?limit=20"),
  unreadCount: () => call("GET", "/notifications/unread-count"),
  markRead: (id) => call("POST", `/notifications/${enc(id)}/read`),
  credentials: (classIds) => call("POST", "/realtime/credentials", { class_ids: classIds }),
  async updates(topic, after) {
    try {
      return await call("GET", `/realtime/updates?topic=${enc(topic)}&after=${enc(after)}`);
    } catch (error) {
      if (error instanceof ApiProblem && error.status === 410) throw new HistoryGone();
      throw error;
    }
  },
};
