//! What `faultline proxy` prints on stdout after its `listening on` line: one JSON object per
//! line, each with `t_ms` (milliseconds since the proxy started) and `event`.

use std::io::Write;

use faultline_proxy::{Acted, Observer};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::time::Instant;

/// Prints events as JSON lines, stamped from the proxy's start.
#[derive(Debug, Clone, Copy)]
pub struct Log {
    pub start: Instant,
}

impl Log {
    /// Prints one event: `t_ms`, `event`, then `fields` (an object).
    pub fn event(&self, event: &str, fields: impl Serialize) {
        let t_ms = (self.start.elapsed().as_secs_f64() * 1e6).round() / 1000.0;
        let head = format!("{{\"t_ms\":{t_ms},\"event\":{}}}", Value::from(event));
        let fields = match serde_json::to_value(fields) {
            Ok(Value::Object(fields)) if !fields.is_empty() => Value::Object(fields).to_string(),
            _ => "{}".to_owned(),
        };
        // `{"t_ms":..,"event":..}` and `{fields}` spliced, so the time comes first.
        let line = match fields.len() {
            2 => head,
            _ => format!("{},{}", &head[..head.len() - 1], &fields[1..]),
        };
        // A closed stdout (`| head`) loses the log, not the proxy.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

impl Observer for Log {
    fn acted(&self, acted: Acted) {
        self.event(
            "fault",
            json!({
                "conn": acted.conn,
                "stream": acted.stream,
                "call": acted.call,
                "method": acted.method,
                "fault": acted.fault,
                "id": acted.index,
                "touched": acted.touched,
                "did": acted.what,
            }),
        );
    }

    fn protocol_error(&self, conn: u64, detail: String) {
        self.event("protocol-error", json!({ "conn": conn, "detail": detail }));
    }
}
