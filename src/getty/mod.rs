//! The getty: one room (module) per lifecycle step, driven by [`run`] over [`state::State`].
//!
//! Rooms: [`start`] (start-up, init, CheckModem), [`waiting`] (Waiting, Dialout, Jail),
//! [`answer`] (rings, caller ID, screening, nologin, answer), [`login`] (issue, prompt, login
//! name, AutoPPP), [`dispatch`] (login.config and exec). Shared: [`common`] (the `Getty`
//! value), [`ident`] (the tty's names), [`settings`], [`patterns`], [`perms`], [`system`].

mod answer;
pub mod chatio;
pub mod cli;
mod common;
mod dispatch;
pub mod ident;
pub mod line;
mod login;
mod patterns;
mod perms;
pub mod run;
mod settings;
mod start;
pub mod state;
mod system;
mod waiting;

pub use run::{main_with, run};
