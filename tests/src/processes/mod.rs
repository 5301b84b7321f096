//! Servers and processes the tests start: a private `nats-server`, the SMTP sink, the test
//! OpenID provider and `raptscallions` itself as a process (`serve` and its commands); and
//! the ports they listen on.

mod nats_server;
mod oidc_provider;
mod ports;
mod server;
mod smtp_sink;

pub use nats_server::{nats_url, NatsServer};
pub use oidc_provider::OidcTestProvider;
pub use ports::free_port;
pub use server::{create_admin_cli, run_cli, server_binary, server_binary_path, ServerProcess};
pub use smtp_sink::{ReceivedEmail, SmtpSink};
