//! The progress line on a terminal: how many scenarios finished and which are running,
//! redrawn in place on stderr. It is drawn only when stderr is a terminal; elsewhere the
//! output is plain lines.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

/// The state behind the progress line.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    running: Mutex<BTreeSet<String>>,
}

/// Erases the current terminal line.
const CLEAR_LINE: &str = "\r\x1b[2K";

impl Progress {
    /// Creates a progress line, enabled when stderr is a terminal.
    pub fn new() -> Self {
        Self {
            enabled: std::io::stderr().is_terminal(),
            running: Mutex::new(BTreeSet::new()),
        }
    }

    fn draw(&self, finished: usize, total: usize) {
        if !self.enabled {
            return;
        }
        let running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let names: Vec<&str> = running.iter().map(String::as_str).collect();
        let mut line = format!("[{finished}/{total}] running: {}", names.join(", "));
        if line.chars().count() > 100 {
            line = line.chars().take(97).collect::<String>() + "...";
        }
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "{CLEAR_LINE}{line}");
        let _ = stderr.flush();
    }

    /// Clears the line, so that other output starts on a clean line.
    pub fn clear(&self) {
        if self.enabled {
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "{CLEAR_LINE}");
            let _ = stderr.flush();
        }
    }

    /// Records that `name` started.
    pub fn started(&self, name: &str, finished: usize, total: usize) {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.to_owned());
        self.draw(finished, total);
    }

    /// Records that `name` finished; `print` writes its report between clearing and redrawing.
    pub fn finished(&self, name: &str, finished: usize, total: usize, print: impl FnOnce()) {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(name);
        self.clear();
        print();
        if finished < total {
            self.draw(finished, total);
        }
    }
}
