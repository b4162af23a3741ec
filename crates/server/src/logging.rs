//! The log subscriber of `keyport serve`: human-readable lines, or one JSON object per line with
//! `KEYPORT_LOG_FORMAT=json`. Either way each line written while a request runs carries its `request_id` (the
//! `request` span of `http`), and the filter is `KEYPORT_LOG` (default `info,sqlx=warn`).

use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer};

/// How log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    /// `KEYPORT_LOG_FORMAT`: `json`, or `text` (also when unset). Anything else is an error naming the variable.
    pub fn from_env(value: Option<&str>) -> Result<Format, String> {
        match value.map(str::trim) {
            None | Some("") | Some("text") => Ok(Format::Text),
            Some("json") => Ok(Format::Json),
            Some(other) => Err(format!(
                "KEYPORT_LOG_FORMAT: `{other}` is not a log format; use `text` or `json`"
            )),
        }
    }
}

/// A layer writing `format` lines through `writer` (combine with a filter on a `tracing_subscriber::Registry`).
pub fn layer<S, W>(format: Format, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(writer);
    match format {
        Format::Text => Box::new(fmt),
        // Every span on the way to the event (the `request` span with its id among them), flattened event fields.
        Format::Json => Box::new(
            fmt.json()
                .with_current_span(false)
                .with_span_list(true)
                .flatten_event(true),
        ),
    }
}

/// Installs the process's subscriber on standard error, filtered by `KEYPORT_LOG`.
pub fn init(format: Format) {
    let filter = EnvFilter::try_from_env("KEYPORT_LOG").unwrap_or_else(|_| "info,sqlx=warn".into());
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(layer(format, std::io::stderr));
    let _ = tracing::subscriber::set_global_default(subscriber);
}
