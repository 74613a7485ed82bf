//! TODO: share server
