//! The one JetStream stream that holds every event kind.
//!
//! One stream means one sequence: a total order over all kinds that every edge sees the same, so
//! a single cursor resumes every subscription at once. The publisher and the edge both create the
//! stream when it is missing; neither changes an existing one (a mismatch is logged, because a
//! silent change of retention or replicas under a running deployment would surprise its operator).

use std::time::Duration;

use adic_protocol::{subject, DEFAULT_PREFIX, DEFAULT_STREAM};
use async_nats::jetstream::{self, stream};

/// Name, subjects and limits of the stream.
#[derive(Clone, Debug, clap::Args)]
pub struct StreamSettings {
    /// JetStream stream name.
    #[arg(long = "stream", env = "ADIC_STREAM", default_value = DEFAULT_STREAM)]
    pub name: String,
    /// Subject prefix: kinds are published on <prefix>.<priority>.<dotted name>.
    #[arg(long = "subject-prefix", env = "ADIC_SUBJECT_PREFIX", default_value = DEFAULT_PREFIX)]
    pub prefix: String,
    /// How long the stream keeps events (the resume window), e.g. 24h.
    #[arg(long = "stream-max-age", env = "ADIC_STREAM_MAX_AGE", default_value = "24h", value_parser = humantime::parse_duration)]
    pub max_age: Duration,
    /// Most bytes the stream keeps (-1: no limit besides age).
    #[arg(long = "stream-max-bytes", env = "ADIC_STREAM_MAX_BYTES", default_value_t = 1 << 30, allow_negative_numbers = true)]
    pub max_bytes: i64,
    /// Replicas of the stream (1, or 3 on a NATS cluster).
    #[arg(
        long = "stream-replicas",
        env = "ADIC_STREAM_REPLICAS",
        default_value_t = 1
    )]
    pub replicas: usize,
    /// Window in which a retried publish with the same message id is stored once.
    #[arg(long = "stream-duplicate-window", env = "ADIC_STREAM_DUPLICATE_WINDOW", default_value = "2m", value_parser = humantime::parse_duration)]
    pub duplicate_window: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            name: DEFAULT_STREAM.to_owned(),
            prefix: DEFAULT_PREFIX.to_owned(),
            max_age: Duration::from_secs(24 * 3600),
            max_bytes: 1 << 30,
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
        }
    }
}

/// Why the stream could not be found or made.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("looking up stream {name}: {source}")]
    Get {
        name: String,
        source: jetstream::context::GetStreamError,
    },
    #[error("creating stream {name}: {source}")]
    Create {
        name: String,
        source: jetstream::context::CreateStreamError,
    },
}

impl StreamSettings {
    /// Settings for a stream name and subject prefix, other limits at their defaults.
    pub fn named(name: impl Into<String>, prefix: impl Into<String>) -> StreamSettings {
        StreamSettings {
            name: name.into(),
            prefix: prefix.into(),
            ..StreamSettings::default()
        }
    }

    /// The subject filter of the stream: `<prefix>.>`.
    pub fn subjects(&self) -> String {
        subject::stream_subjects(&self.prefix)
    }

    /// The JetStream configuration these settings describe.
    pub fn config(&self) -> stream::Config {
        stream::Config {
            name: self.name.clone(),
            subjects: vec![self.subjects()],
            max_age: self.max_age,
            max_bytes: self.max_bytes,
            num_replicas: self.replicas,
            duplicate_window: self.duplicate_window,
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            discard: stream::DiscardPolicy::Old,
            allow_direct: true,
            description: Some("ADIC node events, every kind in one ordered stream".to_owned()),
            ..stream::Config::default()
        }
    }

    /// Returns the stream, creating it when it does not exist. An existing stream is never
    /// changed; where it differs from these settings, each difference is logged as a warning.
    pub async fn ensure(&self, js: &jetstream::Context) -> Result<stream::Stream, StreamError> {
        match js.get_stream(&self.name).await {
            Ok(mut existing) => {
                if let Ok(info) = existing.info().await {
                    for difference in self.differences(&info.config) {
                        tracing::warn!(stream = %self.name, %difference, "existing stream differs from the configured settings; leaving it unchanged");
                    }
                }
                Ok(existing)
            }
            Err(e) if is_not_found(&e) => {
                let created = js.create_stream(self.config()).await;
                match created {
                    Ok(s) => {
                        tracing::info!(stream = %self.name, subjects = %self.subjects(), "created stream");
                        Ok(s)
                    }
                    // Another process created it first.
                    Err(e) if e.to_string().contains("already in use") => js
                        .get_stream(&self.name)
                        .await
                        .map_err(|source| StreamError::Get {
                            name: self.name.clone(),
                            source,
                        }),
                    Err(source) => Err(StreamError::Create {
                        name: self.name.clone(),
                        source,
                    }),
                }
            }
            Err(source) => Err(StreamError::Get {
                name: self.name.clone(),
                source,
            }),
        }
    }

    /// Human-readable differences between an existing stream's configuration and these settings.
    pub fn differences(&self, existing: &stream::Config) -> Vec<String> {
        let wanted = self.config();
        let mut out = Vec::new();
        let mut check = |what: &str, have: String, want: String| {
            if have != want {
                out.push(format!("{what}: stream has {have}, configured {want}"));
            }
        };
        check(
            "subjects",
            format!("{:?}", existing.subjects),
            format!("{:?}", wanted.subjects),
        );
        check(
            "max_age",
            format!("{:?}", existing.max_age),
            format!("{:?}", wanted.max_age),
        );
        check(
            "max_bytes",
            existing.max_bytes.to_string(),
            wanted.max_bytes.to_string(),
        );
        check(
            "replicas",
            existing.num_replicas.to_string(),
            wanted.num_replicas.to_string(),
        );
        check(
            "duplicate_window",
            format!("{:?}", existing.duplicate_window),
            format!("{:?}", wanted.duplicate_window),
        );
        out
    }
}

fn is_not_found(e: &jetstream::context::GetStreamError) -> bool {
    matches!(
        e.kind(),
        jetstream::context::GetStreamErrorKind::JetStream(inner)
            if inner.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_each_setting_that_differs() {
        let settings = StreamSettings::default();
        assert!(settings.differences(&settings.config()).is_empty());
        let mut existing = settings.config();
        existing.num_replicas = 3;
        existing.max_age = Duration::from_secs(60);
        let found = settings.differences(&existing);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("max_age: stream has 60s"), "{found:?}");
        assert!(
            found[1].starts_with("replicas: stream has 3, configured 1"),
            "{found:?}"
        );
    }
}
