//! The process's log output on stderr: human-readable text by default, or one JSON object per
//! line with `TRENT_LOG_FORMAT=json` (for log shippers). `RUST_LOG` filters as usual (default
//! `info,openraft=warn`). Each API request's debug line carries `request_id`, the value of the
//! response's `x-amzn-RequestId` and of the audit event's `requestID`.

/// The environment variable that selects the format: `text` (default) or `json`.
pub const FORMAT_VARIABLE: &str = "TRENT_LOG_FORMAT";

/// Installs the global subscriber. Call once, first thing.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    let format = std::env::var(FORMAT_VARIABLE).unwrap_or_default();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format.as_str() {
        "json" => builder.json().flatten_event(true).init(),
        _ => {
            builder
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .init();
            if !format.is_empty() && format != "text" {
                tracing::warn!(value = %format, "{FORMAT_VARIABLE} is neither text nor json; using text");
            }
        }
    }
}
