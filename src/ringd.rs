//! TODO: ringd
