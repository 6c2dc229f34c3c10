//! The faults of one proxy, as its connections look them up: one slot per kind,
//! parameters normalised once.

use std::time::Duration;

use super::ProxyFault;

/// The faults of a proxy, one slot per kind (the first fault of each kind wins).
#[derive(Debug, Clone, Default)]
pub(super) struct Plan {
    /// (after_messages, every >= 1)
    pub(super) rst_stream: Option<(u32, u32)>,
    pub(super) go_away: Option<u32>,
    pub(super) connection_reset: Option<u64>,
    /// (window, max delay); only when the window can reorder anything.
    pub(super) frame_reorder: Option<(usize, Duration)>,
    pub(super) frame_delay: Option<u64>,
}

impl Plan {
    /// No fault at all: the destructive faults once they have healed.
    pub(super) const NONE: Plan = Plan {
        rst_stream: None,
        go_away: None,
        connection_reset: None,
        frame_reorder: None,
        frame_delay: None,
    };

    pub(super) fn new(faults: &[ProxyFault]) -> Self {
        let mut plan = Self::default();
        for fault in faults {
            match *fault {
                ProxyFault::RstStream { after_messages, every } => {
                    plan.rst_stream.get_or_insert((after_messages, every.max(1)));
                }
                ProxyFault::GoAway { after_frames } => {
                    plan.go_away.get_or_insert(after_frames.max(1));
                }
                ProxyFault::ConnectionReset { after_bytes } => {
                    plan.connection_reset.get_or_insert(after_bytes);
                }
                ProxyFault::FrameReorder { window, max_delay_ms } => {
                    let window = usize::try_from(window).unwrap_or(usize::MAX);
                    if window >= 2 {
                        plan.frame_reorder.get_or_insert((window, Duration::from_millis(max_delay_ms)));
                    }
                }
                ProxyFault::FrameDelay { max_delay_ms } => {
                    plan.frame_delay.get_or_insert(max_delay_ms);
                }
            }
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_have_stable_names_and_serde_tags() {
        let faults = vec![
            ProxyFault::RstStream { after_messages: 3, every: 1 },
            ProxyFault::GoAway { after_frames: 4 },
            ProxyFault::ConnectionReset { after_bytes: 100 },
            ProxyFault::FrameReorder { window: 4, max_delay_ms: 5 },
            ProxyFault::FrameDelay { max_delay_ms: 20 },
        ];
        for fault in &faults {
            let json = serde_json::to_value(fault).unwrap();
            assert_eq!(json["kind"], fault.name());
            assert_eq!(&serde_json::from_value::<ProxyFault>(json).unwrap(), fault);
        }
        let plan = Plan::new(&faults);
        assert_eq!(plan.rst_stream, Some((3, 1)));
        assert_eq!(plan.frame_reorder, Some((4, Duration::from_millis(5))));
        assert_eq!(
            Plan::new(&[ProxyFault::RstStream { after_messages: 1, every: 0 }]).rst_stream,
            Some((1, 1))
        );
        assert_eq!(Plan::new(&[ProxyFault::FrameReorder { window: 1, max_delay_ms: 5 }]).frame_reorder, None);
    }
}
