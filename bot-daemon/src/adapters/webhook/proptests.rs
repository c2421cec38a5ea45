//! Property tests of the webhook parser (proptest; `PROPTEST_CASES` raises the number of cases):
//!
//! - arbitrary bytes, arbitrary JSON (free-form and inside a valid envelope), the shared fixtures
//!   with random structural mutations and with random byte edits: `parse` returns `Ok` or `Err`,
//!   never panics, and every error message names something;
//! - generated valid deliveries (several entries and changes, phone and BSUID-only senders,
//!   every supported message type, unknown types, statuses with errors) parse back to exactly
//!   the values they were built from.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::domain::{Content, DeliveryStatus, MediaKind};

macro_rules! fixtures {
    ($($name:literal),* $(,)?) => {
        &[$(include_str!(concat!("../../../../../shared/fixtures/webhooks/", $name, ".json"))),*]
    };
}

const FIXTURES: &[&str] = fixtures!(
    "batch_two_users",
    "button_reply_chat_support",
    "button_reply_end_chat",
    "document",
    "image",
    "list_reply",
    "location",
    "reaction",
    "status_failed_outside_window",
    "statuses_delivered_read",
    "sticker",
    "system_user_changed_number",
    "template_quick_reply",
    "text",
    "unsupported",
    "username_only_user",
    "voice_note",
);

/// Keys and values the parser looks at, so generated JSON reaches deep into it.
const WORDS: &[&str] = &[
    "object",
    "whatsapp_business_account",
    "entry",
    "changes",
    "field",
    "messages",
    "value",
    "metadata",
    "phone_number_id",
    "contacts",
    "wa_id",
    "user_id",
    "parent_user_id",
    "profile",
    "name",
    "username",
    "statuses",
    "id",
    "from",
    "from_user_id",
    "timestamp",
    "type",
    "text",
    "body",
    "interactive",
    "button_reply",
    "list_reply",
    "title",
    "button",
    "payload",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "voice",
    "caption",
    "filename",
    "location",
    "latitude",
    "longitude",
    "address",
    "reaction",
    "message_id",
    "emoji",
    "system",
    "new_wa_id",
    "new_user_id",
    "status",
    "sent",
    "delivered",
    "read",
    "played",
    "failed",
    "recipient_id",
    "recipient_user_id",
    "errors",
    "code",
    "message",
    "error_data",
    "details",
    "context",
    "formatted_name",
    "first_name",
    "last_name",
    "1767262500",
    "2348011111111",
    "NG.1046844022273087",
    "",
    " ",
    "+",
    "-1",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(WORDS).prop_map(str::to_string),
        1 => any::<String>(),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        word().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((word(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// An error must say something (a path or a reason), never be empty.
fn check_result(r: &Result<Delivery, ParseError>) {
    if let Err(e) = r {
        assert!(!e.to_string().trim().is_empty(), "{e:?}");
    }
}

/// Every node of `v` as a JSON pointer.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                pointers(item, format!("{at}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                let k = k.replace('~', "~0").replace('/', "~1");
                pointers(item, format!("{at}/{k}"), out);
            }
        }
        _ => {}
    }
}

/// Applies one mutation to the node picked by `pick`: replace it, delete it, duplicate it,
/// null it, or wrap it in an array.
fn mutate(root: &mut Value, pick: usize, op: u8, with: Value) {
    let mut all = Vec::new();
    pointers(root, String::new(), &mut all);
    let target = &all[pick % all.len()];
    if target.is_empty() {
        if op % 5 == 0 {
            *root = with;
        }
        return;
    }
    let (parent_ptr, last) = target.rsplit_once('/').unwrap();
    let last = last.replace("~1", "/").replace("~0", "~");
    let Some(parent) = root.pointer_mut(parent_ptr) else {
        return;
    };
    match (parent, op % 5) {
        (Value::Object(map), 1) => {
            map.remove(&last);
        }
        (Value::Array(items), 1) => {
            let i: usize = last.parse().unwrap();
            items.remove(i);
        }
        (Value::Array(items), 2) => {
            let i: usize = last.parse().unwrap();
            let copy = items[i].clone();
            items.insert(i, copy);
        }
        (Value::Object(map), 2) => {
            map.insert(format!("{last}_"), with);
        }
        (parent, 3) => {
            if let Some(node) =
                parent.pointer_mut(&format!("/{}", last.replace('~', "~0").replace('/', "~1")))
            {
                *node = Value::Null;
            }
        }
        (parent, 4) => {
            if let Some(node) =
                parent.pointer_mut(&format!("/{}", last.replace('~', "~0").replace('/', "~1")))
            {
                *node = Value::Array(vec![node.take()]);
            }
        }
        (parent, _) => {
            if let Some(node) =
                parent.pointer_mut(&format!("/{}", last.replace('~', "~0").replace('/', "~1")))
            {
                *node = with;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_result(&parse(&bytes));
    }

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        check_result(&parse(v.to_string().as_bytes()));
    }

    #[test]
    fn arbitrary_json_in_a_valid_envelope_never_panics(
        value in arb_json(),
        messages in prop::collection::vec(arb_json(), 0..4),
        statuses in prop::collection::vec(arb_json(), 0..3),
        contacts in prop::collection::vec(arb_json(), 0..3),
    ) {
        let mut value = value;
        if let Value::Object(map) = &mut value {
            map.insert("messages".into(), Value::Array(messages));
            map.insert("statuses".into(), Value::Array(statuses));
            map.insert("contacts".into(), Value::Array(contacts));
        }
        let body = json!({"object": "whatsapp_business_account", "entry": [
            {"id": "1", "changes": [{"field": "messages", "value": value}]}]});
        check_result(&parse(body.to_string().as_bytes()));
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0..FIXTURES.len(),
        mutations in prop::collection::vec((any::<usize>(), any::<u8>(), arb_json()), 1..6),
    ) {
        let mut v: Value = serde_json::from_str(FIXTURES[which]).unwrap();
        for (pick, op, with) in mutations {
            mutate(&mut v, pick, op, with);
        }
        check_result(&parse(v.to_string().as_bytes()));
    }

    #[test]
    fn byte_edited_fixtures_never_panic(
        which in 0..FIXTURES.len(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let mut bytes = FIXTURES[which].as_bytes().to_vec();
        for (at, byte, op) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at % bytes.len();
            match op {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => bytes.truncate(i),
            }
        }
        check_result(&parse(&bytes));
    }
}

// ---------------------------------------------------------------------------------------------
// Round trip of generated valid deliveries.

/// Non-blank ids.
fn ident() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._=-]{1,24}"
}

fn phone_number() -> impl Strategy<Value = String> {
    "[1-9][0-9]{6,14}"
}

fn bsuid() -> impl Strategy<Value = String> {
    "[A-Z]{2}\\.[0-9]{6,16}"
}

fn present_str(s: &Option<String>) -> Option<String> {
    s.clone().filter(|s| !s.trim().is_empty())
}

#[derive(Debug, Clone)]
struct GenSender {
    phone: Option<String>,
    bsuid: Option<String>,
    name: Option<String>,
    username: Option<String>,
    phone_with_plus: bool,
}

fn sender() -> impl Strategy<Value = GenSender> {
    (
        prop::option::of(phone_number()),
        bsuid(),
        any::<bool>(),
        prop::option::of(any::<String>()),
        prop::option::of("[a-z][a-z0-9_.]{2,14}"),
        any::<bool>(),
    )
        .prop_map(
            |(phone, bsuid, with_bsuid, name, username, plus)| GenSender {
                // Without a phone the BSUID is the only identity.
                bsuid: (with_bsuid || phone.is_none()).then_some(bsuid),
                phone,
                name,
                username,
                phone_with_plus: plus,
            },
        )
}

#[derive(Debug, Clone)]
enum GenContent {
    Known(Content),
    Unknown(String),
}

fn content() -> impl Strategy<Value = GenContent> {
    let media_kind = prop::sample::select(
        &[
            MediaKind::Image,
            MediaKind::Audio,
            MediaKind::Video,
            MediaKind::Document,
            MediaKind::Sticker,
        ][..],
    );
    prop_oneof![
        any::<String>().prop_map(|t| GenContent::Known(Content::Text(t))),
        (ident(), any::<String>())
            .prop_map(|(id, title)| GenContent::Known(Content::Button { id, title })),
        (ident(), any::<String>())
            .prop_map(|(id, title)| GenContent::Known(Content::ListReply { id, title })),
        (any::<String>(), any::<String>()).prop_map(|(payload, text)| GenContent::Known(
            Content::TemplateButton { payload, text }
        )),
        (
            media_kind,
            ident(),
            prop::option::of(any::<String>()),
            prop::option::of(any::<String>()),
            any::<bool>()
        )
            .prop_map(
                |(kind, media_id, caption, filename, voice)| GenContent::Known(Content::Media {
                    kind,
                    media_id,
                    caption,
                    filename,
                    voice: voice && kind == MediaKind::Audio,
                })
            ),
        (
            -90.0f64..90.0,
            -180.0f64..180.0,
            prop::option::of(any::<String>()),
            prop::option::of(any::<String>())
        )
            .prop_map(|(latitude, longitude, name, address)| GenContent::Known(
                Content::Location {
                    latitude,
                    longitude,
                    name,
                    address,
                }
            )),
        (ident(), any::<String>()).prop_map(|(message_id, emoji)| GenContent::Known(
            Content::Reaction { message_id, emoji }
        )),
        "[a-z_]{3,12}"
            .prop_filter("not a known type", |t| !matches!(
                t.as_str(),
                "text"
                    | "interactive"
                    | "button"
                    | "image"
                    | "audio"
                    | "video"
                    | "document"
                    | "sticker"
                    | "location"
                    | "contacts"
                    | "reaction"
                    | "system"
            ))
            .prop_map(GenContent::Unknown),
    ]
}

#[derive(Debug, Clone)]
struct GenMessage {
    wamid: String,
    sender: GenSender,
    ts: u32,
    ts_as_number: bool,
    content: GenContent,
    context: Option<String>,
}

fn gen_message() -> impl Strategy<Value = GenMessage> {
    (
        ident(),
        sender(),
        any::<u32>(),
        any::<bool>(),
        content(),
        prop::option::of(ident()),
    )
        .prop_map(
            |(wamid, sender, ts, ts_as_number, content, context)| GenMessage {
                wamid: format!("wamid.{wamid}"),
                sender,
                ts,
                ts_as_number,
                content,
                context,
            },
        )
}

#[derive(Debug, Clone)]
struct GenStatus {
    wamid: String,
    status: &'static str,
    ts: u32,
    recipient: String,
    error: Option<(i64, String, String, Option<String>)>,
}

fn gen_status() -> impl Strategy<Value = GenStatus> {
    (
        ident(),
        prop::sample::select(&["sent", "delivered", "read", "played", "failed"][..]),
        any::<u32>(),
        phone_number(),
        prop::option::of((
            any::<i64>(),
            any::<String>(),
            any::<String>(),
            prop::option::of(any::<String>()),
        )),
    )
        .prop_map(|(wamid, status, ts, recipient, error)| GenStatus {
            wamid: format!("wamid.{wamid}"),
            status,
            ts,
            recipient,
            error: if status == "failed" { error } else { None },
        })
}

fn message_json(m: &GenMessage) -> Value {
    let mut j = json!({"id": m.wamid, "timestamp": if m.ts_as_number { json!(m.ts) } else { json!(m.ts.to_string()) }});
    if let Some(p) = &m.sender.phone {
        j["from"] = json!(if m.sender.phone_with_plus {
            format!("+{p}")
        } else {
            p.clone()
        });
    }
    if let Some(u) = &m.sender.bsuid {
        j["from_user_id"] = json!(u);
    }
    if let Some(c) = &m.context {
        j["context"] = json!({"from": "15550001111", "id": c});
    }
    let (kind, payload) = match &m.content {
        GenContent::Unknown(t) => (t.clone(), json!({"anything": [1, 2, 3]})),
        GenContent::Known(c) => match c {
            Content::Text(t) => ("text".into(), json!({"body": t})),
            Content::Button { id, title } => (
                "interactive".into(),
                json!({"type": "button_reply", "button_reply": {"id": id, "title": title}}),
            ),
            Content::ListReply { id, title } => (
                "interactive".into(),
                json!({"type": "list_reply", "list_reply": {"id": id, "title": title, "description": "d"}}),
            ),
            Content::TemplateButton { payload, text } => {
                ("button".into(), json!({"payload": payload, "text": text}))
            }
            Content::Media {
                kind,
                media_id,
                caption,
                filename,
                voice,
            } => {
                let mut p = json!({"id": media_id, "mime_type": "x/y", "sha256": "abc"});
                if let Some(c) = caption {
                    p["caption"] = json!(c);
                }
                if let Some(f) = filename {
                    p["filename"] = json!(f);
                }
                if *kind == MediaKind::Audio {
                    p["voice"] = json!(voice);
                }
                (kind.as_str().to_string(), p)
            }
            Content::Location {
                latitude,
                longitude,
                name,
                address,
            } => {
                let mut p = json!({"latitude": latitude, "longitude": longitude});
                if let Some(n) = name {
                    p["name"] = json!(n);
                }
                if let Some(a) = address {
                    p["address"] = json!(a);
                }
                ("location".into(), p)
            }
            Content::Reaction { message_id, emoji } => (
                "reaction".into(),
                json!({"message_id": message_id, "emoji": emoji}),
            ),
            other => unreachable!("not generated: {other:?}"),
        },
    };
    j["type"] = json!(kind);
    j[kind.as_str()] = payload;
    j
}

fn contact_json(s: &GenSender) -> Value {
    let mut profile = json!({});
    if let Some(n) = &s.name {
        profile["name"] = json!(n);
    }
    if let Some(u) = &s.username {
        profile["username"] = json!(u);
    }
    let mut c = json!({"profile": profile});
    if let Some(p) = &s.phone {
        c["wa_id"] = json!(p);
    }
    if let Some(u) = &s.bsuid {
        c["user_id"] = json!(u);
    }
    c
}

fn status_json(s: &GenStatus) -> Value {
    let mut j = json!({"id": s.wamid, "status": s.status, "timestamp": s.ts.to_string(), "recipient_id": s.recipient});
    if let Some((code, title, message, details)) = &s.error {
        let mut e = json!({"code": code, "title": title, "message": message});
        if let Some(d) = details {
            e["error_data"] = json!({"details": d});
        }
        j["errors"] = json!([e]);
    }
    j
}

fn expected_message(m: &GenMessage, phone_number_id: &str) -> InboundMessage {
    let content = match &m.content {
        GenContent::Unknown(t) => Content::Unsupported {
            type_name: t.clone(),
        },
        GenContent::Known(Content::Media {
            kind,
            media_id,
            caption,
            filename,
            voice,
        }) => Content::Media {
            kind: *kind,
            media_id: media_id.clone(),
            caption: present_str(caption),
            filename: present_str(filename),
            voice: *voice,
        },
        GenContent::Known(Content::Location {
            latitude,
            longitude,
            name,
            address,
        }) => Content::Location {
            latitude: *latitude,
            longitude: *longitude,
            name: present_str(name),
            address: present_str(address),
        },
        GenContent::Known(c) => c.clone(),
    };
    InboundMessage {
        wamid: m.wamid.clone(),
        user: UserRef {
            user_id: m.sender.bsuid.clone(),
            phone: m.sender.phone.clone(),
            username: m.sender.username.clone(),
            profile_name: present_str(&m.sender.name),
            parent_user_id: None,
        },
        timestamp_ms: i64::from(m.ts) * 1000,
        content,
        context_wamid: m.context.clone(),
        phone_number_id: Some(phone_number_id.to_string()),
    }
}

/// Floats go through JSON text; serde_json's default parser may differ in the last bit.
fn same_message(a: &InboundMessage, b: &InboundMessage) -> bool {
    match (&a.content, &b.content) {
        (
            Content::Location {
                latitude: la,
                longitude: lo,
                name: n1,
                address: a1,
            },
            Content::Location {
                latitude: lb,
                longitude: lob,
                name: n2,
                address: a2,
            },
        ) => {
            (la - lb).abs() < 1e-9
                && (lo - lob).abs() < 1e-9
                && n1 == n2
                && a1 == a2
                && InboundMessage {
                    content: Content::Text(String::new()),
                    ..a.clone()
                } == InboundMessage {
                    content: Content::Text(String::new()),
                    ..b.clone()
                }
        }
        _ => a == b,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    /// Entries × changes × messages/statuses, each message with its own contact in its change.
    #[test]
    fn valid_deliveries_round_trip(
        entries in prop::collection::vec(
            prop::collection::vec(
                (prop::collection::vec(gen_message(), 0..4), prop::collection::vec(gen_status(), 0..3)),
                1..3,
            ),
            1..3,
        ),
        phone_number_id in "[0-9]{6,16}",
    ) {
        let mut expected_messages = Vec::new();
        let mut expected_statuses = Vec::new();
        let body_entries: Vec<Value> = entries.iter().enumerate().map(|(i, changes)| {
            let changes: Vec<Value> = changes.iter().flat_map(|(messages, statuses)| {
                // One change per message (its contact beside it), then one for the statuses.
                let mut out: Vec<Value> = messages.iter().map(|m| {
                    expected_messages.push(expected_message(m, &phone_number_id));
                    json!({"field": "messages", "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_number_id},
                        "contacts": [contact_json(&m.sender)],
                        "messages": [message_json(m)],
                    }})
                }).collect();
                for s in statuses {
                    expected_statuses.push(StatusUpdate {
                        wamid: s.wamid.clone(),
                        status: DeliveryStatus::parse(if s.status == "played" { "read" } else { s.status }).unwrap(),
                        timestamp_ms: i64::from(s.ts) * 1000,
                        recipient_phone: Some(s.recipient.clone()),
                        recipient_user_id: None,
                        error: s.error.as_ref().map(|(code, title, message, details)| CloudError {
                            code: *code,
                            title: title.clone(),
                            message: message.clone(),
                            details: present_str(details),
                        }),
                        phone_number_id: Some(phone_number_id.clone()),
                    });
                }
                out.push(json!({"field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"phone_number_id": phone_number_id},
                    "statuses": statuses.iter().map(status_json).collect::<Vec<_>>(),
                }}));
                // A change for another field is skipped whatever it holds.
                out.push(json!({"field": "account_alerts", "value": {"messages": "not an array"}}));
                out
            }).collect();
            json!({"id": format!("{i}"), "changes": changes})
        }).collect();
        let body = json!({"object": "whatsapp_business_account", "entry": body_entries});
        let delivery = parse(body.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("a valid delivery was refused: {e}\n{body:#}"));
        prop_assert_eq!(delivery.messages.len(), expected_messages.len());
        for (got, want) in delivery.messages.iter().zip(&expected_messages) {
            prop_assert!(same_message(got, want), "got {:#?}\nwant {:#?}", got, want);
        }
        prop_assert_eq!(&delivery.statuses, &expected_statuses);
        prop_assert!(delivery.identity_changes.is_empty());
    }
}
