//! TODO: utmp
