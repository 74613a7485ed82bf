//! TODO: callerid
