//! TODO: xringd
