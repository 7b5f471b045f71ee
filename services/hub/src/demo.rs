//! `hub demo`: migrate, provision, start every service, submit synthetic
//! hire events (with psychological tests, a medical examination and
//! selection notes), and print where each field went: what crossed
//! `dossier.onboarding`, what reached nobody, and what the dossier filed.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hub_core::amqp::Amqp;
use hub_core::amqp::consumer::RetryPolicy;
use hub_core::amqp::headers::{get_str, short};
use hub_core::auth::Credentials;
use hub_core::config::{AmqpConfig, DatabaseConfig, RabbitApiConfig};
use hub_core::envelope::H_INGRESS_ID;
use hub_core::provision::provision;
use hub_core::rabbit_api::RabbitApi;
use hub_core::shutdown::Shutdown;
use hub_policy::{Catalog, ContentType, PseudonymKey, payload, samples};
use hub_proto::dossier::v1::GetDossierRequest;
use hub_proto::dossier::v1::dossier_service_client::DossierServiceClient;
use hub_proto::reintegration::v1::case_update_service_client::CaseUpdateServiceClient;
use hub_proto::reintegration::v1::{SubmitCaseUpdateRequest, SubmitSurveyResponseRequest};
use hub_proto::wens::v1::SubmitHireEventRequest;
use hub_proto::wens::v1::hire_event_service_client::HireEventServiceClient;
use prost_reflect::DynamicMessage;
use tokio::net::TcpListener;
use tonic::Request;
use tonic::transport::Channel;

use crate::compose::{Component, HubConfig, start};
use crate::report::FieldReport;
use crate::tap::Tap;

/// What the demo runs against.
#[derive(Clone, Debug)]
pub struct DemoSettings {
    /// The broker (its vhost is created when missing).
    pub amqp: AmqpConfig,
    /// The database (created when missing).
    pub database: DatabaseConfig,
    /// The management API.
    pub rabbit_api: RabbitApiConfig,
    /// The catalog.
    pub catalog: Arc<Catalog>,
    /// How many hire events to submit.
    pub hire_events: u32,
}

fn secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Bearer metadata for a request.
pub fn with_token<T>(message: T, token: &str) -> anyhow::Result<Request<T>> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(request)
}

/// Runs the demo, writing the report to `out`.
pub async fn run(settings: DemoSettings, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let catalog = settings.catalog.clone();
    let parties: Vec<String> = catalog
        .parties()
        .filter(|p| !p.hub_service)
        .map(|p| p.id.clone())
        .collect();
    let tokens: BTreeMap<String, String> = parties.iter().map(|p| (p.clone(), secret())).collect();
    // Party users are global in the broker: passwords configured for them
    // (HUB_PARTY_PASSWORD_<PARTY>) are kept, only missing ones are made up.
    let mut passwords = hub_core::config::party_secrets_from_env(
        "HUB_PARTY_PASSWORD_",
        parties.iter().map(String::as_str),
    )
    .map_err(anyhow::Error::msg)?;
    for party in &parties {
        passwords.entry(party.clone()).or_insert_with(secret);
    }
    let admin_token = secret();
    let mut identities: Vec<(String, String)> =
        tokens.iter().map(|(p, t)| (p.clone(), t.clone())).collect();
    identities.push(("admin".to_owned(), admin_token.clone()));

    writeln!(
        out,
        "hub demo: database {}, broker {}",
        settings.database.redacted_url(),
        settings.amqp.redacted_url()
    )?;
    hub_core::db::migrate(&settings.database).await?;
    let api = RabbitApi::new(
        &settings.rabbit_api.url,
        &settings.amqp.user(),
        &settings.amqp.password(),
    )
    .map_err(anyhow::Error::msg)?;
    let config = HubConfig {
        amqp: settings.amqp.clone(),
        database: settings.database.clone(),
        rabbit_api: settings.rabbit_api.clone(),
        catalog: catalog.clone(),
        pseudonym_key: PseudonymKey::new(secret().into_bytes()).map_err(anyhow::Error::msg)?,
        credentials: Credentials::new(identities).map_err(anyhow::Error::msg)?,
        operators: hub_operator::Operators::default(),
        max_grpc_message_bytes: 1024 * 1024,
        tls: None,
        retry: RetryPolicy::default(),
        purge_interval: Duration::from_secs(60),
        grace: Duration::from_secs(10),
        dossier_settings: hub_dossier::Settings::default(),
        // The demo prints its report and exits: no console to look at.
        console: None,
    };
    let provisioned = provision(
        &settings.amqp,
        &api,
        &catalog,
        &config.topology(),
        &passwords,
    )
    .await
    .map_err(anyhow::Error::msg)?;
    writeln!(
        out,
        "provisioned vhost {}: {} queues, party users {}",
        provisioned.vhost,
        provisioned.queues.len(),
        provisioned
            .users
            .iter()
            .map(|u| u.user.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )?;

    let amqp = Amqp::connect(&settings.amqp, "hub-demo-tap").await?;
    let mut tap = Tap::new(&amqp, &catalog.recipient_queues()).await?;
    let shutdown = Shutdown::new();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let running = start(&config, &Component::ALL, Some(listener), shutdown.clone()).await?;
    let addr = running.grpc_addr.context("grpc address")?;
    writeln!(out, "services running, gRPC on {addr}\n")?;

    let result = submit_and_report(
        &settings,
        &catalog,
        addr,
        &tokens,
        &admin_token,
        &mut tap,
        out,
    )
    .await;
    tap.close().await;
    amqp.close().await;
    running.stop().await;
    result
}

/// Copies read from the tap: by ingress message id, then by queue.
type Copies = BTreeMap<String, BTreeMap<String, DynamicMessage>>;

/// Reads the tap until `expected` copies arrived, decoding each by its type.
async fn collect(catalog: &Catalog, tap: &mut Tap, expected: usize) -> anyhow::Result<Copies> {
    let mut copies = Copies::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = 0;
    while got < expected {
        let Some(delivery) = tap
            .next(deadline.saturating_duration_since(Instant::now()))
            .await
        else {
            bail!("only {got} of {expected} copies crossed the recipients' queues within 30 s");
        };
        let props = &delivery.properties;
        let ingress = get_str(props.headers().as_ref(), H_INGRESS_ID)
            .unwrap_or_default()
            .to_owned();
        let message_type = short(props.kind()).unwrap_or_default();
        let schema = catalog
            .message_type(message_type)
            .with_context(|| format!("a copy of unknown type {message_type}"))?
            .schema
            .clone();
        let content_type = ContentType::parse(short(props.content_type()))?;
        let copy = payload::decode(&schema, content_type, &delivery.data)?;
        copies
            .entry(ingress)
            .or_default()
            .insert(delivery.routing_key.to_string(), copy);
        got += 1;
    }
    Ok(copies)
}

fn dynamic<M: prost::Message>(
    catalog: &Catalog,
    message_type: &str,
    message: &M,
) -> anyhow::Result<DynamicMessage> {
    let schema = catalog
        .message_type(message_type)
        .with_context(|| format!("the catalog has no {message_type}"))?
        .schema
        .clone();
    let mut dynamic = DynamicMessage::new(schema);
    dynamic.transcode_from(message)?;
    Ok(dynamic)
}

fn token<'a>(tokens: &'a BTreeMap<String, String>, party: &str) -> anyhow::Result<&'a str> {
    tokens
        .get(party)
        .map(String::as_str)
        .with_context(|| format!("the catalog has no party {party}"))
}

async fn submit_and_report(
    settings: &DemoSettings,
    catalog: &Catalog,
    addr: std::net::SocketAddr,
    tokens: &BTreeMap<String, String>,
    admin_token: &str,
    tap: &mut Tap,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let run = &run[..8];

    // Hire events from WenS, each with data the dossier may not hold.
    let mut hires = HireEventServiceClient::new(channel.clone());
    let mut sent_hires = Vec::new();
    for seed in 1..=settings.hire_events {
        let mut event = samples::hire_event(seed);
        event.event_id = format!("{}-{run}", event.event_id);
        let response = hires
            .submit_hire_event(with_token(
                SubmitHireEventRequest {
                    event: Some(event.clone()),
                },
                token(tokens, "wens")?,
            )?)
            .await
            .context("SubmitHireEvent")?;
        sent_hires.push((event, response.into_inner().message_id));
    }
    // A case update for both processors and a survey response, from the
    // re-integration tool.
    let mut cases = CaseUpdateServiceClient::new(channel.clone());
    let mut update = samples::case_update(1, 1);
    update.event_id = format!("{}-{run}", update.event_id);
    let purposes = vec![
        "outflow_to_work".to_owned(),
        "legal_reintegration_obligation".to_owned(),
    ];
    let case_id = cases
        .submit_case_update(with_token(
            SubmitCaseUpdateRequest {
                update: Some(update.clone()),
                purposes: purposes.clone(),
            },
            token(tokens, "reintegration-tool")?,
        )?)
        .await
        .context("SubmitCaseUpdate")?
        .into_inner()
        .message_id;
    let mut survey = samples::survey_response(1);
    survey.event_id = format!("{}-{run}", survey.event_id);
    let survey_id = cases
        .submit_survey_response(with_token(
            SubmitSurveyResponseRequest {
                response: Some(survey.clone()),
                purposes: vec![],
            },
            token(tokens, "reintegration-tool")?,
        )?)
        .await
        .context("SubmitSurveyResponse")?
        .into_inner()
        .message_id;

    // One copy per hire event, two for the case update, one for the survey.
    let mut copies = collect(catalog, tap, sent_hires.len() + 3).await?;

    let mut dossiers = DossierServiceClient::new(channel);
    for (event, message_id) in &sent_hires {
        let received = copies.remove(message_id).unwrap_or_default();
        let title = format!(
            "wens.hire.v1 event {} (AMQP message {message_id})",
            event.event_id
        );
        let mut report = FieldReport::new(
            catalog,
            "wens.hire.v1",
            title,
            &dynamic(catalog, "wens.hire.v1", event)?,
            &received,
        );
        let number = event
            .appointment
            .as_ref()
            .map(|a| a.personnel_number.clone())
            .unwrap_or_default();
        let source = hub_core::envelope::egress_message_id(message_id, "dossier.onboarding");
        let dossier = wait_for_dossier(&mut dossiers, &number, &source, admin_token).await?;
        let mut categories: Vec<String> = dossier
            .entries
            .iter()
            .filter(|e| e.source_message_id == source)
            .map(|e| format!("{}/{}", e.hr_process, e.category))
            .collect();
        categories.sort();
        report.notes.push(format!(
            "dossier {number}: {} entries filed from this event: {}",
            categories.len(),
            categories.join(", ")
        ));
        writeln!(out, "{report}")?;
    }

    let case_title = format!(
        "reintegration.case_update.v1 case {} version {} for {} (AMQP message {case_id})",
        update.case_id,
        update.case_version,
        purposes.join(", ")
    );
    let mut report = FieldReport::new(
        catalog,
        "reintegration.case_update.v1",
        case_title,
        &dynamic(catalog, "reintegration.case_update.v1", &update)?,
        &copies.remove(&case_id).unwrap_or_default(),
    );
    report
        .notes
        .push("Robidus gets the BSN (statutory basis: Wet WIA, SUWI); Future Smart coaches towards work and gets no BSN".to_owned());
    writeln!(out, "{report}")?;
    let survey_title = format!("reintegration.survey_response.v1 (AMQP message {survey_id})");
    let report = FieldReport::new(
        catalog,
        "reintegration.survey_response.v1",
        survey_title,
        &dynamic(catalog, "reintegration.survey_response.v1", &survey)?,
        &copies.remove(&survey_id).unwrap_or_default(),
    );
    writeln!(out, "{report}")?;
    Ok(())
}

/// Waits until the dossier holds entries from the message `source`.
async fn wait_for_dossier(
    client: &mut DossierServiceClient<Channel>,
    number: &str,
    source: &str,
    admin_token: &str,
) -> anyhow::Result<hub_proto::dossier::v1::Dossier> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let request = with_token(
            GetDossierRequest {
                personnel_number: number.to_owned(),
            },
            admin_token,
        )?;
        match client.get_dossier(request).await {
            Ok(response) => {
                if let Some(dossier) = response.into_inner().dossier
                    && dossier
                        .entries
                        .iter()
                        .any(|e| e.source_message_id == source)
                {
                    return Ok(dossier);
                }
            }
            Err(status) if status.code() == tonic::Code::NotFound => {}
            Err(status) => bail!("dossier {number}: {status}"),
        }
        if Instant::now() >= deadline {
            bail!("dossier {number} did not receive the event within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
