//! TODO: ring
