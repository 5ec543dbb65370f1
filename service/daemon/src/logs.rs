//! The service's log: to stderr (the journal on Linux) and into a ring buffer that clients read
//! (`strait logs`) or follow (events), each line tagged with the profile it is about.
//!
//! Connection tasks run inside a `connection{profile=…}` span; [`HubLayer`] finds that field
//! for every event, so the user's log of one attempt reads as one story.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use strait_ipc::LogLine;
use tokio::sync::broadcast;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How many lines clients can read back.
const KEEP_LINES: usize = 5000;

/// Recent log lines and the stream of new ones.
pub struct LogHub {
    lines: Mutex<VecDeque<LogLine>>,
    tx: broadcast::Sender<LogLine>,
}

impl LogHub {
    /// The newest `limit` lines, oldest first.
    pub fn recent(&self, limit: usize) -> Vec<LogLine> {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        let skip = lines.len().saturating_sub(limit);
        lines.iter().skip(skip).cloned().collect()
    }

    /// New lines from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LogLine> {
        self.tx.subscribe()
    }

    fn push(&self, line: LogLine) {
        let _ = self.tx.send(line.clone());
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() >= KEEP_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }
}

/// Log files kept in the log directory (one per day).
const KEEP_FILES: usize = 7;

/// Installs the global subscriber: stderr (the journal when run as a service), daily rotated
/// files `straitd.log.<date>` in `log_dir`, and the hub — all filtered by `STRAIT_LOG`
/// (default `info`). The returned guard flushes the file writer when dropped.
pub fn init(
    log_dir: &std::path::Path,
) -> (
    Arc<LogHub>,
    Option<tracing_appender::non_blocking::WorkerGuard>,
) {
    let (tx, _) = broadcast::channel(1024);
    let hub = Arc::new(LogHub {
        lines: Mutex::new(VecDeque::with_capacity(256)),
        tx,
    });
    let filter =
        || EnvFilter::try_from_env("STRAIT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let files = std::fs::create_dir_all(log_dir)
        .ok()
        .and_then(|()| {
            tracing_appender::rolling::Builder::new()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix("straitd.log")
                .max_log_files(KEEP_FILES)
                .build(log_dir)
                .ok()
        })
        .map(tracing_appender::non_blocking);
    let (file_layer, guard) = match files {
        Some((writer, guard)) => (
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .with_ansi(false)
                    .with_target(false)
                    .with_filter(filter()),
            ),
            Some(guard),
        ),
        None => (None, None),
    };
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false)
                .with_filter(filter()),
        )
        .with(file_layer)
        .with(HubLayer { hub: hub.clone() }.with_filter(filter()))
        .try_init();
    (hub, guard)
}

/// Sends events to the hub.
struct HubLayer {
    hub: Arc<LogHub>,
}

/// The `profile` field of a `connection` span, kept in the span's extensions.
struct ProfileField(String);

#[derive(Default)]
struct Collect {
    message: String,
    fields: String,
    profile: Option<String>,
}

impl Visit for Collect {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_owned(),
            "profile" => self.profile = Some(value.to_owned()),
            name => self.fields.push_str(&format!(" {name}={value}")),
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "profile" => self.profile = Some(format!("{value:?}").trim_matches('"').to_owned()),
            name => self.fields.push_str(&format!(" {name}={value:?}")),
        }
    }
}

impl<S> Layer<S> for HubLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut c = Collect::default();
        attrs.record(&mut c);
        if let (Some(profile), Some(span)) = (c.profile, ctx.span(id)) {
            span.extensions_mut().insert(ProfileField(profile));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut c = Collect::default();
        event.record(&mut c);
        let profile = c.profile.or_else(|| {
            ctx.event_scope(event).and_then(|scope| {
                scope
                    .from_root()
                    .find_map(|span| span.extensions().get::<ProfileField>().map(|p| p.0.clone()))
            })
        });
        let level = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warn",
            Level::INFO => "info",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        let time_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.hub.push(LogLine {
            time_ms,
            level: level.to_owned(),
            profile,
            message: format!("{}{}", c.message, c.fields),
        });
    }
}
