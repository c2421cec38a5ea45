//! Whether the daemon can still serve: a listener that stopped (its task failed or ended while
//! the daemon was not shutting down) turns readiness red and ends the process non-zero, so a
//! supervisor restarts it instead of leaving a daemon that looks alive but cannot serve.

use tokio::sync::watch;

/// The first failure of a part that must never stop.
#[derive(Debug)]
pub struct Health {
    failed: watch::Sender<Option<String>>,
}

impl Default for Health {
    fn default() -> Health {
        Health {
            failed: watch::channel(None).0,
        }
    }
}

impl Health {
    /// Records `why` (the first failure wins).
    pub fn fail(&self, why: String) {
        tracing::error!("{why}");
        self.failed.send_if_modified(|f| {
            if f.is_none() {
                *f = Some(why);
                true
            } else {
                false
            }
        });
    }

    /// The failure, if any.
    pub fn failure(&self) -> Option<String> {
        self.failed.borrow().clone()
    }

    /// Waits for a failure and returns it.
    pub async fn failed(&self) -> String {
        let mut rx = self.failed.subscribe();
        loop {
            if let Some(why) = rx.borrow_and_update().clone() {
                return why;
            }
            if rx.changed().await.is_err() {
                return "the health monitor stopped".into();
            }
        }
    }
}
