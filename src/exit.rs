//! The binary's exit codes, in a file of their own: the commands, the demo and the
//! workshop return them, and none of those needs the argument parser ([`crate::cli`]) to.

/// The binary's exit codes (README, "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Done.
    Ok = 0,
    /// An error; a visit step that failed; a demo outcome that differs from its expectation.
    Failed = 1,
    /// Bad arguments (clap's own errors too), not a capture, a missing file, not run as root,
    /// not inside a plainsight lab.
    Usage = 2,
    /// A damaged capture, with `analyze --strict`.
    Damaged = 3,
    /// Stopped by Ctrl-C (or SIGTERM) before it ended; what it started was removed.
    Interrupted = 130,
}
