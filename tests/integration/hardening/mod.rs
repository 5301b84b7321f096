//! Hardening (issue 24): what an attacker or a failing dependency must not achieve.

mod cookies;
mod http_errors;
mod lookalike_emails;
mod names;
mod nats_down;
mod password_guessing;
mod slow_clients;
mod strangers;
