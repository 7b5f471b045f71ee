//! The gateway never answers OK without the broker's confirm: a full queue
//! (the broker refuses) is RESOURCE_EXHAUSTED. (A broker that is down or
//! alarmed is in the drills.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hub::compose::Component;
use hub_policy::samples;
use hub_proto::wens::v1::SubmitHireEventRequest;
use hub_proto::wens::v1::hire_event_service_client::HireEventServiceClient;
use hub_tests::TestEnv;
use hub_tests::env::party_token;
use hub_tests::grpc::{channel, with_token};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_makes_the_gateway_answer_resource_exhausted() {
    let env = TestEnv::with(hub_tests::env::CATALOG, |amqp| amqp.max_length = 3).await;
    // No router: hub.router fills up.
    let running = env.start(&[Component::Gateway]).await;
    let mut client = HireEventServiceClient::new(channel(running.grpc_addr.unwrap()).await);
    let mut accepted = 0;
    let status = loop {
        let request = with_token(
            SubmitHireEventRequest {
                event: Some(samples::hire_event(accepted)),
            },
            &party_token("wens"),
        );
        match client.submit_hire_event(request).await {
            Ok(_) => accepted += 1,
            Err(status) => break status,
        }
        assert!(accepted < 20, "the broker never refused");
    };
    println!("accepted {accepted} before the refusal");
    assert!(accepted >= 3, "the first three fit: {accepted}");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("retry later"), "{status:?}");
    running.stop().await;
    env.cleanup().await;
}
