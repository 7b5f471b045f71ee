//! A small client of the RabbitMQ management HTTP API: vhosts, users,
//! permissions, queue statistics and alarms.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

/// Errors of the management API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The API did not answer.
    #[error(
        "the RabbitMQ management API is not reachable at {url}: {source}. Enable it with `rabbitmq-plugins enable rabbitmq_management` or set HUB_RABBITMQ_API"
    )]
    Unreachable {
        /// Base URL.
        url: String,
        /// The HTTP error.
        source: reqwest::Error,
    },
    /// The API answered with an error status.
    #[error("RabbitMQ management API {method} {path}: HTTP {status}: {body}")]
    Status {
        /// HTTP method.
        method: &'static str,
        /// Path called.
        path: String,
        /// Status code.
        status: u16,
        /// Response text (RabbitMQ's reason).
        body: String,
    },
    /// The answer did not parse.
    #[error("RabbitMQ management API {path}: unexpected answer: {source}")]
    Decode {
        /// Path called.
        path: String,
        /// Parse error.
        source: reqwest::Error,
    },
}

/// Client of the management API.
#[derive(Clone)]
pub struct RabbitApi {
    base: String,
    user: String,
    password: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for RabbitApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitApi")
            .field("base", &self.base)
            .field("user", &self.user)
            .finish()
    }
}

/// Statistics of one queue.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct QueueInfo {
    /// Queue name.
    pub name: String,
    /// Messages ready for delivery.
    #[serde(default)]
    pub messages_ready: u64,
    /// Messages delivered and not yet acked.
    #[serde(default)]
    pub messages_unacknowledged: u64,
    /// Consumers attached.
    #[serde(default)]
    pub consumers: u64,
    /// Queue type (`quorum`).
    #[serde(default, rename = "type")]
    pub queue_type: String,
    /// Declared arguments.
    #[serde(default)]
    pub arguments: serde_json::Map<String, serde_json::Value>,
    /// Rates.
    #[serde(default)]
    pub message_stats: Option<MessageStats>,
}

/// Rates of a queue.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct MessageStats {
    /// Publishes into the queue.
    #[serde(default)]
    pub publish_details: Option<Rate>,
    /// Deliveries out of it.
    #[serde(default)]
    pub deliver_get_details: Option<Rate>,
}

/// A rate in messages per second.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Rate {
    /// Messages per second.
    #[serde(default)]
    pub rate: f64,
}

/// Alarms of one broker node.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NodeInfo {
    /// Node name.
    pub name: String,
    /// Memory alarm raised.
    #[serde(default)]
    pub mem_alarm: bool,
    /// Disk alarm raised.
    #[serde(default)]
    pub disk_free_alarm: bool,
    /// Node running.
    #[serde(default)]
    pub running: bool,
}

/// Percent-encodes one path segment (vhost `/` becomes `%2F`).
#[must_use]
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl RabbitApi {
    /// A client for `base` (`http://127.0.0.1:15672`). Credentials in the
    /// URL win; otherwise `user` and `password` are used.
    pub fn new(base: &str, user: &str, password: &str) -> Result<Self, String> {
        let (base, user, password) = match base.split_once("://").and_then(|(s, rest)| {
            rest.split_once('@')
                .map(|(userinfo, host)| (s, userinfo, host))
        }) {
            Some((scheme, userinfo, host)) => {
                let (u, p) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                (format!("{scheme}://{host}"), u.to_owned(), p.to_owned())
            }
            None => (base.to_owned(), user.to_owned(), password.to_owned()),
        };
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            user,
            password,
            http,
        })
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<reqwest::Response, ApiError> {
        let method_name = match method {
            reqwest::Method::PUT => "PUT",
            reqwest::Method::DELETE => "DELETE",
            reqwest::Method::POST => "POST",
            _ => "GET",
        };
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .basic_auth(&self.user, Some(&self.password));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|source| ApiError::Unreachable {
                url: self.base.clone(),
                source,
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(response)
        } else {
            let body = response.text().await.unwrap_or_default();
            Err(ApiError::Status {
                method: method_name,
                path: path.to_owned(),
                status: status.as_u16(),
                body: body.chars().take(500).collect(),
            })
        }
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(&self, path: &str) -> Result<T, ApiError> {
        self.send(reqwest::Method::GET, path, None)
            .await?
            .json()
            .await
            .map_err(|source| ApiError::Decode {
                path: path.to_owned(),
                source,
            })
    }

    /// Checks that the API answers with these credentials.
    pub async fn whoami(&self) -> Result<String, ApiError> {
        #[derive(Deserialize)]
        struct Me {
            name: String,
        }
        Ok(self.get_json::<Me>("/api/whoami").await?.name)
    }

    /// Creates a vhost (idempotent).
    pub async fn put_vhost(&self, vhost: &str) -> Result<(), ApiError> {
        self.send(
            reqwest::Method::PUT,
            &format!("/api/vhosts/{}", encode_segment(vhost)),
            Some(json!({})),
        )
        .await
        .map(drop)
    }

    /// Deletes a vhost and everything in it; a missing vhost is fine.
    pub async fn delete_vhost(&self, vhost: &str) -> Result<(), ApiError> {
        match self
            .send(
                reqwest::Method::DELETE,
                &format!("/api/vhosts/{}", encode_segment(vhost)),
                None,
            )
            .await
        {
            Ok(_) | Err(ApiError::Status { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Names of all vhosts.
    pub async fn vhosts(&self) -> Result<Vec<String>, ApiError> {
        #[derive(Deserialize)]
        struct Vhost {
            name: String,
        }
        Ok(self
            .get_json::<Vec<Vhost>>("/api/vhosts")
            .await?
            .into_iter()
            .map(|v| v.name)
            .collect())
    }

    /// Creates or updates a user with a password and tags (idempotent).
    pub async fn put_user(&self, user: &str, password: &str, tags: &str) -> Result<(), ApiError> {
        self.send(
            reqwest::Method::PUT,
            &format!("/api/users/{}", encode_segment(user)),
            Some(json!({ "password": password, "tags": tags })),
        )
        .await
        .map(drop)
    }

    /// Tags of a user, or `None` when the user does not exist.
    pub async fn user_tags(&self, user: &str) -> Result<Option<String>, ApiError> {
        #[derive(Deserialize)]
        struct User {
            #[serde(default)]
            tags: serde_json::Value,
        }
        match self
            .get_json::<User>(&format!("/api/users/{}", encode_segment(user)))
            .await
        {
            Ok(u) => Ok(Some(match u.tags {
                serde_json::Value::String(s) => s,
                serde_json::Value::Array(items) => items
                    .iter()
                    .filter_map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                _ => String::new(),
            })),
            Err(ApiError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets a user's permissions in a vhost (regular expressions over
    /// resource names; `^$` grants nothing).
    pub async fn put_permissions(
        &self,
        vhost: &str,
        user: &str,
        configure: &str,
        write: &str,
        read: &str,
    ) -> Result<(), ApiError> {
        self.send(
            reqwest::Method::PUT,
            &format!(
                "/api/permissions/{}/{}",
                encode_segment(vhost),
                encode_segment(user)
            ),
            Some(json!({ "configure": configure, "write": write, "read": read })),
        )
        .await
        .map(drop)
    }

    /// Statistics of every queue in a vhost.
    pub async fn queues(&self, vhost: &str) -> Result<Vec<QueueInfo>, ApiError> {
        self.get_json(&format!("/api/queues/{}", encode_segment(vhost)))
            .await
    }

    /// Broker nodes with their alarms.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, ApiError> {
        self.get_json("/api/nodes").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode_segment("/"), "%2F");
        assert_eq!(encode_segment("hub-t-1"), "hub-t-1");
        assert_eq!(encode_segment("a b"), "a%20b");
    }

    #[test]
    fn credentials_in_the_url_win() {
        let api = RabbitApi::new("http://ops:pw@127.0.0.1:15672/", "guest", "guest")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(api.base, "http://127.0.0.1:15672");
        assert_eq!(api.user, "ops");
        assert_eq!(api.password, "pw");
    }
}
