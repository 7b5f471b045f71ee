//! The personnel dossier under the Regeling personeelsdossiers Defensie,
//! through `DossierService` against the real PostgreSQL: the authorisation
//! matrix and its access log (art 7), restricted dossiers (art 7.6, 7.7), the
//! audit limit (art 4.2), reports (art 4.1), retention and the archive
//! (art 17, 18, also through `hubctl dossier sweep`), subject rights (art 8,
//! 9, 10) and transfer (art 16). Every person and number is synthetic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, Months, NaiveDate, Utc};
use hub::compose::{Component, Running};
use hub_policy::pseudonym::SubjectId;
use hub_policy::samples;
use hub_proto::dossier::v1 as pb;
use hub_proto::dossier::v1::dossier_service_client::DossierServiceClient;
use hub_proto::wens::v1::SubmitHireEventRequest;
use hub_proto::wens::v1::hire_event_service_client::HireEventServiceClient;
use hub_tests::env::{ADMIN_TOKEN, dossier_token, party_token};
use hub_tests::grpc::{bad_request_fields, channel, with_token};
use hub_tests::{TestEnv, eventually, hubctl_binary};
use prost_reflect::prost_types::Timestamp;
use sqlx::PgPool;
use tonic::Code;
use tonic::transport::Channel;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);
type Client = DossierServiceClient<Channel>;

/// A test's environment with the dossier service running.
struct Setup {
    env: TestEnv,
    running: Running,
    addr: SocketAddr,
    pool: PgPool,
    client: Client,
}

impl Setup {
    async fn new() -> Self {
        Self::with_components(&[Component::Dossier]).await
    }

    async fn with_components(components: &[Component]) -> Self {
        let env = TestEnv::new().await;
        let running = env.start(components).await;
        Self::around(env, running).await
    }

    async fn around(env: TestEnv, running: Running) -> Self {
        let addr = running.grpc_addr.unwrap();
        let pool = env.pool().await;
        let client = DossierServiceClient::new(channel(addr).await);
        Self {
            env,
            running,
            addr,
            pool,
            client,
        }
    }

    async fn finish(self) {
        self.running.stop().await;
        self.pool.close().await;
        self.env.cleanup().await;
    }

    /// A synthetic dossier with one entry, written directly for setup.
    async fn dossier(&self, number: &str, branch: &str, unit: &str, rank: &str, scale: i32) {
        let pseudonym = self.env.key.pseudonym(SubjectId::EmployeeId(number));
        sqlx::query(
            "INSERT INTO dossiers (personnel_number, subject_pseudonym, defence_branch, unit, rank, salary_scale)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(number)
        .bind(pseudonym)
        .bind(branch)
        .bind(unit)
        .bind(rank)
        .bind(scale)
        .execute(&self.pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO dossier_entries (personnel_number, hr_process, category, source_message_id, content)
             VALUES ($1, 'instroom', 'art13.8', 'test-setup', '{\"function_title\": \"Monteur (synthetisch)\"}')",
        )
        .bind(number)
        .execute(&self.pool)
        .await
        .unwrap();
    }

    async fn plain(&self, number: &str) {
        self.dossier(number, "CLAS", "13 Lichte Brigade", "soldaat", 4)
            .await;
    }

    async fn grant(
        &self,
        grantee: &str,
        nature: pb::GrantNature,
        kind: pb::ScopeKind,
        value: &str,
    ) -> pb::Grant {
        self.try_grant(grantee, nature, kind, value, Utc::now(), days(30))
            .await
            .unwrap()
    }

    async fn try_grant(
        &self,
        grantee: &str,
        nature: pb::GrantNature,
        kind: pb::ScopeKind,
        value: &str,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<pb::Grant, tonic::Status> {
        self.client
            .clone()
            .create_grant(admin(pb::CreateGrantRequest {
                grantee: grantee.to_owned(),
                nature: nature.into(),
                scope: Some(pb::Scope {
                    kind: kind.into(),
                    value: value.to_owned(),
                }),
                valid_from: Some(ts(from)),
                valid_until: Some(ts(until)),
                purpose: "personeelsbeheer (synthetische test)".to_owned(),
            }))
            .await
            .map(|r| r.into_inner().grant.unwrap())
    }

    async fn read(&self, as_whom: &str, number: &str) -> Result<pb::Dossier, tonic::Status> {
        let request = pb::GetDossierRequest {
            personnel_number: number.to_owned(),
        };
        let request = if as_whom == "admin" {
            admin(request)
        } else {
            person(as_whom, request)
        };
        self.client
            .clone()
            .get_dossier(request)
            .await
            .map(|r| r.into_inner().dossier.unwrap())
    }

    /// Access-log rows about `number`, oldest first: (actor, action,
    /// outcome, grant, exemption, reason).
    async fn log(&self, number: &str) -> Vec<LogRow> {
        sqlx::query_as(
            "SELECT actor, action, outcome, grant_id, exemption_id, reason FROM dossier_access_log
             WHERE personnel_number = $1 ORDER BY id",
        )
        .bind(number)
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }

    async fn status(&self, number: &str) -> String {
        sqlx::query_scalar("SELECT status FROM dossiers WHERE personnel_number = $1")
            .bind(number)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    async fn end_employment(
        &self,
        number: &str,
        end: NaiveDate,
    ) -> pb::RecordEmploymentEndResponse {
        self.client
            .clone()
            .record_employment_end(admin(pb::RecordEmploymentEndRequest {
                personnel_number: number.to_owned(),
                end_date: end.format("%Y-%m-%d").to_string(),
            }))
            .await
            .unwrap()
            .into_inner()
    }

    async fn sweep(&self, dry_run: bool) -> pb::SweepRetentionResponse {
        self.client
            .clone()
            .sweep_retention(admin(pb::SweepRetentionRequest { dry_run }))
            .await
            .unwrap()
            .into_inner()
    }
}

type LogRow = (String, String, String, Option<Uuid>, Option<Uuid>, String);

fn admin<T>(message: T) -> tonic::Request<T> {
    with_token(message, ADMIN_TOKEN)
}

fn person<T>(number: &str, message: T) -> tonic::Request<T> {
    with_token(message, &dossier_token(number))
}

fn ts(at: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap(),
    }
}

fn days(n: i64) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::days(n)
}

fn months_ago(n: u32) -> NaiveDate {
    Utc::now()
        .date_naive()
        .checked_sub_months(Months::new(n))
        .unwrap()
}

fn numbers(items: &[pb::SweepItem]) -> Vec<&str> {
    items.iter().map(|i| i.personnel_number.as_str()).collect()
}

fn code<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> Code {
    result.expect_err("the call is refused").code()
}

use pb::GrantNature as N;
use pb::ScopeKind as S;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_writes_go_through_the_matrix_and_every_attempt_is_logged() {
    let s = Setup::new().await;
    s.plain("P1000001").await;

    // Without a grant: refused and logged.
    assert_eq!(
        code(s.read("P2000001", "P1000001").await),
        Code::PermissionDenied
    );
    let log = s.log("P1000001").await;
    assert_eq!(log.len(), 1);
    assert_eq!(
        log[0],
        (
            "P2000001".into(),
            "read".into(),
            "denied".into(),
            None,
            None,
            "no_active_grant".into()
        )
    );

    // A grant on another dossier does not help; one on this dossier does.
    s.plain("P1000002").await;
    s.grant("P2000001", N::Read, S::Dossier, "P1000002").await;
    assert_eq!(
        code(s.read("P2000001", "P1000001").await),
        Code::PermissionDenied
    );
    let grant = s.grant("P2000001", N::Read, S::Dossier, "P1000001").await;
    assert_eq!(grant.granted_by, "admin", "the grantor is recorded");
    let dossier = s.read("P2000001", "P1000001").await.unwrap();
    assert_eq!(dossier.entries.len(), 1);
    let grant_id = Uuid::parse_str(&grant.grant_id).unwrap();
    let last = s.log("P1000001").await.pop().unwrap();
    assert_eq!(
        last,
        (
            "P2000001".into(),
            "read".into(),
            "allowed".into(),
            Some(grant_id),
            None,
            String::new()
        )
    );

    // An expired grant is refused.
    sqlx::query(
        "UPDATE dossier_grants SET valid_from = now() - interval '2 days', valid_until = now() - interval '1 day'
         WHERE grant_id = $1",
    )
    .bind(grant_id)
    .execute(&s.pool)
    .await
    .unwrap();
    assert_eq!(
        code(s.read("P2000001", "P1000001").await),
        Code::PermissionDenied
    );
    assert_eq!(s.log("P1000001").await.pop().unwrap().5, "no_active_grant");

    // A unit grant covers it until the records manager ends it.
    let unit = s
        .grant("P2000001", N::Read, S::Unit, "13 Lichte Brigade")
        .await;
    assert!(s.read("P2000001", "P1000001").await.is_ok());
    s.client
        .clone()
        .end_grant(admin(pb::EndGrantRequest {
            grant_id: unit.grant_id.clone(),
            reason: "functie gewijzigd".to_owned(),
        }))
        .await
        .unwrap();
    assert_eq!(
        code(s.read("P2000001", "P1000001").await),
        Code::PermissionDenied
    );

    // Writing needs a write grant; the write is logged under it.
    let entry = || pb::AddEntryRequest {
        personnel_number: "P1000001".to_owned(),
        hr_process: "opleiding".to_owned(),
        category: "art13.6".to_owned(),
        content_json: r#"{"course": "Basisopleiding (synthetisch)"}"#.to_owned(),
    };
    s.grant("P2000002", N::Read, S::All, "").await;
    let refused = s
        .client
        .clone()
        .add_entry(person("P2000002", entry()))
        .await;
    assert_eq!(code(refused), Code::PermissionDenied);
    let write = s
        .grant("P2000002", N::Write, S::DefenceBranch, "CLAS")
        .await;
    let added = s
        .client
        .clone()
        .add_entry(person("P2000002", entry()))
        .await
        .unwrap();
    assert_eq!(added.into_inner().entry.unwrap().hr_process, "opleiding");
    let last = s.log("P1000001").await.pop().unwrap();
    assert_eq!((last.1.as_str(), last.2.as_str()), ("write", "allowed"));
    assert_eq!(last.3, Some(Uuid::parse_str(&write.grant_id).unwrap()));
    let bad = s
        .client
        .clone()
        .add_entry(person(
            "P2000002",
            pb::AddEntryRequest {
                category: "art13.21".to_owned(),
                hr_process: "kantine".to_owned(),
                ..entry()
            },
        ))
        .await
        .expect_err("an entry outside the index is refused");
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(bad_request_fields(&bad), ["hr_process", "category"]);
    assert_eq!(
        s.read("P2000002", "P1000001").await.unwrap().entries.len(),
        2
    );

    // The records manager reads outside the matrix, logged as such; party
    // tokens and strangers get nothing.
    assert!(s.read("admin", "P1000001").await.is_ok());
    assert_eq!(s.log("P1000001").await.pop().unwrap().0, "admin");
    let wens = s
        .client
        .clone()
        .get_dossier(with_token(
            pb::GetDossierRequest {
                personnel_number: "P1000001".to_owned(),
            },
            &party_token("wens"),
        ))
        .await;
    assert_eq!(code(wens), Code::PermissionDenied);
    let nobody = s
        .client
        .clone()
        .get_dossier(pb::GetDossierRequest {
            personnel_number: "P1000001".to_owned(),
        })
        .await;
    assert_eq!(code(nobody), Code::Unauthenticated);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restricted_dossiers_are_readable_only_after_the_required_approval() {
    let s = Setup::new().await;
    s.dossier("P1000003", "MIVD", "MIVD-staf", "majoor", 11)
        .await;
    s.dossier("P1000004", "CLAS", "KCT", "sergeant", 7).await;
    s.dossier("P1000005", "CLSK", "Staf CLSK", "kolonel", 14)
        .await;
    for (number, restriction) in [
        ("P1000003", pb::Restriction::Mivd),
        ("P1000004", pb::Restriction::SpecialUnit),
        ("P1000005", pb::Restriction::ManagementDevelopment),
    ] {
        s.client
            .clone()
            .set_dossier_restriction(admin(pb::SetDossierRestrictionRequest {
                personnel_number: number.to_owned(),
                restriction: restriction.into(),
            }))
            .await
            .unwrap();
    }
    let grant = s.grant("P2000003", N::Read, S::All, "").await;
    for number in ["P1000003", "P1000004", "P1000005"] {
        assert_eq!(
            code(s.read("P2000003", number).await),
            Code::PermissionDenied,
            "{number}"
        );
        assert_eq!(s.log(number).await.pop().unwrap().5, "approval_required");
    }
    let approve =
        |restriction: pb::Restriction, unit: &str, reference: &str| pb::RecordApprovalRequest {
            grant_id: grant.grant_id.clone(),
            restriction: restriction.into(),
            unit: unit.to_owned(),
            approved_by: "P2000020".to_owned(),
            reference: reference.to_owned(),
            approved_on: Utc::now().date_naive().format("%Y-%m-%d").to_string(),
        };
    // The head of another unit cannot approve for the KCT.
    s.client
        .clone()
        .record_approval(admin(approve(
            pb::Restriction::SpecialUnit,
            "13 Lichte Brigade",
            "brief 1",
        )))
        .await
        .unwrap();
    assert_eq!(
        code(s.read("P2000003", "P1000004").await),
        Code::PermissionDenied
    );
    // The head of the KCT approves: the special unit opens, nothing else.
    let kct = s
        .client
        .clone()
        .record_approval(admin(approve(
            pb::Restriction::SpecialUnit,
            "KCT",
            "brief 2",
        )))
        .await
        .unwrap()
        .into_inner()
        .approval
        .unwrap();
    assert_eq!(kct.basis, i32::from(pb::ApprovalBasis::UnitHead));
    assert!(s.read("P2000003", "P1000004").await.is_ok());
    assert_eq!(
        code(s.read("P2000003", "P1000003").await),
        Code::PermissionDenied
    );
    assert_eq!(
        code(s.read("P2000003", "P1000005").await),
        Code::PermissionDenied
    );
    // MIVD: an approval under the MIVD-HDP agreement.
    let mivd = s
        .client
        .clone()
        .record_approval(admin(approve(
            pb::Restriction::Mivd,
            "",
            "convenant MIVD-HDP art 3",
        )))
        .await
        .unwrap()
        .into_inner()
        .approval
        .unwrap();
    assert_eq!(mivd.basis, i32::from(pb::ApprovalBasis::MivdHdpAgreement));
    assert!(s.read("P2000003", "P1000003").await.is_ok());
    // Management Development: the unit head's approval.
    s.client
        .clone()
        .record_approval(admin(approve(
            pb::Restriction::ManagementDevelopment,
            "",
            "brief 3",
        )))
        .await
        .unwrap();
    assert!(s.read("P2000003", "P1000005").await.is_ok());
    // Another person with the same kind of grant but no approval stays out,
    // and so does the records manager, who holds no grant.
    s.grant("P2000004", N::Read, S::All, "").await;
    assert_eq!(
        code(s.read("P2000004", "P1000003").await),
        Code::PermissionDenied
    );
    assert_eq!(
        code(s.read("admin", "P1000003").await),
        Code::PermissionDenied
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sixth_simultaneous_audit_grant_is_refused() {
    let s = Setup::new().await;
    s.plain("P1000001").await;
    let mut five = Vec::new();
    for n in 1..=5 {
        five.push(s.grant(&format!("P200000{n}"), N::Audit, S::All, "").await);
    }
    let sixth = s
        .try_grant("P2000006", N::Audit, S::All, "", Utc::now(), days(30))
        .await;
    let status = sixth.expect_err("a sixth audit grant at the same time is refused");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("art 4.2"), "{}", status.message());
    // Not simultaneous: one starting after the five have ended is fine.
    s.try_grant("P2000006", N::Audit, S::All, "", days(31), days(60))
        .await
        .unwrap();
    // An auditor reads; once one of the five ends, a sixth person fits.
    assert!(s.read("P2000001", "P1000001").await.is_ok());
    s.client
        .clone()
        .end_grant(admin(pb::EndGrantRequest {
            grant_id: five[0].grant_id.clone(),
            reason: "audit afgerond".to_owned(),
        }))
        .await
        .unwrap();
    s.try_grant("P2000007", N::Audit, S::All, "", Utc::now(), days(30))
        .await
        .unwrap();
    let active: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM dossier_grants WHERE nature = 'audit' AND valid_from <= now()
           AND now() < valid_until AND (ended_at IS NULL OR now() < ended_at)",
    )
    .fetch_one(&s.pool)
    .await
    .unwrap();
    assert_eq!(active, 5);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_grant_sees_aggregates_only_with_small_cells_suppressed() {
    let s = Setup::new().await;
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("P{:07}", 3_000_000 + n)
    };
    for _ in 0..6 {
        s.dossier(&next(), "CLAS", "A-eenheid", "korporaal", 5)
            .await;
    }
    for _ in 0..3 {
        s.dossier(&next(), "CLAS", "B-eenheid", "korporaal", 5)
            .await;
    }
    for _ in 0..2 {
        s.dossier(&next(), "CZSK", "C-eenheid", "matroos", 3).await;
    }
    // Never counted: a restricted and an archived dossier in unit A.
    let restricted = next();
    s.dossier(&restricted, "CLAS", "A-eenheid", "korporaal", 5)
        .await;
    let archived = next();
    s.dossier(&archived, "CLAS", "A-eenheid", "korporaal", 5)
        .await;
    sqlx::query("UPDATE dossiers SET restriction = 'special_unit' WHERE personnel_number = $1")
        .bind(&restricted)
        .execute(&s.pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE dossiers SET status = 'archived', archived_at = now() WHERE personnel_number = $1",
    )
    .bind(&archived)
    .execute(&s.pool)
    .await
    .unwrap();
    let report = |who: &'static str, dimension: pb::ReportDimension| {
        let mut client = s.client.clone();
        async move {
            client
                .get_dossier_report(person(
                    who,
                    pb::GetDossierReportRequest {
                        dimension: dimension.into(),
                    },
                ))
                .await
                .map(|r| r.into_inner())
        }
    };
    assert_eq!(
        code(report("P2000010", pb::ReportDimension::Unit).await),
        Code::PermissionDenied
    );

    s.grant("P2000010", N::Report, S::All, "").await;
    let by_unit = report("P2000010", pb::ReportDimension::Unit).await.unwrap();
    let cells: Vec<(&str, &str, bool)> = by_unit
        .cells
        .iter()
        .map(|c| (c.group.as_str(), c.count.as_str(), c.suppressed))
        .collect();
    assert_eq!(
        cells,
        [
            ("A-eenheid", "6", false),
            ("B-eenheid", "<5", true),
            ("C-eenheid", "<5", true)
        ]
    );
    assert_eq!(by_unit.suppression_threshold, 5);
    let by_branch = report("P2000010", pb::ReportDimension::DefenceBranch)
        .await
        .unwrap();
    let cells: Vec<(&str, &str)> = by_branch
        .cells
        .iter()
        .map(|c| (c.group.as_str(), c.count.as_str()))
        .collect();
    assert_eq!(cells, [("CLAS", "9"), ("CZSK", "<5")]);

    // Aggregates only: no dossier for a report grant, and the refusal says why.
    assert_eq!(
        code(s.read("P2000010", "P3000001").await),
        Code::PermissionDenied
    );
    assert_eq!(
        s.log("P3000001").await.pop().unwrap().5,
        "report_grant_only"
    );
    // A branch-scoped report sees its branch only; a report grant never
    // covers one dossier.
    s.grant("P2000011", N::Report, S::DefenceBranch, "CZSK")
        .await;
    let czsk = report("P2000011", pb::ReportDimension::Unit).await.unwrap();
    assert_eq!(czsk.cells.len(), 1);
    assert_eq!(
        (czsk.cells[0].group.as_str(), czsk.cells[0].count.as_str()),
        ("C-eenheid", "<5")
    );
    let one = s
        .try_grant(
            "P2000012",
            N::Report,
            S::Dossier,
            "P3000001",
            Utc::now(),
            days(30),
        )
        .await;
    assert_eq!(code(one), Code::InvalidArgument);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_archives_twelve_months_after_employment_except_permanent_retention() {
    let s = Setup::new().await;
    s.plain("P1000006").await; // ended 13 months ago: archived
    s.plain("P1000007").await; // ended 11 months ago: kept
    s.dossier("P1000008", "CLAS", "Staf CLAS", "kolonel", 16)
        .await; // scale 16: kept
    s.dossier("P1000009", "CLAS", "Staf CLAS", "Brigadegeneraal", 15)
        .await; // rank: kept
    s.plain("P1000010").await; // still employed
    let due = s.end_employment("P1000006", months_ago(13)).await;
    assert!(due.permanent_retention.is_empty());
    assert_eq!(
        due.archive_due_on,
        months_ago(13)
            .checked_add_months(Months::new(12))
            .unwrap()
            .format("%Y-%m-%d")
            .to_string()
    );
    s.end_employment("P1000007", months_ago(11)).await;
    let kept = s.end_employment("P1000008", months_ago(13)).await;
    assert!(
        kept.permanent_retention.contains("art 18.2.b.ii"),
        "{kept:?}"
    );
    s.end_employment("P1000009", months_ago(13)).await;

    let dry = s.sweep(true).await;
    assert!(dry.dry_run);
    assert_eq!(numbers(&dry.archived), ["P1000006"]);
    assert_eq!(numbers(&dry.retained_permanently), ["P1000008", "P1000009"]);
    assert_eq!(dry.not_yet_due, 1);
    assert_eq!(
        s.status("P1000006").await,
        "active",
        "a dry run changes nothing"
    );

    let real = s.sweep(false).await;
    assert_eq!(numbers(&real.archived), ["P1000006"]);
    assert!(real.archived[0].reason.contains("art 17.2"));
    for (number, status) in [
        ("P1000006", "archived"),
        ("P1000007", "active"),
        ("P1000008", "active"),
        ("P1000009", "active"),
        ("P1000010", "active"),
    ] {
        assert_eq!(s.status(number).await, status, "{number}");
    }
    assert!(
        s.sweep(false).await.archived.is_empty(),
        "a second sweep moves nothing"
    );

    // The archive: closed to a grant without an exemption, open with one.
    s.grant("P2000001", N::Read, S::Dossier, "P1000006").await;
    s.grant("P2000002", N::Read, S::Dossier, "P1000006").await;
    assert_eq!(
        code(s.read("P2000001", "P1000006").await),
        Code::PermissionDenied
    );
    assert_eq!(
        s.log("P1000006").await.pop().unwrap().5,
        "archived_without_exemption"
    );
    let exemption = |grantee: &str| pb::RecordExemptionRequest {
        personnel_number: "P1000006".to_owned(),
        grantee: grantee.to_owned(),
        procedure: pb::ExemptionProcedure::Objection.into(),
        decision_reference: "ontheffing HDP 2026-001".to_owned(),
        valid_until: Some(ts(days(30))),
    };
    let granted = s
        .client
        .clone()
        .record_exemption(admin(exemption("P2000001")))
        .await
        .unwrap()
        .into_inner()
        .exemption
        .unwrap();
    assert_eq!(
        s.read("P2000001", "P1000006").await.unwrap().status,
        "archived"
    );
    let last = s.log("P1000006").await.pop().unwrap();
    assert_eq!(last.2, "allowed");
    assert_eq!(
        last.4,
        Some(Uuid::parse_str(&granted.exemption_id).unwrap())
    );
    assert_eq!(
        code(s.read("P2000002", "P1000006").await),
        Code::PermissionDenied
    );
    assert_eq!(
        code(s.read("admin", "P1000006").await),
        Code::PermissionDenied
    );

    // Archived more than five years ago: no access, no new exemption.
    sqlx::query("UPDATE dossiers SET archived_at = now() - interval '6 years' WHERE personnel_number = 'P1000006'")
        .execute(&s.pool)
        .await
        .unwrap();
    assert_eq!(
        code(s.read("P2000001", "P1000006").await),
        Code::PermissionDenied
    );
    assert_eq!(
        s.log("P1000006").await.pop().unwrap().5,
        "archived_over_five_years"
    );
    let late = s
        .client
        .clone()
        .record_exemption(admin(exemption("P2000002")))
        .await;
    assert_eq!(code(late), Code::FailedPrecondition);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_sweeps_by_itself_periodically() {
    let env = TestEnv::new().await;
    let mut config = env.hub_config();
    config.dossier_settings.sweep_interval = Duration::from_millis(200);
    let running = env.start_with(config, &[Component::Dossier]).await;
    let s = Setup::around(env, running).await;
    s.plain("P1000011").await;
    s.end_employment("P1000011", months_ago(13)).await;
    let by: String = eventually("the periodic sweep to archive the dossier", WAIT, || {
        let pool = s.pool.clone();
        async move {
            sqlx::query_scalar::<_, Option<String>>(
                "SELECT archived_by FROM dossiers WHERE personnel_number = 'P1000011'",
            )
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    })
    .await;
    assert_eq!(by, "retention-sweeper");
    s.finish().await;
}

fn hubctl(addr: SocketAddr, args: &[&str], token: Option<&str>) -> std::process::Output {
    let mut command = Command::new(hubctl_binary());
    command
        .arg("--server")
        .arg(format!("http://{addr}"))
        .args(args)
        .env_remove("HUB_ADMIN_TOKEN");
    if let Some(token) = token {
        command.env("HUB_ADMIN_TOKEN", token);
    }
    command.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubctl_dossier_sweep_reports_then_moves_with_reasons_and_counts() {
    let s = Setup::new().await;
    s.plain("P1000006").await;
    s.plain("P1000007").await;
    s.dossier("P1000008", "CLAS", "Staf CLAS", "kolonel", 16)
        .await;
    s.end_employment("P1000006", months_ago(13)).await;
    s.end_employment("P1000007", months_ago(11)).await;
    s.end_employment("P1000008", months_ago(13)).await;
    let addr = s.addr;
    let run = |args: &'static [&'static str], token: Option<&'static str>| {
        tokio::task::spawn_blocking(move || hubctl(addr, args, token))
    };

    let dry = run(&["dossier", "sweep", "--dry-run"], Some(ADMIN_TOKEN))
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&dry.stdout).to_string();
    assert!(
        dry.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(out.contains("nothing changed"), "{out}");
    assert!(out.contains("would move to the archive (1):"), "{out}");
    assert!(out.contains("P1000006  employment ended"), "{out}");
    assert!(out.contains("retained permanently (1):"), "{out}");
    assert!(out.contains("P1000008  salary scale 16"), "{out}");
    assert!(!out.contains("P1000007"), "{out}");
    assert!(
        out.contains("totals: would archive 1, retained permanently 1, not yet due 1"),
        "{out}"
    );
    assert_eq!(s.status("P1000006").await, "active");

    let real = run(&["dossier", "sweep"], Some(ADMIN_TOKEN)).await.unwrap();
    let out = String::from_utf8_lossy(&real.stdout).to_string();
    assert!(
        real.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&real.stderr)
    );
    assert!(out.contains("moved to the archive (1):"), "{out}");
    assert!(out.contains("P1000006  employment ended"), "{out}");
    assert!(
        out.contains("totals: archived 1, retained permanently 1, not yet due 1"),
        "{out}"
    );
    assert_eq!(s.status("P1000006").await, "archived");
    assert_eq!(s.status("P1000007").await, "active");
    assert_eq!(s.status("P1000008").await, "active");

    let again = run(&["dossier", "sweep"], Some(ADMIN_TOKEN)).await.unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("totals: archived 0,"));
    let anonymous = run(&["dossier", "sweep"], None).await.unwrap();
    assert_eq!(anonymous.status.code(), Some(2));
    let not_admin = run(
        &["dossier", "sweep"],
        Some("test-token-of-person-P2000001-0123456789"),
    )
    .await
    .unwrap();
    assert_eq!(not_admin.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&not_admin.stderr).contains("PermissionDenied"));
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_tracked_with_decisions_and_a_refusal_needs_reasons() {
    let s = Setup::new().await;
    s.plain("P1000012").await;
    let entry = s.read("admin", "P1000012").await.unwrap().entries[0]
        .entry_id
        .clone();
    let submit = |who: &str, kind: pb::SubjectRequestKind, reasons: &str| {
        person(
            who,
            pb::SubmitSubjectRequestRequest {
                personnel_number: String::new(),
                kind: kind.into(),
                entry_id: entry.clone(),
                reasons: reasons.to_owned(),
                requested_change: "functietitel is Monteur B (synthetisch)".to_owned(),
            },
        )
    };
    let mut c = s.client.clone();
    let unreasoned = c
        .submit_subject_request(submit("P1000012", pb::SubjectRequestKind::Correction, " "))
        .await;
    assert_eq!(
        bad_request_fields(&unreasoned.expect_err("reasons are required")),
        ["reasons"]
    );
    let request = c
        .submit_subject_request(submit(
            "P1000012",
            pb::SubjectRequestKind::Correction,
            "de titel klopt niet",
        ))
        .await
        .unwrap()
        .into_inner()
        .request
        .unwrap();
    assert_eq!(request.decision, i32::from(pb::Decision::Unspecified));
    // Someone else's dossier is not theirs to ask about.
    let other = c
        .submit_subject_request(person(
            "P1000013",
            pb::SubmitSubjectRequestRequest {
                personnel_number: "P1000012".to_owned(),
                ..submit("P1000013", pb::SubjectRequestKind::Deletion, "x").into_inner()
            },
        ))
        .await;
    assert_eq!(code(other), Code::PermissionDenied);

    let decide = |decision: pb::Decision, reasons: &str, id: &str| {
        admin(pb::DecideSubjectRequestRequest {
            request_id: id.to_owned(),
            decision: decision.into(),
            reasons: reasons.to_owned(),
        })
    };
    for decision in [pb::Decision::Refused, pb::Decision::PartiallyGranted] {
        let status = c
            .decide_subject_request(decide(decision, "  ", &request.request_id))
            .await
            .expect_err("a refusal without reasons is refused");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(bad_request_fields(&status), ["reasons"]);
    }
    let listed = c
        .list_subject_requests(person(
            "P1000012",
            pb::ListSubjectRequestsRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner()
        .requests;
    assert_eq!(
        listed[0].decision,
        i32::from(pb::Decision::Unspecified),
        "still pending"
    );
    let refused = c
        .decide_subject_request(decide(
            pb::Decision::Refused,
            "de titel is juist volgens het aanstellingsbesluit",
            &request.request_id,
        ))
        .await
        .unwrap()
        .into_inner()
        .request
        .unwrap();
    assert_eq!(refused.decision, i32::from(pb::Decision::Refused));
    assert_eq!(refused.decided_by, "admin");
    let twice = c
        .decide_subject_request(decide(pb::Decision::Granted, "", &request.request_id))
        .await;
    assert_eq!(code(twice), Code::FailedPrecondition);

    // A granted blocking hides the entry from the matrix; the employee
    // still sees it, marked. An objection (art 10) is tracked the same way.
    s.grant("P2000001", N::Read, S::Dossier, "P1000012").await;
    let blocking = c
        .submit_subject_request(submit(
            "P1000012",
            pb::SubjectRequestKind::Blocking,
            "onjuist opgenomen",
        ))
        .await
        .unwrap()
        .into_inner()
        .request
        .unwrap();
    c.decide_subject_request(decide(pb::Decision::Granted, "", &blocking.request_id))
        .await
        .unwrap();
    assert!(
        s.read("P2000001", "P1000012")
            .await
            .unwrap()
            .entries
            .is_empty()
    );
    let own = c
        .inspect_own_dossier(person("P1000012", pb::InspectOwnDossierRequest {}))
        .await
        .unwrap()
        .into_inner()
        .dossier
        .unwrap();
    assert!(own.entries[0].blocked);
    let objection = c
        .submit_subject_request(submit(
            "P1000012",
            pb::SubjectRequestKind::Objection,
            "bijzondere persoonlijke omstandigheden",
        ))
        .await
        .unwrap();
    assert_eq!(
        objection.into_inner().request.unwrap().kind,
        i32::from(pb::SubjectRequestKind::Objection)
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_move_the_grant_inside_defensie_and_need_consent_outside() {
    let s = Setup::new().await;
    s.plain("P1000014").await;
    let mut c = s.client.clone();
    let outside = |recipient: &str| {
        admin(pb::TransferDossierRequest {
            personnel_number: "P1000014".to_owned(),
            destination: Some(pb::transfer_dossier_request::Destination::OutsideDefensie(
                pb::OutsideDefensie {
                    recipient: recipient.to_owned(),
                },
            )),
        })
    };
    let refused = c
        .transfer_dossier(outside("Ministerie van Financiën"))
        .await;
    let status = refused.expect_err("no consent, no transfer");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("art 16.2"));
    let last = s.log("P1000014").await.pop().unwrap();
    assert_eq!(
        (last.1.as_str(), last.2.as_str(), last.5.as_str()),
        ("transfer_out", "denied", "no_consent")
    );
    // Consent for another employer does not count; the employee's own does.
    c.record_transfer_consent(person(
        "P1000014",
        pb::RecordTransferConsentRequest {
            recipient: "Gemeente Voorbeeldstad".to_owned(),
            ..Default::default()
        },
    ))
    .await
    .unwrap();
    assert_eq!(
        code(
            c.transfer_dossier(outside("Ministerie van Financiën"))
                .await
        ),
        Code::FailedPrecondition
    );
    let without_evidence = c
        .record_transfer_consent(admin(pb::RecordTransferConsentRequest {
            personnel_number: "P1000014".to_owned(),
            recipient: "Ministerie van Financiën".to_owned(),
            evidence_reference: String::new(),
        }))
        .await;
    assert_eq!(code(without_evidence), Code::InvalidArgument);
    c.record_transfer_consent(person(
        "P1000014",
        pb::RecordTransferConsentRequest {
            recipient: "Ministerie van Financiën".to_owned(),
            ..Default::default()
        },
    ))
    .await
    .unwrap();
    let moved = c
        .transfer_dossier(outside("Ministerie van Financiën"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.dossier.unwrap().personnel_number, "P1000014");

    // Inside Defensie the new manager's grant replaces the old one.
    let old = s.grant("P2000001", N::Write, S::Dossier, "P1000014").await;
    assert!(s.read("P2000001", "P1000014").await.is_ok());
    let inside = c
        .transfer_dossier(admin(pb::TransferDossierRequest {
            personnel_number: "P1000014".to_owned(),
            destination: Some(pb::transfer_dossier_request::Destination::InsideDefensie(
                pb::InsideDefensie {
                    new_manager: "P2000002".to_owned(),
                    defence_branch: "CZSK".to_owned(),
                    unit: "Marinebasis Den Helder".to_owned(),
                    valid_until: Some(ts(days(365))),
                },
            )),
        }))
        .await
        .unwrap()
        .into_inner();
    let new = inside.new_grant.unwrap();
    assert_eq!((new.grantee.as_str(), new.active), ("P2000002", true));
    assert_eq!(inside.ended_grants.len(), 1);
    let ended = &inside.ended_grants[0];
    assert_eq!(ended.grant_id, old.grant_id);
    assert!(!ended.active);
    assert_eq!(ended.replaced_by_grant_id, new.grant_id);
    assert_eq!(
        code(s.read("P2000001", "P1000014").await),
        Code::PermissionDenied
    );
    let dossier = s.read("P2000002", "P1000014").await.unwrap();
    assert_eq!(dossier.defence_branch, "CZSK");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_returns_the_own_dossier_and_the_access_log_about_it() {
    let s = Setup::with_components(&Component::ALL).await;
    // The real path: a hire event from WenS through the gateway and router.
    let event = samples::hire_event(15);
    let number = event.appointment.clone().unwrap().personnel_number;
    assert_eq!(number, "P1000015");
    HireEventServiceClient::new(channel(s.addr).await)
        .submit_hire_event(with_token(
            SubmitHireEventRequest {
                event: Some(event.clone()),
            },
            &party_token("wens"),
        ))
        .await
        .unwrap();
    eventually("the dossier to be filed", WAIT, || {
        let pool = s.pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM dossier_entries WHERE personnel_number = 'P1000015'",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            (n == 6).then_some(())
        }
    })
    .await;
    let grant = s
        .grant("P2000001", N::Read, S::Unit, "13 Lichte Brigade")
        .await;
    s.read("P2000001", &number).await.unwrap();
    assert_eq!(
        code(s.read("P2000002", &number).await),
        Code::PermissionDenied
    );
    // Access to someone else's dossier is not in this employee's log.
    s.plain("P1000016").await;
    s.read("P2000001", "P1000016").await.unwrap();

    let mut c = s.client.clone();
    let inspection = c
        .inspect_own_dossier(person(&number, pb::InspectOwnDossierRequest {}))
        .await
        .unwrap()
        .into_inner();
    let dossier = inspection.dossier.unwrap();
    assert_eq!(dossier.personnel_number, number);
    assert_eq!(dossier.entries.len(), 6);
    assert!(dossier.entries.iter().all(|e| e.hr_process == "instroom"));
    let log: Vec<(&str, i32, i32, &str)> = inspection
        .access_log
        .iter()
        .map(|r| (r.actor.as_str(), r.action, r.outcome, r.grant_id.as_str()))
        .collect();
    let (read, inspect) = (
        i32::from(pb::AccessAction::Read),
        i32::from(pb::AccessAction::Inspect),
    );
    let (allowed, denied) = (
        i32::from(pb::AccessOutcome::Allowed),
        i32::from(pb::AccessOutcome::Denied),
    );
    assert_eq!(
        log,
        [
            ("P2000001", read, allowed, grant.grant_id.as_str()),
            ("P2000002", read, denied, ""),
            (number.as_str(), inspect, allowed, ""),
        ]
    );
    assert!(
        inspection
            .access_log
            .iter()
            .all(|r| r.personnel_number == number)
    );
    assert_eq!(
        code(
            c.inspect_own_dossier(admin(pb::InspectOwnDossierRequest {}))
                .await
        ),
        Code::PermissionDenied
    );

    // Next of kin in the first degree of a deceased employee (art 8.3).
    let register = || {
        admin(pb::RegisterNextOfKinRequest {
            personnel_number: number.clone(),
            next_of_kin: "NOK-0001".to_owned(),
            kinship: pb::Kinship::Child.into(),
            evidence_reference: "akte van overlijden (synthetisch)".to_owned(),
        })
    };
    assert_eq!(
        code(c.register_next_of_kin(register()).await),
        Code::FailedPrecondition
    );
    c.record_death(admin(pb::RecordDeathRequest {
        personnel_number: number.clone(),
        date_of_death: Utc::now().date_naive().format("%Y-%m-%d").to_string(),
    }))
    .await
    .unwrap();
    c.register_next_of_kin(register()).await.unwrap();
    let request = |who: &str| {
        person(
            who,
            pb::InspectDeceasedDossierRequest {
                personnel_number: number.clone(),
            },
        )
    };
    let seen = c
        .inspect_deceased_dossier(request("NOK-0001"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen.dossier.unwrap().entries.len(), 6);
    assert_eq!(
        code(c.inspect_deceased_dossier(request("NOK-0002")).await),
        Code::PermissionDenied
    );
    s.finish().await;
}
