//! What an entry of a conversation's activity (its audit trail: claimed, assigned, transferred,
//! priority, chat opened or ended, ...) says in a thread, written once for the console and the
//! command line. Both build it from an [`AuditEntry`](crate::v1::AuditEntry) or from the live
//! event that recorded the same change.

/// Who acted, as a thread shows it: the agent's name, else "operator" or "system".
pub fn actor(agent_name: &str, actor: &str) -> String {
    if !agent_name.is_empty() {
        agent_name.to_string()
    } else if actor.is_empty() {
        "operator".to_string()
    } else {
        actor.to_string()
    }
}

/// One activity line, e.g. "ada transferred the chat to bola: refund question".
/// `who` from [`actor`]; `action` and `detail` as the audit trail stores them.
pub fn describe(who: &str, action: &str, detail: &str) -> String {
    let detail = detail.trim();
    let with = |text: &str| {
        if detail.is_empty() {
            text.to_string()
        } else {
            format!("{text} {detail}")
        }
    };
    match action {
        "claimed" => format!("{who} claimed the chat"),
        "assigned" => with(&format!("{who} assigned the chat")),
        "unassigned" => format!("{who} unassigned the chat"),
        "transferred" => with(&format!("{who} transferred the chat")),
        "takeover" => with(&format!("{who} took the chat over")),
        "auto_assigned" if detail.is_empty() => "round-robin assigned the chat".to_string(),
        "auto_assigned" => format!("round-robin assigned the chat to {detail}"),
        "priority" => format!("{who} set the priority to {detail}"),
        "priority_raised" => format!("priority raised to {detail} (urgent keyword)"),
        "chat_opened" => format!("{who} opened a chat"),
        "chat_ended" => format!("{who} ended the chat"),
        other => with(&format!("{who}: {}", other.replace('_', " "))),
    }
}

/// A satisfaction answer as an activity line: "rated 4/5: “Quick and kind”".
pub fn rated(rating: u32, comment: &str) -> String {
    let comment = comment.trim();
    if comment.is_empty() {
        format!("the user rated the chat {rating}/5")
    } else {
        format!("the user rated the chat {rating}/5: “{comment}”")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_reads_as_a_sentence() {
        let who = actor("ada", "agent");
        assert_eq!(describe(&who, "claimed", ""), "ada claimed the chat");
        assert_eq!(
            describe(&who, "transferred", "to bola: refund question"),
            "ada transferred the chat to bola: refund question"
        );
        assert_eq!(
            describe(&actor("", "operator"), "assigned", "to bola"),
            "operator assigned the chat to bola"
        );
        assert_eq!(
            describe(&who, "takeover", "from bola"),
            "ada took the chat over from bola"
        );
        assert_eq!(
            describe(&actor("", "system"), "auto_assigned", "bola"),
            "round-robin assigned the chat to bola"
        );
        assert_eq!(
            describe(&who, "priority", "urgent"),
            "ada set the priority to urgent"
        );
        assert_eq!(
            describe("system", "priority_raised", "high"),
            "priority raised to high (urgent keyword)"
        );
        assert_eq!(describe(&who, "chat_opened", ""), "ada opened a chat");
        assert_eq!(describe(&who, "chat_ended", ""), "ada ended the chat");
        assert_eq!(describe(&who, "new_thing", "x"), "ada: new thing x");
    }

    #[test]
    fn a_rating_keeps_its_comment() {
        assert_eq!(rated(2, ""), "the user rated the chat 2/5");
        assert_eq!(
            rated(4, " Quick and kind "),
            "the user rated the chat 4/5: “Quick and kind”"
        );
    }
}
