//! End-to-end tests of issue 9 with an injected clock: queue positions and the ETA in the
//! welcome and acknowledgements, business hours across a time-zone boundary and a holiday, the
//! inactivity reminder and auto-end, the satisfaction survey (late and repeated answers
//! included), `GetStats` against a hand-computed fixture, and the simulator walking a chat to a
//! rating.

// Tests stop at the first failed expectation; unwrap/expect/panic are how they say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use bot_daemon::{
    config::Config,
    conversation::{csat, texts, Inactivity},
    domain::Millis,
    hours::BusinessHours,
    simulate::{exchange, SimulateArgs},
};
use proto::v1 as pb;
use serde_json::{json, Value};
use tests::{
    button_from, client, client_with, contact, message, phone, queue_line, queued_ack, text_from,
    webhook, Client, FakeCloudApi, TestClock, TestDaemon, SETTLE, WAIT,
};

const MIN: Duration = Duration::from_secs(60);

fn wamid() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("wamid.Q{}", N.fetch_add(1, Ordering::SeqCst))
}

async fn tap(td: &TestDaemon, clock: &TestClock, digits: &str, id: &str, title: &str) {
    td.deliver(&button_from(
        digits,
        None,
        "User",
        &wamid(),
        clock.now_secs(),
        id,
        title,
    ))
    .await;
}

async fn say(td: &TestDaemon, clock: &TestClock, digits: &str, body: &str) {
    td.deliver(&text_from(
        digits,
        None,
        "User",
        &wamid(),
        clock.now_secs(),
        body,
    ))
    .await;
}

/// A tap on a row of an interactive list.
async fn pick(td: &TestDaemon, clock: &TestClock, digits: &str, id: &str) {
    td.deliver(&webhook(
        vec![contact(Some(digits), None, "User")],
        vec![message(
            Some(digits),
            None,
            &wamid(),
            clock.now_secs(),
            "interactive",
            json!({"type": "list_reply", "list_reply": {"id": id, "title": id}}),
        )],
    ))
    .await;
}

async fn start_chat(td: &TestDaemon, clock: &TestClock, digits: &str) {
    tap(td, clock, digits, "chat_support", "💬 Chat Support").await;
}

async fn agent_says(td: &TestDaemon, digits: &str, text: &str) {
    td.engine()
        .agent_send(phone(digits), text.to_string(), None)
        .await
        .expect("the agent's message is accepted");
}

fn body(sent: &Value) -> &str {
    sent["interactive"]["body"]["text"]
        .as_str()
        .or(sent["text"]["body"].as_str())
        .unwrap_or_else(|| panic!("no body in {sent}"))
}

/// The messages sent to `+digits`, once there are at least `n` (per recipient the order is
/// kept; across recipients the sender works in parallel).
async fn to(td: &TestDaemon, digits: &str, n: usize) -> Vec<Value> {
    let want = format!("+{digits}");
    tests::eventually(&format!("{n} message(s) to {want}"), WAIT, || {
        let sent: Vec<Value> = td
            .fake()
            .sent()
            .into_iter()
            .filter(|m| m["to"] == want.as_str())
            .collect();
        async move { (sent.len() >= n).then_some(sent) }
    })
    .await
}

/// The body of the `n`-th message sent (0-based), once it has been sent.
async fn nth(td: &TestDaemon, n: usize) -> Value {
    td.fake().wait_for_sent(n + 1, WAIT).await[n].clone()
}

fn with_csat(cfg: &mut Config) {
    cfg.bot.csat = true;
    cfg.timer_tick = Duration::from_millis(50);
}

/// Unix ms of a UTC time.
fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Millis {
    use chrono::TimeZone;
    chrono::Utc
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .unwrap()
        .timestamp_millis()
}

#[tokio::test]
async fn queue_positions_as_chats_start_and_get_answered() {
    let clock = TestClock::now_ish();
    let td = TestDaemon::start_with_clock(FakeCloudApi::start().await, |_| {}, &clock).await;
    let (a, b, c) = ("2348030000001", "2348030000002", "2348030000003");
    for (i, who) in [a, b, c].into_iter().enumerate() {
        start_chat(&td, &clock, who).await;
        let welcome = nth(&td, i).await;
        assert_eq!(welcome["to"], format!("+{who}"));
        assert!(
            body(&welcome).ends_with(&format!("main menu.\n\n{}", queue_line(i as u32 + 1))),
            "{welcome}"
        );
        clock.advance(Duration::from_secs(10));
    }
    // An agent answers A: B and C move up.
    agent_says(&td, a, "Hello A").await;
    nth(&td, 3).await;
    say(&td, &clock, c, "hello?").await;
    assert_eq!(body(&nth(&td, 4).await), queued_ack(2));
    // "queue" asks again (even right after an ack); A, answered, is told an agent is on it.
    say(&td, &clock, b, "queue").await;
    assert_eq!(body(&nth(&td, 5).await), queue_line(1));
    say(&td, &clock, c, "Position?").await;
    assert_eq!(body(&nth(&td, 6).await), queue_line(2));
    say(&td, &clock, a, "position").await;
    assert_eq!(body(&nth(&td, 7).await), texts::ALREADY_ANSWERED);
    // A's later messages get the seed's ack alone.
    say(&td, &clock, a, "my fees").await;
    assert_eq!(body(&nth(&td, 8).await), texts::CHAT_ACK);
    // B ends: C is first.
    say(&td, &clock, b, "done").await;
    nth(&td, 9).await;
    say(&td, &clock, c, "queue").await;
    assert_eq!(body(&nth(&td, 10).await), queue_line(1));
    td.fake().wait_for_exactly(11, WAIT).await;

    // Agents see the queue: the answered chat carries its first reply, the waiting one not.
    let mut g = client(&td).await;
    let list = g
        .list_conversations(pb::ListConversationsRequest {
            active_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .conversations;
    let by = |d: &str| list.iter().find(|s| s.phone_number == d).unwrap().clone();
    assert!(by(a).first_response_at.is_some());
    assert!(by(c).first_response_at.is_none());
}

#[tokio::test]
async fn eta_comes_from_recent_first_responses() {
    let clock = TestClock::at(utc(2026, 11, 23, 9, 0));
    let td = TestDaemon::start_with_clock(FakeCloudApi::start().await, |_| {}, &clock).await;
    // Five chats answered after 2, 3, 4, 5 and 6 minutes.
    for k in 0..5u64 {
        let who = format!("23480300001{k:02}");
        start_chat(&td, &clock, &who).await;
        to(&td, &who, 1).await;
        if k == 4 {
            // Four samples only: no false precision.
            start_chat(&td, &clock, "2348030000190").await;
            let w = &to(&td, "2348030000190", 1).await[0];
            assert!(
                body(w)
                    .ends_with("⏳ You are number 2 in the queue. Estimated wait: a few minutes."),
                "{w}"
            );
        }
        clock.advance(MIN * (k as u32 + 2));
        agent_says(&td, &who, "Hi").await;
        to(&td, &who, 2).await;
    }
    // Median of 2..6 minutes: about 4 minutes. The user from above still waits ahead.
    start_chat(&td, &clock, "2348030000191").await;
    let w = &to(&td, "2348030000191", 1).await[0];
    assert!(
        body(w).ends_with("⏳ You are number 2 in the queue. Estimated wait: about 4 minutes."),
        "{w}"
    );
    // A week later the history is too old to estimate from.
    clock.advance(Duration::from_secs(8 * 24 * 3600));
    start_chat(&td, &clock, "2348030000192").await;
    let w = &to(&td, "2348030000192", 1).await[0];
    assert!(
        body(w).ends_with("⏳ You are number 3 in the queue. Estimated wait: a few minutes."),
        "{w}"
    );
}

#[tokio::test]
async fn business_hours_across_a_time_zone_boundary_and_a_holiday() {
    // Lagos (UTC+1): weekdays 08:00–17:00, Saturday 09:00–13:00; 25 December is a holiday.
    let week = Some("08:00-17:00");
    let hours = BusinessHours::new(
        "Africa/Lagos",
        [week, week, week, week, week, Some("09:00-13:00"), None],
        &["2026-12-25".to_string()],
    )
    .unwrap();
    // Sunday 23:30 UTC is Monday 00:30 in Lagos: back today (in UTC it would be "tomorrow").
    let clock = TestClock::at(utc(2026, 11, 22, 23, 30));
    let td = TestDaemon::start_with_clock(
        FakeCloudApi::start().await,
        |cfg| cfg.bot.hours = Some(hours),
        &clock,
    )
    .await;
    let closed = |back: &str, position: u32| {
        format!(
            "🌙 Our support team is away right now and back {back}. Your chat stays open: you are number {position} in the queue and an agent will reply as soon as we're back."
        )
    };
    start_chat(&td, &clock, "2348030000201").await;
    let w = nth(&td, 0).await;
    assert!(body(&w).ends_with(&closed("today at 08:00", 1)), "{w}");
    let summary = td.find(phone("2348030000201")).await.unwrap();
    assert!(summary.chat_active, "the chat opens and waits");
    // The acknowledgement says it too.
    say(&td, &clock, "2348030000201", "my results").await;
    assert_eq!(
        body(&nth(&td, 1).await),
        format!("{}\n\n{}", texts::CHAT_ACK, closed("today at 08:00", 1))
    );

    // Christmas (a Friday), 10:00 in Lagos: closed; Saturday opens at 09:00.
    clock.set(utc(2026, 12, 25, 9, 0));
    start_chat(&td, &clock, "2348030000202").await;
    let w = nth(&td, 2).await;
    assert!(body(&w).ends_with(&closed("tomorrow at 09:00", 2)), "{w}");

    // Monday 28 December, 07:00 UTC = 08:00 Lagos: open, the normal queue line.
    clock.set(utc(2026, 12, 28, 7, 0));
    start_chat(&td, &clock, "2348030000203").await;
    let w = nth(&td, 3).await;
    assert!(body(&w).ends_with(&queue_line(3)), "{w}");
}

#[tokio::test]
async fn inactivity_reminds_once_then_ends_the_chat_as_the_system() {
    let clock = TestClock::now_ish();
    let td = TestDaemon::start_with_clock(
        FakeCloudApi::start().await,
        |cfg| {
            with_csat(cfg);
            cfg.bot.inactivity = Some(Inactivity {
                remind_after_ms: Some(10 * 60_000),
                end_after_ms: 30 * 60_000,
                remind_text: "Still there? This chat closes soon.".into(),
                end_text: "Closed: no activity.".into(),
            });
        },
        &clock,
    )
    .await;
    let (a, b) = ("2348030000301", "2348030000302");
    start_chat(&td, &clock, a).await;
    start_chat(&td, &clock, b).await;
    td.fake().wait_for_exactly(2, WAIT).await;

    // Nothing before the time; B keeps writing, A does not.
    clock.advance(MIN * 9);
    say(&td, &clock, b, "still here").await;
    td.fake().wait_for_exactly(3, WAIT).await;
    clock.advance(MIN * 2);
    let sent = td.fake().wait_for_sent(4, WAIT).await;
    assert_eq!(sent[3]["to"], format!("+{a}"));
    assert_eq!(body(&sent[3]), "Still there? This chat closes soon.");
    // One reminder only, however often the timers run.
    tokio::time::sleep(SETTLE).await;
    clock.advance(MIN * 5);
    td.fake().wait_for_exactly(4, WAIT).await;

    // 30 minutes after A's last message: ended as the system, then the survey.
    clock.advance(MIN * 15);
    let to_a = to(&td, a, 4).await;
    assert_eq!(body(&to_a[2]), "Closed: no activity.");
    assert_eq!(to_a[3]["interactive"]["type"], "list");
    let summary = td.find(phone(a)).await.unwrap();
    assert!(!summary.chat_active);
    // B wrote 22 minutes ago: reminded now, not ended.
    let to_b = to(&td, b, 3).await;
    assert_eq!(body(&to_b[2]), "Still there? This chat closes soon.");
    td.fake().wait_for_exactly(7, WAIT).await;
    assert!(td.find(phone(b)).await.unwrap().chat_active);

    let stats = client(&td)
        .await
        .get_stats(pb::GetStatsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (stats.chats_ended, stats.ended_by_system, stats.unanswered),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn csat_rating_comment_repeats_late_answers_and_a_new_chat() {
    let clock = TestClock::now_ish();
    let td = TestDaemon::start_with_clock(FakeCloudApi::start().await, with_csat, &clock).await;
    let a = "2348030000401";
    start_chat(&td, &clock, a).await;
    say(&td, &clock, a, "done").await;
    let sent = td.fake().wait_for_exactly(3, WAIT).await;
    assert_eq!(body(&sent[1]), texts::USER_ENDED);
    let list = &sent[2];
    assert_eq!(list["interactive"]["type"], "list");
    assert_eq!(body(list), csat::CSAT_QUESTION);
    let rows: Vec<&str> = list["interactive"]["action"]["sections"][0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(rows, ["csat_5", "csat_4", "csat_3", "csat_2", "csat_1"]);

    pick(&td, &clock, a, "csat_4").await;
    assert!(body(&nth(&td, 3).await).starts_with("Thank you for rating us 4/5!"));
    // A second tap does not overwrite.
    pick(&td, &clock, a, "csat_2").await;
    assert_eq!(body(&nth(&td, 4).await), csat::CSAT_ALREADY_RATED_OPEN);
    say(&td, &clock, a, "Quick and kind, thank you").await;
    assert_eq!(body(&nth(&td, 5).await), csat::CSAT_THANKS);
    pick(&td, &clock, a, "csat_1").await;
    assert_eq!(body(&nth(&td, 6).await), csat::CSAT_ALREADY_RATED);

    let mut g = client(&td).await;
    let conv = |g: &mut tests::Client| {
        let mut g = g.clone();
        async move {
            g.get_conversation(pb::GetConversationRequest {
                phone_number: a.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
        }
    };
    let c = conv(&mut g).await;
    assert_eq!(c.csat.len(), 1);
    assert_eq!(
        (c.csat[0].rating, c.csat[0].comment.as_str(), c.csat[0].open),
        (4, "Quick and kind, thank you", false)
    );
    assert_eq!(
        c.csat[0].chat_session_id,
        c.summary.unwrap().chat_session_id
    );

    // An agent ends the next chat; the rating comes a day late.
    start_chat(&td, &clock, a).await;
    nth(&td, 7).await;
    g.end_chat(pb::EndChatRequest {
        phone_number: a.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let sent = td.fake().wait_for_sent(10, WAIT).await;
    assert_eq!(body(&sent[8]), texts::DEFAULT_CLOSING);
    assert_eq!(sent[9]["interactive"]["type"], "list");
    clock.advance(Duration::from_secs(25 * 3600));
    pick(&td, &clock, a, "csat_5").await;
    assert_eq!(body(&nth(&td, 10).await), csat::CSAT_LATE);
    let c = conv(&mut g).await;
    assert_eq!((c.csat[0].rating, c.csat[0].open), (0, false));

    // A new chat during the survey closes it and wins.
    start_chat(&td, &clock, a).await;
    say(&td, &clock, a, "done").await;
    td.fake().wait_for_sent(14, WAIT).await;
    say(&td, &clock, a, "support please").await;
    let w = nth(&td, 14).await;
    assert!(body(&w).contains("You are now connected"), "{w}");
    let c = conv(&mut g).await;
    assert_eq!(c.csat.len(), 3);
    assert_eq!((c.csat[0].rating, c.csat[0].open), (0, false));
    td.fake().wait_for_exactly(15, WAIT).await;
}

#[tokio::test]
async fn get_stats_matches_the_hand_computed_fixture() {
    let t0 = utc(2026, 11, 23, 8, 0);
    let clock = TestClock::at(t0);
    let td = TestDaemon::start_with_clock(FakeCloudApi::start().await, with_csat, &clock).await;
    let at = |m: i64| clock.set(t0 + m * 60_000);
    let (a, b, c, d) = (
        "2348030000501",
        "2348030000502",
        "2348030000503",
        "2348030000504",
    );
    let mut g = client(&td).await;
    // Two named agents: ada answers A and D, bola answers B (the operator ends it).
    let token = |name: &'static str| {
        let mut g = g.clone();
        async move {
            g.add_agent(pb::AddAgentRequest {
                name: name.into(),
                display_name: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .token
        }
    };
    let (ada_token, bola_token) = (token("ada").await, token("bola").await);
    let mut ada = client_with(&td, Some(&format!("Bearer {ada_token}"))).await;
    let mut bola = client_with(&td, Some(&format!("Bearer {bola_token}"))).await;
    // A: button at 0, first text at 1, answered at 4, ends at 20, rates 5.
    start_chat(&td, &clock, a).await;
    at(1);
    say(&td, &clock, a, "my homework portal login fails").await;
    at(4);
    send_as(&mut ada, a, "Looking").await;
    at(20);
    say(&td, &clock, a, "done").await;
    at(21);
    pick(&td, &clock, a, "csat_5").await;
    // B: starts with text at 30, answered at 40, agent ends at 70, rates 3.
    at(30);
    say(&td, &clock, b, "I need support with my fees payment").await;
    at(40);
    send_as(&mut bola, b, "On it").await;
    at(70);
    g.end_chat(pb::EndChatRequest {
        phone_number: b.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    at(71);
    pick(&td, &clock, b, "csat_3").await;
    // C: starts at 80, nobody answers, leaves at 95.
    at(80);
    say(&td, &clock, c, "talk to someone about my homework upload").await;
    at(95);
    say(&td, &clock, c, "done").await;
    // D: starts at 100, answered at 102, still open.
    at(100);
    say(&td, &clock, d, "support: fees").await;
    at(102);
    send_as(&mut ada, d, "Yes?").await;
    at(130);

    let ts = |m: i64| prost_types::Timestamp {
        seconds: (t0 + m * 60_000) / 1000,
        nanos: 0,
    };
    let s = g
        .get_stats(pb::GetStatsRequest {
            from: Some(ts(0)),
            to: Some(ts(120)),
            agent: None,
        })
        .await
        .unwrap()
        .into_inner();
    let m = 60_000;
    assert_eq!(s.timezone, "UTC");
    assert_eq!((s.chats_started, s.chats_ended), (4, 3));
    assert_eq!(
        (s.ended_by_user, s.ended_by_agent, s.ended_by_system),
        (2, 1, 0)
    );
    assert_eq!(s.unanswered, 1);
    let dur = |count, med: i64, p90: i64| pb::DurationStats {
        count,
        median_ms: med * m,
        p90_ms: p90 * m,
    };
    // First response: A 4, B 10, D 2 → median 4, p90 10.
    assert_eq!(s.first_response, Some(dur(3, 4, 10)));
    // Wait: A 4, B 10, C 15 (abandoned), D 2 → median (4+10)/2 = 7, p90 15.
    assert_eq!(s.wait_time, Some(dur(4, 7, 15)));
    // Handle: A 20, B 40, C 15 → median 20, p90 40.
    assert_eq!(s.handle_time, Some(dur(3, 20, 40)));
    assert_eq!((s.csat_count, s.csat_average), (2, 4.0));
    assert_eq!(s.csat_distribution, vec![0, 0, 1, 0, 1]);
    let mut hours = vec![0; 24];
    hours[8] = 2;
    hours[9] = 2;
    assert_eq!(s.busiest_hours, hours);
    let words: Vec<(&str, u32)> = s
        .top_first_message_words
        .iter()
        .map(|w| (w.word.as_str(), w.chats))
        .collect();
    assert_eq!(
        words,
        vec![
            ("fees", 2),
            ("homework", 2),
            ("fails", 1),
            ("login", 1),
            ("payment", 1),
            ("portal", 1),
            ("upload", 1)
        ]
    );
    assert_eq!(s.waiting_now, 0);

    // A narrower range: only what started or ended in the first half hour.
    let s = g
        .get_stats(pb::GetStatsRequest {
            from: Some(ts(0)),
            to: Some(ts(30)),
            agent: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((s.chats_started, s.chats_ended, s.csat_count), (1, 1, 1));

    // One agent's chats: those they wrote in or ended. ada: A and D.
    let by = |agent: &str| pb::GetStatsRequest {
        from: Some(ts(0)),
        to: Some(ts(120)),
        agent: Some(agent.into()),
    };
    let s = g.get_stats(by("ada")).await.unwrap().into_inner();
    assert_eq!((s.chats_started, s.chats_ended, s.unanswered), (2, 1, 0));
    assert_eq!(
        (s.ended_by_user, s.ended_by_agent, s.ended_by_system),
        (1, 0, 0)
    );
    // First response: A 4, D 2 → median 3, p90 4 (the 2nd of 2).
    assert_eq!(s.first_response, Some(dur(2, 3, 4)));
    assert_eq!(s.wait_time, Some(dur(2, 3, 4)));
    assert_eq!(s.handle_time, Some(dur(1, 20, 20)));
    assert_eq!((s.csat_count, s.csat_average), (1, 5.0));
    // bola: B (ended by the operator, an agent-side end).
    let s = ada.get_stats(by("BOLA")).await.unwrap().into_inner();
    assert_eq!(
        (s.chats_started, s.chats_ended, s.ended_by_agent),
        (1, 1, 1)
    );
    assert_eq!(s.first_response, Some(dur(1, 10, 10)));
    assert_eq!(s.handle_time, Some(dur(1, 40, 40)));
    assert_eq!((s.csat_count, s.csat_average), (1, 3.0));
    let err = g.get_stats(by("nobody")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");

    // Bad ranges are refused on purpose.
    let err = g
        .get_stats(pb::GetStatsRequest {
            from: Some(ts(30)),
            to: Some(ts(30)),
            agent: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
}

async fn send_as(agent: &mut Client, digits: &str, text: &str) {
    agent
        .send_message(pb::SendMessageRequest {
            phone_number: digits.into(),
            message: text.into(),
            ..Default::default()
        })
        .await
        .expect("the agent's message is accepted");
}

#[tokio::test]
async fn simulate_walks_a_chat_with_the_queue_to_a_rating() {
    let td = TestDaemon::start_with(FakeCloudApi::start().await, with_csat).await;
    let cfg = td.config().clone();
    let args = |button: Option<&str>, list: Option<&str>, text: Option<&str>| SimulateArgs {
        from: Some("+234 801 234 5678".into()),
        user_id: None,
        name: "Ada".into(),
        username: None,
        button: button.map(str::to_string),
        list: list.map(str::to_string),
        media: Default::default(),
        url: Some(td.webhook_url()),
        text: text.map(str::to_string),
    };
    let start = exchange(&cfg, &args(Some("chat_support"), None, None))
        .await
        .unwrap();
    assert!(start[1].contains(&queue_line(1)), "{start:?}");
    let msg = exchange(&cfg, &args(None, None, Some("I can't upload my homework")))
        .await
        .unwrap();
    assert!(msg[1].contains(&queue_line(1)), "{msg:?}");
    let q = exchange(&cfg, &args(None, None, Some("queue")))
        .await
        .unwrap();
    assert!(q[1].contains(&queue_line(1)), "{q:?}");
    agent_says(&td, "2348012345678", "Let me help you with that").await;
    let end = exchange(&cfg, &args(Some("end_chat"), None, None))
        .await
        .unwrap();
    let transcript = end.join("\n");
    assert!(transcript.contains(texts::USER_ENDED), "{transcript}");
    assert!(transcript.contains("☰ Rate this chat"), "{transcript}");
    assert!(transcript.contains("(csat_4)"), "{transcript}");
    let rated = exchange(&cfg, &args(None, Some("csat_4"), None))
        .await
        .unwrap();
    assert!(
        rated[1].contains("Thank you for rating us 4/5!"),
        "{rated:?}"
    );
    let thanks = exchange(&cfg, &args(None, None, Some("Very helpful")))
        .await
        .unwrap();
    assert!(thanks[1].contains(csat::CSAT_THANKS), "{thanks:?}");
    let s = client(&td)
        .await
        .get_stats(pb::GetStatsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!((s.chats_started, s.chats_ended, s.csat_count), (1, 1, 1));
    assert_eq!(s.csat_average, 4.0);
    assert_eq!(s.first_response.unwrap().count, 1);
}
