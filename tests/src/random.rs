//! Test credentials and passwords from the kernel's random source.

use std::io::Read;

/// Returns `bytes` random bytes, hex-encoded.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    let mut urandom = std::fs::File::open("/dev/urandom").expect("open /dev/urandom");
    urandom.read_exact(&mut buffer).expect("read /dev/urandom");
    hex::encode(buffer)
}
