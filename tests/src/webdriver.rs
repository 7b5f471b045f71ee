//! A real browser for the console tests: headless Chromium driven through
//! chromedriver over the W3C WebDriver protocol (plain HTTP and JSON, with
//! reqwest; no WebDriver crate needed).
//!
//! Each [`Browser`] starts its own chromedriver on an ephemeral port (it
//! prints the port it took) and a Chromium with a fresh profile, so tests
//! run in parallel without sharing cookies. Both are removed when the
//! browser is closed, also when a test panics.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The key under which WebDriver returns an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// An element on the current page.
#[derive(Clone, Debug)]
pub struct Element(String);

/// A headless Chromium session.
pub struct Browser {
    http: reqwest::Client,
    base: String,
    session: String,
    driver: Option<Child>,
    profile: PathBuf,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").field("base", &self.base).finish()
    }
}

fn binary(env: &str, default: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| default.to_owned())
}

impl Browser {
    /// Starts chromedriver (`CHROMEDRIVER`, default `/usr/bin/chromedriver`)
    /// and a headless Chromium (`CHROMIUM`, default `/usr/bin/chromium`).
    pub async fn start() -> Self {
        let driver_path = binary("CHROMEDRIVER", "/usr/bin/chromedriver");
        let mut driver = Command::new(&driver_path)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("starting {driver_path}: {e}; install it with `apt-get install chromium-driver` (see .ci/services)")
            });
        let stdout = driver.stdout.take().expect("chromedriver stdout");
        let mut lines = BufReader::new(stdout).lines();
        // "ChromeDriver was started successfully on port 37601."
        let port = tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    return rest.trim_end_matches('.').trim().parse::<u16>().ok();
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .expect("chromedriver did not say which port it took");
        // Keep reading its output, so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let profile =
            std::env::temp_dir().join(format!("hub-chromium-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&profile).unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": binary("CHROMIUM", "/usr/bin/chromium"),
                        "args": [
                            "--headless",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--no-first-run",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--window-size=1280,1024",
                            format!("--user-data-dir={}", profile.display()),
                        ]
                    }
                }
            }
        });
        let mut browser = Self {
            http,
            base,
            session: String::new(),
            driver: Some(driver),
            profile,
        };
        let created = browser
            .command("POST", "/session", Some(capabilities))
            .await;
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_owned();
        browser
    }

    /// One WebDriver command; panics with WebDriver's error when it fails.
    async fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_command(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    async fn try_command(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "POST" => self
                .http
                .post(&url)
                .json(&body.unwrap_or_else(|| json!({}))),
            "DELETE" => self.http.delete(&url),
            _ => self.http.get(&url),
        };
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let value: Value = response.json().await.map_err(|e| e.to_string())?;
        let value = value.get("value").cloned().unwrap_or(Value::Null);
        if status.is_success() {
            Ok(value)
        } else {
            Err(format!("HTTP {status}: {value}"))
        }
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.command(
            "POST",
            &self.session_path("/url"),
            Some(json!({ "url": url })),
        )
        .await;
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        let value = self.command("GET", &self.session_path("/url"), None).await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Waits until the current URL contains `part` (a click that submits a
    /// form may return before the browser has followed the answer) and
    /// returns it.
    pub async fn wait_for_url(&self, part: &str) -> String {
        crate::eventually(
            &format!("the browser to reach a URL with `{part}`"),
            Duration::from_secs(10),
            || async {
                let url = self.url().await;
                url.contains(part).then_some(url)
            },
        )
        .await
    }

    /// The current page's HTML as the browser has it now.
    pub async fn source(&self) -> String {
        let value = self
            .command("GET", &self.session_path("/source"), None)
            .await;
        value.as_str().unwrap_or_default().to_owned()
    }

    fn elements(value: &Value) -> Vec<Element> {
        value
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| v[ELEMENT].as_str())
                    .map(|id| Element(id.to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every element matching a CSS selector.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let value = self
            .command(
                "POST",
                &self.session_path("/elements"),
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        Self::elements(&value)
    }

    /// The first element matching a CSS selector, if any.
    pub async fn try_find(&self, css: &str) -> Option<Element> {
        self.find_all(css).await.into_iter().next()
    }

    /// The first element matching a CSS selector; panics when there is none.
    pub async fn find(&self, css: &str) -> Element {
        match self.try_find(css).await {
            Some(element) => element,
            None => {
                let url = self.url().await;
                let source = self.source().await;
                panic!("no element `{css}` on {url}:\n{source}")
            }
        }
    }

    /// The first element matching a CSS selector inside `parent`.
    pub async fn find_in(&self, parent: &Element, css: &str) -> Element {
        let value = self
            .command(
                "POST",
                &self.session_path(&format!("/element/{}/element", parent.0)),
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        Element(
            value[ELEMENT]
                .as_str()
                .unwrap_or_else(|| panic!("no `{css}` in the element: {value}"))
                .to_owned(),
        )
    }

    /// The rendered text of an element.
    pub async fn text(&self, element: &Element) -> String {
        let value = self
            .command(
                "GET",
                &self.session_path(&format!("/element/{}/text", element.0)),
                None,
            )
            .await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// The text of the first element matching `css`, if there is one (it
    /// may be replaced while being read, as htmx swaps fragments).
    pub async fn text_of(&self, css: &str) -> Option<String> {
        let element = self.try_find(css).await?;
        self.try_command(
            "GET",
            &self.session_path(&format!("/element/{}/text", element.0)),
            None,
        )
        .await
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
    }

    /// Clicks an element (and waits for a navigation it starts).
    pub async fn click(&self, element: &Element) {
        self.command(
            "POST",
            &self.session_path(&format!("/element/{}/click", element.0)),
            None,
        )
        .await;
    }

    /// Types into an input.
    pub async fn type_into(&self, element: &Element, text: &str) {
        self.command(
            "POST",
            &self.session_path(&format!("/element/{}/value", element.0)),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// When `HUB_TEST_SCREENSHOTS` names a directory, saves a PNG of the
    /// viewport there as `<name>.png`, to look at what the test saw.
    pub async fn snapshot(&self, name: &str) {
        let Ok(dir) = std::env::var("HUB_TEST_SCREENSHOTS") else {
            return;
        };
        let value = self
            .command("GET", &self.session_path("/screenshot"), None)
            .await;
        let bytes = base64_png::decode(value.as_str().unwrap_or_default());
        std::fs::write(
            std::path::Path::new(&dir).join(format!("{name}.png")),
            bytes,
        )
        .unwrap();
    }

    /// Ends the session and stops chromedriver.
    pub async fn close(mut self) {
        let _ = self
            .try_command("DELETE", &self.session_path(""), None)
            .await;
        if let Some(mut driver) = self.driver.take() {
            let _ = driver.kill().await;
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Base64 (standard alphabet, padded), as WebDriver sends screenshots.
mod base64_png {
    pub(super) fn decode(text: &str) -> Vec<u8> {
        let value = |c: u8| match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        };
        let sextets: Vec<u8> = text.bytes().filter_map(value).collect();
        sextets
            .chunks(4)
            .flat_map(|chunk| {
                let n = chunk
                    .iter()
                    .enumerate()
                    .fold(0u32, |acc, (i, s)| acc | (u32::from(*s) << (18 - 6 * i)));
                let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
                bytes.into_iter().take(chunk.len().saturating_sub(1))
            })
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let Some(mut driver) = self.driver.take() else {
            return;
        };
        // A test that panicked: end the session (which ends Chromium), on a
        // runtime of its own since the test's may be gone.
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(async {
                    let _ = reqwest::Client::new()
                        .delete(&url)
                        .timeout(Duration::from_secs(10))
                        .send()
                        .await;
                });
            }
        })
        .join();
        let _ = driver.start_kill();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
