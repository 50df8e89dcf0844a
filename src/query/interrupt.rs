//! Ctrl-C while a statement runs. The prompt cannot wait on tokio's signal stream: that is
//! read by the runtime's I/O driver, which no worker polls while DataFusion keeps both cores
//! busy. So a plain SIGINT handler writes a byte to a pipe (the only thing a handler may
//! safely do), and a thread reading the pipe wakes whoever waits on [`Interrupts::next`].

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

static PIPE_WRITE_END: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sigint(_signal: libc::c_int) {
    let fd = PIPE_WRITE_END.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; a full pipe just drops the byte.
        unsafe { libc::write(fd, b"!".as_ptr().cast(), 1) };
    }
}

pub struct Interrupts {
    notify: Arc<Notify>,
}

impl Interrupts {
    /// From here on SIGINT no longer ends the process: it wakes [`Self::next`].
    pub fn install() -> std::io::Result<Self> {
        let mut fds = [0; 2];
        // SAFETY: pipe(2) fills the two descriptors it is given.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let [read_end, write_end] = fds;
        PIPE_WRITE_END.store(write_end, Ordering::Relaxed);
        let notify = Arc::new(Notify::new());
        let waiters = notify.clone();
        std::thread::Builder::new()
            .name("sigint".into())
            .spawn(move || {
                let mut byte = [0u8; 16];
                loop {
                    // SAFETY: reads into a buffer of the given length.
                    let n = unsafe { libc::read(read_end, byte.as_mut_ptr().cast(), byte.len()) };
                    if n > 0 {
                        // Only statements waiting now are cancelled: no stale Ctrl-C is kept.
                        waiters.notify_waiters();
                    } else if n < 0
                        && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                    {
                        continue;
                    } else {
                        break;
                    }
                }
            })?;
        // SAFETY: the handler only loads an atomic and calls write(2).
        let handler = on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t;
        unsafe { libc::signal(libc::SIGINT, handler) };
        Ok(Self { notify })
    }

    /// Resolves at the next Ctrl-C.
    pub async fn next(&self) {
        self.notify.notified().await
    }
}
