//! TODO: share conf
