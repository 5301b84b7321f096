//! NATS decentralized authentication: the JWTs of an operator, its accounts and their users,
//! signed with `nkeys` (ed25519).
//!
//! `nats-jwt` 0.3 builds user JWTs but neither account revocations nor JetStream limits, so the
//! three claim sets are written here: a NATS JWT is a plain JWT whose header names the
//! `ed25519-nkey` algorithm and whose signature is the issuer's ed25519 signature over
//! `header.claims` (both base64url without padding). The field names follow the NATS JWT v2
//! schema that nats-server 2.9 reads.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use nkeys::KeyPair;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Limits with no bound (`-1`), as nats-server reads them.
const UNLIMITED: i64 = -1;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims<N> {
    jti: String,
    iat: i64,
    iss: String,
    sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    nats: N,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct OperatorNats {
    #[serde(rename = "type")]
    kind: String,
    version: u8,
    signing_keys: Vec<String>,
    system_account: String,
}

/// What an account may hold. JetStream is enabled for the account when a storage limit is
/// not zero.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AccountLimits {
    subs: i64,
    data: i64,
    payload: i64,
    imports: i64,
    exports: i64,
    wildcards: bool,
    conn: i64,
    leaf: i64,
    mem_storage: i64,
    disk_storage: i64,
    streams: i64,
    consumer: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AccountNats {
    #[serde(rename = "type")]
    kind: String,
    version: u8,
    limits: AccountLimits,
    /// User public key → unix time: the account refuses (and the server disconnects) that
    /// user's JWTs issued at or before the time.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    revocations: BTreeMap<String, i64>,
}

/// Subjects a user may publish or subscribe to.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Permission {
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub allow: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub deny: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct UserNats {
    #[serde(rename = "type")]
    kind: String,
    version: u8,
    #[serde(rename = "pub")]
    publish: Permission,
    #[serde(rename = "sub")]
    subscribe: Permission,
    subs: i64,
    data: i64,
    payload: i64,
    /// The server takes the JWT alone, without a signature over its nonce: what a browser
    /// needs when the JWT comes from an HttpOnly cookie that page scripts cannot read.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    bearer_token: bool,
}

fn sign<N: Serialize>(issuer: &KeyPair, claims: &Claims<N>) -> anyhow::Result<String> {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?);
    let signed = format!("{header}.{body}");
    let signature = issuer
        .sign(signed.as_bytes())
        .map_err(|e| anyhow::anyhow!("signing a NATS JWT: {e}"))?;
    Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

fn jti() -> String {
    uuid::Uuid::new_v4().simple().to_string().to_uppercase()
}

/// The operator's self-signed JWT, naming the key that signs its accounts and the system
/// account.
pub fn operator_jwt(
    operator: &KeyPair,
    signing_key: &str,
    system_account: &str,
    now: i64,
) -> anyhow::Result<String> {
    let public = operator.public_key();
    sign(
        operator,
        &Claims {
            jti: jti(),
            iat: now,
            iss: public.clone(),
            sub: public,
            name: Some("raptscallions".into()),
            exp: None,
            nats: OperatorNats {
                kind: "operator".into(),
                version: 2,
                signing_keys: vec![signing_key.to_owned()],
                system_account: system_account.to_owned(),
            },
        },
    )
}

/// What kind of account a JWT describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    /// The server's own account (`$SYS` requests: claim updates).
    System,
    /// The service's account: JetStream, the relay and the realtime subjects.
    Application,
}

/// An account JWT signed by the operator's signing key. `issued_at` must grow with every
/// update: the server keeps the newest JWT of an account.
pub fn account_jwt(
    signer: &KeyPair,
    account: &str,
    kind: AccountKind,
    revocations: &BTreeMap<String, i64>,
    issued_at: i64,
) -> anyhow::Result<String> {
    let storage = match kind {
        AccountKind::System => 0,
        AccountKind::Application => UNLIMITED,
    };
    sign(
        signer,
        &Claims {
            jti: jti(),
            iat: issued_at,
            iss: signer.public_key(),
            sub: account.to_owned(),
            name: Some(
                match kind {
                    AccountKind::System => "SYS",
                    AccountKind::Application => "RAPT",
                }
                .into(),
            ),
            exp: None,
            nats: AccountNats {
                kind: "account".into(),
                version: 2,
                limits: AccountLimits {
                    subs: UNLIMITED,
                    data: UNLIMITED,
                    payload: UNLIMITED,
                    imports: UNLIMITED,
                    exports: UNLIMITED,
                    wildcards: true,
                    conn: UNLIMITED,
                    leaf: UNLIMITED,
                    mem_storage: storage,
                    disk_storage: storage,
                    streams: if storage == 0 { 0 } else { UNLIMITED },
                    consumer: if storage == 0 { 0 } else { UNLIMITED },
                },
                revocations: revocations.clone(),
            },
        },
    )
}

/// A user of an account.
#[derive(Debug, Clone)]
pub struct UserGrant {
    pub name: String,
    pub publish: Permission,
    pub subscribe: Permission,
    /// Unix seconds; `None`: the JWT does not expire.
    pub expires_at: Option<i64>,
    pub bearer: bool,
}

/// A user JWT for `user` (a user public key) signed by the account's key.
pub fn user_jwt(
    account: &KeyPair,
    user: &str,
    grant: &UserGrant,
    issued_at: i64,
) -> anyhow::Result<String> {
    sign(
        account,
        &Claims {
            jti: jti(),
            iat: issued_at,
            iss: account.public_key(),
            sub: user.to_owned(),
            name: Some(grant.name.clone()),
            exp: grant.expires_at,
            nats: UserNats {
                kind: "user".into(),
                version: 2,
                publish: grant.publish.clone(),
                subscribe: grant.subscribe.clone(),
                subs: UNLIMITED,
                data: UNLIMITED,
                payload: UNLIMITED,
                bearer_token: grant.bearer,
            },
        },
    )
}

/// Reads the claims of a JWT after checking its signature against `issuer`'s public key.
pub fn verified_claims(jwt: &str, issuer: &str) -> anyhow::Result<serde_json::Value> {
    let (signed, signature) = jwt
        .rsplit_once('.')
        .ok_or_else(|| anyhow::anyhow!("not a JWT"))?;
    let (_, body) = signed
        .split_once('.')
        .ok_or_else(|| anyhow::anyhow!("not a JWT"))?;
    let key = KeyPair::from_public_key(issuer).map_err(|e| anyhow::anyhow!("{e}"))?;
    key.verify(signed.as_bytes(), &URL_SAFE_NO_PAD.decode(signature)?)
        .map_err(|e| anyhow::anyhow!("bad signature: {e}"))?;
    Ok(serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_jwt_is_signed_by_its_account_and_carries_its_grant() {
        let account = KeyPair::new_account();
        let user = KeyPair::new_user();
        let jwt = user_jwt(
            &account,
            &user.public_key(),
            &UserGrant {
                name: "u".into(),
                publish: Permission {
                    allow: vec![],
                    deny: vec![">".into()],
                },
                subscribe: Permission {
                    allow: vec!["rapt.user.1.>".into()],
                    deny: vec![],
                },
                expires_at: Some(2_000_000_000),
                bearer: true,
            },
            1_900_000_000,
        )
        .unwrap();
        let claims = verified_claims(&jwt, &account.public_key()).unwrap();
        assert_eq!(claims["sub"], user.public_key());
        assert_eq!(claims["exp"], 2_000_000_000);
        assert_eq!(claims["nats"]["type"], "user");
        assert_eq!(claims["nats"]["bearer_token"], true);
        assert_eq!(claims["nats"]["pub"]["deny"][0], ">");
        assert_eq!(claims["nats"]["sub"]["allow"][0], "rapt.user.1.>");
        let stranger = KeyPair::new_account();
        assert!(verified_claims(&jwt, &stranger.public_key()).is_err());
    }

    #[test]
    fn an_account_jwt_lists_its_revocations_and_enables_jetstream() {
        let signer = KeyPair::new_operator();
        let account = KeyPair::new_account();
        let revoked = BTreeMap::from([("UABC".to_owned(), 42)]);
        let jwt = account_jwt(
            &signer,
            &account.public_key(),
            AccountKind::Application,
            &revoked,
            7,
        )
        .unwrap();
        let claims = verified_claims(&jwt, &signer.public_key()).unwrap();
        assert_eq!(claims["nats"]["revocations"]["UABC"], 42);
        assert_eq!(claims["nats"]["limits"]["disk_storage"], -1);
        assert_eq!(claims["iat"], 7);
    }
}
