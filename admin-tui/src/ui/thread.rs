//! The thread pane: the open conversation's messages with time, sender (user / agent / bot) and
//! delivery marks (✓ sent, ✓✓ delivered, ✓✓ read, ✗ failed with Meta's reason), date and chat
//! session dividers, the agent's unconfirmed messages, and scrolling from the newest line up.

use chrono::NaiveDate;
use ratatui::{
    layout::Rect,
    text::{Line, Span},
    widgets::{Block, Paragraph},
    Frame,
};

use super::{clean, clock, date, fit, hours_minutes, short_duration, style, width, wrap};
use crate::app::{App, Focus, Outgoing, Thread};
use crate::model::{Kind, Message, Note, Sender, Status, Summary, Time};
use crate::strings;

/// Columns before a message's text: `HH:MM agent `.
const PREFIX: usize = 12;

pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    let focused = app.focus == Focus::Thread && app.dialog.is_none() && app.help.is_none();
    let summary = app.open_summary();
    let mut block = Block::bordered().border_style(if focused {
        style::focused_border()
    } else {
        style::border()
    });
    let inner_w = usize::from(area.width.saturating_sub(2));
    if let Some(s) = summary {
        block = block
            .title(title(s, inner_w))
            .title_bottom(footer(app, s, inner_w));
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = usize::from(inner.height);
    let width = usize::from(inner.width);
    let thread = app.open_thread().filter(|t| t.loaded);
    let (all, scroll) = match thread {
        Some(t) => {
            // Only the lines the view can reach (and a page more); when the thread is shorter,
            // all of them. What was measured goes back to the scroll state.
            let built = build(app, t, width, t.scroll.need(height), t.scroll.newer_than());
            let offset = t
                .scroll
                .update(height, built.lines.len(), built.complete, built.newer);
            (built.lines, offset)
        }
        None => (last_lines(app, width, height), 0),
    };
    let scroll = scroll.min(all.len().saturating_sub(height));
    let end = all.len() - scroll;
    let start = end.saturating_sub(height);
    // Bottom-anchored, like a chat: the newest line sits just above the compose box.
    let mut shown: Vec<Line<'static>> = vec![Line::default(); height.saturating_sub(end - start)];
    shown.extend(all.get(start..end).unwrap_or(&[]).iter().cloned());
    if scroll > 0 {
        if let Some(last) = shown.last_mut() {
            *last = Line::from(Span::styled(strings::MORE_BELOW, style::dim())).centered();
        }
    }
    frame.render_widget(Paragraph::new(shown), inner);
}

fn title(s: &Summary, width: usize) -> Line<'static> {
    let kind = match s.kind {
        Kind::Student => strings::STUDENT,
        Kind::Lead => strings::LEAD,
    };
    fit(
        vec![
            Span::raw(" "),
            Span::styled(clean(s.name()), style::bold()),
            Span::raw(format!(" · {} · {kind} ", clean(&s.contact_line()))),
        ],
        Vec::new(),
        width,
    )
}

fn footer(app: &App, s: &Summary, width: usize) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    if s.chat_active {
        spans.push(Span::styled(strings::CHAT_ACTIVE, style::ok()));
        if let Some(since) = s.chat_started_at {
            spans.push(Span::raw(format!(" {}", short_duration(app.now - since))));
        }
        if let Some(since) = s.waiting_since {
            spans.push(Span::raw(" · "));
            spans.push(Span::styled(
                strings::waiting_for(&short_duration(app.now - since)),
                style::bold(),
            ));
        }
    } else {
        spans.push(Span::styled(strings::CHAT_NOT_ACTIVE, style::dim()));
    }
    match s.window_left(app.now) {
        Some(left) => spans.push(Span::raw(format!(
            " · {}",
            strings::window_left(&hours_minutes(left))
        ))),
        None => {
            spans.push(Span::raw(" · "));
            spans.push(Span::styled(strings::WINDOW_CLOSED, style::error()));
        }
    }
    if s.unread_count > 0 {
        spans.push(Span::raw(format!(" · {}", strings::unread(s.unread_count))));
    }
    if s.chat_active {
        if let Some(badge) = super::list::priority_badge(s.priority) {
            spans.push(Span::raw(" ·"));
            spans.push(badge);
        }
        if !s.assigned_agent.is_empty() {
            spans.push(Span::raw(" · "));
            spans.push(Span::styled(
                strings::assigned_to(&clean(&s.assigned_agent)),
                style::bold(),
            ));
        }
    }
    if let Some(csat) = app
        .open
        .as_ref()
        .and_then(|a| app.threads.get(a))
        .and_then(|t| t.csat.as_ref())
    {
        spans.push(Span::raw(" · "));
        spans.push(Span::styled(clean(csat), style::bold()));
    }
    spans.push(Span::raw(" "));
    fit(spans, Vec::new(), width.saturating_sub(2))
}

fn divider(text: &str, width: usize) -> Line<'static> {
    let label = format!(" {text} ");
    let side = width.saturating_sub(width_of(&label)) / 2;
    Line::from(Span::styled(
        format!("{}{label}{}", "─".repeat(side), "─".repeat(side)),
        style::dim(),
    ))
}

fn width_of(s: &str) -> usize {
    width(s)
}

fn sender_label(s: Sender) -> (&'static str, ratatui::style::Style) {
    match s {
        Sender::User => (strings::SENDER_USER, style::user()),
        Sender::Agent => (strings::SENDER_AGENT, style::agent()),
        Sender::Bot => (strings::SENDER_BOT, style::bot()),
        Sender::Unknown => (strings::SENDER_UNKNOWN, style::dim()),
    }
}

fn status_mark(m: &Message) -> Option<Span<'static>> {
    if m.sender == Sender::User {
        return None;
    }
    Some(match m.status {
        Status::Pending => Span::styled(" …", style::dim()),
        Status::Sent => Span::raw(" ✓"),
        Status::Delivered => Span::raw(" ✓✓"),
        Status::Read => Span::styled(" ✓✓ read", style::read()),
        Status::Failed => Span::styled(" ✗", style::error()),
        Status::Received | Status::Unknown => return None,
    })
}

/// One message: prefix on the first line, the text wrapped under itself, the mark at the end.
fn message_lines(
    time: &str,
    sender: Sender,
    text: &str,
    mark: Option<Span<'static>>,
    width: usize,
    out: &mut Vec<Line<'static>>,
) {
    let (label, label_style) = sender_label(sender);
    let text_w = width.saturating_sub(PREFIX).max(8);
    let mark_w = mark.as_ref().map_or(0, |m| width_of(&m.content));
    let mut pieces = wrap(text, text_w);
    // Room for the mark on the last line, else it gets its own.
    if mark_w > 0 && pieces.last().is_some_and(|l| width_of(l) + mark_w > text_w) {
        pieces.push(String::new());
    }
    let last = pieces.len().saturating_sub(1);
    for (i, piece) in pieces.into_iter().enumerate() {
        let mut spans = if i == 0 {
            vec![
                Span::styled(format!("{time:<5} "), style::dim()),
                Span::styled(format!("{label:<5} "), label_style),
            ]
        } else {
            vec![Span::raw(" ".repeat(PREFIX))]
        };
        let text_style = if sender == Sender::Bot {
            style::bot()
        } else {
            style::base()
        };
        spans.push(Span::styled(piece, text_style));
        if i == last {
            if let Some(m) = &mark {
                spans.push(m.clone());
            }
        }
        out.push(Line::from(spans));
    }
}

fn note(text: String, st: ratatui::style::Style, width: usize) -> Vec<Line<'static>> {
    wrap(&text, width.saturating_sub(PREFIX).max(8))
        .into_iter()
        .map(|l| Line::from(vec![Span::raw(" ".repeat(PREFIX)), Span::styled(l, st)]))
        .collect()
}

/// A private note: who wrote it, then its text, all in the note colour. An activity line:
/// "· ada claimed the chat", in its own colour, wrapped under itself.
fn note_lines(app: &App, n: &Note, width: usize, out: &mut Vec<Line<'static>>) {
    let time = n.at.map(|t| clock(app, t)).unwrap_or_default();
    if n.activity {
        let text = format!("· {}", clean(&n.text));
        for (k, l) in wrap(&text, width.saturating_sub(6).max(8))
            .into_iter()
            .enumerate()
        {
            let lead = if k == 0 {
                format!("{time:<5} ")
            } else {
                " ".repeat(6)
            };
            out.push(Line::from(vec![
                Span::styled(lead, style::dim()),
                Span::styled(l, style::activity()),
            ]));
        }
        return;
    }
    out.push(Line::from(vec![
        Span::styled(format!("{time:<5} "), style::dim()),
        Span::styled(strings::note_by(&clean(&n.agent_name)), style::note_head()),
    ]));
    out.extend(note(n.text.clone(), style::note(), width));
}

/// Every line of the open thread, oldest first (a frame draws only [`last_lines`]).
#[cfg(test)]
pub(crate) fn lines(app: &App, width: usize) -> Vec<Line<'static>> {
    last_lines(app, width, usize::MAX)
}

/// The open thread's last `need` lines or more, oldest first — all of them when the thread
/// has fewer; a hint when nothing is open or loaded yet.
pub(crate) fn last_lines(app: &App, width: usize, need: usize) -> Vec<Line<'static>> {
    let Some(address) = &app.open else {
        return vec![Line::from(Span::styled(strings::PICK_A_CHAT, style::dim()))];
    };
    let empty = Thread::default();
    let t = app.threads.get(address).unwrap_or(&empty);
    if !t.loaded {
        return vec![match &t.error {
            Some(e) => Line::from(Span::styled(strings::load_error(e), style::error())),
            None => Line::from(Span::styled(strings::LOADING, style::dim())),
        }];
    }
    build(app, t, width, need, None).lines
}

/// A loaded thread's lines as one frame builds them.
struct Built {
    /// The last lines, oldest first.
    lines: Vec<Line<'static>>,
    /// How many of them belong to messages newer than the `newer_than` id asked about.
    newer: usize,
    /// Every line of the thread is there.
    complete: bool,
}

/// `t`'s last `need` lines or more (plus those of messages newer than `newer_than`), built from
/// the newest message back, so a frame costs what it shows, not the length of the history (a
/// 5,000-message thread: docs/benchmarks.md).
fn build(app: &App, t: &Thread, width: usize, need: usize, newer_than: Option<i64>) -> Built {
    // Newest first: blocks of lines, each in reading order, reversed at the end.
    let mut blocks: Vec<Vec<Line<'static>>> = Vec::new();
    let mut count = 0;
    let mut newer = 0;
    // Private notes and the agent's unconfirmed (or refused) messages go among the messages
    // by time: item k comes just before message `slots[k]` (or after the last message when it
    // is `messages.len()`). A send refused during an outage stays above what came after it.
    let mut pending: Vec<&Outgoing> = t.outgoing.iter().collect();
    pending.sort_by_key(|o| o.at);
    let out_slots = slots(pending.iter().map(|o| Some(o.at)), &t.messages);
    let note_slots = slots(t.notes.iter().map(|n| n.at), &t.messages);
    let mut oi = pending.len();
    let mut ni = t.notes.len();
    let mut i = t.messages.len();
    loop {
        // What sits before message `i`, newest first; at a tie the agent's own message is
        // the newer (it was just written).
        loop {
            let out = oi
                .checked_sub(1)
                .filter(|k| out_slots.get(*k) == Some(&i))
                .and_then(|k| pending.get(k));
            let note_here = ni
                .checked_sub(1)
                .filter(|k| note_slots.get(*k) == Some(&i))
                .and_then(|k| t.notes.get(k));
            let mut block = Vec::new();
            match (out, note_here) {
                (None, None) => break,
                (Some(o), Some(n)) if n.at.is_none_or(|at| at <= o.at) => {
                    oi -= 1;
                    outgoing_lines(app, o, width, &mut block);
                }
                (Some(o), None) => {
                    oi -= 1;
                    outgoing_lines(app, o, width, &mut block);
                }
                (_, Some(n)) => {
                    ni -= 1;
                    note_lines(app, n, width, &mut block);
                }
            }
            count += block.len();
            blocks.push(block);
        }
        if i == 0 || count >= need.saturating_add(newer) {
            break;
        }
        i -= 1;
        let block = message_block(app, &t.messages, i, width);
        if newer_than.is_some_and(|id| t.messages.get(i).is_some_and(|m| m.id > id)) {
            newer += block.len();
        }
        count += block.len();
        blocks.push(block);
    }
    if i == 0 {
        blocks.push(head(t, width));
    }
    Built {
        lines: blocks.into_iter().rev().flatten().collect(),
        newer,
        complete: i == 0,
    }
}

/// For each item (notes, unconfirmed messages; `times` in time order), the index of the
/// message it is shown before: the first message written after it; `messages.len()` when none
/// is (or it has no time).
fn slots(times: impl Iterator<Item = Option<Time>>, messages: &[Message]) -> Vec<usize> {
    let times: Vec<Option<Time>> = times.collect();
    let mut slots = Vec::with_capacity(times.len());
    for (i, m) in messages.iter().enumerate() {
        while slots.len() < times.len()
            && matches!((times[slots.len()], m.at), (Some(a), Some(b)) if a < b)
        {
            slots.push(i);
        }
    }
    slots.resize(times.len(), messages.len());
    slots
}

/// One of the agent's messages the server has not confirmed: "sending…", or ✗ with the reason.
fn outgoing_lines(app: &App, o: &Outgoing, width: usize, out: &mut Vec<Line<'static>>) {
    let time = clock(app, o.at);
    let mark = match &o.error {
        None => Span::styled(format!(" {}", strings::SENDING), style::dim()),
        Some(_) => Span::styled(" ✗", style::error()),
    };
    message_lines(&time, Sender::Agent, &o.text, Some(mark), width, out);
    if let Some(e) = &o.error {
        out.extend(note(
            strings::not_sent_inline(&clean(e)),
            style::error(),
            width,
        ));
    }
}

/// The lines above the first message: older history to load, or its start.
fn head(t: &Thread, width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    if t.loading {
        out.push(Line::from(Span::styled(strings::LOADING_OLDER, style::dim())).centered());
    } else if let Some(e) = &t.error {
        out.push(Line::from(Span::styled(
            strings::load_error(e),
            style::error(),
        )));
    } else if t.next_before != 0 {
        out.push(Line::from(Span::styled(strings::OLDER_HINT, style::dim())).centered());
    } else if !t.messages.is_empty() {
        out.push(divider(strings::START_OF_HISTORY, width));
    }
    if t.messages.is_empty() && t.outgoing.is_empty() {
        out.push(Line::from(Span::styled(strings::NO_MESSAGES, style::dim())));
    }
    out
}

/// Message `i` with the dividers before it: a new day (against the last dated message
/// before it) and a chat session boundary (the first message of a session, or leaving one).
fn message_block(app: &App, messages: &[Message], i: usize, width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let Some(m) = messages.get(i) else {
        return out;
    };
    let tz = app.settings.utc_offset;
    if let Some(at) = m.at {
        let d = at.with_timezone(&tz).date_naive();
        let day: Option<NaiveDate> = messages[..i]
            .iter()
            .rev()
            .find_map(|p| p.at)
            .map(|p| p.with_timezone(&tz).date_naive());
        if day != Some(d) {
            out.push(divider(&date(app, at), width));
        }
    }
    let session = i
        .checked_sub(1)
        .and_then(|p| messages.get(p))
        .map(|p| p.session_id);
    if session != Some(m.session_id) && (m.session_id != 0 || session.is_some()) {
        out.push(divider(&strings::session_divider(m.session_id), width));
    }
    let time = m.at.map(|t| clock(app, t)).unwrap_or_default();
    let text = super::shown_text(m.sender, &m.text);
    let mut mark = status_mark(m);
    if !m.agent_name.is_empty() {
        // Who of the agents sent it.
        let (shown, st) = mark.map_or((String::new(), style::dim()), |s| {
            (s.content.to_string(), s.style)
        });
        mark = Some(Span::styled(
            format!("{shown} · {}", clean(&m.agent_name)),
            st,
        ));
    }
    message_lines(&time, m.sender, text, mark, width, &mut out);
    if m.status == Status::Failed {
        out.extend(note(
            strings::failed_inline(m.error_code, &clean(&m.error_message)),
            style::error(),
            width,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{last_lines, lines};
    use crate::app::tests::{app, at, chat, msg, snapshot};
    use crate::app::{Msg, NetEvent};
    use crate::model::{Note, Sender, ThreadPage};

    #[test]
    fn a_frame_built_from_the_newest_message_back_matches_the_whole_thread() {
        let mut app = app();
        snapshot(&mut app, 1, vec![chat("2348011111111", "Ada", Some(-1))]);
        // Three days, two sessions, long wrapped texts and a message without a time.
        let mut messages = Vec::new();
        for i in 0..60i64 {
            let sender = if i % 3 == 0 {
                Sender::Agent
            } else {
                Sender::User
            };
            let text = if i % 5 == 0 {
                "a long message that has to wrap over more than one line of the pane ".repeat(3)
            } else {
                format!("m{i}")
            };
            let mut m = msg(i + 1, sender, &text, -3 * 24 * 60 + i * 70);
            m.session_id = if i < 25 { 0 } else { 7 };
            if i == 40 {
                m.at = None;
            }
            messages.push(m);
        }
        // Notes before the first message, two between the same messages, after the last one,
        // and one without a time (shown at the end).
        let note = |id: i64, minute: Option<i64>| Note {
            id,
            text: format!("note {id}"),
            agent_name: "bola".into(),
            at: minute.map(at),
            activity: false,
        };
        let notes = vec![
            note(1, Some(-5 * 24 * 60)),
            note(2, Some(-3 * 24 * 60 + 10 * 70 + 1)),
            note(3, Some(-3 * 24 * 60 + 10 * 70 + 2)),
            note(4, Some(0)),
            note(5, None),
        ];
        let summary = app.summary("2348011111111").cloned();
        app.update(Msg::Net(NetEvent::Thread {
            address: "2348011111111".into(),
            before: 0,
            result: Ok(ThreadPage {
                summary,
                messages,
                next_before: 0,
                notes,
                csat: None,
            }),
        }));
        let full = lines(&app, 70);
        let text = |l: &ratatui::text::Line<'_>| l.to_string();
        let all: Vec<String> = full.iter().map(text).collect();
        let pos = |needle: &str| {
            all.iter()
                .position(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("{needle:?} not in {all:#?}"))
        };
        assert!(pos("note 1") < pos("m1"), "{all:#?}");
        assert!(pos("m9") < pos("note 2") && pos("note 2") < pos("note 3"));
        assert!(pos("note 3") < pos("m11"), "{all:#?}");
        assert!(pos("m59") < pos("note 4") && pos("note 4") < pos("note 5"));
        for need in [0, 1, 5, 23, 100, full.len(), full.len() + 10] {
            let tail = last_lines(&app, 70, need);
            assert!(tail.len() >= need.min(full.len()), "need {need}");
            assert_eq!(tail[..], full[full.len() - tail.len()..], "need {need}");
        }
    }
}
