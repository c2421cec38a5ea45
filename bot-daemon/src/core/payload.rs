//! The exact Cloud API JSON bodies for outbound messages: text, reply buttons and lists, to a
//! phone number (`"to": "+<digits>"`) or to a business-scoped user id (`"recipient"`).

use serde_json::{json, Map, Value};

use crate::{conversation::Outgoing, domain::Address};

fn envelope(to: &Address) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("messaging_product".into(), json!("whatsapp"));
    m.insert("recipient_type".into(), json!("individual"));
    match to {
        // With '+', so Meta never prepends the business number's country code.
        Address::Phone(p) => m.insert("to".into(), json!(format!("+{p}"))),
        Address::UserId(u) => m.insert("recipient".into(), json!(u)),
    };
    m
}

/// The `POST /{phone_number_id}/messages` body for `message` to `to`.
pub fn cloud_body(to: &Address, message: &Outgoing) -> Value {
    let mut m = envelope(to);
    match message {
        Outgoing::Text { body } => {
            m.insert("type".into(), json!("text"));
            m.insert("text".into(), json!({ "preview_url": false, "body": body }));
        }
        Outgoing::Buttons { body, buttons } => {
            let buttons: Vec<Value> = buttons
                .iter()
                .map(|b| json!({ "type": "reply", "reply": { "id": b.id, "title": b.title } }))
                .collect();
            m.insert("type".into(), json!("interactive"));
            m.insert(
                "interactive".into(),
                json!({ "type": "button", "body": { "text": body }, "action": { "buttons": buttons } }),
            );
        }
        Outgoing::Template {
            template, params, ..
        } => {
            let mut t = json!({ "name": template.name, "language": { "code": template.language } });
            if !params.is_empty() {
                let parameters: Vec<Value> = params
                    .iter()
                    .map(|p| json!({ "type": "text", "text": p }))
                    .collect();
                t["components"] = json!([{ "type": "body", "parameters": parameters }]);
            }
            m.insert("type".into(), json!("template"));
            m.insert("template".into(), t);
        }
        Outgoing::List { body, button, rows } => {
            let rows: Vec<Value> = rows
                .iter()
                .map(|r| {
                    let mut row = json!({ "id": r.id, "title": r.title });
                    if !r.description.is_empty() {
                        row["description"] = json!(r.description);
                    }
                    row
                })
                .collect();
            m.insert("type".into(), json!("interactive"));
            m.insert(
                "interactive".into(),
                json!({
                    "type": "list",
                    "body": { "text": body },
                    "action": { "button": button, "sections": [{ "title": "Questions", "rows": rows }] }
                }),
            );
        }
    }
    Value::Object(m)
}

/// Mark-as-read for an inbound wamid.
pub fn mark_read_body(wamid: &str) -> Value {
    json!({ "messaging_product": "whatsapp", "status": "read", "message_id": wamid })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::{Button, Template};

    #[test]
    fn templates_carry_name_language_and_body_parameters() {
        let t = Template {
            name: "reopen".into(),
            language: "en".into(),
            with_message_param: true,
        };
        let v = cloud_body(
            &Address::Phone("254712345678".into()),
            &Outgoing::Template {
                body: "x".into(),
                template: t,
                params: vec!["Hi".into()],
            },
        );
        assert_eq!(v["type"], "template");
        assert_eq!(
            v["template"],
            json!({"name":"reopen","language":{"code":"en"},
                   "components":[{"type":"body","parameters":[{"type":"text","text":"Hi"}]}]})
        );
    }

    #[test]
    fn text_to_a_phone_number_has_plus_and_no_preview() {
        let v = cloud_body(
            &Address::Phone("254712345678".into()),
            &Outgoing::Text { body: "hi".into() },
        );
        assert_eq!(
            v,
            json!({"messaging_product":"whatsapp","recipient_type":"individual","to":"+254712345678",
                   "type":"text","text":{"preview_url":false,"body":"hi"}})
        );
    }

    #[test]
    fn buttons_to_a_username_only_user_use_recipient() {
        let v = cloud_body(
            &Address::UserId("NG.7730012245517790".into()),
            &Outgoing::Buttons {
                body: "Your chat has ended.".into(),
                buttons: vec![Button {
                    id: "main_menu".into(),
                    title: "🏠 Main Menu".into(),
                }],
            },
        );
        assert_eq!(v["recipient"], "NG.7730012245517790");
        assert!(v.get("to").is_none());
        assert_eq!(v["interactive"]["type"], "button");
        assert_eq!(
            v["interactive"]["action"]["buttons"][0]["reply"]["id"],
            "main_menu"
        );
        assert_eq!(v["interactive"]["action"]["buttons"][0]["type"], "reply");
    }
}
