//! Who is calling: the caller's identity comes from its credentials (a
//! bearer token today, a client certificate with mTLS), never from the
//! payload.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use tonic::{Request, Status};

/// Shortest token accepted; shorter ones are guessable.
pub const MIN_TOKEN_LEN: usize = 16;

/// Bearer tokens and the identity each one proves. Tokens are kept only as
/// SHA-256 digests, and `Debug` shows identities, never tokens.
#[derive(Clone, Default)]
pub struct Credentials {
    by_digest: HashMap<[u8; 32], String>,
    /// Identities a verified client certificate may name (its CN).
    certificate_identities: std::collections::BTreeSet<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&String> = self.by_digest.values().collect();
        ids.sort();
        f.debug_struct("Credentials")
            .field("identities", &ids)
            .finish()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Credentials {
    /// Builds credentials from `(identity, token)` pairs. Refuses short
    /// tokens and a token shared by two identities.
    pub fn new<I, S, T>(pairs: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = (S, T)>,
        S: Into<String>,
        T: AsRef<str>,
    {
        let mut by_digest = HashMap::new();
        for (identity, token) in pairs {
            let identity = identity.into();
            let token = token.as_ref();
            if token.len() < MIN_TOKEN_LEN {
                return Err(format!(
                    "the token of `{identity}` is shorter than {MIN_TOKEN_LEN} characters"
                ));
            }
            if let Some(other) = by_digest.insert(digest(token), identity.clone()) {
                return Err(format!("`{identity}` and `{other}` have the same token"));
            }
        }
        Ok(Self {
            by_digest,
            certificate_identities: std::collections::BTreeSet::new(),
        })
    }

    /// Also accepts verified client certificates whose common name is one
    /// of `identities` (mTLS).
    #[must_use]
    pub fn with_certificate_identities<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        identities: I,
    ) -> Self {
        self.certificate_identities = identities.into_iter().map(Into::into).collect();
        self
    }

    /// True when no token is configured.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }

    /// The identity behind a token.
    #[must_use]
    pub fn identify(&self, token: &str) -> Option<&str> {
        self.by_digest.get(&digest(token)).map(String::as_str)
    }

    /// The identity of a gRPC caller: `UNAUTHENTICATED` without valid
    /// credentials. A client certificate verified by the TLS layer wins
    /// over a bearer token.
    pub fn authenticate<T>(&self, request: &Request<T>) -> Result<String, Status> {
        if let Some(certs) = request.peer_certs()
            && let Some(first) = certs.first()
        {
            let name = crate::tls::common_name(first.as_ref());
            return match name {
                Some(name) if self.certificate_identities.contains(&name) => Ok(name),
                _ => Err(Status::unauthenticated(
                    "the client certificate names no known party",
                )),
            };
        }
        let Some(value) = request.metadata().get("authorization") else {
            return Err(Status::unauthenticated(
                "credentials required: `authorization: Bearer <token>`",
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| {
                Status::unauthenticated("the authorization header must be `Bearer <token>`")
            })?;
        self.identify(token)
            .map(str::to_owned)
            .ok_or_else(|| Status::unauthenticated("unknown token"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials::new([
            ("wens", "token-of-wens-0123456789"),
            ("robidus", "token-of-robidus-0123456"),
        ])
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn request(auth: Option<&str>) -> Request<()> {
        let mut request = Request::new(());
        if let Some(value) = auth {
            request.metadata_mut().insert(
                "authorization",
                value.parse().unwrap_or_else(|_| panic!("ascii")),
            );
        }
        request
    }

    #[test]
    fn a_known_token_names_its_party() {
        assert_eq!(
            creds()
                .authenticate(&request(Some("Bearer token-of-wens-0123456789")))
                .ok(),
            Some("wens".to_owned())
        );
    }

    #[test]
    fn missing_malformed_and_unknown_tokens_are_unauthenticated() {
        for auth in [
            None,
            Some("token-of-wens-0123456789"),
            Some("Bearer nope-nope-nope-nope"),
        ] {
            let status = creds().authenticate(&request(auth)).unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unauthenticated);
        }
    }

    #[test]
    fn weak_and_shared_tokens_are_refused_and_debug_hides_tokens() {
        assert!(Credentials::new([("wens", "short")]).is_err());
        assert!(
            Credentials::new([
                ("a", "same-token-0123456789"),
                ("b", "same-token-0123456789")
            ])
            .is_err()
        );
        assert!(!format!("{:?}", creds()).contains("token-of"));
    }
}
