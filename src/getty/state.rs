//! The getty's states (docs/behaviour.md §4.2), as an explicit enum.
//!
//! Pure: the types and their names only; `getty::run` drives them, each state carried out in
//! its room (`start`, `waiting`, `answer`, `login`, `dispatch`), logging every change as
//! `from -> to`.

use crate::proto::callerid::CallInfo;
use crate::proto::logname::Terminator;
use crate::sys::lock::Holder;

/// Per-call data. It lives inside the states of one call and is dropped in [`State::Jail`],
/// so nothing from a rejected call leaks into the next (unlike mgetty's globals, Q5).
#[derive(Debug, Clone, Default)]
pub struct Call {
    /// Caller ID, CONNECT string and the other modem-reported facts.
    pub info: CallInfo,
    /// RINGs counted so far.
    pub rings: u32,
    /// Distinctive-ring number of the last RING.
    pub dist: i32,
}

/// What the caller gave at the login prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// A typed name, how it was terminated, and whether the terminal is upper-case only.
    Name(String, Terminator, bool),
    /// A PPP LCP frame was detected (AutoPPP).
    AutoPpp,
    /// Automatic login of this user (the `autologin` credential, direct lines only).
    Auto(String),
}

/// The getty's state.
#[derive(Debug, Clone)]
pub enum State {
    /// Lock, open, set up and initialise the line.
    Start,
    /// Idle with the lock released, waiting for activity without reading it.
    Waiting,
    /// A dial-out program holds the lock: step aside until it is done, then exit 0.
    Dialout(Holder),
    /// The periodic modem check (modem-check-time).
    CheckModem,
    /// Counting RINGs (and ring cadences) before answering.
    WaitRings(Call),
    /// `nologin.<DevID>` exists: count RINGs but do not answer.
    NoLogin(Call),
    /// Screening and the answer chat.
    Answer(Call),
    /// Issue file, prompt and login name.
    GetLogin(Call),
    /// Look the name up in login.config and exec the program.
    Dispatch(Call, Login),
    /// The call is over without a login: clean the line, release the lock, wait again.
    Jail,
    /// Exit with this code.
    Exit(i32),
}

impl State {
    /// The state's name for the log (mgetty's words).
    pub fn name(&self) -> &'static str {
        match self {
            State::Start => "Start",
            State::Waiting => "Waiting",
            State::Dialout(_) => "Dialout",
            State::CheckModem => "CheckModem",
            State::WaitRings(_) => "WaitRings",
            State::NoLogin(_) => "NoLogin",
            State::Answer(_) => "Answer",
            State::GetLogin(_) => "GetLogin",
            State::Dispatch(..) => "Dispatch",
            State::Jail => "Jail",
            State::Exit(_) => "Exit",
        }
    }
}
