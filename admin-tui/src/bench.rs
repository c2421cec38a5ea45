//! Benchmark support (not a stable API): builds a console state of a given size through the
//! same `update` messages the network task sends, and renders it, so `benches/render.rs` can
//! time a frame the way the event loop draws one.

use chrono::{DateTime, Duration};
use ratatui::{backend::TestBackend, Terminal};

use crate::app::{App, Msg, NetEvent, Settings};
use crate::model::{
    ChatEvent, EventBody, LastMessage, Message, Note, Sender, Status, Summary, ThreadPage, Time,
};

/// A console with `chats` active chats in the list and the top chat's thread holding
/// `messages` messages, at a fixed terminal size.
pub struct Scene {
    app: App,
    terminal: Terminal<TestBackend>,
}

/// 2026-01-01 10:15:00 UTC, the scene's "now".
fn t0() -> Time {
    DateTime::from_timestamp(1_767_262_500, 0).unwrap_or_default()
}

impl Scene {
    /// Builds the scene: `chats` chats (the first waiting longest, so it is on top and open),
    /// its thread loaded with `messages` messages of mixed senders and lengths.
    pub fn new(chats: usize, messages: usize, width: u16, height: u16) -> Scene {
        let now = t0();
        let settings = Settings {
            server: "http://127.0.0.1:50051".into(),
            bell: false,
            nonce: "bench".into(),
            utc_offset: chrono::Offset::fix(&chrono::Utc),
            alarms: crate::app::Alarms::default(),
        };
        let mut app = App::new(settings, now, (width, height));
        app.start();
        app.update(Msg::Net(NetEvent::Connected { gen: 1 }));
        let gen = app.watch_gen;
        let list: Vec<Summary> = (0..chats)
            .map(|i| {
                let address = format!("234801{i:07}");
                let mut s = Summary::new(&address, &format!("Student {i}"));
                let waited = i64::try_from(chats - i).unwrap_or(i64::MAX / 2);
                s.waiting_since = Some(now - Duration::seconds(waited));
                s.chat_started_at = Some(now - Duration::seconds(waited + 60));
                s.last_inbound_at = s.waiting_since;
                s.unread_count = u32::try_from(i % 4).unwrap_or(0);
                s.last_message = Some(LastMessage {
                    text: format!("Hello, I need help with assignment {i} please"),
                    sender: Sender::User,
                    at: s.waiting_since,
                });
                s
            })
            .collect();
        let top: Option<String> = list.first().map(|s| s.address.clone());
        app.update(Msg::Net(NetEvent::Event {
            gen,
            event: ChatEvent {
                sequence: 1,
                body: EventBody::Snapshot(list),
                activity: None,
            },
        }));
        if let Some(address) = top {
            let start = now - Duration::seconds(i64::try_from(messages).unwrap_or(0) * 10);
            let thread: Vec<Message> = (0..messages)
                .map(|i| {
                    let sender = if i % 2 == 0 {
                        Sender::User
                    } else {
                        Sender::Agent
                    };
                    let text = if i % 7 == 0 {
                        "A longer message that wraps over several lines of the thread pane, \
                         as a student explaining a problem with an upload would write it."
                            .repeat(2)
                    } else {
                        format!("message {i}")
                    };
                    Message {
                        id: i64::try_from(i).unwrap_or(0) + 1,
                        sender,
                        text,
                        at: Some(start + Duration::seconds(i64::try_from(i).unwrap_or(0) * 10)),
                        status: if sender == Sender::User {
                            Status::Received
                        } else {
                            Status::Read
                        },
                        session_id: 1,
                        kind: "text".into(),
                        error_code: 0,
                        error_message: String::new(),
                        agent_name: if sender == Sender::Agent {
                            "Ada".into()
                        } else {
                            String::new()
                        },
                    }
                })
                .collect();
            // A private note every 100 messages, as a busy desk leaves them.
            let notes: Vec<Note> = (0..messages / 100)
                .map(|k| Note {
                    id: i64::try_from(k).unwrap_or(0) + 1,
                    text: format!("note {k}: checked the portal, escalating"),
                    agent_name: "Bola".into(),
                    activity: false,
                    at: Some(
                        start + Duration::seconds(i64::try_from(k * 100).unwrap_or(0) * 10 + 5),
                    ),
                })
                .collect();
            let summary = app.summary(&address).cloned();
            app.update(Msg::Net(NetEvent::Thread {
                address,
                before: 0,
                result: Ok(ThreadPage {
                    summary,
                    messages: thread,
                    next_before: 0,
                    notes,
                    csat: None,
                }),
            }));
        }
        let terminal = match Terminal::new(TestBackend::new(width, height)) {
            Ok(t) => t,
            Err(never) => match never {},
        };
        Scene { app, terminal }
    }

    /// Chats in the list as the console holds them.
    pub fn chats(&self) -> usize {
        self.app.rows().len()
    }

    /// Draws one full frame, as the event loop does after every change.
    pub fn draw(&mut self) {
        let app = &self.app;
        if let Err(never) = self.terminal.draw(|f| crate::ui::render(app, f)) {
            match never {}
        }
    }

    /// The screen as text, one line per row (to check the scene shows what it should).
    pub fn screen(&self) -> String {
        let buf = self.terminal.backend().buffer();
        let mut out = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                out.push_str(buf[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Scene;

    #[test]
    fn the_benchmark_scene_shows_the_big_list_and_the_end_of_the_long_thread() {
        let mut scene = Scene::new(10_000, 5_000, 160, 48);
        assert_eq!(scene.chats(), 10_000);
        scene.draw();
        let screen = scene.screen();
        assert!(screen.contains("Student 0"), "{screen}");
        assert!(screen.contains("message 4999"), "{screen}");
    }
}
