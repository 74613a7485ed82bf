//! Client certificate names: `certname::subject_cn` on any DER never panics, and a name it
//! returns is no longer than the input.
//!
//! Input: the certificate (DER).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rgetty::proto::certname::subject_cn;

fuzz_target!(|data: &[u8]| {
    if let Some(cn) = subject_cn(data) {
        assert!(cn.len() <= data.len());
    }
});
