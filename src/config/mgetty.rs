//! TODO: mgetty
