//! TODO: exec
