//! Registry types: the credentials a client sends to `POST /auth` (and base64-encoded in the
//! `X-Registry-Auth` header of pull, push and search), the `/auth` answer, and the entries of
//! `GET /images/search`.

use crate::serde_util::nullable;
use serde::{Deserialize, Serialize};

/// Body of `POST /auth` and the decoded `X-Registry-Auth` header (lowercase keys, all Go
/// `omitempty`). Either `username`/`password`, `auth` (base64 "user:password"), or
/// `identitytoken`/`registrytoken` is set.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nullable")]
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nullable")]
    pub password: String,
    /// base64 of "username:password", as in `~/.docker/config.json`.
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nullable")]
    pub auth: String,
    /// Deprecated; ignored by Docker.
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nullable")]
    pub email: String,
    /// A domain or IP, without scheme.
    #[serde(rename = "serveraddress", skip_serializing_if = "String::is_empty", deserialize_with = "nullable")]
    pub server_address: String,
    /// A refresh token from an earlier `/auth`, sent instead of a password.
    #[serde(rename = "identitytoken", skip_serializing_if = "String::is_empty", deserialize_with = "nullable")]
    pub identity_token: String,
    /// A bearer token sent to the registry as is.
    #[serde(rename = "registrytoken", skip_serializing_if = "String::is_empty", deserialize_with = "nullable")]
    pub registry_token: String,
}

/// Secrets are not printed.
impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |s: &str| if s.is_empty() { "" } else { "<hidden>" };
        f.debug_struct("AuthConfig")
            .field("username", &self.username)
            .field("password", &hidden(&self.password))
            .field("auth", &hidden(&self.auth))
            .field("email", &self.email)
            .field("server_address", &self.server_address)
            .field("identity_token", &hidden(&self.identity_token))
            .field("registry_token", &hidden(&self.registry_token))
            .finish()
    }
}

/// Answer of `POST /auth`: `{"Status": "Login Succeeded", "IdentityToken": ""}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AuthResponse {
    pub status: String,
    /// Docker always sends it, "" when the registry gave none.
    #[serde(deserialize_with = "nullable")]
    pub identity_token: String,
}

/// One entry of `GET /images/search`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageSearchResult {
    pub star_count: i64,
    pub is_official: bool,
    pub name: String,
    /// Deprecated; always false.
    pub is_automated: bool,
    pub description: String,
}
