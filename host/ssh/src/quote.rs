//! Turning an argv into one POSIX shell command line.
//!
//! SSH carries a command as a single string that the remote login shell
//! parses, so every argument is quoted here and the shell sees each as one
//! literal word: no expansion, no globbing, no word splitting, no second
//! command. Arguments made only of characters no POSIX shell treats
//! specially are passed bare (cheaper to read in logs); everything else is
//! wrapped in single quotes, inside which only `'` itself needs care
//! (`'` → `'\''`). This assumes a POSIX-compatible login shell (sh, dash,
//! bash, zsh, ash/busybox); csh and fish parse differently.

use std::borrow::Cow;

/// Longest command line accepted, in bytes after quoting.
///
/// sshd runs the command as `$SHELL -c <line>`, so the whole line is one
/// argument to the remote shell and Linux refuses any single argument
/// longer than `MAX_ARG_STRLEN` (128 KiB) with `E2BIG`. Staying below it
/// turns an obscure remote failure into a clear local error.
pub const MAX_COMMAND_LINE_BYTES: usize = 128 * 1024 - 1;

/// Why an argv cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    /// argv has no program.
    #[error("argv is empty: the first element must name the program")]
    Empty,
    /// A NUL byte cannot be part of a Unix argument; passing it would
    /// silently cut the argument short on the remote side.
    #[error("argument {index} contains a NUL byte, which a Unix argument cannot carry")]
    Nul { index: usize },
    /// The program name starts with `-`: after `exec` (both exec modes
    /// put one in front of the program) a shell would read it as an option.
    #[error("the program name {0:?} starts with '-'")]
    OptionProgram(String),
    /// The quoted line would exceed [`MAX_COMMAND_LINE_BYTES`].
    #[error("command line is {len} bytes after quoting; the limit is {MAX_COMMAND_LINE_BYTES}")]
    TooLong { len: usize },
}

/// Quotes one argument so a POSIX shell reads it back as exactly `arg`.
pub fn quote_arg(arg: &str) -> Cow<'_, str> {
    if !arg.is_empty() && arg.bytes().all(is_bare) {
        return Cow::Borrowed(arg);
    }
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('\'');
    for c in arg.chars() {
        if c == '\'' {
            // Close the quote, add an escaped quote, reopen.
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    Cow::Owned(out)
}

/// Builds the remote command line: every element quoted, joined by spaces.
pub fn command_line<S: AsRef<str>>(argv: &[S]) -> Result<String, QuoteError> {
    let Some(program) = argv.first().map(AsRef::as_ref) else {
        return Err(QuoteError::Empty);
    };
    if program.starts_with('-') {
        return Err(QuoteError::OptionProgram(program.to_owned()));
    }
    let mut line = String::new();
    for (index, arg) in argv.iter().enumerate() {
        let arg = arg.as_ref();
        if arg.contains('\0') {
            return Err(QuoteError::Nul { index });
        }
        if index > 0 {
            line.push(' ');
        }
        line.push_str(&quote_arg(arg));
        if line.len() > MAX_COMMAND_LINE_BYTES {
            return Err(QuoteError::TooLong { len: line.len() });
        }
    }
    Ok(line)
}

/// A conservative set of bytes that no POSIX shell treats specially anywhere
/// in a word (`=` is left out: `a=b` as the first word is an assignment).
fn is_bare(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/' | b',' | b'+' | b'@' | b'%')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_plain_words_bare_and_quotes_everything_else() {
        let table: &[(&str, &str)] = &[
            ("ls", "ls"),
            ("-la", "-la"),
            ("/var/log/syslog", "/var/log/syslog"),
            ("a,b+c@d%e_f.g", "a,b+c@d%e_f.g"),
            ("", "''"),
            (" ", "' '"),
            ("a b", "'a b'"),
            ("; rm -rf /", "'; rm -rf /'"),
            ("$(id)", "'$(id)'"),
            ("`id`", "'`id`'"),
            ("${HOME}", "'${HOME}'"),
            ("*", "'*'"),
            ("~", "'~'"),
            ("a=b", "'a=b'"),
            ("it's", "'it'\\''s'"),
            ("'", "''\\'''"),
            ("\"", "'\"'"),
            ("\\", "'\\'"),
            ("line1\nline2", "'line1\nline2'"),
            ("tab\there", "'tab\there'"),
            ("héllo", "'héllo'"),
            ("#comment", "'#comment'"),
            ("a|b&c>d<e", "'a|b&c>d<e'"),
            ("!history", "'!history'"),
        ];
        for (arg, want) in table {
            assert_eq!(quote_arg(arg), *want, "quoting {arg:?}");
        }
    }

    #[test]
    fn joins_quoted_arguments_with_single_spaces() {
        let line = command_line(&["echo", "a b", "$(id)"]).unwrap();
        assert_eq!(line, "echo 'a b' '$(id)'");
    }

    #[test]
    fn refuses_an_empty_argv() {
        assert_eq!(command_line::<&str>(&[]), Err(QuoteError::Empty));
    }

    #[test]
    fn refuses_nul_and_names_the_argument() {
        assert_eq!(
            command_line(&["echo", "ok", "bad\0arg"]),
            Err(QuoteError::Nul { index: 2 })
        );
    }

    #[test]
    fn refuses_lines_longer_than_the_remote_kernel_accepts() {
        let long = "x".repeat(MAX_COMMAND_LINE_BYTES);
        assert!(matches!(
            command_line(&["echo", long.as_str()]),
            Err(QuoteError::TooLong { .. })
        ));
        let fits = "x".repeat(MAX_COMMAND_LINE_BYTES - 10);
        assert!(command_line(&["echo", fits.as_str()]).is_ok());
    }

    /// Every quoted form, read back by a real `sh`, yields the original.
    #[test]
    fn a_real_shell_reads_every_quoted_argument_back_unchanged() {
        let mut corpus: Vec<String> = [
            "; rm -rf /",
            "$(id)",
            "`id`",
            "'",
            "''",
            "\"'\"",
            "a\nb",
            "*",
            "?",
            "[a-z]",
            "\\n",
            "$HOME",
            "&& echo pwned",
            "| cat /etc/passwd",
            "> /tmp/x",
            "-n",
            "",
            " leading and trailing ",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Every printable ASCII byte and a few controls, alone and in pairs.
        for b in (1u8..=127).filter(|b| !b.is_ascii_control() || *b == b'\n' || *b == b'\t') {
            let c = b as char;
            corpus.push(c.to_string());
            corpus.push(format!("{c}'{c}"));
        }
        let mut argv = vec!["printf".to_owned(), "%s\\0".to_owned()];
        argv.extend(corpus.iter().cloned());
        let line = command_line(&argv).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&line)
            .output()
            .unwrap();
        assert!(out.status.success());
        let got: Vec<String> = out
            .stdout
            .split(|b| *b == 0)
            .map(|s| String::from_utf8(s.to_vec()).unwrap())
            .collect();
        // printf's output ends with a NUL, so the split leaves one empty tail.
        assert_eq!(&got[..got.len() - 1], &corpus[..]);
    }
}
