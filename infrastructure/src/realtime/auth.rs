//! The keys behind NATS's decentralized authentication (ADR 0011) and what is signed with
//! them: the service's own connections, the short-lived user credentials of dashboards, and
//! the application account's JWT with its revocations.
//!
//! Three keys reach the service, as seeds in the environment (never in events, logs or
//! responses):
//! * the **operator signing key** (`NATS_OPERATOR_SIGNING_SEED`) signs account JWTs, so the
//!   service can publish a new account JWT when it revokes a credential;
//! * the **application account key** (`NATS_ACCOUNT_SEED`) signs user JWTs;
//! * the **system account key** (`NATS_SYSTEM_ACCOUNT_SEED`) signs the user the service sends
//!   account updates as (`$SYS.REQ.CLAIMS.UPDATE`).
//!
//! The operator's identity key signs only the operator JWT, once, in `raptscallions
//! nats-setup`; it is not kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use nkeys::KeyPair;

use super::nats_jwt::{self, AccountKind, Permission, UserGrant};

/// The name of the cookie that carries a browser's user JWT to the websocket listener
/// (`jwt_cookie` in the server's configuration).
pub const JWT_COOKIE: &str = "rapt_nats";

/// The keys of one deployment.
#[derive(Clone)]
pub struct NatsKeys {
    operator_signer: Arc<KeyPair>,
    account: Arc<KeyPair>,
    system: Arc<KeyPair>,
}

impl std::fmt::Debug for NatsKeys {
    /// Public keys only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsKeys")
            .field("operator_signer", &self.operator_signer.public_key())
            .field("account", &self.account.public_key())
            .field("system", &self.system.public_key())
            .finish()
    }
}

fn key(seed: &str, what: &str, kind: nkeys::KeyPairType) -> anyhow::Result<Arc<KeyPair>> {
    let pair = KeyPair::from_seed(seed.trim())
        .map_err(|e| anyhow::anyhow!("{what} is not an nkey seed: {e}"))?;
    if pair.key_pair_type() != kind {
        anyhow::bail!("{what} is not an nkey seed: expected a {kind:?} key");
    }
    Ok(Arc::new(pair))
}

/// A credential for one dashboard user.
#[derive(Debug, Clone)]
pub struct IssuedCredential {
    /// The user public key the JWT names (what a revocation names).
    pub user_key: String,
    pub jwt: String,
}

/// What `raptscallions nats-setup` writes.
#[derive(Debug, Clone)]
pub struct Setup {
    pub keys: NatsKeys,
    pub operator_jwt: String,
}

/// Where a configured server listens and keeps its files.
#[derive(Debug, Clone)]
pub struct ServerLayout {
    pub host: String,
    pub port: u16,
    pub websocket_port: u16,
    /// JetStream's store and the account resolver's directory go below it.
    pub dir: PathBuf,
    /// Origins whose pages may open a websocket (the API's public origins). Empty: any.
    pub allowed_origins: Vec<String>,
}

impl NatsKeys {
    pub fn from_seeds(operator_signer: &str, account: &str, system: &str) -> anyhow::Result<Self> {
        Ok(Self {
            operator_signer: key(
                operator_signer,
                "NATS_OPERATOR_SIGNING_SEED",
                nkeys::KeyPairType::Operator,
            )?,
            account: key(account, "NATS_ACCOUNT_SEED", nkeys::KeyPairType::Account)?,
            system: key(
                system,
                "NATS_SYSTEM_ACCOUNT_SEED",
                nkeys::KeyPairType::Account,
            )?,
        })
    }

    /// New keys for a new deployment, with the operator JWT naming them.
    pub fn generate() -> anyhow::Result<Setup> {
        let operator = KeyPair::new_operator();
        let keys = Self {
            operator_signer: Arc::new(KeyPair::new_operator()),
            account: Arc::new(KeyPair::new_account()),
            system: Arc::new(KeyPair::new_account()),
        };
        let operator_jwt = nats_jwt::operator_jwt(
            &operator,
            &keys.operator_signer.public_key(),
            &keys.system.public_key(),
            now(),
        )?;
        Ok(Setup { keys, operator_jwt })
    }

    /// The seeds, as the environment variables the service reads.
    pub fn environment(&self) -> anyhow::Result<Vec<(&'static str, String)>> {
        let seed = |k: &KeyPair| k.seed().map_err(|e| anyhow::anyhow!("{e}"));
        Ok(vec![
            ("NATS_OPERATOR_SIGNING_SEED", seed(&self.operator_signer)?),
            ("NATS_ACCOUNT_SEED", seed(&self.account)?),
            ("NATS_SYSTEM_ACCOUNT_SEED", seed(&self.system)?),
        ])
    }

    pub fn account_public_key(&self) -> String {
        self.account.public_key()
    }

    /// The application account's JWT with these revocations, issued at `issued_at` (unix
    /// seconds; the server keeps the newest).
    pub fn account_jwt(
        &self,
        revocations: &BTreeMap<String, i64>,
        issued_at: i64,
    ) -> anyhow::Result<String> {
        nats_jwt::account_jwt(
            &self.operator_signer,
            &self.account.public_key(),
            AccountKind::Application,
            revocations,
            issued_at,
        )
    }

    fn system_account_jwt(&self, issued_at: i64) -> anyhow::Result<String> {
        nats_jwt::account_jwt(
            &self.operator_signer,
            &self.system.public_key(),
            AccountKind::System,
            &BTreeMap::new(),
            issued_at,
        )
    }

    /// Connection options for the service itself: a user of the application account that may
    /// do anything in it, with a key made for this process (never written anywhere).
    pub fn service_connect_options(&self) -> anyhow::Result<async_nats::ConnectOptions> {
        self.connect_options(&self.account, "raptscallions")
    }

    /// Connection options for sending account updates: a user of the system account.
    pub fn system_connect_options(&self) -> anyhow::Result<async_nats::ConnectOptions> {
        self.connect_options(&self.system, "raptscallions-system")
    }

    fn connect_options(
        &self,
        account: &KeyPair,
        name: &str,
    ) -> anyhow::Result<async_nats::ConnectOptions> {
        let user = Arc::new(KeyPair::new_user());
        let jwt = nats_jwt::user_jwt(
            account,
            &user.public_key(),
            &UserGrant {
                name: name.to_owned(),
                publish: Permission::default(),
                subscribe: Permission::default(),
                expires_at: None,
                bearer: false,
            },
            now(),
        )?;
        Ok(async_nats::ConnectOptions::with_jwt(jwt, move |nonce| {
            let user = user.clone();
            async move { user.sign(&nonce).map_err(async_nats::AuthError::new) }
        }))
    }

    /// A bearer user JWT that may subscribe to `subjects` and publish nothing, until
    /// `expires_at` (unix seconds).
    pub fn user_credential(
        &self,
        name: &str,
        subjects: &[String],
        expires_at: i64,
    ) -> anyhow::Result<IssuedCredential> {
        let user_key = KeyPair::new_user().public_key();
        let jwt = nats_jwt::user_jwt(
            &self.account,
            &user_key,
            &UserGrant {
                name: name.to_owned(),
                publish: Permission {
                    allow: vec![],
                    deny: vec![">".into()],
                },
                subscribe: Permission {
                    allow: subjects.to_vec(),
                    deny: vec![],
                },
                expires_at: Some(expires_at),
                bearer: true,
            },
            now(),
        )?;
        Ok(IssuedCredential { user_key, jwt })
    }

    /// Sends the application account's JWT to the server (`$SYS.REQ.CLAIMS.UPDATE`, answered
    /// by the account resolver): the server stores it and disconnects the connected users it
    /// revokes.
    pub async fn push_account(
        &self,
        system: &async_nats::Client,
        account_jwt: String,
    ) -> anyhow::Result<()> {
        let reply = tokio::time::timeout(
            Duration::from_secs(5),
            system.request("$SYS.REQ.CLAIMS.UPDATE", account_jwt.into()),
        )
        .await
        .context("the NATS server did not answer the account update in time")?
        .context("sending the account update")?;
        let answer: serde_json::Value =
            serde_json::from_slice(&reply.payload).context("the account update's answer")?;
        if let Some(error) = answer.get("error") {
            anyhow::bail!("the NATS server refused the account update: {error}");
        }
        Ok(())
    }

    /// The server configuration for this deployment: client and websocket listeners, JetStream,
    /// the operator, and a resolver that keeps account JWTs on disk (so updates survive
    /// restarts) preloaded with the two accounts.
    pub fn server_config(
        &self,
        operator_jwt: &str,
        layout: &ServerLayout,
    ) -> anyhow::Result<String> {
        let issued = now();
        let system = self.system.public_key();
        let account = self.account.public_key();
        let origins = if layout.allowed_origins.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = layout
                .allowed_origins
                .iter()
                .map(|o| format!("{o:?}"))
                .collect();
            format!("  allowed_origins: [{}]\n", quoted.join(", "))
        };
        let dir =
            |sub: &str| -> String { format!("{:?}", layout.dir.join(sub).display().to_string()) };
        Ok(format!(
            "# Written by `raptscallions nats-setup` (ADR 0011). Holds public keys and JWTs only.\n\
             host: {host}\n\
             port: {port}\n\
             jetstream {{\n  store_dir: {store}\n}}\n\
             websocket {{\n  host: {host}\n  port: {ws}\n  no_tls: true\n  jwt_cookie: \"{cookie}\"\n{origins}}}\n\
             operator: \"{operator_jwt}\"\n\
             system_account: {system}\n\
             resolver: {{\n  type: full\n  dir: {accounts}\n  allow_delete: false\n  interval: \"2m\"\n}}\n\
             resolver_preload: {{\n  {system}: \"{system_jwt}\"\n  {account}: \"{account_jwt}\"\n}}\n",
            host = layout.host,
            port = layout.port,
            ws = layout.websocket_port,
            store = dir("jetstream"),
            accounts = dir("accounts"),
            cookie = JWT_COOKIE,
            system_jwt = self.system_account_jwt(issued)?,
            account_jwt = self.account_jwt(&BTreeMap::new(), issued)?,
        ))
    }
}

/// Writes a deployment's server configuration and the seeds the service reads: `dir/nats.conf`
/// and `dir/nats.env` (mode 0600). Keeps existing keys when `dir/nats.env` exists.
pub fn write_setup(dir: &Path, layout: &ServerLayout) -> anyhow::Result<NatsKeys> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let env_path = dir.join("nats.env");
    let operator_path = dir.join("operator.jwt");
    let (keys, operator_jwt) = if env_path.exists() && operator_path.exists() {
        let env = std::fs::read_to_string(&env_path)?;
        let get = |name: &str| -> anyhow::Result<String> {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .map(|v| v.trim_matches('\'').to_owned())
                .with_context(|| format!("{name} missing from {}", env_path.display()))
        };
        let keys = NatsKeys::from_seeds(
            &get("NATS_OPERATOR_SIGNING_SEED")?,
            &get("NATS_ACCOUNT_SEED")?,
            &get("NATS_SYSTEM_ACCOUNT_SEED")?,
        )?;
        (
            keys,
            std::fs::read_to_string(&operator_path)?.trim().to_owned(),
        )
    } else {
        let setup = NatsKeys::generate()?;
        let mut env =
            String::from("# Written by `raptscallions nats-setup`: secrets, keep private.\n");
        for (name, value) in setup.keys.environment()? {
            env.push_str(&format!("export {name}='{value}'\n"));
        }
        write_private(&env_path, &env)?;
        std::fs::write(&operator_path, format!("{}\n", setup.operator_jwt))?;
        (setup.keys, setup.operator_jwt)
    };
    std::fs::write(
        dir.join("nats.conf"),
        keys.server_config(&operator_jwt, layout)?,
    )?;
    Ok(keys)
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

/// Unix seconds now.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
