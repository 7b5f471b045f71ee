//! The operator console: driven in real headless Chromium (retrying a
//! rejected group after the catalog was fixed), and over plain HTTP for
//! what a browser would not let us try (a viewer posting a retry, forms
//! without their CSRF token), reveal and audit, processing-log search and
//! export, `/metrics`, `/healthz` and `/readyz`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hub::compose::Component;
use hub_core::envelope;
use hub_policy::{Catalog, samples};
use hub_tests::amqp::{Ingress, PartyConnection, get_matching, message_id};
use hub_tests::env::{CATALOG, OPERATOR_TOKEN, PRIVACY_OFFICER_TOKEN, VIEWER_TOKEN};
use hub_tests::webdriver::Browser;
use hub_tests::{TestEnv, eventually, publish_as, to_json};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, SET_COOKIE};

const WAIT: Duration = Duration::from_secs(30);
const CASE: &str = "reintegration.case_update.v1";

/// The shipped catalog with Future Smart's route serving another purpose:
/// a case update for `outflow_to_work` then has no route (`no_route`).
fn catalog_without_outflow_route() -> String {
    let from = "purposes = [\"outflow_to_work\"]\nlegal_basis = \"Gerechtvaardigd belang (zie DPIA); verwerkersovereenkomst Future Smart";
    let to = "purposes = [\"public_private_experience\"]\nlegal_basis = \"Gerechtvaardigd belang (zie DPIA); verwerkersovereenkomst Future Smart";
    let broken = CATALOG.replacen(from, to, 1);
    assert_ne!(
        broken, CATALOG,
        "the test catalog differs from the shipped one"
    );
    broken
}

/// Waits until the keeper stored the dead letter of `message_id`; its id.
async fn dead_letter_id(env: &TestEnv, message_id: &str) -> String {
    let pool = env.pool().await;
    let id = eventually("the dead letter in the table", WAIT, || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, uuid::Uuid>("SELECT id FROM dead_letters WHERE message_id = $1")
                .bind(message_id)
                .fetch_optional(&pool)
                .await
                .unwrap()
        }
    })
    .await;
    pool.close().await;
    id.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_retries_a_rejected_group_from_the_console_after_the_catalog_was_fixed() {
    let env = TestEnv::with_catalog(&catalog_without_outflow_route()).await;
    let mut config = env.hub_config();
    // The retry job below waits on a table lock the test holds for a while.
    config.database.lock_timeout_ms = 60_000;
    let (config, console) = env.with_console(config);
    let operator = env.start_with(config, &[Component::Operator]).await;
    let router = env.start(&[Component::Router]).await;

    let case = samples::case_update(71, 1);
    let employee = case.employee.clone().unwrap();
    let ingress = publish_as(&env, "reintegration-tool", CASE, "outflow_to_work", &case).await;
    dead_letter_id(&env, &ingress).await;

    let browser = Browser::start().await;
    browser.goto(&format!("{console}/login")).await;
    browser
        .type_into(&browser.find("#name").await, "otto")
        .await;
    browser
        .type_into(&browser.find("#token").await, OPERATOR_TOKEN)
        .await;
    browser.click(&browser.find("#log-in").await).await;
    assert!(
        browser
            .wait_for_url("/overview")
            .await
            .ends_with("/overview")
    );
    assert_eq!(browser.text(&browser.find("#operator").await).await, "otto");
    assert_eq!(browser.text(&browser.find("#role").await).await, "operator");
    browser.snapshot("1-overview").await;

    // The group of the rejected message.
    browser.goto(&format!("{console}/dead-letters")).await;
    let group = format!(
        "tr.group[data-queue=\"hub.router\"][data-reason=\"no_route\"][data-type=\"{CASE}\"]"
    );
    browser.snapshot("2-dead-letter-groups").await;
    let row = browser.find(&group).await;
    assert_eq!(
        browser.text(&browser.find_in(&row, ".count").await).await,
        "1"
    );
    browser
        .click(&browser.find_in(&row, "a.open-group").await)
        .await;
    browser.wait_for_url("/dead-letters/group?").await;

    // The message: metadata and its fields with categories, values masked.
    browser.click(&browser.find("a.message").await).await;
    browser.snapshot("3-message-masked").await;
    let bsn_row = browser.find("tr[data-path=\"employee.bsn\"]").await;
    assert_eq!(
        browser
            .text(&browser.find_in(&bsn_row, ".category").await)
            .await,
        "bsn"
    );
    assert_eq!(
        browser
            .text(&browser.find_in(&bsn_row, ".value").await)
            .await,
        "••••••"
    );
    let surname_row = browser.find("tr[data-path=\"employee.surname\"]").await;
    assert_eq!(
        browser
            .text(&browser.find_in(&surname_row, ".category").await)
            .await,
        "identity"
    );
    let page = browser.source().await;
    for value in [
        &employee.bsn,
        &employee.surname,
        &employee.email,
        &employee.phone,
    ] {
        assert!(
            !page.contains(value.as_str()),
            "a value is on the masked page"
        );
    }
    assert!(page.contains(&ingress), "the message id is shown");
    assert!(
        browser.try_find("#reveal-form").await.is_none(),
        "an operator cannot reveal"
    );

    // Fix the catalog: the shipped one has the route. The operator keeps running.
    router.stop().await;
    let mut fixed = env.hub_config();
    fixed.catalog = Arc::new(Catalog::from_toml(CATALOG).unwrap());
    let router = env.start_with(fixed, &[Component::Router]).await;

    // Hold the job back (it locks its rows; reading stays possible), to see
    // its counter move on the page without reloading it.
    let pool = env.pool().await;
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE dead_letters IN EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    browser.click(&browser.find("#back-to-group").await).await;
    browser.wait_for_url("/dead-letters/group?").await;
    browser.click(&browser.find("#retry-group").await).await;
    browser.wait_for_url("/jobs/").await;
    assert_eq!(
        browser.text_of("#job-state").await.as_deref(),
        Some("running")
    );
    assert_eq!(
        browser.text_of("#job-counter").await.as_deref(),
        Some("retried 0 of 1, skipped 0, failed 0")
    );
    lock.rollback().await.unwrap();
    let b = &browser;
    // The page polls (htmx): the counter changes without a reload.
    eventually("the retry job finished", WAIT, || async move {
        (b.text_of("#job-state").await.as_deref() == Some("finished")).then_some(())
    })
    .await;
    assert_eq!(
        browser.text_of("#job-counter").await.as_deref(),
        Some("retried 1 of 1, skipped 0, failed 0")
    );
    browser.snapshot("4-retry-job").await;

    // The group is gone.
    let (console_url, group_css) = (&console, &group);
    eventually("the group gone from the console", WAIT, || async move {
        b.goto(&format!("{console_url}/dead-letters")).await;
        b.try_find(group_css).await.is_none().then_some(())
    })
    .await;
    assert!(browser.try_find("#no-dead-letters").await.is_some());
    browser.snapshot("5-group-gone").await;

    // And the message reached Future Smart, decided by the fixed catalog.
    let egress = envelope::egress_message_id(&ingress, "processor.future-smart");
    let copy = get_matching(&env, "processor.future-smart", WAIT, |m| {
        message_id(m).as_deref() == Some(egress.as_str())
    })
    .await;
    assert!(copy.is_some(), "the retried message was delivered");
    let (state, payload_gone, by): (String, bool, String) = sqlx::query_as(
        "SELECT state, payload IS NULL, resolved_by FROM dead_letters WHERE message_id = $1",
    )
    .bind(&ingress)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (state.as_str(), payload_gone, by.as_str()),
        ("retried", true, "otto")
    );

    browser.close().await;
    router.stop().await;
    operator.stop().await;
    pool.close().await;
    env.cleanup().await;
}

/// A console session over plain HTTP: its cookie and CSRF token.
struct Console {
    http: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                hub_core::rabbit_api::encode_segment(k),
                hub_core::rabbit_api::encode_segment(v)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

/// The value of the first `name="csrf"` input of a page.
fn csrf_of(page: &str) -> String {
    let start = page.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    page[start..].split('"').next().unwrap().to_owned()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

impl Console {
    async fn login(base: &str, name: &str, token: &str) -> Self {
        let http = client();
        let page = http.get(format!("{base}/login")).send().await.unwrap();
        let login_cookie = cookie_pair(&set_cookie(page.headers(), "hub_login").unwrap());
        let csrf = csrf_of(&page.text().await.unwrap());
        let response = http
            .post(format!("{base}/login"))
            .header("cookie", &login_cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("name", name), ("token", token), ("csrf", &csrf)]))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "login of {name}");
        let session = set_cookie(response.headers(), "hub_session").expect("a session cookie");
        assert!(
            session.contains("HttpOnly") && session.contains("SameSite=Strict"),
            "{session}"
        );
        let mut console = Self {
            http,
            base: base.to_owned(),
            cookie: cookie_pair(&session),
            csrf: String::new(),
        };
        let (status, overview) = console.get("/overview").await;
        assert_eq!(status, StatusCode::OK, "{overview}");
        console.csrf = csrf_of(&overview);
        console
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// Posts a form with the session's CSRF token.
    async fn post(&self, path: &str, pairs: &[(&str, &str)]) -> (StatusCode, String, HeaderMap) {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(pairs);
        self.post_raw(path, &form(&all)).await
    }

    async fn post_raw(&self, path: &str, body: &str) -> (StatusCode, String, HeaderMap) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        (status, response.text().await.unwrap(), headers)
    }
}

/// Publishes a case update the shipped catalog rejects (`purpose_not_allowed`:
/// surveys' purpose); returns its message id.
async fn rejected_case(env: &TestEnv, seed: u32) -> String {
    publish_as(
        env,
        "reintegration-tool",
        CASE,
        "tool_usage_research",
        &samples::case_update(seed, 1),
    )
    .await
}

async fn state_of(env: &TestEnv, id: &str) -> (String, bool) {
    let pool = env.pool().await;
    let row =
        sqlx::query_as("SELECT state, payload IS NOT NULL FROM dead_letters WHERE id = $1::uuid")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    row
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_dead_letters_but_cannot_retry_discard_or_reveal() {
    let env = TestEnv::new().await;
    let (config, console) = env.with_console(env.hub_config());
    let running = env
        .start_with(config, &[Component::Router, Component::Operator])
        .await;
    let message = rejected_case(&env, 72).await;
    let id = dead_letter_id(&env, &message).await;

    let vera = Console::login(&console, "vera", VIEWER_TOKEN).await;
    let (status, groups) = vera.get("/dead-letters").await;
    assert_eq!(status, StatusCode::OK);
    assert!(groups.contains("purpose_not_allowed"), "{groups}");
    assert!(!groups.contains("retry-group"));
    let (status, page) = vera.get(&format!("/dead-letters/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("employee.bsn") && !page.contains("id=\"retry-one\""));
    assert!(!page.contains("reveal-form"), "no reveal form for a viewer");

    // Posting anyway, with a valid session and CSRF token, is refused.
    let group = [
        ("scope", "group"),
        ("queue", "hub.router"),
        ("group_reason", "purpose_not_allowed"),
        ("type", CASE),
    ];
    let reveal = format!("/dead-letters/{id}/reveal");
    for (path, pairs) in [
        ("/dead-letters/retry", vec![("id", id.as_str())]),
        ("/dead-letters/retry", group.to_vec()),
        (
            "/dead-letters/discard",
            vec![("id", id.as_str()), ("reason", "test")],
        ),
        (
            "/dead-letters/discard",
            [group.as_slice(), &[("reason", "test")]].concat(),
        ),
        (reveal.as_str(), vec![("reason", "curious")]),
    ] {
        let (status, body, _) = vera.post(path, &pairs).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert!(body.contains("role viewer may not"), "{body}");
    }
    assert_eq!(state_of(&env, &id).await, ("open".to_owned(), true));
    let pool = env.pool().await;
    let retry_jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM operator_jobs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(retry_jobs, 0);
    pool.close().await;
    running.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_changing_requests_need_the_sessions_csrf_token_and_a_session() {
    let env = TestEnv::new().await;
    let (config, console) = env.with_console(env.hub_config());
    let running = env
        .start_with(config, &[Component::Router, Component::Operator])
        .await;
    let message = rejected_case(&env, 73).await;
    let id = dead_letter_id(&env, &message).await;
    let otto = Console::login(&console, "otto", OPERATOR_TOKEN).await;

    let (status, _, _) = otto
        .post_raw("/dead-letters/retry", &form(&[("id", &id)]))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token");
    let (status, _, _) = otto
        .post_raw(
            "/dead-letters/discard",
            &form(&[("csrf", "forged"), ("id", &id), ("reason", "x")]),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a wrong CSRF token");
    // Another session's token does not do either.
    let pia = Console::login(&console, "pia", PRIVACY_OFFICER_TOKEN).await;
    let (status, _, _) = otto
        .post_raw(
            "/dead-letters/discard",
            &form(&[("csrf", &pia.csrf), ("id", &id), ("reason", "x")]),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "another session's CSRF token"
    );
    assert_eq!(state_of(&env, &id).await, ("open".to_owned(), true));

    // Without a session: to the login page, nothing done.
    let anonymous = client();
    let response = anonymous
        .post(format!("{console}/dead-letters/discard"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("csrf", &otto.csrf), ("id", &id), ("reason", "x")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/login");
    // A login form posted without its cookie (from another site) is refused.
    let response = anonymous
        .post(format!("{console}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("name", "otto"),
            ("token", OPERATOR_TOKEN),
            ("csrf", "guess"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(response.headers(), "hub_session").is_none());
    assert_eq!(state_of(&env, &id).await, ("open".to_owned(), true));

    // With the token the discard goes through, keeping the metadata.
    let (status, _, headers) = otto
        .post(
            "/dead-letters/discard",
            &[("id", &id), ("reason", "test data")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/dead-letters?discarded=1");
    assert_eq!(state_of(&env, &id).await, ("discarded".to_owned(), false));
    let pool = env.pool().await;
    let audited: (String, String) =
        sqlx::query_as("SELECT actor, reason FROM audit_log WHERE action = 'discard_dead_letters'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(audited, ("otto".to_owned(), "test data".to_owned()));

    // Logging out ends the session.
    let (status, _, _) = otto.post("/logout", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = otto.get("/dead-letters").await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "the old cookie no longer works"
    );
    pool.close().await;
    running.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_privacy_officer_reveals_values_with_a_reason_and_the_reveal_is_audited() {
    let env = TestEnv::new().await;
    let (config, console) = env.with_console(env.hub_config());
    let running = env
        .start_with(config, &[Component::Router, Component::Operator])
        .await;
    let case = samples::case_update(74, 1);
    let bsn = case.employee.clone().unwrap().bsn;
    let message = publish_as(
        &env,
        "reintegration-tool",
        CASE,
        "tool_usage_research",
        &case,
    )
    .await;
    let id = dead_letter_id(&env, &message).await;

    let otto = Console::login(&console, "otto", OPERATOR_TOKEN).await;
    let (status, _, _) = otto
        .post(
            &format!("/dead-letters/{id}/reveal"),
            &[("reason", "curious")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an operator cannot reveal");

    let pia = Console::login(&console, "pia", PRIVACY_OFFICER_TOKEN).await;
    let (status, page) = pia.get(&format!("/dead-letters/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("reveal-form") && !page.contains(&bsn));
    let (status, _, _) = pia
        .post(&format!("/dead-letters/{id}/reveal"), &[("reason", " ")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a reason is needed");
    let (status, page, headers) = pia
        .post(
            &format!("/dead-letters/{id}/reveal"),
            &[("reason", "request AVG-2026-17")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&bsn), "the values are shown");
    assert_eq!(headers["cache-control"], "no-store");

    let pool = env.pool().await;
    let audited: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT actor, role, subject_ref, reason FROM audit_log WHERE action = 'reveal_dead_letter'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        audited,
        [(
            "pia".to_owned(),
            "privacy-officer".to_owned(),
            format!("dead_letter:{id}"),
            "request AVG-2026-17".to_owned()
        )]
    );
    pool.close().await;
    running.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_processing_log_is_searched_by_bsn_in_a_post_and_exported_as_csv() {
    let env = TestEnv::new().await;
    let (config, console) = env.with_console(env.hub_config());
    let running = env
        .start_with(config, &[Component::Router, Component::Operator])
        .await;
    let case = samples::case_update(75, 1);
    let bsn = case.employee.clone().unwrap().bsn;
    let both = "outflow_to_work,legal_reintegration_obligation";
    publish_as(&env, "reintegration-tool", CASE, both, &case).await;
    let pool = env.pool().await;
    eventually("two deliveries logged", WAIT, || {
        let pool = pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM processing_log")
                .fetch_one(&pool)
                .await
                .unwrap();
            (n == 2).then_some(())
        }
    })
    .await;

    let vera = Console::login(&console, "vera", VIEWER_TOKEN).await;
    let (status, _, _) = vera
        .post("/processing-log", &[("kind", "bsn"), ("value", &bsn)])
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "only the privacy officer searches by person"
    );

    let pia = Console::login(&console, "pia", PRIVACY_OFFICER_TOKEN).await;
    let (status, page) = pia.get("/processing-log").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("method=\"post\" action=\"/processing-log\""),
        "a POST form"
    );
    let (status, page, _) = pia
        .post(
            "/processing-log",
            &[
                ("kind", "bsn"),
                ("value", &bsn),
                ("reason", "access request 7"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("2 deliveries"), "{page}");
    assert!(page.contains("robidus") && page.contains("future-smart"));
    let (status, csv, headers) = pia
        .post(
            "/processing-log/export.csv",
            &[
                ("kind", "bsn"),
                ("value", &bsn),
                ("reason", "access request 7"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "header and two deliveries:\n{csv}");
    assert!(lines[0].starts_with("logged_at,message_type,register_activity"));
    assert!(!csv.contains(&bsn), "the export names no BSN");

    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE actor = 'pia' AND action LIKE '%processing_log' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(actions, ["search_processing_log", "export_processing_log"]);
    let leaked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE subject_ref = $1 OR reason LIKE '%' || $1 || '%'",
    )
    .bind(&bsn)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(leaked, 0, "the audit log holds the pseudonym, not the BSN");
    pool.close().await;
    running.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_shows_queues_services_and_alarms_and_the_catalog_its_routes() {
    let env = TestEnv::new().await;
    let (config, console) = env.with_console(env.hub_config());
    let running = env
        .start_with(config, &[Component::Router, Component::Operator])
        .await;
    let vera = Console::login(&console, "vera", VIEWER_TOKEN).await;
    // The management API samples consumers every few seconds.
    let vera_ref = &vera;
    let page = eventually("the router seen consuming", WAIT, || async move {
        let (status, page) = vera_ref.get("/overview/live").await;
        assert_eq!(status, StatusCode::OK);
        page.contains("<td>router</td><td class=\"ok\">ready</td>")
            .then_some(page)
    })
    .await;
    for queue in [
        "hub.router",
        "dossier.onboarding",
        "processor.robidus",
        "dead.hub.router",
    ] {
        assert!(
            page.contains(&format!("data-queue=\"{queue}\"")),
            "{queue} missing:\n{page}"
        );
    }
    assert!(
        page.contains("<td>dossier</td><td class=\"bad\">not ready</td>"),
        "no dossier runs:\n{page}"
    );
    assert!(page.contains("id=\"nodes\"") && !page.contains("broker-alarm"));

    let (status, page) = vera.get("/catalog").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&hub_policy::register::html_fragment(&env.catalog)),
        "the register"
    );
    assert!(page.contains("reintegration.case_update.v1 → future-smart"));
    assert!(
        page.contains("<td>employee.email</td><td>contact</td>"),
        "the route's fields"
    );
    running.stop().await;
    env.cleanup().await;
}

/// `/metrics` parsed: the sum of every sample per metric name.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("name and value");
        let name = series.split('{').next().unwrap().to_owned();
        *out.entry(name).or_insert(0.0) += value.parse::<f64>().expect("a number");
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_health_and_readiness_are_served() {
    let env = TestEnv::new().await;
    let mut config = env.hub_config();
    // A dead letter waiting for a lock fails fast: a transient failure.
    config.database.lock_timeout_ms = 200;
    let (config, console) = env.with_console(config);
    let running = env
        .start_with(
            config,
            &[Component::Gateway, Component::Router, Component::Operator],
        )
        .await;
    let http = client();
    let get = |path: &'static str| {
        let http = http.clone();
        let url = format!("{console}{path}");
        async move {
            let response = http.get(url).send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    assert_eq!(get("/healthz").await.0, StatusCode::OK);
    eventually("ready", WAIT, || {
        let answer = get("/readyz");
        async move { (answer.await.0 == StatusCode::OK).then_some(()) }
    })
    .await;

    // Accepted over gRPC, routed with fields removed.
    let mut gateway =
        hub_proto::reintegration::v1::case_update_service_client::CaseUpdateServiceClient::new(
            hub_tests::grpc::channel(running.grpc_addr.unwrap()).await,
        );
    gateway
        .submit_case_update(hub_tests::grpc::with_token(
            hub_proto::reintegration::v1::SubmitCaseUpdateRequest {
                update: Some(samples::case_update(76, 1)),
                purposes: vec!["outflow_to_work".to_owned()],
            },
            &hub_tests::env::party_token("reintegration-tool"),
        ))
        .await
        .unwrap();
    // The same message twice: a duplicate.
    let ingress = Ingress::new(CASE, "reintegration-tool", "wellbeing");
    let json = to_json(&env, CASE, &samples::case_update(77, 1));
    let party = PartyConnection::as_party(&env, "reintegration-tool").await;
    for _ in 0..2 {
        party
            .publish(
                envelope::INGRESS_EXCHANGE,
                CASE,
                &json,
                ingress.properties(),
            )
            .await
            .unwrap();
    }
    // A rejection whose dead letter waits for a lock on the table first.
    let pool = env.pool().await;
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE dead_letters IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let rejected = rejected_case(&env, 78).await;
    let names = [
        "hub_gateway_accepted_total",
        "hub_messages_routed_total",
        "hub_fields_removed_total",
        "hub_delivery_latency_seconds_count",
        "hub_duplicates_total",
        "hub_messages_rejected_total",
        "hub_dead_letters_total",
        "hub_retries_total",
    ];
    let metrics = eventually("every counter but the kept dead letters", WAIT, || {
        let answer = get("/metrics");
        async move {
            let metrics = parse_metrics(&answer.await.1);
            names
                .iter()
                .all(|n| metrics.get(*n).is_some_and(|v| *v > 0.0))
                .then_some(metrics)
        }
    })
    .await;
    assert!(
        !metrics.contains_key("hub_dead_letters_kept_total"),
        "nothing kept while the table is locked"
    );
    lock.rollback().await.unwrap();
    dead_letter_id(&env, &rejected).await;
    let (status, text) = get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let metrics = parse_metrics(&text);
    for name in names.iter().chain(&["hub_dead_letters_kept_total"]) {
        assert!(
            metrics.get(*name).is_some_and(|v| *v > 0.0),
            "{name} missing:\n{text}"
        );
    }
    assert!(
        text.contains("# TYPE hub_delivery_latency_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains("hub_delivery_latency_seconds_bucket{"),
        "{text}"
    );
    assert!(
        text.contains("hub_retries_total{queue=\"dead.hub.router\"}"),
        "{text}"
    );
    assert!(text.contains("reason=\"purpose_not_allowed\""), "{text}");

    // Not ready once a component is not.
    running
        .health
        .set("test component", false, "stopped for the test");
    let (status, body) = get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("test component"), "{body}");
    party.close().await;
    pool.close().await;
    running.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_retries_selected_dead_letters_and_the_catalog_decides_again() {
    let env = TestEnv::new().await;
    let (config, console) = env.with_console(env.hub_config());
    let running = env
        .start_with(config, &[Component::Router, Component::Operator])
        .await;
    let mut messages = Vec::new();
    for seed in 79..82 {
        messages.push(rejected_case(&env, seed).await);
    }
    let mut ids = Vec::new();
    for message in &messages {
        ids.push(dead_letter_id(&env, message).await);
    }
    let otto = Console::login(&console, "otto", OPERATOR_TOKEN).await;
    let (status, body, headers) = otto
        .post(
            "/dead-letters/retry",
            &[("id", &ids[0]), ("id", &ids[1]), ("reason", "try again")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let job = headers["location"].to_str().unwrap().to_owned();
    assert!(job.starts_with("/jobs/"), "{job}");
    let console_ref = &otto;
    let progress = eventually("the job done", WAIT, || {
        let path = format!("{job}/progress");
        async move {
            let (status, page) = console_ref.get(&path).await;
            assert_eq!(status, StatusCode::OK);
            page.contains("data-done=\"true\"").then_some(page)
        }
    })
    .await;
    assert!(
        progress.contains("retried 2 of 2, skipped 0, failed 0"),
        "{progress}"
    );
    assert_eq!(state_of(&env, &ids[0]).await, ("retried".to_owned(), false));
    assert_eq!(state_of(&env, &ids[1]).await, ("retried".to_owned(), false));
    assert_eq!(state_of(&env, &ids[2]).await, ("open".to_owned(), true));
    // The catalog still refuses them: each is a dead letter again, with the
    // retry it came from.
    let pool = env.pool().await;
    let again: Vec<String> = eventually("the retried messages rejected again", WAIT, || {
        let pool = pool.clone();
        async move {
            let rows: Vec<String> = sqlx::query_scalar(
                "SELECT headers->>'x-hub-retry-of' FROM dead_letters WHERE state = 'open' AND headers ? 'x-hub-retry-of' ORDER BY 1",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            (rows.len() == 2).then_some(rows)
        }
    })
    .await;
    let mut expected = ids[..2].to_vec();
    expected.sort();
    assert_eq!(again, expected);
    pool.close().await;
    running.stop().await;
    env.cleanup().await;
}

/// A service run as its own process (here `hub router`) serves its metrics
/// on `HUB_METRICS_ADDR`, since it has no console.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_without_the_console_serves_its_metrics_on_hub_metrics_addr() {
    let env = TestEnv::new().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut router = hub_tests::process::HubProcess::start(
        &env,
        "router",
        &[("HUB_METRICS_ADDR", format!("127.0.0.1:{port}"))],
    )
    .await;
    publish_as(
        &env,
        "wens",
        "wens.hire.v1",
        "appointment_preparation",
        &samples::hire_event(79),
    )
    .await;
    let http = client();
    let base = format!("http://127.0.0.1:{port}");
    let metrics = eventually("the router's metrics", WAIT, || {
        let http = http.clone();
        let url = format!("{base}/metrics");
        async move {
            let text = http.get(url).send().await.ok()?.text().await.ok()?;
            let metrics = parse_metrics(&text);
            (metrics.get("hub_messages_routed_total").copied()? >= 1.0).then_some(metrics)
        }
    })
    .await;
    assert!(
        metrics
            .get("hub_fields_removed_total")
            .is_some_and(|v| *v > 0.0)
    );
    assert!(
        metrics
            .get("hub_delivery_latency_seconds_count")
            .is_some_and(|v| *v >= 1.0)
    );
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    router.signal("-TERM").await;
    router.wait(Duration::from_secs(30)).await;
    env.cleanup().await;
}
