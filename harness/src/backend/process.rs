//! Child processes that backends run for a probe, such as curl: run to completion with a
//! time limit, and killed and reaped when the probe is cancelled.
//!
//! tokio kills a dropped child with `kill_on_drop` but reaps it only on a later SIGCHLD, so
//! a child killed just before meshcheck exits would be left as a zombie for init. A cancelled
//! child is therefore kept in [`KILLED`] until [`reap_killed`] waits for it.

use std::process::{ExitStatus, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// Children whose probe was cancelled: killed, and not yet reaped.
static KILLED: Mutex<Vec<Child>> = Mutex::new(Vec::new());

/// A running child, killed and handed to [`KILLED`] if dropped before it exits.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        let Some(mut child) = self.0.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(None)) {
            if let Err(error) = child.start_kill() {
                tracing::warn!(%error, pid = ?child.id(), "cannot kill a cancelled command");
            }
            KILLED
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(child);
        }
    }
}

/// The output and exit status of a finished child.
#[derive(Debug)]
pub struct Finished {
    /// The exit status.
    pub status: ExitStatus,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
}

/// The reason a child did not finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The program could not be started.
    #[error("cannot start it: {0}")]
    Spawn(std::io::Error),
    /// The child ran past the time limit and was killed.
    #[error("did not finish within {0:?}; it was killed")]
    TimedOut(Duration),
    /// Reading the child's output or status failed.
    #[error("cannot read its output: {0}")]
    Output(std::io::Error),
}

async fn read_all(pipe: Option<impl AsyncRead + Unpin>) -> std::io::Result<Vec<u8>> {
    let mut buffer = Vec::new();
    if let Some(mut pipe) = pipe {
        pipe.read_to_end(&mut buffer).await?;
    }
    Ok(buffer)
}

/// Runs `command` with `stdin` as its standard input (or none), collecting its output, and
/// kills it after `timeout`. A child cancelled by dropping the returned future is killed and
/// later reaped by [`reap_killed`].
pub async fn run(
    mut command: Command,
    stdin: Option<&str>,
    timeout: Duration,
) -> Result<Finished, RunError> {
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group keeps a terminal's Ctrl-C (sent to the foreground group)
        // from killing the child before meshcheck stops the probe and reports it skipped.
        // NOTE: a process that dies without handling the signal (SIGKILL, or Ctrl-C in a
        // `cargo test` run) leaves the child to exit by itself once the mesh's sockets close.
        .process_group(0);
    let mut child = command.spawn().map_err(RunError::Spawn)?;
    if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
        let text = text.to_owned();
        // Written on its own task, so a command that does not read its input cannot block
        // the output being collected. The pipe closes when the text is written.
        tokio::spawn(async move {
            let _ = input.write_all(text.as_bytes()).await;
        });
    }
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let mut running = Running(Some(child));
    let Some(child) = running.0.as_mut() else {
        unreachable!("the child was just stored");
    };
    let finish = async { tokio::try_join!(child.wait(), read_all(stdout), read_all(stderr)) };
    let (status, stdout, stderr) = tokio::time::timeout(timeout, finish)
        .await
        .map_err(|_| RunError::TimedOut(timeout))?
        .map_err(RunError::Output)?;
    // The child has exited and been waited for, so dropping `running` does nothing.
    Ok(Finished {
        status,
        stdout,
        stderr,
    })
}

/// Waits up to `timeout` for the children of cancelled probes to exit and reaps them,
/// returning how many are still running.
pub async fn reap_killed(timeout: Duration) -> usize {
    let deadline = Instant::now() + timeout;
    loop {
        let remaining = {
            let mut killed = KILLED.lock().unwrap_or_else(PoisonError::into_inner);
            killed.retain_mut(|child| matches!(child.try_wait(), Ok(None)));
            killed.len()
        };
        if remaining == 0 || Instant::now() >= deadline {
            if remaining > 0 {
                tracing::warn!(remaining, "killed commands did not exit in time");
            }
            return remaining;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn output_and_status_are_collected() {
        let mut command = Command::new("sh");
        command.args(["-c", "cat; echo err >&2; exit 3"]);
        let finished = run(command, Some("in"), Duration::from_secs(10))
            .await
            .expect("sh runs");
        assert_eq!(finished.status.code(), Some(3));
        assert_eq!(finished.stdout, b"in");
        assert_eq!(finished.stderr, b"err\n");
    }

    /// Returns the process group field of a `/proc/PID/stat` line.
    fn process_group_of(stat: &str) -> String {
        // The command name in brackets may contain spaces; the fields after it do not.
        let after_name = stat.rsplit_once(')').map_or(stat, |(_, rest)| rest);
        after_name
            .split_whitespace()
            .nth(2)
            .unwrap_or_default()
            .to_owned()
    }

    #[tokio::test]
    async fn child_runs_in_its_own_process_group() {
        let mut command = Command::new("cat");
        command.arg("/proc/self/stat");
        let finished = run(command, None, Duration::from_secs(10))
            .await
            .expect("cat runs");
        let child = process_group_of(&String::from_utf8_lossy(&finished.stdout));
        let own = process_group_of(&std::fs::read_to_string("/proc/self/stat").expect("stat"));
        assert!(!child.is_empty(), "no process group in the child's stat");
        assert_ne!(child, own, "the child shares meshcheck's process group");
    }

    #[tokio::test]
    async fn timed_out_child_is_killed() {
        let mut command = Command::new("sleep");
        command.arg("30");
        let started = Instant::now();
        let error = run(command, None, Duration::from_millis(100))
            .await
            .expect_err("sleep outlives the limit");
        assert!(matches!(error, RunError::TimedOut(_)), "{error}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(reap_killed(Duration::from_secs(5)).await, 0);
    }

    #[tokio::test]
    async fn cancelled_child_is_reaped() {
        let pid_file = std::env::temp_dir().join(format!("meshcheck-reap-{}", std::process::id()));
        let mut command = Command::new("sh");
        command.args([
            "-c",
            &format!("echo $$ > {}; exec sleep 30", pid_file.display()),
        ]);
        let probe = tokio::spawn(run(command, None, Duration::from_secs(60)));
        let started = Instant::now();
        let pid = loop {
            match std::fs::read_to_string(&pid_file) {
                Ok(text) if text.ends_with('\n') => break text.trim().to_owned(),
                _ if started.elapsed() > Duration::from_secs(10) => panic!("sh never started"),
                _ => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        };
        std::fs::remove_file(&pid_file).ok();
        probe.abort();
        assert!(probe.await.is_err_and(|error| error.is_cancelled()));
        assert_eq!(reap_killed(Duration::from_secs(5)).await, 0);
        let proc_entry = std::path::Path::new("/proc").join(&pid);
        assert!(
            !proc_entry.exists(),
            "process {pid} is still there, running or as a zombie"
        );
    }
}
