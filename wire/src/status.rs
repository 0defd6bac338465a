//! The delivery statuses of a message the business sent, in their order.

use std::fmt;

/// How far a message got. Later variants rank higher: a status never
/// replaces one of a higher rank, and `Failed` is terminal. Cloud's other
/// status names (`deleted`, `warning`) are not delivery progress and have
/// no variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageStatus {
    Sent,
    Delivered,
    Read,
    /// A voice message was played (Cloud's; the old client never sent it).
    Played,
    Failed,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 5] = [
        MessageStatus::Sent,
        MessageStatus::Delivered,
        MessageStatus::Read,
        MessageStatus::Played,
        MessageStatus::Failed,
    ];

    /// The name both APIs use.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Read => "read",
            MessageStatus::Played => "played",
            MessageStatus::Failed => "failed",
        }
    }

    pub fn parse(name: &str) -> Option<MessageStatus> {
        MessageStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::MessageStatus::{self, *};

    #[test]
    fn ranks_never_go_backwards() {
        assert!(Read > Delivered && Delivered > Sent);
        assert!(Played > Read);
        assert!(Failed > Read);
        for s in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(MessageStatus::parse("deleted"), None);
    }
}
