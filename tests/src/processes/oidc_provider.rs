//! The test OpenID provider (node-oidc-provider) that stands in for Google, Microsoft Entra
//! and Clever in the sign-in tests.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::{Child, Command};

use super::ports::free_port;

/// The test OpenID provider (`support/oidc/provider.mjs`, node-oidc-provider) with issuers
/// for Google, an Entra tenant (plus the multi-tenant `common` document) and Clever.
pub struct OidcTestProvider {
    pub port: u16,
    child: Child,
}

impl OidcTestProvider {
    /// Starts it for an app that will listen on `app_port`.
    pub async fn start(app_port: u16) -> Self {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/support/oidc");
        assert!(
            std::path::Path::new(dir)
                .join("node_modules/oidc-provider")
                .exists(),
            "run `npm ci --prefix tests/support/oidc` (scripts/test.sh does)"
        );
        let port = free_port();
        let child = Command::new("node")
            .arg(format!("{dir}/provider.mjs"))
            .arg(port.to_string())
            .arg(format!("http://127.0.0.1:{app_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node must be installed");
        for _ in 0..400 {
            if reqwest::get(format!(
                "http://127.0.0.1:{port}/google/.well-known/openid-configuration"
            ))
            .await
            .is_ok_and(|r| r.status() == 200)
            {
                return Self { port, child };
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the test OpenID provider did not start");
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment that configures all three providers against this one.
    pub fn env(&self, app_port: u16, allowed_tenants: &str) -> Vec<(String, String)> {
        let base = self.base();
        let app = format!("http://127.0.0.1:{app_port}");
        let mut env = vec![("BIND_ADDR".to_owned(), format!("127.0.0.1:{app_port}"))];
        for (prefix, name, issuer) in [
            ("GOOGLE", "google", format!("{base}/google")),
            (
                "MICROSOFT",
                "microsoft",
                format!("{base}/entra/common/v2.0"),
            ),
            ("CLEVER", "clever", format!("{base}/clever")),
        ] {
            env.push((format!("{prefix}_CLIENT_ID"), format!("{name}-client")));
            env.push((format!("{prefix}_CLIENT_SECRET"), format!("{name}-secret")));
            env.push((
                format!("{prefix}_REDIRECT_URI"),
                format!("{app}/auth/{name}/callback"),
            ));
            env.push((format!("{prefix}_ISSUER_URL"), issuer));
        }
        env.push((
            "MICROSOFT_ALLOWED_TENANTS".to_owned(),
            allowed_tenants.to_owned(),
        ));
        env
    }

    /// Makes the next ID token broken: `expired`, `wrong_aud`, `nonce` or `tamper`.
    pub async fn fault(&self, mode: &str) {
        let response = reqwest::Client::new()
            .post(format!("{}/__fault?mode={mode}", self.base()))
            .send()
            .await
            .expect("fault");
        assert_eq!(response.status(), 204);
    }

    /// The login name that makes the provider assert these claims.
    pub fn login_for(claims: &Value) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::json!({ "claims": claims }).to_string())
    }
}

impl Drop for OidcTestProvider {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
