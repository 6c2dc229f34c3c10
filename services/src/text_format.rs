//! Messages printed the way Python's protobuf `str(message)` prints them, so
//! the Rust tutorial client's output matches the Python client's line for line.

use faultline_proto::routeguide::Point;

/// `str(point)` in Python: one `field: value` line per non-default field,
/// each ending in a newline; the empty string for (0, 0).
pub fn point(p: Option<&Point>) -> String {
    let mut out = String::new();
    if let Some(p) = p {
        if p.latitude != 0 {
            out.push_str(&format!("latitude: {}\n", p.latitude));
        }
        if p.longitude != 0 {
            out.push_str(&format!("longitude: {}\n", p.longitude));
        }
    }
    out
}
