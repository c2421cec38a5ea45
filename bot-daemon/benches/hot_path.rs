//! Criterion micro-benchmarks of the per-webhook CPU work outside SQLite: signature check,
//! JSON parse, and the state machine step. Run with `cargo bench -p bot-daemon`.
//!
//! At 20,000 webhooks/s on two cores the whole per-message budget is ~100 µs of CPU; these
//! show how much of it the pure parts take (the rest is HTTP, the store and the event log;
//! see docs/benchmarks.md).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use bot_daemon::{
    conversation::{self, BotSettings, Contact, Event},
    domain::{ContactKind, Content, State},
    webhook,
};
use criterion::{criterion_group, criterion_main, Criterion};

const SECRET: &[u8] = b"test-secret";

fn text_body(text: &str) -> Vec<u8> {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550001111","phone_number_id":"1234567890"}},"contacts":[{{"profile":{{"name":"Student 42"}},"wa_id":"2341100000042","user_id":"NG.110000000000042"}}],"messages":[{{"from":"2341100000042","from_user_id":"NG.110000000000042","id":"wamid.BENCH.x.42","timestamp":"1767225600","type":"text","text":{{"body":"{text}"}}}}]}}}}]}}]}}"#
    )
    .into_bytes()
}

fn benches(c: &mut Criterion) {
    let body =
        text_body("My exam results are not showing on the portal, can someone check please?");
    let header = webhook::sign(SECRET, &body);
    c.bench_function("webhook/verify_signature", |b| {
        b.iter(|| {
            webhook::verify_signature(black_box(SECRET), black_box(&body), Some(&header)).unwrap()
        })
    });
    c.bench_function("webhook/parse_text_message", |b| {
        b.iter(|| webhook::parse(black_box(&body)).unwrap())
    });
    let settings = BotSettings::default();
    let in_chat = Contact {
        state: State::ChatSupportActive,
        kind: ContactKind::Student,
        registered_name: Some("Ada Obi".into()),
        profile_name: Some("Ada".into()),
        recently_acknowledged: false,
        queue: Some(conversation::QueueInfo {
            position: 3,
            eta_ms: Some(240_000),
        }),
        closed_until: None,
        survey: None,
        agent_replied: false,
    };
    let idle = Contact {
        state: State::Idle,
        ..in_chat.clone()
    };
    let text = Event::User(Content::Text(
        "My exam results are not showing on the portal, can someone check please?".into(),
    ));
    c.bench_function("conversation/step_in_chat_text", |b| {
        b.iter(|| conversation::step(black_box(&in_chat), black_box(&text), &settings))
    });
    let hello = Event::User(Content::Text("Hello".into()));
    c.bench_function("conversation/step_menu_text", |b| {
        b.iter(|| conversation::step(black_box(&idle), black_box(&hello), &settings))
    });
}

criterion_group!(hot_path, benches);
criterion_main!(hot_path);
