//! TODO: at
