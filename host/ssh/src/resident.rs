//! A resident shell: one long-lived `/bin/sh` per channel that runs execs
//! one after another.
//!
//! With OpenSSH, every exec on a channel of its own costs a session: sshd
//! forks, sets the session up and starts the account's login shell, which
//! then execs the program. Measured with `cargo bench -p toolhost-ssh
//! --bench exec` that is ≈2.4 ms of server CPU per exec, three times a local
//! spawn, and it is what bounds exec throughput against one device. A
//! resident shell pays it once; each exec after that is one fork + exec of
//! the program by a running `sh`.
//!
//! Protocol: the channel runs `exec /bin/sh`, which reads its script from
//! the channel's stdin. The host first asks for the shell's pid (the
//! session's process group: sshd starts each session with `setsid`), then
//! writes one line per exec (see [`script_line`]):
//!
//! ```text
//! printf '\036S<n>\n'; printf '\036S<n>\n' >&2; (exec ARGV) </dev/null; \
//!   printf '\036E<n> %s\n' "$?"; printf '\036E<n>\n' >&2
//! ```
//!
//! `<n>` is a fresh random nonce, so no output can forge a marker. What lies
//! between a stream's start and end markers is the command's output;
//! anything else on the channel (output of a background process an earlier
//! command left behind) is dropped. The program's stdin is `/dev/null`: it
//! must never read the shell's script.
//!
//! Differences from a session per exec (docs/operations.md): a program
//! killed by a signal reports the shell's status 128+n as its exit code, as
//! a POSIX shell cannot tell it from `exit 128+n`; execs with stdin take a
//! session of their own. A resident shell that misbehaves in any way (a
//! timeout, output past the drain limit, a missing marker, the shell gone)
//! is killed with its process group and never reused.

use std::time::Instant;

use russh::client::Msg;
use russh::{Channel, ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::exec::{Capped, ExecOutput, Finished, MAX_DRAIN_BYTES, RunError, find};

/// The command the login shell runs to become the resident shell.
const RESIDENT_COMMAND: &str = "exec /bin/sh";
/// Marks the resident shell's pid report on stderr.
const HELLO_MARKER: &[u8] = b"\x1etoolhost-resident=";
/// Bytes of stderr searched for the pid report before giving up.
const HELLO_SEARCH_BYTES: usize = 64 * 1024;
/// Random bytes per nonce.
const NONCE_BYTES: usize = 12;
/// Output a parked shell may produce (from background processes earlier
/// commands left behind) before it is killed instead of drained forever.
pub(crate) const MAX_IDLE_OUTPUT_BYTES: usize = 1024 * 1024;

/// The write half of a resident shell's channel. Dropping it closes the
/// channel (russh sends nothing when a channel half is dropped), so a shell
/// abandoned mid-way, a cancelled exec's for one, sees EOF and its session
/// ends instead of holding a slot of the device's `MaxSessions`.
struct Writer(Option<ChannelWriteHalf<Msg>>);

impl Writer {
    fn get(&self) -> &ChannelWriteHalf<Msg> {
        self.0
            .as_ref()
            .expect("a resident shell's writer is only taken on drop")
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(writer) = self.0.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                let _ = writer.eof().await;
                let _ = writer.close().await;
            });
        }
    }
}

/// A running resident shell, between `start` and being parked.
pub(crate) struct Resident {
    reader: ChannelReadHalf,
    writer: Writer,
    /// The shell's pid, which is also its session's process group.
    pub pid: u32,
}

/// A resident shell waiting on its connection for the next exec. A task
/// reads and discards its channel meanwhile: unread messages would fill
/// russh's per-channel queue and stall the whole connection.
pub(crate) struct Parked {
    writer: Writer,
    pid: u32,
    wake: oneshot::Sender<()>,
    drain: JoinHandle<Option<ChannelReadHalf>>,
}

impl Parked {
    /// The shell back, ready for its next exec. `Err(pid)` when it ended or
    /// wrote more than [`MAX_IDLE_OUTPUT_BYTES`] while parked: its channel is
    /// closed and its process group should be killed.
    pub(crate) async fn resume(self) -> Result<Resident, u32> {
        let Parked {
            writer,
            pid,
            wake,
            drain,
        } = self;
        let _ = wake.send(());
        match drain.await {
            Ok(Some(reader)) => Ok(Resident {
                reader,
                writer,
                pid,
            }),
            _ => Err(pid),
        }
    }
}

impl Resident {
    /// Turns `channel` into a resident shell and waits (until `deadline`)
    /// for its pid report. `Err(Refused)` means the device cannot host one
    /// (no POSIX `/bin/sh`, a forced command, ...).
    pub(crate) async fn start(channel: Channel<Msg>, deadline: Instant) -> Result<Self, RunError> {
        let (mut reader, writer) = channel.split();
        let writer = Writer(Some(writer));
        let hello = b"printf '\\036toolhost-resident=%s\\n' \"$$\" >&2\n";
        let send = async {
            writer.get().exec(true, RESIDENT_COMMAND).await?;
            writer.get().data_bytes(&hello[..]).await
        };
        match tokio::time::timeout_at(deadline.into(), send).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(RunError::ConnectionLost),
            Err(_) => return Err(RunError::Timeout),
        }
        let mut stderr = Vec::new();
        let sleep = tokio::time::sleep_until(deadline.into());
        let mut sleep = std::pin::pin!(sleep);
        loop {
            tokio::select! {
                msg = reader.wait() => match msg {
                    Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                        stderr.extend_from_slice(&data);
                        if let Some(pid) = parse_hello(&stderr) {
                            return Ok(Resident { reader, writer, pid });
                        }
                        if stderr.len() > HELLO_SEARCH_BYTES {
                            return Err(RunError::Refused);
                        }
                    }
                    Some(ChannelMsg::Failure | ChannelMsg::ExitStatus { .. }
                         | ChannelMsg::ExitSignal { .. } | ChannelMsg::Eof
                         | ChannelMsg::Close) => return Err(RunError::Refused),
                    Some(_) => {}
                    None => return Err(RunError::ConnectionLost),
                },
                () = &mut sleep => return Err(RunError::Timeout),
            }
        }
    }

    /// Runs `command_line` (argv already quoted) until it exits or
    /// `deadline` passes. Returns the shell when it may be reused, i.e. the
    /// command ended cleanly; otherwise the result carries the shell's pid
    /// to kill.
    pub(crate) async fn run(
        mut self,
        command_line: &str,
        cap: usize,
        deadline: Instant,
    ) -> (Finished, Option<Resident>) {
        let started = Instant::now();
        let nonce = nonce();
        let line = script_line(command_line, &nonce);
        let pid = self.pid;
        match tokio::time::timeout_at(
            deadline.into(),
            self.writer.get().data_bytes(line.into_bytes()),
        )
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                let result = Err(RunError::NotStarted);
                return (
                    Finished {
                        result,
                        kill_pid: None,
                    },
                    None,
                );
            }
            Err(_) => {
                // Part of the line may have reached the shell.
                let result = Err(RunError::Timeout);
                return (
                    Finished {
                        result,
                        kill_pid: Some(pid),
                    },
                    None,
                );
            }
        }
        let mut stdout = Framed::new(&nonce, true, cap);
        let mut stderr = Framed::new(&nonce, false, cap);
        let sleep = tokio::time::sleep_until(deadline.into());
        let mut sleep = std::pin::pin!(sleep);
        let abandon = |result| {
            (
                Finished {
                    result,
                    kill_pid: Some(pid),
                },
                None,
            )
        };
        let mut overflowed = false;
        while !(stdout.done() && stderr.done()) {
            tokio::select! {
                biased;
                msg = self.reader.wait() => match msg {
                    Some(ChannelMsg::Data { data }) => stdout.push(&data),
                    Some(ChannelMsg::ExtendedData { data, ext: 1 }) => stderr.push(&data),
                    None if stdout.state == State::BeforeStart
                        && stderr.state == State::BeforeStart => {
                        return (Finished { result: Err(RunError::NotStarted), kill_pid: None }, None);
                    }
                    None => {
                        return (Finished { result: Err(RunError::ConnectionLost), kill_pid: None }, None);
                    }
                    // Output may still follow an exit status; only EOF and
                    // close end the shell's streams.
                    Some(ChannelMsg::Eof | ChannelMsg::Close) => {
                        if stdout.state == State::BeforeStart && stderr.state == State::BeforeStart {
                            // The shell was gone before it printed the start
                            // marker (SSH delivers data before the close), so
                            // the command never ran.
                            return (Finished { result: Err(RunError::NotStarted), kill_pid: None }, None);
                        }
                        // The shell died mid-command (the command killed
                        // its process group, say): no status is known.
                        return abandon(Err(RunError::NoExitStatus));
                    }
                    Some(_) => {}
                },
                () = &mut sleep => return abandon(Err(RunError::Timeout)),
            }
            if stdout.out.dropped.saturating_add(stderr.out.dropped) > MAX_DRAIN_BYTES {
                overflowed = true;
                break;
            }
        }
        let output = ExecOutput {
            // Cut off past the drain limit: the command never finished.
            exit_code: if overflowed { None } else { stdout.status },
            signal: None,
            stdout_truncated: stdout.out.dropped > 0,
            stderr_truncated: stderr.out.dropped > 0,
            stdout: stdout.out.data,
            stderr: stderr.out.data,
            duration: started.elapsed(),
        };
        if overflowed {
            return abandon(Ok(output));
        }
        let reusable = output.exit_code.is_some();
        let result = if reusable {
            Ok(output)
        } else {
            Err(RunError::NoExitStatus)
        };
        if reusable {
            (
                Finished {
                    result,
                    kill_pid: None,
                },
                Some(self),
            )
        } else {
            abandon(result)
        }
    }

    /// Parks the shell until its next exec, draining its channel meanwhile.
    pub(crate) fn park(self) -> Parked {
        let Resident {
            mut reader,
            writer,
            pid,
        } = self;
        let (wake, mut woken) = oneshot::channel::<()>();
        let drain = tokio::spawn(async move {
            let mut seen = 0usize;
            loop {
                tokio::select! {
                    biased;
                    _ = &mut woken => return Some(reader),
                    msg = reader.wait() => match msg {
                        Some(ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. }) => {
                            seen = seen.saturating_add(data.len());
                            if seen > MAX_IDLE_OUTPUT_BYTES {
                                return None;
                            }
                        }
                        Some(ChannelMsg::Eof | ChannelMsg::Close) | None => return None,
                        Some(_) => {}
                    },
                }
            }
        });
        Parked {
            writer,
            pid,
            wake,
            drain,
        }
    }
}

/// The pid from the resident shell's report, once the whole line arrived.
fn parse_hello(stderr: &[u8]) -> Option<u32> {
    let at = find(stderr, HELLO_MARKER)? + HELLO_MARKER.len();
    let nl = stderr[at..].iter().position(|b| *b == b'\n')?;
    std::str::from_utf8(&stderr[at..at + nl]).ok()?.parse().ok()
}

fn nonce() -> String {
    let bytes: [u8; NONCE_BYTES] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The script line that runs one command between markers (module docs).
pub(crate) fn script_line(command_line: &str, nonce: &str) -> String {
    format!(
        "printf '\\036S{nonce}\\n'; printf '\\036S{nonce}\\n' >&2; \
         (exec {command_line}) </dev/null; \
         printf '\\036E{nonce} %s\\n' \"$?\"; printf '\\036E{nonce}\\n' >&2\n"
    )
}

/// One output stream of a resident shell, split at the command's markers.
struct Framed {
    start: Vec<u8>,
    end: Vec<u8>,
    /// stdout's end marker carries the exit status.
    with_status: bool,
    state: State,
    /// Bytes held back because a marker may be split across messages.
    pending: Vec<u8>,
    out: Capped,
    status: Option<u32>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    BeforeStart,
    Inside,
    Done,
}

impl Framed {
    fn new(nonce: &str, with_status: bool, cap: usize) -> Self {
        Framed {
            start: format!("\x1eS{nonce}\n").into_bytes(),
            end: format!("\x1eE{nonce}").into_bytes(),
            with_status,
            state: State::BeforeStart,
            pending: Vec::new(),
            out: Capped::new(cap),
            status: None,
        }
    }

    fn done(&self) -> bool {
        self.state == State::Done
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.state == State::Done {
            return; // a leftover background process's output
        }
        self.pending.extend_from_slice(bytes);
        if self.state == State::BeforeStart {
            match find(&self.pending, &self.start) {
                Some(at) => {
                    self.pending.drain(..at + self.start.len());
                    self.state = State::Inside;
                }
                None => {
                    let keep = self.start.len() - 1;
                    let cut = self.pending.len().saturating_sub(keep);
                    self.pending.drain(..cut);
                    return;
                }
            }
        }
        match find(&self.pending, &self.end) {
            Some(at) => {
                let tail = &self.pending[at + self.end.len()..];
                let Some(nl) = tail.iter().position(|b| *b == b'\n') else {
                    // The marker's line is still arriving; commit what
                    // precedes it.
                    self.out.push(&self.pending[..at]);
                    self.pending.drain(..at);
                    return;
                };
                if self.with_status {
                    self.status = std::str::from_utf8(&tail[..nl])
                        .ok()
                        .and_then(|s| s.trim().parse().ok());
                }
                self.out.push(&self.pending[..at]);
                self.pending.clear();
                self.state = State::Done;
            }
            None => {
                let keep = self.end.len() - 1;
                let cut = self.pending.len().saturating_sub(keep);
                self.out.push(&self.pending[..cut]);
                self.pending.drain(..cut);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(f: &mut Framed, data: &[u8], chunk: usize) {
        for c in data.chunks(chunk.max(1)) {
            f.push(c);
        }
    }

    #[test]
    fn output_between_markers_is_kept_in_any_chunking() {
        let data = b"noise\x1eSabc\nhello \x1e world\n\x1eEabc 3\nlate";
        for chunk in 1..=data.len() {
            let mut f = Framed::new("abc", true, 100);
            feed(&mut f, data, chunk);
            assert!(f.done(), "chunk {chunk}");
            assert_eq!(f.out.data, b"hello \x1e world\n", "chunk {chunk}");
            assert_eq!(f.status, Some(3), "chunk {chunk}");
        }
    }

    #[test]
    fn a_marker_with_another_nonce_is_ordinary_output() {
        let mut f = Framed::new("abc", false, 100);
        feed(&mut f, b"\x1eSabc\n\x1eEabd\nx\x1eEabc\n", 3);
        assert!(f.done());
        assert_eq!(f.out.data, b"\x1eEabd\nx");
    }

    #[test]
    fn output_past_the_cap_is_counted_while_the_end_is_still_found() {
        let mut f = Framed::new("n", true, 4);
        let mut data = b"\x1eSn\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 10_000));
        data.extend_from_slice(b"\x1eEn 0\n");
        feed(&mut f, &data, 333);
        assert!(f.done());
        assert_eq!(f.out.data, b"xxxx");
        assert_eq!(f.out.dropped, 10_000 - 4);
        assert_eq!(f.status, Some(0));
    }

    #[test]
    fn the_script_line_runs_in_a_real_shell() {
        let argv = ["sh", "-c", "printf '%s' 'a b'; echo err >&2"].map(String::from);
        let line = script_line(&crate::quote::command_line(&argv).unwrap(), "n1");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{line}{}", script_line("false", "n2")))
            .output()
            .unwrap();
        let mut o = Framed::new("n1", true, 100);
        o.push(&out.stdout);
        let mut e = Framed::new("n1", false, 100);
        e.push(&out.stderr);
        assert_eq!(o.out.data, b"a b");
        assert_eq!(o.status, Some(0));
        assert_eq!(e.out.data, b"err\n");
        let mut o2 = Framed::new("n2", true, 100);
        o2.push(&out.stdout);
        assert_eq!(o2.status, Some(1));
    }

    #[test]
    fn the_hello_line_gives_the_pid() {
        assert_eq!(parse_hello(b"motd\n\x1etoolhost-resident=77\n"), Some(77));
        assert_eq!(parse_hello(b"\x1etoolhost-resident=77"), None);
    }
}
