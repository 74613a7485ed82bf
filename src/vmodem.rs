//! TODO: vmodem
