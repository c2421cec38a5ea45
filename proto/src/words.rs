//! The contract's enums as the lowercase words the front ends show and scripts read
//! (`"user"`, `"delivered"`, `"urgent"`, `"student"`, `"mine"`), and back: one definition for
//! `bot-daemon admin` and `admin-tui`. The wire carries enums as `i32`, so the words take an
//! `i32`; a value this build does not know reads as `"?"` (or the default, where there is one).

use crate::v1 as pb;

/// Who wrote a message: `user`, `admin`, `bot`; `?` for an unknown value.
pub fn sender(v: i32) -> &'static str {
    match pb::Sender::try_from(v) {
        Ok(pb::Sender::User) => "user",
        Ok(pb::Sender::Admin) => "admin",
        Ok(pb::Sender::Bot) => "bot",
        _ => "?",
    }
}

/// A message's delivery status: `received`, `pending`, `sent`, `delivered`, `read`, `failed`;
/// `?` for an unknown value.
pub fn delivery_status(v: i32) -> &'static str {
    match pb::DeliveryStatus::try_from(v) {
        Ok(pb::DeliveryStatus::Received) => "received",
        Ok(pb::DeliveryStatus::Pending) => "pending",
        Ok(pb::DeliveryStatus::Sent) => "sent",
        Ok(pb::DeliveryStatus::Delivered) => "delivered",
        Ok(pb::DeliveryStatus::Read) => "read",
        Ok(pb::DeliveryStatus::Failed) => "failed",
        _ => "?",
    }
}

/// A contact's kind: `student`, else `lead`.
pub fn contact_kind(v: i32) -> &'static str {
    match pb::ContactKind::try_from(v) {
        Ok(pb::ContactKind::Student) => "student",
        _ => "lead",
    }
}

/// A chat's priority: `low`, `high`, `urgent`, else `normal` (also unspecified or unknown).
pub fn priority(v: i32) -> &'static str {
    match pb::Priority::try_from(v) {
        Ok(pb::Priority::Low) => "low",
        Ok(pb::Priority::High) => "high",
        Ok(pb::Priority::Urgent) => "urgent",
        _ => "normal",
    }
}

/// A priority from its word (`low`, `normal`, `high`, `urgent`; any case, spaces around
/// ignored).
pub fn parse_priority(s: &str) -> Option<pb::Priority> {
    match s.trim().to_ascii_lowercase().as_str() {
        "low" => Some(pb::Priority::Low),
        "normal" => Some(pb::Priority::Normal),
        "high" => Some(pb::Priority::High),
        "urgent" => Some(pb::Priority::Urgent),
        _ => None,
    }
}

/// Whose chats a list shows: `all`, `mine`, `unassigned`; `?` for an unknown value.
pub fn assignment_filter(v: i32) -> &'static str {
    match pb::AssignmentFilter::try_from(v) {
        Ok(pb::AssignmentFilter::All) => "all",
        Ok(pb::AssignmentFilter::Mine) => "mine",
        Ok(pb::AssignmentFilter::Unassigned) => "unassigned",
        Err(_) => "?",
    }
}

/// An assignment filter from its word (`all`, `mine`, `unassigned`; any case).
pub fn parse_assignment_filter(s: &str) -> Option<pb::AssignmentFilter> {
    match s.trim().to_ascii_lowercase().as_str() {
        "all" => Some(pb::AssignmentFilter::All),
        "mine" => Some(pb::AssignmentFilter::Mine),
        "unassigned" => Some(pb::AssignmentFilter::Unassigned),
        _ => None,
    }
}

/// The filter `--mine` / `--unassigned` ask for (neither: all).
pub fn assignment_from_flags(mine: bool, unassigned: bool) -> pb::AssignmentFilter {
    if mine {
        pb::AssignmentFilter::Mine
    } else if unassigned {
        pb::AssignmentFilter::Unassigned
    } else {
        pb::AssignmentFilter::All
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_reads_back_and_unknown_values_have_a_fallback() {
        for p in [
            pb::Priority::Low,
            pb::Priority::Normal,
            pb::Priority::High,
            pb::Priority::Urgent,
        ] {
            assert_eq!(parse_priority(priority(p as i32)), Some(p));
        }
        assert_eq!(priority(pb::Priority::Unspecified as i32), "normal");
        assert_eq!(priority(99), "normal");
        assert_eq!(parse_priority(" URGENT "), Some(pb::Priority::Urgent));
        assert_eq!(parse_priority("asap"), None);
        for f in [
            pb::AssignmentFilter::All,
            pb::AssignmentFilter::Mine,
            pb::AssignmentFilter::Unassigned,
        ] {
            assert_eq!(
                parse_assignment_filter(assignment_filter(f as i32)),
                Some(f)
            );
        }
        assert_eq!(
            assignment_from_flags(true, false),
            pb::AssignmentFilter::Mine
        );
        assert_eq!(
            assignment_from_flags(false, true),
            pb::AssignmentFilter::Unassigned
        );
        assert_eq!(
            assignment_from_flags(false, false),
            pb::AssignmentFilter::All
        );
        assert_eq!(sender(pb::Sender::Admin as i32), "admin");
        assert_eq!(sender(0), "?");
        assert_eq!(
            delivery_status(pb::DeliveryStatus::Delivered as i32),
            "delivered"
        );
        assert_eq!(delivery_status(42), "?");
        assert_eq!(contact_kind(pb::ContactKind::Student as i32), "student");
        assert_eq!(contact_kind(0), "lead");
    }
}
