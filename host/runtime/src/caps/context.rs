//! The `context` capability: caller identity, log and progress back to the
//! client, cancellation. Always granted; rate- and size-limited.

use tracing::{debug, error, info, warn};

use crate::bindings::context as wit;
use crate::call::{CallContext, CallEvent, LogLevel};
use crate::limits::{MAX_EVENT_MESSAGE_BYTES, MAX_LOG_MESSAGES_PER_CALL, MAX_PROGRESS_PER_CALL};

/// Per-call state of the `context` capability.
pub struct ContextCtx {
    call: CallContext,
    logs_left: u32,
    progress_left: u32,
}

impl ContextCtx {
    pub(crate) fn new(call: CallContext) -> ContextCtx {
        ContextCtx {
            call,
            logs_left: MAX_LOG_MESSAGES_PER_CALL,
            progress_left: MAX_PROGRESS_PER_CALL,
        }
    }

    fn emit(&self, event: CallEvent) {
        if let Some(tx) = &self.call.events {
            // A full buffer means the client is slower than the plugin; the
            // event is dropped rather than stalling the call.
            let _ = tx.try_send(event);
        }
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub(crate) fn truncate_utf8(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

impl wit::Host for ContextCtx {
    fn caller(&mut self) -> wasmtime::Result<wit::CallerInfo> {
        Ok(wit::CallerInfo {
            subject: self.call.caller.subject.clone(),
            scopes: self.call.caller.scopes.clone(),
        })
    }

    fn log(&mut self, level: wit::LogLevel, message: String) -> wasmtime::Result<()> {
        if self.logs_left == 0 {
            return Ok(());
        }
        self.logs_left -= 1;
        let message = truncate_utf8(message, MAX_EVENT_MESSAGE_BYTES);
        let plugin = &*self.call.plugin;
        let level = match level {
            wit::LogLevel::Debug => {
                debug!(plugin, "{message}");
                LogLevel::Debug
            }
            wit::LogLevel::Info => {
                info!(plugin, "{message}");
                LogLevel::Info
            }
            wit::LogLevel::Notice => {
                info!(plugin, "{message}");
                LogLevel::Notice
            }
            wit::LogLevel::Warning => {
                warn!(plugin, "{message}");
                LogLevel::Warning
            }
            wit::LogLevel::Error => {
                error!(plugin, "{message}");
                LogLevel::Error
            }
        };
        self.emit(CallEvent::Log { level, message });
        Ok(())
    }

    fn progress(
        &mut self,
        done: f64,
        total: Option<f64>,
        message: Option<String>,
    ) -> wasmtime::Result<()> {
        if self.progress_left == 0 || !done.is_finite() {
            return Ok(());
        }
        self.progress_left -= 1;
        let message = message.map(|m| truncate_utf8(m, MAX_EVENT_MESSAGE_BYTES));
        self.emit(CallEvent::Progress {
            done,
            total: total.filter(|t| t.is_finite()),
            message,
        });
        Ok(())
    }

    fn cancelled(&mut self) -> wasmtime::Result<bool> {
        Ok(self.call.cancel.is_cancelled())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::event_channel;
    use wit::Host as _;

    fn ctx() -> (ContextCtx, crate::call::EventReceiver) {
        let (tx, rx) = event_channel();
        let call = CallContext {
            events: Some(tx),
            plugin: "test".into(),
            ..Default::default()
        };
        (ContextCtx::new(call), rx)
    }

    #[test]
    fn log_messages_beyond_the_per_call_budget_are_dropped() {
        let (mut cx, mut rx) = ctx();
        for i in 0..MAX_LOG_MESSAGES_PER_CALL + 10 {
            cx.log(wit::LogLevel::Info, format!("m{i}")).expect("log");
        }
        let mut n = 0;
        while rx.try_recv().is_ok() {
            n += 1;
        }
        assert_eq!(n, MAX_LOG_MESSAGES_PER_CALL);
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let s = truncate_utf8("é".repeat(MAX_EVENT_MESSAGE_BYTES), MAX_EVENT_MESSAGE_BYTES);
        assert!(s.len() <= MAX_EVENT_MESSAGE_BYTES + '…'.len_utf8());
        assert!(s.ends_with('…'));
    }

    #[test]
    fn progress_with_non_finite_values_is_ignored() {
        let (mut cx, mut rx) = ctx();
        cx.progress(f64::NAN, None, None).expect("progress");
        cx.progress(1.0, Some(f64::INFINITY), Some("x".into()))
            .expect("progress");
        assert_eq!(
            rx.try_recv().expect("one event"),
            CallEvent::Progress {
                done: 1.0,
                total: None,
                message: Some("x".into())
            }
        );
        assert!(rx.try_recv().is_err());
    }
}
