// The live connection: a short-lived NATS credential from the API (an HttpOnly cookie the
// browser presents on the websocket upgrade; this script never sees it), a websocket
// connection with the official NATS client, one subscription per topic, and the renewal of
// the credential at half its life. When the connection comes back after a drop, `onResumed`
// tells the page to catch up; when it is gone for good, a new credential and a new connection
// are tried with a growing delay.

import { wsconnect } from "@nats-io/nats-core";

import { api, ApiProblem } from "./api.js";
import { grants, renewalDelay, subjectFor } from "./feed.js";

/** Connection states shown by the indicator. */
export const State = Object.freeze({
  OFFLINE: "offline",
  CONNECTING: "connecting",
  LIVE: "live",
  RECONNECTING: "reconnecting",
  UNAVAILABLE: "unavailable",
});

const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 30_000;

export class LiveConnection {
  /**
   * @param {object} hooks
   * @param {(state: string, detail?: string) => void} hooks.state
   * @param {(topic: string, body: object) => void} hooks.message
   * @param {() => Promise<void>} hooks.resumed after a (re)connection, once subscribed
   * @param {() => void} hooks.signedOut the session ended (a credential was refused with 401)
   * @param {(topic: string) => void} hooks.notGranted an optional topic the credential does
   *   not grant (the policy no longer allows it): not subscribed
   */
  constructor(hooks) {
    this.hooks = hooks;
    this.generation = 0;
    this.nc = null;
    this.renewTimer = null;
    this.retryTimer = null;
  }

  /**
   * Connects for `classIds` and subscribes to `topics`; replaces any earlier connection. A
   * topic in `optional` that the credential does not grant is left out (`hooks.notGranted`);
   * any other that is not granted makes live updates unavailable.
   */
  start(classIds, topics, optional = []) {
    this.stop();
    const generation = ++this.generation;
    this.classIds = classIds;
    this.topics = topics;
    this.optional = new Set(optional);
    this.connect(generation, RETRY_FIRST_MS);
  }

  /** Closes the connection and forgets the timers. */
  stop() {
    this.generation++;
    clearTimeout(this.renewTimer);
    clearTimeout(this.retryTimer);
    const nc = this.nc;
    this.nc = null;
    if (nc) nc.close().catch(() => {});
    this.hooks.state(State.OFFLINE);
  }

  current(generation) {
    return generation === this.generation;
  }

  async connect(generation, retryDelay) {
    this.hooks.state(State.CONNECTING);
    let credential;
    try {
      credential = await api.credentials(this.classIds);
    } catch (error) {
      if (!this.current(generation)) return;
      if (error instanceof ApiProblem && error.status === 401) {
        this.hooks.signedOut();
        return;
      }
      if (error instanceof ApiProblem && error.status >= 400 && error.status < 500) {
        // Refused (403, 404, 422): retrying the same request would not help.
        this.hooks.state(State.UNAVAILABLE, error.message);
        return;
      }
      this.retry(generation, retryDelay, error.message);
      return;
    }
    if (!this.current(generation)) return;
    let nc;
    try {
      nc = await wsconnect({
        servers: credential.websocket_url,
        name: "raptscallions-dashboard",
        maxReconnectAttempts: -1,
        reconnectTimeWait: 1_000,
        reconnectJitter: 500,
        pingInterval: 20_000,
      });
    } catch (error) {
      if (!this.current(generation)) return;
      this.retry(generation, retryDelay, error.message);
      return;
    }
    if (!this.current(generation)) {
      nc.close().catch(() => {});
      return;
    }
    this.nc = nc;
    this.scheduleRenewal(generation, credential.expires_at);
    this.watchStatus(generation, nc);
    nc.closed().then((error) => {
      if (!this.current(generation)) return;
      this.nc = null;
      clearTimeout(this.renewTimer);
      this.retry(generation, RETRY_FIRST_MS, error ? error.message : "the connection closed");
    });
    const granted = credential.subjects || [];
    for (const topic of this.topics) {
      if (this.optional.has(topic) && !grants(granted, topic)) {
        this.hooks.notGranted(topic);
        continue;
      }
      const subject = subjectFor(granted, topic);
      if (!subject) {
        this.hooks.state(State.UNAVAILABLE, `no subject for ${topic}`);
        continue;
      }
      nc.subscribe(subject, {
        callback: (error, msg) => {
          if (!this.current(generation)) return;
          if (error) {
            // The server refused the subscription (a permissions violation).
            this.hooks.state(State.UNAVAILABLE, error.message);
            return;
          }
          let body;
          try {
            body = msg.json();
          } catch {
            return;
          }
          this.hooks.message(topic, body);
        },
      });
    }
    try {
      await nc.flush();
      await this.hooks.resumed();
    } catch (error) {
      if (!this.current(generation)) return;
      this.hooks.state(State.RECONNECTING, error.message);
      return;
    }
    if (this.current(generation)) this.hooks.state(State.LIVE);
  }

  retry(generation, delay, detail) {
    this.hooks.state(State.RECONNECTING, detail);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (this.current(generation)) this.connect(generation, Math.min(delay * 2, RETRY_MAX_MS));
    }, delay);
  }

  /** Asks for a new credential (a new cookie) before this one expires. */
  scheduleRenewal(generation, expiresAt) {
    clearTimeout(this.renewTimer);
    this.renewTimer = setTimeout(async () => {
      if (!this.current(generation)) return;
      try {
        const renewed = await api.credentials(this.classIds);
        if (this.current(generation)) this.scheduleRenewal(generation, renewed.expires_at);
      } catch (error) {
        if (!this.current(generation)) return;
        if (error instanceof ApiProblem && error.status === 401) {
          this.hooks.signedOut();
          return;
        }
        // Try again soon; the server disconnects an expired credential, and the reconnect
        // after a later renewal carries the new cookie.
        this.scheduleRenewal(generation, new Date(Date.now() + 20_000).toISOString());
      }
    }, renewalDelay(expiresAt));
  }

  async watchStatus(generation, nc) {
    // The client may report one reconnection twice: catch up once per drop.
    let dropped = false;
    for await (const status of nc.status()) {
      if (!this.current(generation)) return;
      if (status.type === "disconnect" || status.type === "reconnecting") {
        dropped = true;
        this.hooks.state(State.RECONNECTING);
      } else if (status.type === "reconnect" && dropped) {
        dropped = false;
        this.hooks.state(State.CONNECTING);
        try {
          await this.hooks.resumed();
          if (this.current(generation)) this.hooks.state(State.LIVE);
        } catch (error) {
          if (this.current(generation)) this.hooks.state(State.RECONNECTING, error.message);
        }
      }
    }
  }
}
