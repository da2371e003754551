//! runc-style logging: with `--log FILE`, warnings and errors (everything with `--debug`) are
//! appended to FILE as text or as JSON lines `{"level","msg","time"}`, which is what a monitor that
//! drives runc already knows how to read back after a failed command. Without `--log`, they go to
//! stderr.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

use crate::cli::{GlobalOpts, LogFormat};

/// Where log lines go; kept by `main` to record the command's final error.
pub struct Log {
    sink: Option<Sink>,
}

struct Sink {
    // A Mutex only to satisfy Layer's Sync bound: this process has a single thread.
    file: Mutex<File>,
    format: LogFormat,
}

impl Sink {
    fn write(&self, level: &str, msg: &str) {
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let line = match self.format {
            LogFormat::Json => {
                let mut s = serde_json::json!({ "level": level, "msg": msg, "time": time }).to_string();
                s.push('\n');
                s
            }
            LogFormat::Text => format!("time=\"{time}\" level={level} msg={msg:?}\n"),
        };
        if let Ok(mut f) = self.file.lock() {
            // One write call per line: processes cloned from us share this O_APPEND fd.
            let _ = f.write_all(line.as_bytes());
        }
    }
}

impl Log {
    pub fn error(&self, msg: &str) {
        if let Some(sink) = &self.sink {
            sink.write("error", msg);
        }
    }
}

struct FileLayer(Sink);
/// Remembers the runtime's own pid: libcontainer's cloned processes inherit the subscriber, and
/// their stderr is the container's, so their messages must not land there.
struct StderrLayer(u32);

#[derive(Default)]
struct MessageVisitor(String);

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

impl<S: Subscriber> Layer<S> for FileLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut v = MessageVisitor::default();
        event.record(&mut v);
        self.0.write(level_name(event.metadata().level()), v.0.trim_start());
    }
}

impl<S: Subscriber> Layer<S> for StderrLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if std::process::id() != self.0 {
            return;
        }
        let mut v = MessageVisitor::default();
        event.record(&mut v);
        eprintln!("berth-runtime: {}: {}", level_name(event.metadata().level()), v.0.trim_start());
    }
}

fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

pub fn init(opts: &GlobalOpts) -> std::io::Result<Log> {
    let filter = if opts.debug {
        Targets::new().with_default(Level::DEBUG)
    } else {
        // Expected on every run here and meaningless to the caller: v1 controllers the host lacks,
        // and ambient capabilities that cannot be raised without being inheritable.
        Targets::new()
            .with_default(Level::WARN)
            .with_target("libcgroups::v1::manager", Level::ERROR)
            .with_target("libcontainer::syscall::linux", Level::ERROR)
    };
    match &opts.log {
        Some(path) => {
            let file = open(path)?;
            let layer = FileLayer(Sink { file: Mutex::new(file.try_clone()?), format: opts.log_format });
            tracing_subscriber::registry().with(layer.with_filter(filter)).init();
            Ok(Log { sink: Some(Sink { file: Mutex::new(file), format: opts.log_format }) })
        }
        None => {
            tracing_subscriber::registry().with(StderrLayer(std::process::id()).with_filter(filter)).init();
            Ok(Log { sink: None })
        }
    }
}
