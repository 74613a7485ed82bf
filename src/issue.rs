//! TODO: issue
