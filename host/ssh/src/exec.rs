//! Running one command on one channel: stdin, capped output, exit status,
//! and the kill on timeout.
//!
//! Killing a remote command is harder than it looks. Closing the channel
//! does not do it: without a terminal, sshd keeps the child running. The
//! SSH `signal` request is refused by OpenSSH for root logins (they run
//! without privilege separation, "session signalling requires privilege
//! separation") and by servers older than 7.9. So the command line is
//! wrapped to report its shell's pid on stderr before `exec`ing the
//! program ([`wrap`]); the pid is also the process group (sshd starts each
//! session with `setsid`), and the pool kills that group from a second
//! channel when it abandons a command. The report is removed from stderr
//! before anyone sees it. The `signal` request is still sent first, for
//! servers that honour it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use russh::client::Msg;
use russh::{Channel, ChannelMsg, Sig};
use tracing::debug;

/// Output discarded past the cap before the channel is closed on the
/// command. Up to this much the command may run to completion (so its exit
/// status is known); a producer that goes on beyond it is cut off rather
/// than streamed until its deadline.
pub const MAX_DRAIN_BYTES: usize = 8 * 1024 * 1024;

/// What a caller may set for one exec; unset fields take the host's
/// configured defaults, and every field is clamped to the host's maximums.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOptions {
    /// Deadline for the command (waiting for a free channel included,
    /// connecting excluded: that has its own limit).
    pub timeout: Option<Duration>,
    /// Cap on stdout and on stderr, each.
    pub max_output_bytes: Option<usize>,
    /// Bytes written to the command's stdin, followed by EOF. Without it
    /// stdin is closed at once.
    pub stdin: Option<Vec<u8>>,
}

/// What a finished command left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// The exit status, when the command exited normally.
    pub exit_code: Option<u32>,
    /// The signal name without `SIG` (`KILL`, `TERM`, ...), when a signal
    /// ended the command.
    pub signal: Option<String>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// stdout went past the cap; the excess was dropped.
    pub stdout_truncated: bool,
    /// stderr went past the cap; the excess was dropped.
    pub stderr_truncated: bool,
    /// From the exec request to the last message; connecting excluded.
    pub duration: Duration,
}

impl ExecOutput {
    /// Exited with status 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// Marks the line with the remote shell's pid on stderr; starts with a
/// control character no ordinary program writes first.
const PID_MARKER: &[u8] = b"\x1etoolhost-pid=";
/// How much of stderr's head is searched for the pid report; output before
/// it (a login script's noise) is kept.
const PID_SEARCH_BYTES: usize = 4096;

/// The command line actually sent: report the shell's pid, then replace the
/// shell with the program (so the process tree is what it would be without
/// the wrapper).
pub(crate) fn wrap(command_line: &str) -> String {
    format!("printf '\\036toolhost-pid=%s\\n' \"$$\" >&2; exec {command_line}")
}

/// The remote command to kill process group `pid` (and, should the group
/// be gone, the process).
pub(crate) fn kill_command(pid: u32) -> String {
    format!("kill -KILL -- -{pid} 2>/dev/null || kill -KILL {pid} 2>/dev/null; true")
}

/// How a run ended, plus the remote pid when the command was abandoned
/// while still running and must be killed.
pub(crate) struct Finished {
    pub result: Result<ExecOutput, RunError>,
    pub kill_pid: Option<u32>,
}

/// How running on a channel failed; the pool turns it into an `SshError`.
#[derive(Debug)]
pub(crate) enum RunError {
    /// The deadline passed; the command was signalled and the channel closed.
    Timeout,
    /// The connection went away mid-command.
    ConnectionLost,
    /// The server refused the exec request.
    Refused,
    /// The channel closed without an exit status or signal.
    NoExitStatus,
    /// The command could not be handed over; nothing ran, so a retry is
    /// safe.
    NotStarted,
}

/// One stream's capped buffer.
pub(crate) struct Capped {
    pub data: Vec<u8>,
    cap: usize,
    pub dropped: usize,
}

impl Capped {
    pub(crate) fn new(cap: usize) -> Self {
        Capped {
            data: Vec::new(),
            cap,
            dropped: 0,
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        let room = self.cap.saturating_sub(self.data.len());
        let keep = room.min(bytes.len());
        self.data.extend_from_slice(&bytes[..keep]);
        self.dropped = self.dropped.saturating_add(bytes.len() - keep);
    }
}

/// stderr until the pid report has been seen and removed.
struct Stderr {
    out: Capped,
    /// Bytes held back while the report may still be arriving.
    head: Vec<u8>,
    pid: Option<u32>,
    searching: bool,
}

impl Stderr {
    fn new(cap: usize) -> Self {
        Stderr {
            out: Capped::new(cap),
            head: Vec::new(),
            pid: None,
            searching: true,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if !self.searching {
            self.out.push(bytes);
            return;
        }
        self.head.extend_from_slice(bytes);
        if let Some(start) = find(&self.head, PID_MARKER) {
            let digits = start + PID_MARKER.len();
            if let Some(nl) = self.head[digits..].iter().position(|b| *b == b'\n') {
                self.pid = std::str::from_utf8(&self.head[digits..digits + nl])
                    .ok()
                    .and_then(|p| p.parse().ok());
                let head = std::mem::take(&mut self.head);
                self.out.push(&head[..start]);
                self.out.push(&head[digits + nl + 1..]);
                self.searching = false;
                return;
            }
        }
        if self.head.len() > PID_SEARCH_BYTES {
            self.flush();
        }
    }

    /// Gives up on the report: what was held back is ordinary output.
    fn flush(&mut self) {
        self.searching = false;
        let head = std::mem::take(&mut self.head);
        self.out.push(&head);
    }
}

/// Where `needle` (non-empty, starting with a rare byte) first occurs.
/// Scans for the first byte, so long output costs one pass.
pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    while let Some(i) = haystack[from..].iter().position(|b| *b == first) {
        let at = from + i;
        if haystack.len() - at < needle.len() {
            return None;
        }
        if &haystack[at + 1..at + needle.len()] == rest {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Runs `command` (already [`wrap`]ped) on `channel` until it exits,
/// `deadline` passes or the output overflows by more than
/// [`MAX_DRAIN_BYTES`].
pub(crate) async fn run(
    channel: Channel<Msg>,
    command: &str,
    stdin: Option<&[u8]>,
    cap: usize,
    deadline: Instant,
    pid_seen: &AtomicU32,
) -> Finished {
    let started = Instant::now();
    let (mut reader, writer) = channel.split();
    if writer.exec(true, command.as_bytes()).await.is_err() {
        return Finished {
            result: Err(RunError::ConnectionLost),
            kill_pid: None,
        };
    }
    let mut stdout = Capped::new(cap);
    let mut stderr = Stderr::new(cap);
    let mut abandoned = false;
    let mut exit_code = None;
    let mut signal = None;
    let mut closed = false;

    let send_stdin = async {
        if let Some(data) = stdin
            && !data.is_empty()
        {
            writer.data(data).await?;
        }
        writer.eof().await
    };
    let mut send_stdin = std::pin::pin!(send_stdin);
    let mut stdin_done = false;
    let sleep = tokio::time::sleep_until(deadline.into());
    let mut sleep = std::pin::pin!(sleep);

    loop {
        tokio::select! {
            biased;
            msg = reader.wait() => match msg {
                Some(ChannelMsg::Data { data }) => stdout.push(&data),
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                    stderr.push(&data);
                    if let Some(pid) = stderr.pid {
                        pid_seen.store(pid, Ordering::Release);
                    }
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => exit_code = Some(exit_status),
                Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                    signal = Some(signal_name_of(&signal_name));
                }
                Some(ChannelMsg::Failure) => {
                    let _ = writer.close().await;
                    return Finished { result: Err(RunError::Refused), kill_pid: None };
                }
                Some(ChannelMsg::Close) => {
                    closed = true;
                    break;
                }
                Some(_) => {}
                None => break,
            },
            // The remote may exit without reading stdin; then this simply
            // never finishes and is dropped with the loop.
            result = &mut send_stdin, if !stdin_done => {
                stdin_done = true;
                if let Err(e) = result {
                    debug!(error = %e, "writing stdin failed");
                }
            }
            () = &mut sleep => {
                kill(&writer).await;
                return Finished { result: Err(RunError::Timeout), kill_pid: stderr.pid };
            }
        }
        if stdout.dropped.saturating_add(stderr.out.dropped) > MAX_DRAIN_BYTES {
            kill(&writer).await;
            abandoned = true;
            break;
        }
    }
    stderr.flush();
    let kill_pid = if abandoned { stderr.pid } else { None };
    let stderr = stderr.out;

    let output = ExecOutput {
        exit_code,
        signal,
        stdout_truncated: stdout.dropped > 0,
        stderr_truncated: stderr.dropped > 0,
        stdout: stdout.data,
        stderr: stderr.data,
        duration: started.elapsed(),
    };
    let result = if output.exit_code.is_some()
        || output.signal.is_some()
        || output.stdout_truncated
        || output.stderr_truncated
    {
        Ok(output)
    } else if closed {
        Err(RunError::NoExitStatus)
    } else {
        Err(RunError::ConnectionLost)
    };
    Finished { result, kill_pid }
}

/// Asks the server to stop the command (honoured by OpenSSH 7.9+ for
/// non-root users) and closes the channel; the pool follows up with
/// [`kill_command`].
async fn kill(writer: &russh::ChannelWriteHalf<Msg>) {
    let _ = writer.signal(Sig::KILL).await;
    let _ = writer.close().await;
}

fn signal_name_of(sig: &Sig) -> String {
    match sig {
        Sig::ABRT => "ABRT".into(),
        Sig::ALRM => "ALRM".into(),
        Sig::FPE => "FPE".into(),
        Sig::HUP => "HUP".into(),
        Sig::ILL => "ILL".into(),
        Sig::INT => "INT".into(),
        Sig::KILL => "KILL".into(),
        Sig::PIPE => "PIPE".into(),
        Sig::QUIT => "QUIT".into(),
        Sig::SEGV => "SEGV".into(),
        Sig::TERM => "TERM".into(),
        Sig::USR1 => "USR1".into(),
        Sig::Custom(name) => name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capped_stream_keeps_the_first_bytes_and_counts_the_rest() {
        let mut c = Capped::new(5);
        c.push(b"abc");
        c.push(b"defg");
        c.push(b"hi");
        assert_eq!(c.data, b"abcde");
        assert_eq!(c.dropped, 4);
        let mut zero = Capped::new(0);
        zero.push(b"x");
        assert!(zero.data.is_empty());
        assert_eq!(zero.dropped, 1);
    }

    #[test]
    fn the_pid_report_is_taken_out_of_stderr_even_when_split() {
        let mut e = Stderr::new(100);
        e.push(b"motd noise\n\x1etoolhost-");
        e.push(b"pid=4242");
        assert_eq!(e.pid, None);
        e.push(b"\nreal error\n");
        e.flush();
        assert_eq!(e.pid, Some(4242));
        assert_eq!(e.out.data, b"motd noise\nreal error\n");
    }

    #[test]
    fn stderr_without_a_pid_report_is_kept_whole() {
        let mut e = Stderr::new(10_000);
        let noise = vec![b'x'; PID_SEARCH_BYTES + 1];
        e.push(&noise);
        e.push(b"tail");
        e.flush();
        assert_eq!(e.pid, None);
        assert_eq!(e.out.data.len(), noise.len() + 4);
    }

    #[test]
    fn the_wrapper_reports_the_pid_then_execs_the_program() {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(wrap("echo 'a b'"))
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"a b\n");
        let mut e = Stderr::new(100);
        e.push(&out.stderr);
        e.flush();
        assert!(e.pid.is_some());
        assert!(e.out.data.is_empty());
    }
}
