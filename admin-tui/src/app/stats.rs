//! The stats screen's share of `update` (issue 9): open it (fetching the figures), refresh,
//! close, and take the `GetStats` reply.

use super::{App, StatsScreen, STATS_DAYS};
use crate::app::msg::{Action, Cmd, NetCmd};

impl App {
    /// Opens the stats screen and asks for the figures.
    pub(super) fn open_stats(&mut self) -> Vec<Cmd> {
        self.stats = Some(StatsScreen {
            loading: true,
            ..StatsScreen::default()
        });
        vec![Cmd::Net(NetCmd::Stats { days: STATS_DAYS })]
    }

    /// Keys while the stats screen shows: refresh or close.
    pub(super) fn stats_action(&mut self, a: Action) -> Vec<Cmd> {
        match a {
            Action::ForceQuit => {
                self.stats = None;
                self.quit()
            }
            Action::Refresh => self.open_stats(),
            Action::Help => {
                self.help = Some(0);
                Vec::new()
            }
            Action::Stats | Action::Back | Action::Cancel | Action::Quit | Action::TabActive => {
                self.stats = None;
                Vec::new()
            }
            Action::TabAll => {
                self.stats = None;
                self.on_action(Action::TabAll)
            }
            _ => Vec::new(),
        }
    }

    /// The `GetStats` reply (ignored when the screen was closed meanwhile).
    pub(super) fn on_stats(&mut self, result: Result<crate::model::Stats, String>) -> Vec<Cmd> {
        if let Some(screen) = &mut self.stats {
            screen.loading = false;
            match result {
                Ok(data) => {
                    screen.data = Some(data);
                    screen.error = None;
                }
                Err(e) => screen.error = Some(e),
            }
        }
        Vec::new()
    }
}
