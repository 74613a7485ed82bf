//! The virtual modem mode of rgetty-share.
