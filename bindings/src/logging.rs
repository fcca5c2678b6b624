//! The core's `tracing` events, forwarded to the app's logger (Logcat, os_log) with level,
//! target and the formatted message. The core keeps personal data out of its events.

use std::{
    cell::Cell,
    fmt::Write as _,
    sync::{
        Arc, Once, RwLock,
        atomic::{AtomicU8, Ordering},
    },
};

use tracing::{Event, Level, Metadata, Subscriber, field::Field, level_filters::LevelFilter};
use tracing_subscriber::{Layer, layer::Context, prelude::*};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// The app's logger. Called on whichever thread logged; must not block for long.
#[uniffi::export(foreign)]
pub trait LogSink: Send + Sync {
    fn log(&self, level: LogLevel, target: String, message: String);
}

static SINK: RwLock<Option<Arc<dyn LogSink>>> = RwLock::new(None);
/// The most verbose level forwarded: 1 (error) ..= 5 (trace).
static MAX_LEVEL: AtomicU8 = AtomicU8::new(0);
static INSTALL: Once = Once::new();

thread_local! {
    /// Set while the sink runs, so an event logged by the sink's own call is not sent back.
    static IN_SINK: Cell<bool> = const { Cell::new(false) };
}

/// Sends the core's logs up to `max_level` to `sink`. Call once at start-up; calling again
/// replaces the sink and the level. If the process already has a global `tracing`
/// subscriber (a Rust host app), that one is kept and this does nothing.
#[uniffi::export]
pub fn init_logging(sink: Arc<dyn LogSink>, max_level: LogLevel) {
    *SINK.write().unwrap_or_else(|e| e.into_inner()) = Some(sink);
    MAX_LEVEL.store(rank(max_level), Ordering::Relaxed);
    INSTALL.call_once(|| {
        let _ = tracing_subscriber::registry().with(Forward).try_init();
    });
    // Callsites cache whether they are enabled; a new level must reach them.
    tracing::callsite::rebuild_interest_cache();
}

fn rank(level: LogLevel) -> u8 {
    match level {
        LogLevel::Error => 1,
        LogLevel::Warn => 2,
        LogLevel::Info => 3,
        LogLevel::Debug => 4,
        LogLevel::Trace => 5,
    }
}

fn level_of(level: &Level) -> LogLevel {
    match *level {
        Level::ERROR => LogLevel::Error,
        Level::WARN => LogLevel::Warn,
        Level::INFO => LogLevel::Info,
        Level::DEBUG => LogLevel::Debug,
        Level::TRACE => LogLevel::Trace,
    }
}

fn wanted(level: &Level) -> bool {
    rank(level_of(level)) <= MAX_LEVEL.load(Ordering::Relaxed)
}

struct Forward;

impl<S: Subscriber> Layer<S> for Forward {
    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        wanted(metadata.level())
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(match MAX_LEVEL.load(Ordering::Relaxed) {
            0 => LevelFilter::OFF,
            1 => LevelFilter::ERROR,
            2 => LevelFilter::WARN,
            3 => LevelFilter::INFO,
            4 => LevelFilter::DEBUG,
            _ => LevelFilter::TRACE,
        })
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if IN_SINK.get() {
            return;
        }
        let Some(sink) = SINK.read().unwrap_or_else(|e| e.into_inner()).clone() else {
            return;
        };
        let meta = event.metadata();
        let mut message = Message::default();
        event.record(&mut message);
        IN_SINK.set(true);
        sink.log(
            level_of(meta.level()),
            meta.target().to_owned(),
            message.finish(),
        );
        IN_SINK.set(false);
    }
}

/// `message key=value key=value`, like tracing's compact format.
#[derive(Default)]
struct Message {
    message: String,
    fields: String,
}

impl Message {
    fn finish(self) -> String {
        match (self.message.is_empty(), self.fields.is_empty()) {
            (_, true) => self.message,
            (true, false) => self.fields,
            (false, false) => format!("{} {}", self.message, self.fields),
        }
    }
}

impl tracing::field::Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.record_debug(field, &format_args!("{value}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            if !self.fields.is_empty() {
                self.fields.push(' ');
            }
            let _ = write!(self.fields, "{}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Collect(Mutex<Vec<(LogLevel, String, String)>>);

    impl LogSink for Collect {
        fn log(&self, level: LogLevel, target: String, message: String) {
            self.0.lock().unwrap().push((level, target, message));
        }
    }

    #[test]
    fn events_reach_the_sink_with_level_target_and_fields_up_to_the_level() {
        let sink = Arc::new(Collect::default());
        init_logging(sink.clone(), LogLevel::Info);
        tracing::info!(target: "lianxiao_core::sync", user = %"u1", "synced");
        tracing::debug!(target: "lianxiao_core::sync", "too verbose");
        init_logging(sink.clone(), LogLevel::Debug);
        tracing::debug!(target: "lianxiao_core::sync", n = 3, "now wanted");
        let seen = sink.0.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![
                (
                    LogLevel::Info,
                    "lianxiao_core::sync".into(),
                    "synced user=u1".into()
                ),
                (
                    LogLevel::Debug,
                    "lianxiao_core::sync".into(),
                    "now wanted n=3".into()
                ),
            ]
        );
    }
}
