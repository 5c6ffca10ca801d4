//! Least privilege on NATS: a real nats-server runs the shipped `deploy/nats/least-privilege.conf`
//! (only its port and store dir replaced). The publisher user creates the stream and publishes
//! every kind; the edge user serves them live, replays an old cursor from JetStream and seeds
//! current values by direct get, and the server refuses nothing either does. The edge user cannot
//! publish events, nor create, change, purge or delete the stream; the publisher user cannot
//! create consumers nor read events in any other way.

use std::time::Duration;

use adic_edge::config::EdgeSettings;
use adic_protocol::{Kind, KindSet};
use adic_publisher::{NatsArgs, Publisher, PublisherConfig};
use adic_tests::clients::{seq_of, SseClient};
use adic_tests::edge::{stream_settings, TestEdge};
use adic_tests::nats::TestNats;
use adic_tests::stream::depth;
use adic_tests::wait_until;
use async_nats::jetstream::{self, consumer};
use async_nats::{Event, ServerError};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// The shipped config, as operators get it.
const CONFIG: &str = include_str!("../../deploy/nats/least-privilege.conf");
/// Its clustered variant, which must grant exactly the same permissions.
const CLUSTER_CONFIG: &str = include_str!("../../deploy/nats/least-privilege-cluster.conf");

const PUBLISHER: &str = "adic-publisher";
const EDGE: &str = "adic-edge";
const STREAM: &str = "ADIC_EVENTS";
const PREFIX: &str = "adic.events";
/// Bound on waiting for the server to say it refused something.
const REFUSAL_WAIT: Duration = Duration::from_secs(5);
/// Bound on a JetStream request the server may drop (then it times out).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// The shipped config with `line` replaced by `with`; the line must be there exactly once.
fn replace_line(config: &str, line: &str, with: &str) -> String {
    let found = config.lines().filter(|l| l.trim() == line).count();
    assert_eq!(found, 1, "least-privilege.conf has `{line}` once");
    config
        .lines()
        .map(|l| if l.trim() == line { with } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The password of `user`, given to the server in its environment.
fn password(user: &str) -> String {
    format!("{user}-secret-{}", std::process::id())
}

/// A nats-server running the shipped config.
struct Server {
    nats: TestNats,
}

impl Server {
    async fn start() -> Server {
        let env = vec![
            (
                "ADIC_NATS_PUBLISHER_PASSWORD".to_owned(),
                password(PUBLISHER),
            ),
            ("ADIC_NATS_EDGE_PASSWORD".to_owned(), password(EDGE)),
        ];
        let config = |port: u16, store: &std::path::Path| {
            let config = replace_line(
                CONFIG,
                "listen: 0.0.0.0:4222",
                &format!("listen: 127.0.0.1:{port}"),
            );
            replace_line(
                &config,
                "store_dir: /data/jetstream",
                &format!("  store_dir: {store:?}"),
            )
        };
        let nats = TestNats::start_configured(config, env, (EDGE, &password(EDGE)))
            .await
            .unwrap();
        assert_eq!((nats.stream_name(), nats.prefix()), (STREAM, PREFIX));
        Server { nats }
    }

    /// The connection settings a binary would get from NATS_URL, NATS_USER and NATS_PASSWORD.
    fn args(&self, user: &str) -> NatsArgs {
        NatsArgs {
            user: Some(user.to_owned()),
            password: Some(password(user)),
            ..NatsArgs::url(self.nats.url())
        }
    }

    async fn publisher(&self) -> Publisher {
        let config = PublisherConfig {
            stream: stream_settings(&self.nats),
            ..PublisherConfig::default()
        };
        Publisher::connect(&self.args(PUBLISHER), config)
            .await
            .unwrap()
    }

    /// The server log's permission violations ("Publish Violation", "Subscription Violation").
    fn violations(&self) -> Vec<String> {
        self.nats
            .log()
            .lines()
            .filter(|l| l.contains("Violation"))
            .map(str::to_owned)
            .collect()
    }

    /// Whether `user` was refused something with `subject` (quoted): 2.9 logs `User "<user>"`,
    /// 2.10 and later `"<account>/user:<user>"`.
    fn refused_to(&self, user: &str, subject: &str) -> bool {
        self.violations()
            .iter()
            .any(|l| by_user(l, user) && l.contains(subject))
    }

    /// A plain client logged in as `user` that hears what the server refuses it.
    async fn login(&self, user: &str) -> Login {
        let (tx, refusals) = mpsc::unbounded_channel();
        let client =
            async_nats::ConnectOptions::with_user_and_password(user.into(), password(user))
                .request_timeout(Some(REQUEST_TIMEOUT))
                .event_callback(move |event| {
                    if let Event::ServerError(ServerError::Other(text)) = event {
                        let _ = tx.send(text);
                    }
                    async {}
                })
                .connect(self.nats.url())
                .await
                .unwrap();
        let mut js = jetstream::new(client.clone());
        js.set_timeout(REQUEST_TIMEOUT);
        Login {
            client,
            js,
            refusals,
        }
    }
}

/// Whether a server log line is about `user`, in the words of NATS 2.9 or of later versions.
fn by_user(line: &str, user: &str) -> bool {
    line.contains(&format!("User \"{user}\"")) || line.contains(&format!("/user:{user}\""))
}

struct Login {
    client: async_nats::Client,
    js: jetstream::Context,
    refusals: mpsc::UnboundedReceiver<String>,
}

impl Login {
    /// Waits until the server reports refusing `what` (e.g. `Publish to "<subject>"`).
    async fn refused(&mut self, what: &str) {
        let wanted = format!("Permissions Violation for {what}");
        let heard = tokio::time::timeout(REFUSAL_WAIT, async {
            while let Some(text) = self.refusals.recv().await {
                if text.contains(&wanted) {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(heard, Ok(true), "the server refused: {wanted}");
    }

    /// Messages in the stream and consumers on it, as stream info tells.
    async fn stream_state(&self) -> (u64, usize) {
        let mut stream = self.js.get_stream(STREAM).await.unwrap();
        let info = stream.info().await.unwrap();
        (info.state.messages, info.state.consumer_count)
    }
}

/// Every kind's sample event, as in the contract.
fn samples() -> Vec<(Kind, String)> {
    let doc: Value = serde_json::from_str(include_str!("../../protocol/tests/kinds.json")).unwrap();
    doc["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let kind = Kind::from_variant(k["variant"].as_str().unwrap()).unwrap();
            (kind, serde_json::to_string(&k["sample"]).unwrap())
        })
        .collect()
}

/// A `message.new` event of depth `n`.
fn message(id: &str, n: u64) -> String {
    json!({"type": "MessageAdded", "data": {"message_id": id, "depth": n, "timestamp": 1}})
        .to_string()
}

fn numbered(n: u64) -> String {
    message(&format!("m{n}"), n)
}

/// Publishes `message.new` events and waits for their acks.
async fn publish(publisher: &Publisher, events: impl IntoIterator<Item = String>) {
    for event in events {
        publisher
            .publish_json(Kind::MessageAdded, event.into())
            .unwrap();
    }
    tokio::time::timeout(Duration::from_secs(20), publisher.flush())
        .await
        .expect("every event acked");
}

/// A small ring, so an old cursor needs a JetStream replay.
fn small_ring() -> EdgeSettings {
    EdgeSettings {
        ring_events: 10,
        ..EdgeSettings::default()
    }
}

#[tokio::test]
async fn the_publisher_user_publishes_and_the_edge_user_serves_live_replay_and_values() {
    adic_tests::init_logs();
    let server = Server::start().await;
    let stream = stream_settings(&server.nats);

    // An edge that starts before the stream exists may not create it: it waits.
    let early = TestEdge::spawn_as(&server.args(EDGE), stream.clone(), small_ring())
        .await
        .unwrap();
    let create = format!("\"$JS.API.STREAM.CREATE.{STREAM}\"");
    wait_until(Duration::from_secs(10), || async {
        server.refused_to(EDGE, &create)
    })
    .await
    .expect("the edge tried to create the stream and was refused");
    let readyz = reqwest::get(early.http("/readyz")).await.unwrap();
    assert_eq!(readyz.status(), 503, "no stream yet, so not ready");

    // The publisher creates the stream and publishes every kind, on every priority tier.
    let publisher = server.publisher().await;
    let samples = samples();
    for (kind, json) in &samples {
        publisher.publish_json(*kind, json.clone().into()).unwrap();
    }
    publish(&publisher, (1..=300).map(numbered)).await;
    let stats = publisher.stats();
    let total = samples.len() as u64 + 300;
    assert_eq!((stats.acked, stats.dropped_rejected), (total, 0));
    assert_eq!(stats.last_sequence, total);
    early.wait_ready().await.unwrap();

    // A cursor far older than the ring: the edge replays it from JetStream, then goes live.
    let epoch = early.state().feed.epoch();
    let cursor = format!("{epoch}-5");
    let mut sse = SseClient::connect_with(&early.sse(""), &[("Last-Event-ID", &cursor)])
        .await
        .unwrap();
    assert_eq!(sse.status, 200);
    for seq in 6..=total {
        let frame = sse.next_event().await.unwrap();
        assert_eq!(seq_of(frame.id.as_deref().unwrap()), seq, "in order, once");
        let samples = samples.len() as u64;
        if seq > samples {
            let event: Value = serde_json::from_str(frame.data.as_deref().unwrap()).unwrap();
            assert_eq!(depth(&event), seq - samples);
        }
    }
    publish(&publisher, (301..=305).map(numbered)).await;
    for n in 301..=305 {
        let frame = sse.next_event().await.unwrap();
        let event: Value = serde_json::from_str(frame.data.as_deref().unwrap()).unwrap();
        assert_eq!(depth(&event), n, "then live");
    }
    let metrics = early.metrics().await;
    assert!(
        metrics.contains("adic_edge_resumes_total{source=\"jetstream\"} 1"),
        "{metrics}"
    );
    drop(sse);

    // A burst larger than the live consumer's flow-control window (2 MiB): the server pauses
    // delivery until the edge answers its flow-control request, so the edge gets to the end of
    // the burst only if it may publish that answer.
    let big = "x".repeat(64 * 1024);
    publish(
        &publisher,
        (0..48).map(|n| message(&format!("{big}{n}"), n)),
    )
    .await;
    let end = publisher.stats().last_sequence;
    wait_until(Duration::from_secs(15), || async {
        early.state().feed.published_seq() >= end
    })
    .await
    .expect("the live feed got past the flow-control window");

    // An edge started now holds the last 10 events in its ring; the tips value, hundreds of
    // events older, comes from a direct get of the subject's last message.
    let late = TestEdge::spawn_as(&server.args(EDGE), stream, small_ring())
        .await
        .unwrap();
    late.wait_ready().await.unwrap();
    let snapshot_kinds = Kind::all().filter(|k| k.is_snapshot()).count();
    wait_until(Duration::from_secs(10), || async {
        late.state().snapshots.matching(KindSet::ALL).len() == snapshot_kinds
    })
    .await
    .expect("the last value of every snapshot kind");
    let values = late.state().snapshots.matching(KindSet::ALL);
    assert!(
        values.iter().all(|v| v.seq() <= samples.len() as u64),
        "from before the ring"
    );
    let tips = samples
        .iter()
        .find(|(kind, _)| *kind == Kind::TipsUpdated)
        .unwrap();
    let mut values = SseClient::connect(&late.sse("?snapshot=true&events=tips.update"))
        .await
        .unwrap();
    let frame = values.next_event().await.unwrap();
    assert_eq!(frame.event.as_deref(), Some("tips.update"));
    assert_eq!(frame.data.as_deref(), Some(tips.1.as_str()));

    // Neither user was refused anything but the early edge's attempts to create the stream.
    let violations = server.violations();
    let unexpected: Vec<&String> = violations
        .iter()
        .filter(|l| !(by_user(l, EDGE) && l.contains(&create)))
        .collect();
    assert!(unexpected.is_empty(), "refused: {unexpected:#?}");
}

#[tokio::test]
async fn the_edge_user_cannot_publish_events_nor_change_purge_or_delete_the_stream() {
    let server = Server::start().await;
    let publisher = server.publisher().await;
    publish(&publisher, (1..=3).map(numbered)).await;
    let mut edge = server.login(EDGE).await;
    assert_eq!(edge.stream_state().await, (3, 0));

    // A JetStream publish: the server drops it, so no ack comes, and says why.
    for kind in [Kind::MessageAdded, Kind::TipsUpdated, Kind::SyncProgress] {
        let subject = kind.subject(PREFIX);
        let ack = match edge.js.publish(subject.clone(), numbered(9).into()).await {
            Ok(ack) => ack.await.map(|_| ()),
            Err(e) => Err(e),
        };
        assert!(ack.is_err(), "no ack for a publish on {subject}");
        edge.refused(&format!("Publish to \"{subject}\"")).await;
    }
    // A core publish too.
    let subject = Kind::MessageAdded.subject(PREFIX);
    edge.client
        .publish(subject.clone(), numbered(10).into())
        .await
        .unwrap();
    edge.client.flush().await.unwrap();
    edge.refused(&format!("Publish to \"{subject}\"")).await;

    let purge = edge.js.get_stream(STREAM).await.unwrap().purge().await;
    assert!(purge.is_err(), "purge refused");
    edge.refused(&format!("Publish to \"$JS.API.STREAM.PURGE.{STREAM}\""))
        .await;
    assert!(
        edge.js.delete_stream(STREAM).await.is_err(),
        "delete refused"
    );
    edge.refused(&format!("Publish to \"$JS.API.STREAM.DELETE.{STREAM}\""))
        .await;
    let mut changed = stream_settings(&server.nats).config();
    changed.max_age = Duration::from_secs(60);
    assert!(
        edge.js.update_stream(&changed).await.is_err(),
        "update refused"
    );
    edge.refused(&format!("Publish to \"$JS.API.STREAM.UPDATE.{STREAM}\""))
        .await;
    changed.name = "OTHER".to_owned();
    changed.subjects = vec!["other.>".to_owned()];
    assert!(
        edge.js.create_stream(changed).await.is_err(),
        "create refused"
    );
    edge.refused("Publish to \"$JS.API.STREAM.CREATE.OTHER\"")
        .await;

    // The stream is as the publisher left it.
    assert_eq!(edge.stream_state().await, (3, 0));
    let mut stream = edge.js.get_stream(STREAM).await.unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(info.config.max_age, stream_settings(&server.nats).max_age);
}

#[tokio::test]
async fn the_publisher_user_cannot_create_consumers_nor_read_events() {
    let server = Server::start().await;
    let publisher = server.publisher().await;
    publish(&publisher, (1..=3).map(numbered)).await;
    // A running edge, whose deliveries a reader might try to overhear.
    let edge = TestEdge::spawn_as(
        &server.args(EDGE),
        stream_settings(&server.nats),
        EdgeSettings::default(),
    )
    .await
    .unwrap();
    edge.wait_ready().await.unwrap();
    let mut reader = server.login(PUBLISHER).await;
    let stream = reader.js.get_stream(STREAM).await.unwrap();

    let ephemeral = stream
        .create_consumer(consumer::pull::Config::default())
        .await;
    assert!(ephemeral.is_err(), "ephemeral consumer refused");
    reader
        .refused(&format!("Publish to \"$JS.API.CONSUMER.CREATE.{STREAM}\""))
        .await;
    let subject = Kind::MessageAdded.subject(PREFIX);
    let named = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("reader".to_owned()),
            filter_subject: subject.clone(),
            ..Default::default()
        })
        .await;
    assert!(named.is_err(), "durable consumer refused");
    reader
        .refused(&format!(
            "Publish to \"$JS.API.CONSUMER.CREATE.{STREAM}.reader.{subject}\""
        ))
        .await;
    assert!(stream.direct_get_last_for_subject(&subject).await.is_err());
    reader
        .refused(&format!(
            "Publish to \"$JS.API.DIRECT.GET.{STREAM}.{subject}\""
        ))
        .await;
    assert!(stream.get_raw_message(1).await.is_err());
    reader
        .refused(&format!("Publish to \"$JS.API.STREAM.MSG.GET.{STREAM}\""))
        .await;

    // Nor by subscribing: to the events, or to the inboxes the edge's consumer delivers to.
    for subject in [
        format!("{PREFIX}.>"),
        "_INBOX.>".to_owned(),
        "_INBOX.*".to_owned(),
    ] {
        let _subscription = reader.client.subscribe(subject.clone()).await.unwrap();
        reader
            .refused(&format!("Subscription to \"{subject}\""))
            .await;
    }
    assert!(
        reader.js.delete_stream(STREAM).await.is_err(),
        "delete refused"
    );
    reader
        .refused(&format!("Publish to \"$JS.API.STREAM.DELETE.{STREAM}\""))
        .await;

    // Only the edge's live consumer exists; the stream is intact.
    let (messages, consumers) = reader.stream_state().await;
    assert_eq!((messages, consumers), (3, 1));
}

/// The authorization block of a config file: from `authorization {` to the end.
fn authorization(config: &str) -> &str {
    let start = config
        .find("\nauthorization {")
        .expect("an authorization block");
    &config[start..]
}

#[test]
fn the_cluster_variant_grants_exactly_the_same_permissions() {
    assert_eq!(authorization(CLUSTER_CONFIG), authorization(CONFIG));
    assert!(CLUSTER_CONFIG.contains("cluster {"));
    assert!(
        !authorization(CONFIG).contains("$JS.API.>"),
        "no blanket API access"
    );
}
