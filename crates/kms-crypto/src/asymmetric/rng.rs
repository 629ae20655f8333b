//! The aws-lc-rs system CSPRNG behind the `rand_core` traits the RustCrypto crates ask for
//! (`ml-dsa`'s hedged signing; `sm2`'s key generation, hedged signing and encryption).

use aws_lc_rs::error::Unspecified;
use aws_lc_rs::rand;
use ml_dsa::common::rand_core::{TryCryptoRng, TryRng};

/// The system CSPRNG (aws-lc-rs), as a `rand_core` 0.10 RNG.
pub(super) struct SystemRng;

impl TryRng for SystemRng {
    type Error = Unspecified;

    fn try_next_u32(&mut self) -> Result<u32, Unspecified> {
        let mut b = [0u8; 4];
        rand::fill(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Unspecified> {
        let mut b = [0u8; 8];
        rand::fill(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Unspecified> {
        rand::fill(dst)
    }
}

impl TryCryptoRng for SystemRng {}
