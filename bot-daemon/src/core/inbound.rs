//! What arrives from WhatsApp, as plain values: a [`Delivery`] holds the messages users sent,
//! the statuses of the business's messages and the users' identity changes. The webhook adapter
//! parses the Cloud API's JSON into these; the engine applies them. Pure data, no I/O.

use crate::domain::{Content, DeliveryStatus, Millis};

/// Everything one webhook body carried, each list in document order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delivery {
    /// Messages users sent (everything except `system` messages).
    pub messages: Vec<InboundMessage>,
    /// Status updates for messages the business sent.
    pub statuses: Vec<StatusUpdate>,
    /// `system` messages: a user changed phone number or business-scoped user id.
    pub identity_changes: Vec<IdentityChange>,
}

/// Who sent a message, as far as the webhook tells (at least one of `user_id` and `phone` is
/// set).
pub use crate::domain::Identity as UserRef;

/// One message a user sent.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundMessage {
    /// The message id (`wamid.…`), the key for deduplication.
    pub wamid: String,
    /// The sender.
    pub user: UserRef,
    /// When Meta says the message was sent (its unix seconds × 1000).
    pub timestamp_ms: Millis,
    /// What was sent.
    pub content: Content,
    /// The message this one answers (`context.id`), e.g. the one whose button was tapped.
    pub context_wamid: Option<String>,
    /// The business phone number that received it (`value.metadata.phone_number_id`).
    pub phone_number_id: Option<String>,
}

impl InboundMessage {
    /// The text stored in the history and shown to agents; see [`Content::display_text`].
    pub fn display_text(&self) -> String {
        self.content.display_text()
    }
}

/// A delivery status for a message the business sent.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    /// The outbound message id (`wamid.…`).
    pub wamid: String,
    /// Sent, delivered, read (`played` counts as read) or failed.
    pub status: DeliveryStatus,
    /// When Meta recorded the status (its unix seconds × 1000).
    pub timestamp_ms: Millis,
    /// The recipient's phone number (`recipient_id`), digits only, when given.
    pub recipient_phone: Option<String>,
    /// The recipient's BSUID (`recipient_user_id`), when given.
    pub recipient_user_id: Option<String>,
    /// The first of `errors[]`, on failed statuses.
    pub error: Option<CloudError>,
    /// The business phone number that sent the message (`value.metadata.phone_number_id`).
    pub phone_number_id: Option<String>,
}

/// An error the Cloud API reported for a message (`errors[]` items).
#[derive(Debug, Clone, PartialEq)]
pub struct CloudError {
    /// The numeric code, e.g. 131047 (outside the 24-hour window).
    pub code: i64,
    /// The short title.
    pub title: String,
    /// The message.
    pub message: String,
    /// `error_data.details`, the most useful explanation, when given.
    pub details: Option<String>,
}

/// A `system` message: the user's identity changed.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityChange {
    /// The system message's id.
    pub wamid: String,
    /// When it happened (Meta's unix seconds × 1000).
    pub timestamp_ms: Millis,
    /// `system.type`: `user_changed_number`, `user_changed_user_id`, or another system type
    /// (`unknown` when absent).
    pub kind: String,
    /// The previous phone number (`messages[].from`), digits only.
    pub old_phone: Option<String>,
    /// The new phone number (`system.wa_id`, or the older `system.new_wa_id`), digits only.
    pub new_phone: Option<String>,
    /// The previous BSUID (`messages[].from_user_id`).
    pub old_user_id: Option<String>,
    /// The new BSUID (`system.user_id`, or `system.new_user_id`), when given.
    pub new_user_id: Option<String>,
    /// Meta's human-readable description (`system.body`).
    pub body: String,
}
