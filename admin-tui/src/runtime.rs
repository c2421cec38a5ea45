//! The event loop: terminal events, a one-second tick, network answers and termination signals
//! merged with `select!`; each becomes a `Msg` for `App::update`, whose `Cmd`s go to the network
//! task or the terminal. Draw, wait, update, repeat.

use std::{io, time::Duration};

use anyhow::Context;
use chrono::{Offset, Utc};
use crossterm::event::{Event, EventStream};
use ratatui::{backend::Backend, Terminal};
use tokio::sync::mpsc;
use tokio_stream::{Stream, StreamExt};

use crate::app::{App, Cmd, Msg, NetCmd, Settings};
use crate::cli::Args;
use crate::{input, net, terminal, ui};

/// At most this many queued network messages are applied between two frames.
const BATCH: usize = 512;

/// Side effects outside the screen buffer (the bell, the window title).
pub(crate) trait Outside {
    fn bell(&mut self);
    fn title(&mut self, title: &str);
}

struct RealTerminal;

impl Outside for RealTerminal {
    fn bell(&mut self) {
        terminal::bell();
    }
    fn title(&mut self, title: &str) {
        terminal::set_title(title);
    }
}

fn init_logging(path: &std::path::Path) -> anyhow::Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening the log file {}", path.display()))?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init()
        .map_err(|e| anyhow::anyhow!("setting up the log: {e}"))
}

/// Sets everything up, runs the loop, restores the terminal.
pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    if let Some(path) = &args.log {
        init_logging(path)?;
    }
    let cfg = args.net_config();
    let channel = cfg.channel_lazy()?;
    let (msg_tx, msg_rx) = mpsc::unbounded_channel();
    let server = cfg.url();
    let net_tx = net::spawn(channel, cfg, msg_tx);
    let settings = Settings {
        server: server.clone(),
        bell: args.bell,
        nonce: format!("{:016x}", rand::random::<u64>()),
        utc_offset: chrono::Local::now().offset().fix(),
        alarms: args.alarms(),
    };
    terminal::install_panic_hook();
    let (guard, mut term) = terminal::enter().context("setting up the terminal")?;
    let size = term.size().map(|s| (s.width, s.height)).unwrap_or((80, 24));
    let app = App::new(settings, Utc::now(), size);
    tracing::info!(server = %server, "started");
    let result = event_loop(
        &mut term,
        app,
        EventStream::new(),
        msg_rx,
        &net_tx,
        &mut RealTerminal,
    )
    .await;
    drop(guard);
    tracing::info!("stopped");
    result
}

/// Resolves when the process is asked to stop (SIGTERM, SIGHUP); never elsewhere.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) {
            (Ok(mut term), Ok(mut hup)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = hup.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    std::future::pending::<()>().await;
}

/// One terminal event through `update`. An unbound Alt+key is Esc and the key arriving
/// together (a fast typist, a slow link): both are applied, the key in the state Esc left.
fn on_terminal_event(app: &mut App, e: Event) -> Vec<Cmd> {
    if let Event::Key(k) = e {
        if input::map_key(app, k).is_none() {
            if let Some((esc, plain)) = input::split_alt(k) {
                let mut cmds = input::map_key(app, esc).map_or_else(Vec::new, |m| app.update(m));
                if let Some(m) = input::map_key(app, plain) {
                    cmds.extend(app.update(m));
                }
                return cmds;
            }
        }
    }
    input::map_event(app, e).map_or_else(Vec::new, |m| app.update(m))
}

/// The loop itself, generic over the backend and the event source.
pub(crate) async fn event_loop<B, S>(
    terminal: &mut Terminal<B>,
    mut app: App,
    mut events: S,
    mut net_rx: mpsc::UnboundedReceiver<Msg>,
    net_tx: &mpsc::UnboundedSender<NetCmd>,
    outside: &mut dyn Outside,
) -> anyhow::Result<()>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    S: Stream<Item = io::Result<Event>> + Unpin,
{
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let stop = stop_signal();
    tokio::pin!(stop);
    let mut cmds = app.start();
    let mut title = String::new();
    loop {
        for cmd in cmds.drain(..) {
            match cmd {
                Cmd::Quit => return Ok(()),
                Cmd::Net(c) => {
                    if net_tx.send(c).is_err() {
                        anyhow::bail!("the network task stopped");
                    }
                }
                Cmd::Bell => outside.bell(),
                Cmd::Redraw => terminal.clear()?,
            }
        }
        let t = ui::window_title(&app);
        if t != title {
            outside.title(&t);
            title = t;
        }
        terminal.draw(|f| ui::render(&app, f))?;
        let msg = tokio::select! {
            e = events.next() => match e {
                Some(Ok(e)) => {
                    cmds = on_terminal_event(&mut app, e);
                    None
                }
                Some(Err(e)) => return Err(e).context("reading the terminal"),
                None => return Ok(()),
            },
            m = net_rx.recv() => match m {
                Some(m) => Some(m),
                None => anyhow::bail!("the network task stopped"),
            },
            _ = tick.tick() => Some(Msg::Tick(Utc::now())),
            () = &mut stop => return Ok(()),
        };
        if let Some(m) = msg {
            cmds = app.update(m);
        }
        // Apply what else is queued before drawing again (a burst of events: one frame).
        for _ in 0..BATCH {
            match net_rx.try_recv() {
                Ok(m) => cmds.extend(app.update(m)),
                Err(_) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::app::tests::{settings, t0};

    #[derive(Default)]
    struct Recorder {
        bells: usize,
        titles: Vec<String>,
    }

    impl Outside for Recorder {
        fn bell(&mut self) {
            self.bells += 1;
        }
        fn title(&mut self, title: &str) {
            self.titles.push(title.to_string());
        }
    }

    #[tokio::test]
    async fn the_loop_subscribes_draws_and_quits_on_q() {
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let app = App::new(settings(), t0(), (80, 24));
        let (_msg_tx, msg_rx) = mpsc::unbounded_channel();
        let (net_tx, mut net_rx) = mpsc::unbounded_channel();
        let keys = tokio_stream::iter(vec![Ok(Event::Key(KeyEvent::new(
            KeyCode::Char('q'),
            KeyModifiers::NONE,
        )))]);
        let mut outside = Recorder::default();
        event_loop(&mut terminal, app, keys, msg_rx, &net_tx, &mut outside)
            .await
            .unwrap();
        assert!(matches!(
            net_rx.try_recv(),
            Ok(NetCmd::Watch {
                gen: 1,
                after_sequence: 0,
                ..
            })
        ));
        assert_eq!(outside.titles, ["chat-support"]);
        let screen = format!("{:?}", terminal.backend().buffer());
        assert!(screen.contains("chat-support"), "{screen}");
    }

    #[test]
    fn esc_and_a_key_arriving_together_are_both_applied() {
        use crate::app::tests::{app, chat, snapshot};
        use crate::app::{Action, Dialog, Focus};
        let mut app = app();
        snapshot(&mut app, 1, vec![chat("1", "Ada", Some(-5))]);
        app.update(Msg::Action(Action::Compose));
        // ESC e in one read: crossterm reports Alt+e.
        on_terminal_event(
            &mut app,
            Event::Key(KeyEvent::new(KeyCode::Char('e'), KeyModifiers::ALT)),
        );
        assert_eq!(app.focus, Focus::Thread);
        assert!(matches!(app.dialog, Some(Dialog::EndChat { .. })));
    }

    #[tokio::test]
    async fn the_loop_ends_when_the_terminal_closes() {
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let app = App::new(settings(), t0(), (80, 24));
        let (_msg_tx, msg_rx) = mpsc::unbounded_channel();
        let (net_tx, _net_rx) = mpsc::unbounded_channel();
        let none = tokio_stream::iter(Vec::<io::Result<Event>>::new());
        event_loop(
            &mut terminal,
            app,
            none,
            msg_rx,
            &net_tx,
            &mut Recorder::default(),
        )
        .await
        .unwrap();
    }
}
