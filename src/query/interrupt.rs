//! Ctrl-C while a statement runs. The prompt cannot wait on tokio's signal stream: that is
//! read by the runtime's I/O driver, which no worker polls while DataFusion keeps both cores
//! busy. So a thread of its own waits for SIGINT (`signal-hook`, which does the one thing a
//! handler may safely do) and wakes whoever waits on [`Interrupts::next`].

use std::sync::Arc;

use signal_hook::consts::SIGINT;
use signal_hook::iterator::Signals;
use tokio::sync::Notify;

pub struct Interrupts {
    notify: Arc<Notify>,
}

impl Interrupts {
    /// From here on SIGINT no longer ends the process: it wakes [`Self::next`].
    pub fn install() -> std::io::Result<Self> {
        let mut signals = Signals::new([SIGINT])?;
        let notify = Arc::new(Notify::new());
        let waiters = notify.clone();
        std::thread::Builder::new()
            .name("sigint".into())
            .spawn(move || {
                for _ in signals.forever() {
                    // Only statements waiting now are cancelled: no stale Ctrl-C is kept.
                    waiters.notify_waiters();
                }
            })?;
        Ok(Self { notify })
    }

    /// Resolves at the next Ctrl-C.
    pub async fn next(&self) {
        self.notify.notified().await
    }
}
