//! Runs a [`crate::proto::chat::Script`] on the line: the I/O half of the chat engine (§3).

use std::io;
use std::time::{Duration, Instant};

use crate::proto::callerid::CallInfo;
use crate::proto::chat::{
    ExpectResult, Expecter, LineSplitter, Script, SendPiece, Step, printable,
};

use super::line::{Line, Signals, sleep};

/// How a chat ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatOutcome {
    /// Every step succeeded.
    Ok,
    /// An expect string did not arrive in time.
    Timeout {
        /// The expect string waited for.
        expect: Vec<u8>,
    },
    /// An abort string arrived (index into the abort list).
    Abort(usize),
    /// A termination signal arrived.
    Signal,
    /// The line hung up.
    Hangup,
}

/// The line-level context a chat shares with the rest of the getty: every complete line
/// received goes to the caller-ID parser.
#[derive(Debug, Default)]
pub struct ChatCtx {
    /// Splits the received bytes into lines.
    pub splitter: LineSplitter,
}

impl ChatCtx {
    fn take_bytes(&mut self, bytes: &[u8], info: &mut CallInfo) {
        log::debug!("got: {}", printable(bytes));
        for &b in bytes {
            if let Some(line) = self.splitter.feed(b) {
                info.feed_line(&line);
            }
        }
    }
}

/// Run `script` with `timeout` per expect and the abort list `aborts`. With `virtual_ring`,
/// an expect starting with `RING` succeeds at once when SIGUSR1 has arrived (§3.3).
pub fn run_chat(
    line: &Line,
    sig: &Signals,
    ctx: &mut ChatCtx,
    info: &mut CallInfo,
    script: &Script,
    aborts: &[&[u8]],
    timeout: Duration,
) -> io::Result<ChatOutcome> {
    for step in &script.steps {
        match step {
            Step::Send(pieces) => {
                let mut shown = Vec::new();
                for piece in pieces {
                    match piece {
                        SendPiece::Delay(d) => sleep(sig, *d),
                        SendPiece::Bytes(b) => {
                            line.write_all(b)?;
                            shown.extend_from_slice(b);
                        }
                    }
                    if sig.term_signal().is_some() {
                        return Ok(ChatOutcome::Signal);
                    }
                }
                log::info!("send: {}", printable(&shown));
            }
            Step::Expect(want) => {
                let mut exp = Expecter::new(want, aborts);
                if exp.is_trivially_found() {
                    continue;
                }
                log::info!("waiting for ``{}''", printable(want));
                match expect(line, sig, ctx, info, &mut exp, timeout)? {
                    ChatOutcome::Ok => log::info!(" ** found **"),
                    other => return Ok(other),
                }
            }
        }
    }
    Ok(ChatOutcome::Ok)
}

fn expect(
    line: &Line,
    sig: &Signals,
    ctx: &mut ChatCtx,
    info: &mut CallInfo,
    exp: &mut Expecter,
    timeout: Duration,
) -> io::Result<ChatOutcome> {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 1];
    loop {
        if exp.satisfied_by_virtual_ring() && sig.virtual_ring() {
            return Ok(ChatOutcome::Ok);
        }
        // One byte at a time, as mgetty: whatever follows the match stays in the tty queue.
        match line.read_until(sig, &mut buf, Some(deadline))? {
            Some(0) => return Ok(ChatOutcome::Hangup),
            Some(_) => {
                ctx.take_bytes(&buf, info);
                match exp.feed(buf[0]) {
                    Some(ExpectResult::Found) => return Ok(ChatOutcome::Ok),
                    Some(ExpectResult::Abort(i)) => return Ok(ChatOutcome::Abort(i)),
                    None => {}
                }
            }
            None => {
                if sig.term_signal().is_some() {
                    return Ok(ChatOutcome::Signal);
                }
                if Instant::now() >= deadline {
                    log::warn!(
                        "timeout in chat script, waiting for `{}'",
                        printable(exp.expect())
                    );
                    return Ok(ChatOutcome::Timeout {
                        expect: exp.expect().to_vec(),
                    });
                }
            }
        }
    }
}

/// mgetty's `mdm_command`: send `cmd` + CR and wait for `OK` (true) or `ERROR` (false);
/// `None` on timeout.
pub fn mdm_command(
    line: &Line,
    sig: &Signals,
    ctx: &mut ChatCtx,
    cmd: &str,
    timeout: Duration,
) -> io::Result<Option<bool>> {
    let script = crate::proto::chat::parse_chat(&format!("\"\" {cmd} OK"));
    let mut info = CallInfo::default();
    Ok(
        match run_chat(line, sig, ctx, &mut info, &script, &[b"ERROR"], timeout)? {
            ChatOutcome::Ok => Some(true),
            ChatOutcome::Abort(_) => Some(false),
            _ => None,
        },
    )
}
