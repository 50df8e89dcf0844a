//! A result longer than the screen goes to a pager, as in psql: output is held until it
//! passes the screen's height, then `$PAGER` (default `less -FRX`; empty: none) is started
//! and everything goes to it. Off when standard output is not a terminal.

use std::io::{IsTerminal, Write};
use std::process::{Child, Command, Stdio};

pub struct Paged {
    held: Vec<u8>,
    lines: usize,
    /// Lines that fit on the screen; `None`: never page.
    screen: Option<usize>,
    pager: Option<Child>,
}

impl Paged {
    pub fn new() -> Self {
        let screen = std::io::stdout()
            .is_terminal()
            .then(screen_rows)
            .flatten()
            .filter(|_| pager_command().is_some());
        Self {
            held: Vec::new(),
            lines: 0,
            screen,
            pager: None,
        }
    }

    /// Shows what is held (if it never went to the pager) and waits for the pager to quit.
    pub fn finish(mut self) -> std::io::Result<()> {
        match self.pager.take() {
            Some(mut pager) => {
                drop(pager.stdin.take());
                pager.wait().map(drop)
            }
            None => {
                let mut out = std::io::stdout().lock();
                out.write_all(&self.held)?;
                out.flush()
            }
        }
    }

    /// Drops what is held and stops the pager (a cancelled query shows nothing half-done).
    pub fn abandon(mut self) {
        if let Some(mut pager) = self.pager.take() {
            drop(pager.stdin.take());
            let _ = pager.kill();
            let _ = pager.wait();
        }
    }

    fn start_pager(&mut self) -> std::io::Result<()> {
        let command = pager_command().unwrap_or_default();
        let spawned = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .stdin(Stdio::piped())
            .spawn();
        match spawned {
            Ok(mut pager) => {
                let stdin = pager.stdin.as_mut().expect("piped");
                // A pager quit early (q) is not an error: the rest is not wanted.
                let _ = stdin.write_all(&self.held);
                self.held.clear();
                self.pager = Some(pager);
            }
            Err(e) => {
                eprintln!(
                    "warning: cannot start the pager `{command}` ({e}); set PAGER= to turn it off"
                );
                self.screen = None;
            }
        }
        Ok(())
    }
}

impl Write for Paged {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Some(pager) = &mut self.pager {
            let _ = pager.stdin.as_mut().expect("piped").write_all(bytes);
            return Ok(bytes.len());
        }
        if self.screen.is_none() {
            return std::io::stdout()
                .lock()
                .write_all(bytes)
                .map(|()| bytes.len());
        }
        self.held.extend_from_slice(bytes);
        self.lines += bytes.iter().filter(|&&b| b == b'\n').count();
        if self.screen.is_some_and(|rows| self.lines >= rows) {
            self.start_pager()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.screen.is_none() && self.pager.is_none() {
            std::io::stdout().flush()?;
        }
        Ok(())
    }
}

/// `$PAGER`, or `less -FRX` when it is not set; `None` when set empty.
fn pager_command() -> Option<String> {
    match std::env::var("PAGER") {
        Ok(command) if command.trim().is_empty() => None,
        Ok(command) => Some(command),
        Err(_) => Some("less -FRX".into()),
    }
}

/// The terminal's height, less the prompt's own line.
fn screen_rows() -> Option<usize> {
    // SAFETY: winsize is plain integers, for which all zeroes is a valid value.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ fills the winsize it is given and touches nothing else.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_row > 1).then(|| usize::from(size.ws_row) - 1)
}
