//! Finding 1: the coreapp's gRPC port answered anyone. It now speaks
//! mutual TLS only, to clients holding a webapp certificate of the cluster
//! CA, and refuses to serve plain gRPC beyond loopback.

use std::time::Duration;

use e2e::{Engine, Stack};
use proto::cluster::{CORE_NAME, LinkConfig, Role};
use proto::core::Empty;
use proto::core::core_client::CoreClient;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// `AuthConfig` (the token signing key) through `endpoint`: the key, or
/// why not.
async fn ask_for_the_key(endpoint: Endpoint) -> Result<Vec<u8>, String> {
    let endpoint = endpoint.connect_timeout(Duration::from_secs(5)).timeout(Duration::from_secs(10));
    let channel = endpoint.connect().await.map_err(|e| format!("connect: {e}"))?;
    let reply = CoreClient::new(channel).auth_config(Empty {}).await.map_err(|e| format!("call: {e}"))?;
    Ok(reply.into_inner().jwt_key)
}

fn tls(ca_pem: &str, identity: Option<(&str, &str)>) -> ClientTlsConfig {
    let config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca_pem)).domain_name(CORE_NAME);
    match identity {
        Some((cert, key)) => config.identity(Identity::from_pem(cert, key)),
        None => config,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_answers_only_webapps_of_the_cluster() {
    let _shared = super::EXCLUSIVE.read().await;
    let s = Stack::start(Engine::Sqlite).await;
    let addr = s.cores[0].clone();
    let https = || Endpoint::from_shared(format!("https://{addr}")).unwrap();
    let web = e2e::cluster_link(Role::Webapp).credentials.unwrap();
    let core = e2e::cluster_link(Role::Coreapp).credentials.unwrap();

    // The attack as found: plain HTTP/2 gRPC, no credentials.
    let plain = ask_for_the_key(Endpoint::from_shared(format!("http://{addr}")).unwrap()).await;
    assert!(plain.is_err(), "plain gRPC got an answer: {plain:?}");

    // TLS trusting the cluster CA, but no client certificate.
    let anonymous = ask_for_the_key(https().tls_config(tls(web.ca_pem(), None)).unwrap()).await;
    assert!(anonymous.is_err(), "a client without a certificate got an answer: {anonymous:?}");

    // A webapp certificate of another CA.
    let other_ca = coreapp::cluster::new_authority().unwrap();
    let foreign = coreapp::cluster::issue(&other_ca, Role::Webapp, 1, &[]).unwrap();
    let foreign_tls = tls(web.ca_pem(), Some((&foreign.cert_pem, &foreign.key_pem)));
    let answer = ask_for_the_key(https().tls_config(foreign_tls).unwrap()).await;
    assert!(answer.is_err(), "another cluster's webapp got an answer: {answer:?}");

    // A coreapp's certificate (same CA) does not make its holder a client.
    let as_client = tls(web.ca_pem(), Some((core.cert_pem(), core.key_pem())));
    let answer = ask_for_the_key(https().tls_config(as_client).unwrap()).await;
    assert!(answer.is_err(), "a coreapp certificate was accepted as a client: {answer:?}");

    // The webapp's own credentials work: the refusals above are the checks,
    // not a broken port.
    let key = ask_for_the_key(https().tls_config(web.client_tls()).unwrap()).await.expect("a webapp is answered");
    assert!(!key.is_empty());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_grpc_beyond_loopback_needs_the_insecure_switch() {
    let _shared = super::EXCLUSIVE.read().await;
    let s = Stack::start(Engine::Sqlite).await;

    // A coreapp without credentials on every interface refuses to start,
    // before it opens anything.
    let mut config = s.core_config(1);
    config.cluster = LinkConfig::default();
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(30), coreapp::run(config, listener, std::future::pending()))
        .await
        .expect("a refusal, not a running server");
    let why = format!("{:#}", refused.expect_err("plain gRPC on 0.0.0.0 was served"));
    assert!(why.contains("WA_CLUSTER_DIR") && why.contains("WA_CLUSTER_INSECURE"), "{why}");

    // With the switch it serves (and says so in its log).
    let mut config = s.core_config(1);
    config.cluster = LinkConfig { credentials: None, insecure: true };
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let node = tokio::spawn(coreapp::run(config, listener, async move {
        let _ = stopped.await;
    }));
    let ping = async {
        loop {
            let endpoint = Endpoint::from_shared(format!("http://127.0.0.1:{port}")).unwrap();
            if let Ok(channel) = endpoint.connect().await
                && CoreClient::new(channel).ping(Empty {}).await.is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), ping).await.expect("the insecure node answers");
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), node).await.unwrap().unwrap().unwrap();

    // A webapp without credentials will not dial a coreapp beyond loopback.
    let config = webapp::Config {
        core_addrs: vec!["192.0.2.10:6250".into()],
        cluster: LinkConfig::default(),
        ..s.web_config.clone()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(30), webapp::run(config, listener, std::future::pending()))
        .await
        .expect("a refusal, not a running webapp");
    let why = format!("{:#}", refused.expect_err("a webapp dialled plain gRPC across the network"));
    assert!(why.contains("192.0.2.10:6250") && why.contains("WA_CLUSTER_DIR"), "{why}");
    s.stop().await;
}
