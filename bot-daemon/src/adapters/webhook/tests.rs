//! Parser tests: every shared fixture with its exact values, then malformed and odd bodies.
#![allow(clippy::type_complexity)]

use super::*;
use crate::domain::{Content, DeliveryStatus, MediaKind};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            "../../../../../shared/fixtures/webhooks/",
            $name,
            ".json"
        ))
    };
}

const ADA_PHONE: &str = "2348011111111";
const ADA_ID: &str = "NG.1046844022273087";
const PHONE_NUMBER_ID: &str = "109876543210987";
/// 1767262500 seconds, the timestamp most fixtures use.
const T0: Millis = 1_767_262_500_000;

fn parse_str(body: &str) -> Result<Delivery, ParseError> {
    parse(body.as_bytes())
}

/// The single message of a fixture, after checking there is nothing else.
fn only_message(body: &str) -> InboundMessage {
    let delivery = parse_str(body).unwrap();
    assert!(delivery.statuses.is_empty());
    assert!(delivery.identity_changes.is_empty());
    assert_eq!(delivery.messages.len(), 1, "{delivery:#?}");
    delivery.messages.into_iter().next().unwrap()
}

fn ada() -> UserRef {
    UserRef {
        user_id: Some(ADA_ID.into()),
        phone: Some(ADA_PHONE.into()),
        username: None,
        profile_name: Some("Ada Obi".into()),
        parent_user_id: None,
    }
}

/// Asserts the common fields of Ada's single-message fixtures and returns the message.
fn ada_message(body: &str, wamid_suffix: &str) -> InboundMessage {
    let m = only_message(body);
    assert_eq!(
        m.wamid,
        format!("wamid.HBgNMjM0ODAxMTExMTExMRUCABIYFDNBRkQ{wamid_suffix}")
    );
    assert_eq!(m.user, ada());
    assert_eq!(m.timestamp_ms, T0);
    assert_eq!(m.phone_number_id.as_deref(), Some(PHONE_NUMBER_ID));
    m
}

fn invalid_error(body: &str) -> (String, String) {
    match parse_str(body) {
        Err(ParseError::Invalid { path, reason }) => (path, reason),
        other => unreachable!("expected ParseError::Invalid, got {other:?}"),
    }
}

/// A one-message body around `message` (JSON), with Ada's contact.
fn with_message(message: &str) -> String {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{
            "metadata":{{"phone_number_id":"{PHONE_NUMBER_ID}"}},
            "contacts":[{{"profile":{{"name":"Ada Obi"}},"wa_id":"{ADA_PHONE}","user_id":"{ADA_ID}"}}],
            "messages":[{message}]}}}}]}}]}}"#
    )
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

#[test]
fn text() {
    let m = ada_message(fixture!("text"), "0001");
    assert_eq!(
        m.content,
        Content::Text("Hi, I can't upload my homework".into())
    );
    assert_eq!(m.display_text(), "Hi, I can't upload my homework");
    assert_eq!(m.context_wamid, None);
}

#[test]
fn button_reply_chat_support() {
    let m = ada_message(fixture!("button_reply_chat_support"), "0002");
    assert_eq!(
        m.content,
        Content::Button {
            id: "chat_support".into(),
            title: "💬 Chat Support".into()
        }
    );
    assert_eq!(m.display_text(), "💬 Chat Support");
    assert_eq!(
        m.context_wamid.as_deref(),
        Some("wamid.HBgNMjM0ODAxMTExMTExMRUCABEYEkJPVE1FTlUwMDAx")
    );
}

#[test]
fn button_reply_end_chat() {
    let m = ada_message(fixture!("button_reply_end_chat"), "0003");
    assert_eq!(
        m.content,
        Content::Button {
            id: "end_chat".into(),
            title: "❌ End Chat".into()
        }
    );
    assert_eq!(m.display_text(), "❌ End Chat");
    assert_eq!(
        m.context_wamid.as_deref(),
        Some("wamid.HBgNMjM0ODAxMTExMTExMRUCABEYEkJPVFdFTENPTUUwMQ")
    );
}

#[test]
fn list_reply() {
    let m = ada_message(fixture!("list_reply"), "0004");
    assert_eq!(
        m.content,
        Content::ListReply {
            id: "faq_fees".into(),
            title: "School fees".into()
        }
    );
    assert_eq!(m.display_text(), "School fees");
    assert_eq!(
        m.context_wamid.as_deref(),
        Some("wamid.HBgNMjM0ODAxMTExMTExMRUCABEYEkZBUUxJU1RNRU5VMDAx")
    );
}

#[test]
fn template_quick_reply() {
    let m = ada_message(fixture!("template_quick_reply"), "0005");
    assert_eq!(
        m.content,
        Content::TemplateButton {
            payload: "reopen_chat".into(),
            text: "Talk to support".into()
        }
    );
    assert_eq!(m.display_text(), "Talk to support");
    assert_eq!(
        m.context_wamid.as_deref(),
        Some("wamid.HBgNMjM0ODAxMTExMTExMRUCABEYElRFTVBMQVRFUkVFTkdBR0U")
    );
}

#[test]
fn image() {
    let m = ada_message(fixture!("image"), "0006");
    assert_eq!(
        m.content,
        Content::Media {
            kind: MediaKind::Image,
            media_id: "1479537139650973".into(),
            caption: Some("this is the error I get".into()),
            filename: None,
            voice: false,
        }
    );
    assert_eq!(m.display_text(), "[image] this is the error I get");
}

#[test]
fn voice_note() {
    let m = ada_message(fixture!("voice_note"), "0007");
    assert_eq!(
        m.content,
        Content::Media {
            kind: MediaKind::Audio,
            media_id: "1215481412617286".into(),
            caption: None,
            filename: None,
            voice: true,
        }
    );
    assert_eq!(m.display_text(), "[voice note]");
}

#[test]
fn document() {
    let m = ada_message(fixture!("document"), "0008");
    assert_eq!(
        m.content,
        Content::Media {
            kind: MediaKind::Document,
            media_id: "1021876543210987".into(),
            caption: Some("my submission".into()),
            filename: Some("assignment-3.pdf".into()),
            voice: false,
        }
    );
    assert_eq!(
        m.display_text(),
        "[document] assignment-3.pdf: my submission"
    );
}

#[test]
fn location() {
    let m = ada_message(fixture!("location"), "0009");
    assert_eq!(
        m.content,
        Content::Location {
            latitude: 6.5244,
            longitude: 3.3792,
            name: Some("Main campus".into()),
            address: Some("12 School Road, Lagos".into()),
        }
    );
    assert_eq!(
        m.display_text(),
        "[location] Main campus, 12 School Road, Lagos (6.5244, 3.3792)"
    );
}

#[test]
fn sticker() {
    let m = ada_message(fixture!("sticker"), "0011");
    assert_eq!(
        m.content,
        Content::Media {
            kind: MediaKind::Sticker,
            media_id: "1623402911234567".into(),
            caption: None,
            filename: None,
            voice: false,
        }
    );
    assert_eq!(m.display_text(), "[sticker]");
}

#[test]
fn reaction() {
    let m = ada_message(fixture!("reaction"), "0010");
    assert_eq!(
        m.content,
        Content::Reaction {
            message_id: "wamid.HBgNMjM0ODAxMTExMTExMRUCABEYEkFHRU5UUkVQTFkwMDE".into(),
            emoji: "👍".into()
        }
    );
    assert_eq!(m.display_text(), "[reaction] 👍");
}

#[test]
fn unsupported() {
    let m = ada_message(fixture!("unsupported"), "0012");
    assert_eq!(
        m.content,
        Content::Unsupported {
            type_name: "unsupported".into()
        }
    );
    assert_eq!(m.display_text(), "[unsupported message]");
}

#[test]
fn username_only_user() {
    let m = only_message(fixture!("username_only_user"));
    assert_eq!(m.wamid, "wamid.HBgLVVNFUk5BTUVPTkxZFQIAEhgUM0VCMEQ0RkE5");
    assert_eq!(
        m.user,
        UserRef {
            user_id: Some("NG.7730012245517790".into()),
            phone: None,
            username: Some("uche.k".into()),
            profile_name: Some("Uche".into()),
            parent_user_id: None,
        }
    );
    assert_eq!(m.timestamp_ms, 1_767_262_600_000);
    assert_eq!(m.display_text(), "I need support");
}

#[test]
fn batch_two_users_keeps_document_order() {
    let delivery = parse_str(fixture!("batch_two_users")).unwrap();
    assert!(delivery.statuses.is_empty() && delivery.identity_changes.is_empty());
    let got: Vec<(
        &str,
        Option<&str>,
        Option<&str>,
        Option<&str>,
        Millis,
        String,
    )> = delivery
        .messages
        .iter()
        .map(|m| {
            (
                m.wamid.as_str(),
                m.user.phone.as_deref(),
                m.user.user_id.as_deref(),
                m.user.profile_name.as_deref(),
                m.timestamp_ms,
                m.display_text(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "wamid.HBgNMjM0ODAxMTExMTExMRUCABIYFDNBRkQ0013",
                Some(ADA_PHONE),
                Some(ADA_ID),
                Some("Ada Obi"),
                1_767_262_500_000,
                "support".to_string()
            ),
            (
                "wamid.HBgNMjM0ODAxMTExMTExMRUCABIYFDNBRkQ0014",
                Some("2348022222222"),
                Some("NG.5512098765432101"),
                Some("Ben Eze"),
                1_767_262_501_000,
                "hello?".to_string()
            ),
            (
                "wamid.HBgNMjM0ODAxMTExMTExMRUCABIYFDNBRkQ0015",
                Some(ADA_PHONE),
                Some(ADA_ID),
                Some("Ada Obi"),
                1_767_262_502_000,
                "are you there?".to_string()
            ),
        ]
    );
}

#[test]
fn statuses_delivered_read() {
    let delivery = parse_str(fixture!("statuses_delivered_read")).unwrap();
    assert!(delivery.messages.is_empty() && delivery.identity_changes.is_empty());
    let wamid = "wamid.HBgNMjM0ODAxMTExMTExMRUCABEYEkFHRU5UUkVQTFkwMDE";
    assert_eq!(
        delivery.statuses,
        vec![
            StatusUpdate {
                wamid: wamid.into(),
                status: DeliveryStatus::Delivered,
                timestamp_ms: 1_767_262_680_000,
                recipient_phone: Some(ADA_PHONE.into()),
                recipient_user_id: Some(ADA_ID.into()),
                error: None,
                phone_number_id: Some(PHONE_NUMBER_ID.into()),
            },
            StatusUpdate {
                wamid: wamid.into(),
                status: DeliveryStatus::Read,
                timestamp_ms: 1_767_262_690_000,
                recipient_phone: Some(ADA_PHONE.into()),
                recipient_user_id: Some(ADA_ID.into()),
                error: None,
                phone_number_id: Some(PHONE_NUMBER_ID.into()),
            },
        ]
    );
}

#[test]
fn status_failed_outside_window() {
    let delivery = parse_str(fixture!("status_failed_outside_window")).unwrap();
    assert!(delivery.messages.is_empty() && delivery.identity_changes.is_empty());
    assert_eq!(
        delivery.statuses,
        vec![StatusUpdate {
            wamid: "wamid.HBgNMjM0ODAxMTExMTExMRUCABEYEkFHRU5UUkVQTFkwMDI".into(),
            status: DeliveryStatus::Failed,
            timestamp_ms: 1_767_349_999_000,
            recipient_phone: Some(ADA_PHONE.into()),
            recipient_user_id: None,
            error: Some(CloudError {
                code: 131047,
                title: "Re-engagement message".into(),
                message: "Re-engagement message".into(),
                details: Some(
                    "More than 24 hours have passed since the recipient last replied to the sender number."
                        .into()
                ),
            }),
            phone_number_id: Some(PHONE_NUMBER_ID.into()),
        }]
    );
}

#[test]
fn system_user_changed_number() {
    let delivery = parse_str(fixture!("system_user_changed_number")).unwrap();
    assert!(delivery.messages.is_empty() && delivery.statuses.is_empty());
    assert_eq!(
        delivery.identity_changes,
        vec![IdentityChange {
            wamid: "wamid.HBgNMjM0ODAxMTExMTExMRUCABIYFFNZU1RFTUNIQU5HRTAx".into(),
            timestamp_ms: 1_767_300_000_000,
            kind: "user_changed_number".into(),
            old_phone: Some(ADA_PHONE.into()),
            new_phone: Some("2348033333333".into()),
            old_user_id: None,
            new_user_id: None,
            body: "User Ada Obi changed from 2348011111111 to 2348033333333".into(),
        }]
    );
}

#[test]
fn fixtures_survive_a_json_round_trip_unchanged() {
    // Re-serialising (compact, reordered keys) must not change the result: the parser depends on
    // structure, not layout.
    for body in [
        fixture!("text"),
        fixture!("batch_two_users"),
        fixture!("statuses_delivered_read"),
        fixture!("username_only_user"),
    ] {
        let compact = serde_json::to_string(&serde_json::from_str::<Value>(body).unwrap()).unwrap();
        assert_eq!(parse_str(&compact), parse_str(body));
    }
}

// ---------------------------------------------------------------------------------------------
// Malformed bodies.

#[test]
fn not_json() {
    let err = parse(b"{\"object\": \"whatsapp_business_account\",\n  \"entry\": [").unwrap_err();
    let ParseError::InvalidJson(message) = &err else {
        unreachable!("{err:?}")
    };
    assert!(message.contains("line 2"), "{message}");
    assert!(err.to_string().starts_with("invalid JSON: "), "{err}");

    assert!(matches!(parse(b""), Err(ParseError::InvalidJson(_))));
    assert!(matches!(parse(b"hello"), Err(ParseError::InvalidJson(_))));
}

#[test]
fn invalid_utf8() {
    let err =
        parse(b"{\"object\":\"whatsapp_business_account\",\"entry\":[\"\xff\xfe\"]}").unwrap_err();
    let ParseError::InvalidJson(message) = &err else {
        unreachable!("{err:?}")
    };
    assert!(message.contains("UTF-8"), "{message}");
}

#[test]
fn wrong_object() {
    let err = parse_str(r#"{"object":"page","entry":[]}"#).unwrap_err();
    assert_eq!(err, ParseError::WrongObject("\"page\"".into()));
    assert_eq!(
        err.to_string(),
        r#"top-level "object" must be "whatsapp_business_account", got "page""#
    );
    assert!(matches!(
        parse_str(r#"{"entry":[]}"#),
        Err(ParseError::WrongObject(_))
    ));
    assert!(matches!(
        parse_str(r#"{"object":7,"entry":[]}"#),
        Err(ParseError::WrongObject(_))
    ));
}

#[test]
fn top_level_not_an_object() {
    let (path, reason) = invalid_error(r#"[{"object":"whatsapp_business_account"}]"#);
    assert_eq!(path, "(top level)");
    assert_eq!(reason, "expected a JSON object, got an array");
}

#[test]
fn entry_missing_or_not_an_array() {
    let err = parse_str(r#"{"object":"whatsapp_business_account"}"#).unwrap_err();
    assert_eq!(err.to_string(), r#"(top level): missing "entry""#);
    let err =
        parse_str(r#"{"object":"whatsapp_business_account","entry":{"id":"1"}}"#).unwrap_err();
    assert_eq!(err.to_string(), "entry: expected an array, got an object");
}

#[test]
fn message_without_id() {
    let body = with_message(
        r#"{"from":"2348011111111","timestamp":"1767262500","type":"text","text":{"body":"hi"}}"#,
    );
    let err = parse_str(&body).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"entry[0].changes[0].value.messages[0]: missing "id""#
    );
    let body = with_message(
        r#"{"id":"","from":"2348011111111","timestamp":"1767262500","type":"text","text":{"body":"hi"}}"#,
    );
    assert_eq!(invalid_error(&body).1, r#""id" is empty"#);
}

#[test]
fn error_path_points_at_the_right_item() {
    let good = r#"{"from":"2348011111111","id":"wamid.A","timestamp":"1767262500","type":"text","text":{"body":"hi"}}"#;
    let bad =
        r#"{"from":"2348011111111","timestamp":"1767262500","type":"text","text":{"body":"hi"}}"#;
    let change =
        |messages: &str| format!(r#"{{"field":"messages","value":{{"messages":[{messages}]}}}}"#);
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[
            {{"changes":[{}]}},
            {{"changes":[{}, {}]}}]}}"#,
        change(good),
        change(good),
        change(&format!("{good},{good},{bad}")),
    );
    assert_eq!(
        parse_str(&body).unwrap_err().to_string(),
        r#"entry[1].changes[1].value.messages[2]: missing "id""#
    );
}

#[test]
fn text_without_body() {
    let body = with_message(
        r#"{"from":"2348011111111","id":"wamid.A","timestamp":"1767262500","type":"text","text":{}}"#,
    );
    assert_eq!(
        parse_str(&body).unwrap_err().to_string(),
        r#"entry[0].changes[0].value.messages[0].text: missing "body""#
    );
    let body = with_message(
        r#"{"from":"2348011111111","id":"wamid.A","timestamp":"1767262500","type":"text"}"#,
    );
    assert_eq!(
        parse_str(&body).unwrap_err().to_string(),
        r#"entry[0].changes[0].value.messages[0]: missing "text""#
    );
}

#[test]
fn non_numeric_timestamp() {
    let body = with_message(
        r#"{"from":"2348011111111","id":"wamid.A","timestamp":"yesterday","type":"text","text":{"body":"hi"}}"#,
    );
    let (path, reason) = invalid_error(&body);
    assert_eq!(path, "entry[0].changes[0].value.messages[0].timestamp");
    assert!(reason.contains("\"yesterday\""), "{reason}");

    let body = with_message(
        r#"{"from":"2348011111111","id":"wamid.A","timestamp":1.5,"type":"text","text":{"body":"hi"}}"#,
    );
    assert_eq!(
        invalid_error(&body).0,
        "entry[0].changes[0].value.messages[0].timestamp"
    );

    let body = with_message(
        r#"{"from":"2348011111111","id":"wamid.A","type":"text","text":{"body":"hi"}}"#,
    );
    assert_eq!(invalid_error(&body).1, r#"missing "timestamp""#);
}

#[test]
fn numeric_timestamp_is_accepted() {
    let body = with_message(
        r#"{"from":"2348011111111","id":"wamid.A","timestamp":1767262500,"type":"text","text":{"body":"hi"}}"#,
    );
    assert_eq!(only_message(&body).timestamp_ms, T0);
}

#[test]
fn sender_missing_entirely() {
    let body = r#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{
        "messages":[{"id":"wamid.A","timestamp":"1767262500","type":"text","text":{"body":"hi"}}]}}]}]}"#;
    let (path, reason) = invalid_error(body);
    assert_eq!(path, "entry[0].changes[0].value.messages[0]");
    assert!(reason.starts_with("message has no sender"), "{reason}");

    // A contact without any id does not help either.
    let body = r#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{
        "contacts":[{"profile":{"name":"Nobody"}}],
        "messages":[{"id":"wamid.A","timestamp":"1767262500","type":"text","text":{"body":"hi"}}]}}]}]}"#;
    assert!(invalid_error(body).1.starts_with("message has no sender"));
}

#[test]
fn from_with_non_digits_is_invalid_and_plus_is_stripped() {
    let body = with_message(
        r#"{"from":"234-801","id":"wamid.A","timestamp":"1767262500","type":"text","text":{"body":"hi"}}"#,
    );
    assert_eq!(
        invalid_error(&body).0,
        "entry[0].changes[0].value.messages[0].from"
    );
    let body = with_message(
        r#"{"from":"+2348011111111","id":"wamid.A","timestamp":"1767262500","type":"text","text":{"body":"hi"}}"#,
    );
    assert_eq!(only_message(&body).user, ada());
}

#[test]
fn wrong_types_name_the_field() {
    let body = with_message(
        r#"{"from":2348011111111,"id":"wamid.A","timestamp":"1767262500","type":"text","text":{"body":"hi"}}"#,
    );
    let (path, reason) = invalid_error(&body);
    assert_eq!(path, "entry[0].changes[0].value.messages[0].from");
    assert!(reason.contains("expected a string"), "{reason}");

    let body = with_message(
        r#"{"from":"2348011111111","id":"wamid.A","timestamp":"1767262500","type":"text","text":"hi"}"#,
    );
    assert_eq!(
        parse_str(&body).unwrap_err().to_string(),
        "entry[0].changes[0].value.messages[0].text: expected an object, got a string"
    );
}

#[test]
fn media_without_id_is_invalid() {
    let body = with_message(
        r#"{"from":"2348011111111","id":"wamid.A","timestamp":"1767262500","type":"image","image":{"caption":"x"}}"#,
    );
    assert_eq!(
        parse_str(&body).unwrap_err().to_string(),
        r#"entry[0].changes[0].value.messages[0].image: missing "id""#
    );
}

#[test]
fn status_without_id_is_invalid_and_unknown_status_is_skipped() {
    let statuses = |items: &str| {
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"changes":[{{"field":"messages","value":{{"statuses":[{items}]}}}}]}}]}}"#
        )
    };
    let (path, reason) = invalid_error(&statuses(
        r#"{"status":"sent","timestamp":"1767262500","recipient_id":"2348011111111"}"#,
    ));
    assert_eq!(path, "entry[0].changes[0].value.statuses[0]");
    assert_eq!(reason, r#"missing "id""#);

    let delivery = parse_str(&statuses(
        r#"{"id":"wamid.X","status":"deleted","timestamp":"1767262500"},
           {"id":"wamid.Y","status":"sent","timestamp":"1767262500","recipient_id":"+2348011111111"},
           {"id":"wamid.Z","status":"played","timestamp":1767262501,"recipient_user_id":"NG.1"}"#,
    ))
    .unwrap();
    assert_eq!(
        delivery.statuses,
        vec![
            StatusUpdate {
                wamid: "wamid.Y".into(),
                status: DeliveryStatus::Sent,
                timestamp_ms: T0,
                recipient_phone: Some(ADA_PHONE.into()),
                recipient_user_id: None,
                error: None,
                phone_number_id: None,
            },
            StatusUpdate {
                wamid: "wamid.Z".into(),
                status: DeliveryStatus::Read,
                timestamp_ms: T0 + 1000,
                recipient_phone: None,
                recipient_user_id: Some("NG.1".into()),
                error: None,
                phone_number_id: None,
            },
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Tolerance.

#[test]
fn extra_unknown_fields_everywhere() {
    let body = r#"{
      "object": "whatsapp_business_account", "x_top": {"a": [1, 2, {"b": null}]},
      "entry": [{
        "id": "1", "time": 123, "x_entry": true,
        "changes": [{
          "field": "messages", "x_change": [],
          "value": {
            "messaging_product": "whatsapp", "x_value": "v",
            "metadata": {"display_phone_number": "1555", "phone_number_id": "109876543210987", "x_meta": 1},
            "contacts": [{"profile": {"name": "Ada Obi", "x_profile": {}}, "wa_id": "2348011111111",
                          "user_id": "NG.1046844022273087", "x_contact": 3.5, "identity_key_hash": "abc"}],
            "messages": [{
              "from": "2348011111111", "from_user_id": "NG.1046844022273087",
              "id": "wamid.A", "timestamp": "1767262500", "type": "text",
              "text": {"body": "hi", "x_text": [[]]},
              "context": {"from": "1555", "id": "wamid.CTX", "forwarded": true, "x_ctx": {}},
              "referral": {"source_url": "https://example.com", "source_type": "ad"},
              "x_message": {"deep": {"deeper": [1, "two", {"three": null}]}}
            }],
            "statuses": [{
              "id": "wamid.S", "status": "delivered", "timestamp": "1767262600",
              "recipient_id": "2348011111111", "recipient_user_id": "NG.1046844022273087",
              "conversation": {"id": "c", "origin": {"type": "service"}},
              "pricing": {"billable": false}, "biz_opaque_callback_data": "x", "x_status": 0
            }]
          }
        }]
      }]
    }"#;
    let delivery = parse_str(body).unwrap();
    assert_eq!(delivery.messages.len(), 1);
    let m = &delivery.messages[0];
    assert_eq!(m.wamid, "wamid.A");
    assert_eq!(m.user, ada());
    assert_eq!(m.content, Content::Text("hi".into()));
    assert_eq!(m.context_wamid.as_deref(), Some("wamid.CTX"));
    assert_eq!(m.phone_number_id.as_deref(), Some(PHONE_NUMBER_ID));
    assert_eq!(delivery.statuses.len(), 1);
    assert_eq!(delivery.statuses[0].status, DeliveryStatus::Delivered);
    assert_eq!(delivery.statuses[0].timestamp_ms, 1_767_262_600_000);
}

#[test]
fn unknown_message_type_is_unsupported() {
    let body = with_message(
        r#"{"from":"2348011111111","id":"wamid.A","timestamp":"1767262500","type":"hologram","hologram":{"id":"h"}}"#,
    );
    let m = only_message(&body);
    assert_eq!(
        m.content,
        Content::Unsupported {
            type_name: "hologram".into()
        }
    );
    assert_eq!(m.display_text(), "[unsupported message: hologram]");
}

#[test]
fn other_interactive_types_are_unsupported() {
    let body = with_message(
        r#"{"from":"2348011111111","id":"wamid.A","timestamp":"1767262500","type":"interactive",
            "interactive":{"type":"nfm_reply","nfm_reply":{"response_json":"{}","body":"Sent","name":"flow"}}}"#,
    );
    assert_eq!(
        only_message(&body).content,
        Content::Unsupported {
            type_name: "interactive.nfm_reply".into()
        }
    );
}

#[test]
fn shared_contacts_reactions_removed_and_voice_only_for_audio() {
    let body = with_message(
        r#"{"from":"2348011111111","id":"wamid.A","timestamp":"1767262500","type":"contacts",
            "contacts":[{"name":{"formatted_name":"Grace Hopper","first_name":"Grace"}},
                        {"name":{"first_name":"Alan","last_name":"Turing"}},
                        {"name":{"first_name":"Ada"}},
                        {"phones":[{"phone":"+1 555"}]}]}"#,
    );
    let m = only_message(&body);
    assert_eq!(
        m.content,
        Content::Contacts(vec![
            "Grace Hopper".into(),
            "Alan Turing".into(),
            "Ada".into()
        ])
    );
    assert_eq!(
        m.display_text(),
        "[contacts] Grace Hopper, Alan Turing, Ada"
    );

    let body = with_message(
        r#"{"from":"2348011111111","id":"wamid.A","timestamp":"1767262500","type":"reaction",
            "reaction":{"message_id":"wamid.B"}}"#,
    );
    let m = only_message(&body);
    assert_eq!(
        m.content,
        Content::Reaction {
            message_id: "wamid.B".into(),
            emoji: String::new()
        }
    );
    assert_eq!(m.display_text(), "[reaction removed]");

    let body = with_message(
        r#"{"from":"2348011111111","id":"wamid.A","timestamp":"1767262500","type":"video",
            "video":{"id":"v1","voice":true}}"#,
    );
    assert_eq!(
        only_message(&body).content,
        Content::Media {
            kind: MediaKind::Video,
            media_id: "v1".into(),
            caption: None,
            filename: None,
            voice: false,
        }
    );
}

#[test]
fn empty_entry_array_is_an_empty_delivery() {
    assert_eq!(
        parse_str(r#"{"object":"whatsapp_business_account","entry":[]}"#),
        Ok(Delivery::default())
    );
    // Absent or null lists inside are empty too.
    assert_eq!(
        parse_str(
            r#"{"object":"whatsapp_business_account","entry":[{"id":"1"},{"changes":null},
                {"changes":[{"field":"messages","value":{"messages":null,"contacts":null}}]}]}"#
        ),
        Ok(Delivery::default())
    );
}

#[test]
fn non_messages_field_is_skipped() {
    let body = r#"{"object":"whatsapp_business_account","entry":[{"changes":[
        {"field":"account_update","value":{"messages":"not even an array","event":"VERIFIED"}},
        {"field":"message_template_status_update","value":{"event":"APPROVED"}},
        {"value":{"messages":[{}]}}
    ]}]}"#;
    assert_eq!(parse_str(body), Ok(Delivery::default()));
}

#[test]
fn deeply_nested_junk_in_an_unknown_field_still_parses() {
    // 2 levels per repetition; serde_json refuses more than 128 levels in total.
    let depth = 50;
    let junk = format!("{}{}", r#"{"a":["#.repeat(depth), "]}".repeat(depth));
    let body = with_message(&format!(
        r#"{{"from":"2348011111111","id":"wamid.A","timestamp":"1767262500","type":"text",
            "text":{{"body":"hi","junk":{junk}}},"junk":{junk}}}"#
    ));
    let body = body.replacen(
        r#""object":"whatsapp_business_account","#,
        &format!(r#""object":"whatsapp_business_account","junk":{junk},"#),
        1,
    );
    let m = only_message(&body);
    assert_eq!(m.display_text(), "hi");
    // Junk under another type's key does not matter either.
    let body = with_message(&format!(
        r#"{{"from":"2348011111111","id":"wamid.A","timestamp":"1767262500","type":"text",
            "text":{{"body":"hi"}},"image":"not an object","reaction":{junk}}}"#
    ));
    assert_eq!(only_message(&body).display_text(), "hi");
}

#[test]
fn sender_is_matched_to_its_contact() {
    // Two contacts: each message gets the one with its own ids, whatever the order.
    let body = r#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{
        "contacts":[
          {"profile":{"name":"Ben"},"wa_id":"2348022222222","user_id":"NG.2"},
          {"profile":{"name":"Uche","username":"uche.k"},"user_id":"NG.3","parent_user_id":"NG.ENT.9"}],
        "messages":[
          {"from_user_id":"NG.3","id":"wamid.1","timestamp":"1","type":"text","text":{"body":"a"}},
          {"from":"2348022222222","id":"wamid.2","timestamp":"2","type":"text","text":{"body":"b"}}]}}]}]}"#;
    let delivery = parse_str(body).unwrap();
    assert_eq!(
        delivery.messages[0].user,
        UserRef {
            user_id: Some("NG.3".into()),
            phone: None,
            username: Some("uche.k".into()),
            profile_name: Some("Uche".into()),
            parent_user_id: Some("NG.ENT.9".into()),
        }
    );
    assert_eq!(
        delivery.messages[1].user,
        UserRef {
            user_id: Some("NG.2".into()),
            phone: Some("2348022222222".into()),
            username: None,
            profile_name: Some("Ben".into()),
            parent_user_id: None,
        }
    );

    // A single contact is used when the message has no ids of its own...
    let body = r#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{
        "contacts":[{"profile":{"name":"Ada Obi"},"wa_id":"2348011111111","user_id":"NG.1046844022273087"}],
        "messages":[{"id":"wamid.1","timestamp":"1767262500","type":"text","text":{"body":"a"}}]}}]}]}"#;
    assert_eq!(only_message(body).user, ada());

    // ...but not when it contradicts them.
    let body = r#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{
        "contacts":[{"profile":{"name":"Ada Obi"},"wa_id":"2348011111111","user_id":"NG.1046844022273087"}],
        "messages":[{"from":"2348099999999","id":"wamid.1","timestamp":"1767262500","type":"text","text":{"body":"a"}}]}}]}]}"#;
    assert_eq!(
        only_message(body).user,
        UserRef {
            user_id: None,
            phone: Some("2348099999999".into()),
            username: None,
            profile_name: None,
            parent_user_id: None,
        }
    );
}
