//! Normalisation rules (`rules.toml`): what a comparison ignores or rewrites, each with a reason.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use serde::Deserialize;

use crate::compare::Aspect;
use crate::known::DataError;
use crate::transcript::{Call, Dir, Event, EventKind, Header, StatusSource};

/// Every normalisation rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    #[serde(default)]
    pub header: Vec<HeaderRule>,
    #[serde(default)]
    pub event: Vec<EventRule>,
    #[serde(default)]
    pub status: Vec<StatusRule>,
    #[serde(default)]
    pub aspect: Vec<AspectRule>,
}

/// A rule for header fields named `name`, or ending in `suffix`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderRule {
    pub name: Option<String>,
    pub suffix: Option<String>,
    pub action: HeaderAction,
    pub reason: String,
}

impl HeaderRule {
    fn matches(&self, name: &str) -> bool {
        self.name.as_deref() == Some(name) || self.suffix.as_deref().is_some_and(|s| name.ends_with(s))
    }
}

/// What happens to a matching header field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeaderAction {
    /// Not compared at all.
    Drop,
    /// Not compared when its value is empty (an empty field says nothing).
    DropIfEmpty,
    /// Only whether it is there is compared.
    Presence,
    /// Compared as the bytes it carries (base64 with or without padding, or true binary).
    DecodeBinary,
    /// Compared percent-decoded.
    PercentDecode,
}

/// A rule for events of one direction and kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRule {
    pub dir: Dir,
    pub kind: String,
    /// Only resets with this HTTP/2 error name.
    pub error: Option<String>,
    /// Only in calls that have (true) or have not (false) a deadline.
    pub with_deadline: Option<bool>,
    pub action: EventAction,
    pub reason: String,
}

/// What happens to a matching event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventAction {
    Drop,
}

/// A rule for statuses from one source, or of calls with (or without) a deadline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusRule {
    pub source: Option<StatusSource>,
    pub with_deadline: Option<bool>,
    pub action: StatusAction,
    pub reason: String,
}

/// A rule that leaves whole aspects of some calls uncompared.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AspectRule {
    pub aspects: Vec<Aspect>,
    /// Only in calls that have (true) or have not (false) a deadline.
    pub with_deadline: Option<bool>,
    pub action: AspectAction,
    pub reason: String,
}

/// What happens to a matching aspect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AspectAction {
    Skip,
}

/// What is compared of a matching status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatusAction {
    /// The code only: not the message, nor who sent it.
    CodeOnly,
}

impl Rules {
    /// Reads and checks a rules file.
    pub fn load(path: &Path) -> Result<Self, DataError> {
        let p = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| DataError::Io { path: p.clone(), source })?;
        Self::parse(&text).map_err(|e| match e {
            DataError::Toml { source, .. } => DataError::Toml { path: p.clone(), source },
            DataError::Invalid { reason, .. } => DataError::Invalid { path: p.clone(), reason },
            other => other,
        })
    }

    /// Parses rules from TOML text.
    pub fn parse(text: &str) -> Result<Self, DataError> {
        let rules: Rules =
            toml::from_str(text).map_err(|source| DataError::Toml { path: String::new(), source })?;
        let invalid = |reason: String| DataError::Invalid { path: String::new(), reason };
        for h in &rules.header {
            if h.name.is_some() == h.suffix.is_some() {
                return Err(invalid(format!("a header rule needs exactly one of name and suffix: {h:?}")));
            }
        }
        let reasons = rules.header.iter().map(|r| &r.reason);
        let reasons = reasons.chain(rules.event.iter().map(|r| &r.reason));
        let reasons = reasons.chain(rules.aspect.iter().map(|r| &r.reason));
        if reasons.chain(rules.status.iter().map(|r| &r.reason)).any(|r| r.trim().is_empty()) {
            return Err(invalid("every rule needs a reason".to_owned()));
        }
        Ok(rules)
    }

    /// Headers as compared: every matching rule applied in file order, dropped ones gone,
    /// sorted by name.
    pub fn headers(&self, headers: &[Header]) -> Vec<Header> {
        let mut out: Vec<Header> = headers
            .iter()
            .filter_map(|(name, value)| {
                let mut value = value.clone();
                for rule in self.header.iter().filter(|r| r.matches(name)) {
                    value = match rule.action {
                        HeaderAction::Drop => return None,
                        HeaderAction::DropIfEmpty if value.is_empty() => return None,
                        HeaderAction::DropIfEmpty => value,
                        HeaderAction::Presence => "(present)".to_owned(),
                        HeaderAction::DecodeBinary => match binary_value(&value) {
                            Some(bytes) => format!("(bytes) {}", STANDARD.encode(bytes)),
                            None => format!("(not base64) {value}"),
                        },
                        HeaderAction::PercentDecode => {
                            percent_encoding::percent_decode_str(&value).decode_utf8_lossy().into_owned()
                        }
                    };
                }
                Some((name.clone(), value))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Whether an event of `call` is compared.
    pub fn keeps(&self, call: &Call, event: &Event) -> bool {
        !self.event.iter().any(|r| {
            r.dir == event.dir
                && r.kind == event.kind.name()
                && r.error
                    .as_ref()
                    .is_none_or(|e| matches!(&event.kind, EventKind::Reset { error, .. } if error == e))
                && r.with_deadline.is_none_or(|d| d == call.deadline_ms.is_some())
        })
    }

    /// The events of `call` that are compared, in capture order.
    pub fn events<'a>(&self, call: &'a Call) -> Vec<&'a Event> {
        call.events.iter().filter(|e| self.keeps(call, e)).collect()
    }

    /// Whether the status of `call` (the recording) is compared in full, message and source,
    /// or by its code only.
    pub fn compares_status_in_full(&self, call: &Call) -> bool {
        !self.status.iter().any(|r| {
            r.action == StatusAction::CodeOnly
                && r.source.is_none_or(|s| s == call.status.source)
                && r.with_deadline.is_none_or(|d| d == call.deadline_ms.is_some())
        })
    }

    /// Whether `aspect` of `call` (the recording) is compared at all.
    pub fn compares(&self, call: &Call, aspect: Aspect) -> bool {
        !self.aspect.iter().any(|r| {
            r.action == AspectAction::Skip
                && r.aspects.contains(&aspect)
                && r.with_deadline.is_none_or(|d| d == call.deadline_ms.is_some())
        })
    }
}

/// The bytes of a binary header value: grpc-core's true binary (a NUL byte, then the bytes, each
/// a char of the Latin-1 decoded value) or base64 with or without padding.
pub fn binary_value(value: &str) -> Option<Vec<u8>> {
    if let Some(raw) = value.strip_prefix('\0') {
        return raw.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect();
    }
    STANDARD.decode(value).or_else(|_| STANDARD_NO_PAD.decode(value)).ok()
}
