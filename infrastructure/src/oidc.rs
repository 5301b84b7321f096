//! OpenID Connect providers (Google, Microsoft Entra ID, Clever) with `openidconnect`.
//!
//! Discovery is fetched lazily and retried on the next sign-in after a failure, so an
//! unreachable provider never stops the server. The HTTP client follows no redirects (the
//! crate's advice against SSRF).

use std::time::Duration;

use application::ports::{AuthorizationStart, ExternalIdentity, OidcFailure, OidcProvider};
use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJsonWebKeySet, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, OAuth2TokenResponse as _, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse as _,
};
use tokio::sync::RwLock;

/// Which provider, with its special rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderKind {
    Google,
    /// Entra ID. With a multi-tenant issuer (`{tenantid}` in it), the token's `tid` is
    /// substituted to check `iss`, and only `allowed_tenants` are accepted (`None`: any).
    Microsoft {
        allowed_tenants: Option<Vec<String>>,
    },
    /// Clever: `user_type` is taken from the token into the user's profile.
    Clever,
}

/// One provider's configuration.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub kind: ProviderKind,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    pub issuer_url: String,
}

/// A configured provider.
pub struct Provider {
    settings: ProviderSettings,
    http: reqwest::Client,
    metadata: RwLock<Option<CoreProviderMetadata>>,
}

fn failure(code: &'static str, detail: impl std::fmt::Display) -> OidcFailure {
    OidcFailure::new(code, detail.to_string())
}

impl Provider {
    pub fn new(settings: ProviderSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            settings,
            http,
            metadata: RwLock::new(None),
        })
    }

    fn multi_tenant(&self) -> bool {
        self.settings.issuer_url.contains("{tenantid}")
            || matches!(self.settings.kind, ProviderKind::Microsoft { .. })
    }

    /// The discovery document (and keys), fetched once and kept; a failure is retried on
    /// the next call.
    async fn metadata(&self) -> Result<CoreProviderMetadata, OidcFailure> {
        if let Some(metadata) = self.metadata.read().await.as_ref() {
            return Ok(metadata.clone());
        }
        let metadata = if self.multi_tenant() {
            // Entra's multi-tenant document names an issuer template (`{tenantid}`), which
            // the crate's discovery would reject as a mismatch: fetch it directly.
            let url = format!(
                "{}/.well-known/openid-configuration",
                self.settings.issuer_url.trim_end_matches('/')
            );
            let body = self
                .http
                .get(&url)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|e| failure("provider_unavailable", e))?
                .bytes()
                .await
                .map_err(|e| failure("provider_unavailable", e))?;
            let metadata: CoreProviderMetadata = serde_json::from_slice(&body)
                .map_err(|e| failure("provider_unavailable", format!("discovery: {e}")))?;
            let jwks = CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), &self.http)
                .await
                .map_err(|e| failure("provider_unavailable", format!("jwks: {e}")))?;
            metadata.set_jwks(jwks)
        } else {
            let issuer = IssuerUrl::new(self.settings.issuer_url.clone())
                .map_err(|e| failure("provider_unavailable", e))?;
            CoreProviderMetadata::discover_async(issuer, &self.http)
                .await
                .map_err(|e| failure("provider_unavailable", format!("discovery: {e}")))?
        };
        *self.metadata.write().await = Some(metadata.clone());
        Ok(metadata)
    }

    async fn client(
        &self,
    ) -> Result<
        openidconnect::core::CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        OidcFailure,
    > {
        let metadata = self.metadata().await?;
        let redirect = RedirectUrl::new(self.settings.redirect_uri.clone())
            .map_err(|e| failure("server_error", e))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(self.settings.client_secret.clone())),
        )
        .set_redirect_uri(redirect))
    }

    /// The payload of a JWT, decoded without checking (call only after verification).
    fn payload(jwt: &str) -> serde_json::Value {
        jwt.split('.')
            .nth(1)
            .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }
}

fn name_of(kind: &ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Google => "google",
        ProviderKind::Microsoft { .. } => "microsoft",
        ProviderKind::Clever => "clever",
    }
}

fn claims_failure(error: ClaimsVerificationError) -> OidcFailure {
    let code = match &error {
        ClaimsVerificationError::Expired(_) => "token_expired",
        ClaimsVerificationError::InvalidAudience(_) => "wrong_audience",
        ClaimsVerificationError::InvalidIssuer(_) => "wrong_issuer",
        ClaimsVerificationError::InvalidNonce(_) => "nonce_mismatch",
        ClaimsVerificationError::SignatureVerification(_) => "invalid_signature",
        _ => "invalid_id_token",
    };
    failure(code, error)
}

#[async_trait]
impl OidcProvider for Provider {
    fn name(&self) -> &'static str {
        name_of(&self.settings.kind)
    }

    async fn start(&self) -> Result<AuthorizationStart, OidcFailure> {
        let client = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        Ok(AuthorizationStart {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    async fn finish(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<ExternalIdentity, OidcFailure> {
        let client = self.client().await?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| failure("server_error", e))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| failure("code_exchange_failed", e))?;
        let _ = response.access_token();
        let id_token = response
            .id_token()
            .ok_or_else(|| failure("invalid_id_token", "no id_token in the token response"))?;
        let multi_tenant = self.multi_tenant();
        let verifier = client
            .id_token_verifier()
            .require_issuer_match(!multi_tenant);
        let claims = match id_token.claims(&verifier, &Nonce::new(nonce.to_owned())) {
            Ok(claims) => claims,
            Err(error) => {
                if matches!(error, ClaimsVerificationError::SignatureVerification(_)) {
                    // The provider may have rotated its keys: fetch discovery and keys again
                    // on the next sign-in.
                    *self.metadata.write().await = None;
                }
                return Err(claims_failure(error));
            }
        };
        let raw = Self::payload(&id_token.to_string());
        if multi_tenant {
            // iss must equal the template with this token's tenant.
            let tid = raw.get("tid").and_then(|v| v.as_str()).unwrap_or_default();
            // The template may come back percent-encoded from URL parsing.
            let expected = self
                .metadata()
                .await?
                .issuer()
                .url()
                .as_str()
                .replace("%7Btenantid%7D", tid)
                .replace("{tenantid}", tid);
            if tid.is_empty() || claims.issuer().url().as_str() != expected {
                return Err(failure(
                    "wrong_issuer",
                    format!("issuer {} for tenant {tid:?}", claims.issuer().url()),
                ));
            }
            if let ProviderKind::Microsoft {
                allowed_tenants: Some(allowed),
            } = &self.settings.kind
            {
                if !allowed.iter().any(|t| t == tid) {
                    return Err(failure("tenant_not_allowed", format!("tenant {tid}")));
                }
            }
        }
        let user_type = match self.settings.kind {
            ProviderKind::Clever => raw
                .get("user_type")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            _ => None,
        };
        Ok(ExternalIdentity {
            subject: claims.subject().as_str().to_owned(),
            email: claims.email().map(|e| e.as_str().to_owned()),
            email_verified: claims.email_verified().unwrap_or(false),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned()),
            user_type,
        })
    }
}
