//! TODO: telnet
