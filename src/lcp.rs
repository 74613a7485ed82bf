//! TODO: lcp
