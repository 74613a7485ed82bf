//! TODO: hdlc
