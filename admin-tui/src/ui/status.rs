//! The header (tabs and the count of waiting chats), the disconnected banner and the status bar
//! (connection state, notices, and the key hints for the focused pane).

use ratatui::{layout::Rect, text::Span, widgets::Paragraph, Frame};

use super::{clean, fit, style};
use crate::app::{App, Conn, Failure, Focus, Tab};
use crate::strings;

pub(super) fn header(app: &App, frame: &mut Frame, area: Rect) {
    let tab = |n: &str, label: &str, on: bool| {
        Span::styled(
            format!(" {n} {label} "),
            if on {
                style::tab_active()
            } else {
                style::base()
            },
        )
    };
    let waiting = app.waiting_count();
    let mut me = Vec::new();
    if let Some(a) = &app.desk.me {
        me.push(Span::styled(clean(&a.name), style::bold()));
        if a.available {
            me.push(Span::styled(
                format!(" {}", strings::AVAILABLE),
                style::ok(),
            ));
        }
        me.push(Span::raw(" · "));
    }
    let tabs = [
        tab("1", strings::HDR_ACTIVE, app.tab == Tab::Active),
        Span::raw(" "),
        tab("2", strings::HDR_ALL, app.tab == Tab::All),
        Span::raw(" "),
        tab("3", strings::TAB_MINE, app.tab == Tab::Mine),
        Span::raw(" "),
        tab("4", strings::TAB_UNASSIGNED, app.tab == Tab::Unassigned),
    ];
    // The waiting alarm: "oldest waiting 6m", shortened to "oldest 6m" (0: left out) when tight.
    let counts = |with_active: bool, oldest_form: u8| {
        let text = if with_active {
            strings::waiting_count(waiting, app.chats.len())
        } else {
            strings::waiting_only(waiting)
        };
        let st = if waiting > 0 {
            style::bold()
        } else {
            style::dim()
        };
        let mut spans = vec![Span::styled(text, st)];
        if let Some(oldest) = app.oldest_wait().filter(|_| oldest_form > 0) {
            let d = super::short_duration(oldest);
            spans.push(Span::raw(" · "));
            spans.push(Span::styled(
                if oldest_form == 2 {
                    strings::oldest_waiting(&d)
                } else {
                    strings::oldest_short(&d)
                },
                style::alarm(app.alarm(oldest)),
            ));
        }
        spans.push(Span::raw(" "));
        spans
    };
    let w = |spans: &[Span<'static>]| {
        spans
            .iter()
            .map(|s| super::width(&s.content))
            .sum::<usize>()
    };
    // Who this console is stays; on a narrow screen the product name goes first, then the
    // count of active chats, and last the tabs are cut.
    let width = usize::from(area.width);
    let name = vec![
        Span::styled(format!(" {} ", strings::APP_NAME), style::bold()),
        Span::raw(" "),
    ];
    let build = |with_name: bool, with_active: bool, oldest_form: u8| {
        let mut left = if with_name {
            name.clone()
        } else {
            vec![Span::raw(" ")]
        };
        left.extend(tabs.iter().cloned());
        let mut right = me.clone();
        right.extend(counts(with_active, oldest_form));
        (left, right)
    };
    let (left, right) = [
        (true, true, 2),
        (false, true, 2),
        (false, false, 2),
        (false, false, 1),
    ]
    .into_iter()
    .map(|(n, a, o)| build(n, a, o))
    .find(|(l, r)| w(l) + w(r) < width)
    .unwrap_or_else(|| build(false, false, 0));
    frame.render_widget(Paragraph::new(fit(left, right, width)), area);
}

/// Seconds until `app.conn`'s next attempt.
fn retry_secs(app: &App) -> Option<i64> {
    match &app.conn {
        Conn::Down {
            retry_at: Some(retry_at),
            ..
        } => {
            let ms = (*retry_at - app.now).num_milliseconds().max(0);
            Some((ms + 999) / 1000)
        }
        _ => None,
    }
}

/// What is wrong with the connection, in words, and its cause.
fn problem(app: &App) -> Option<(String, String)> {
    let Conn::Down { failure, .. } = &app.conn else {
        return None;
    };
    Some(match failure {
        Failure::NoToken(e) => (strings::NO_TOKEN.to_string(), e.clone()),
        Failure::Unreachable(e) => (strings::unreachable(&app.settings.server), e.clone()),
        Failure::TokenRefused(e) => (strings::TOKEN_REFUSED.to_string(), e.clone()),
        Failure::Revoked(e) => (strings::ACCESS_REVOKED.to_string(), e.clone()),
        Failure::Lost(e) => (strings::CONNECTION_LOST.to_string(), e.clone()),
    })
}

pub(super) fn banner(app: &App, frame: &mut Frame, area: Rect) {
    let Some((what, cause)) = problem(app) else {
        return;
    };
    let retry = retry_secs(app).map_or_else(
        || strings::NOT_RECONNECTING.to_string(),
        strings::reconnecting_in,
    );
    let mut text = format!(" ⚠ {what} · {retry} · {}", strings::DRAFTS_KEPT);
    if !cause.is_empty() {
        text.push_str(&format!(" · {}", clean(&cause)));
    }
    let line = fit(vec![Span::raw(text)], Vec::new(), usize::from(area.width));
    frame.render_widget(Paragraph::new(line).style(style::banner()), area);
}

/// As many of `hints` as fit in `room` columns, then "? help" (the way to all the others).
fn fit_hints(hints: &[&str], room: usize) -> String {
    let mut out = String::new();
    for h in hints {
        let next = format!("{out}{h} · ");
        if super::width(&next) + super::width(strings::HINT_MORE) > room {
            break;
        }
        out = next;
    }
    out.push_str(strings::HINT_MORE);
    out
}

/// The keys that matter for what has the keyboard now.
fn key_hints(app: &App) -> &'static [&'static str] {
    if app.help.is_some() {
        strings::HINT_HELP
    } else if app.dialog.is_some() {
        strings::HINT_DIALOG
    } else if app.stats.is_some() {
        strings::HINT_STATS
    } else if app.filter.editing {
        strings::HINT_FILTER
    } else {
        match app.focus {
            Focus::List => strings::HINT_LIST,
            Focus::Thread => strings::HINT_THREAD,
            Focus::Compose => strings::HINT_COMPOSE,
        }
    }
}

pub(super) fn status_bar(app: &App, frame: &mut Frame, area: Rect) {
    let conn = match &app.conn {
        Conn::Connecting => Span::styled(
            format!(" ◌ {}", strings::connecting(&app.settings.server)),
            style::dim(),
        ),
        Conn::Connected => Span::styled(format!(" ● {}", strings::CONNECTED), style::ok()),
        Conn::Down { failure, .. } => {
            let what = match failure {
                Failure::NoToken(_) => "no token",
                Failure::TokenRefused(_) => "token refused",
                Failure::Revoked(_) => "access revoked",
                Failure::Unreachable(_) => "daemon unreachable",
                Failure::Lost(_) => "disconnected",
            };
            let retry = retry_secs(app).map_or_else(
                || strings::NOT_RECONNECTING.to_string(),
                strings::reconnecting_in,
            );
            Span::styled(format!(" ○ {what} · {retry}"), style::error())
        }
    };
    let mut left = vec![conn];
    if let Some(n) = app.notice.as_ref().filter(|n| n.until > app.now) {
        left.push(Span::raw(" │ "));
        left.push(Span::styled(
            clean(&n.text),
            if n.error {
                style::error()
            } else {
                style::bold()
            },
        ));
    }
    // The hints take the room the connection state and a notice leave (a notice first).
    let used: usize = left.iter().map(|s| super::width(&s.content)).sum();
    let room = usize::from(area.width).saturating_sub(used + 2);
    let mut hint = fit_hints(key_hints(app), room);
    if app.help.is_some() {
        // The help is open: no need to point at it.
        hint = hint
            .trim_end_matches(strings::HINT_MORE)
            .trim_end_matches(" · ")
            .to_string();
    }
    let right = vec![Span::styled(hint, style::dim()), Span::raw(" ")];
    frame.render_widget(
        Paragraph::new(fit(left, right, usize::from(area.width))),
        area,
    );
}
