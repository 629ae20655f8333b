//! Shamir secret sharing of a seal key over GF(256) (the `blahaj` crate): [`split_key`] deals
//! `shares` shares of a fresh AES-256 key of which any `threshold` recover it
//! ([`combine_shares`]); fewer reveal nothing about it.
//!
//! A share is text: `trent-share-v1-` then the hex of blahaj's share bytes (the x coordinate,
//! then one byte per key byte). Shares carry no integrity of their own: the recovered key is
//! only ever used to open an AES-GCM wrap ([`RootKey::unseal_under`]), which is what rejects
//! a wrong or corrupted share.

use blahaj::{Share, Sharks};
use zeroize::Zeroizing;

use crate::{CryptoError, RootKey};

const SHARE_PREFIX: &str = "trent-share-v1-";

/// Deals `shares` shares of a fresh key with threshold `threshold` (2 ≤ threshold ≤ shares ≤
/// 255); returns the key and the shares as text.
pub fn split_key(shares: u8, threshold: u8) -> Result<(RootKey, Vec<String>), CryptoError> {
    if threshold < 2 || shares < threshold {
        return Err(CryptoError::InvalidInput(format!(
            "Shamir needs 2 <= threshold <= shares <= 255, got {threshold} of {shares}"
        )));
    }
    let key = RootKey::generate();
    let secret = key.export_secret();
    let dealt = Sharks(threshold)
        .dealer(&secret)
        .take(usize::from(shares))
        .map(|share| {
            let bytes = Zeroizing::new(Vec::<u8>::from(&share));
            format!("{SHARE_PREFIX}{}", hex::encode(&*bytes))
        })
        .collect();
    Ok((key, dealt))
}

/// Parses one share's text, so a typo is reported when the share is submitted.
pub fn check_share(text: &str) -> Result<(), CryptoError> {
    parse_share(text).map(|_| ())
}

fn parse_share(text: &str) -> Result<Share, CryptoError> {
    let bad = || CryptoError::InvalidInput("not a Trent unseal share".to_string());
    let hex_part = text.trim().strip_prefix(SHARE_PREFIX).ok_or_else(bad)?;
    let bytes = Zeroizing::new(hex::decode(hex_part).map_err(|_| bad())?);
    if bytes.len() != 33 || bytes[0] == 0 {
        return Err(bad());
    }
    Share::try_from(bytes.as_slice()).map_err(|_| bad())
}

/// Recovers the key from at least `threshold` distinct shares. Fewer distinct shares are an
/// error; wrong shares give a wrong key, which the seal's AES-GCM then refuses.
pub fn combine_shares(shares: &[String], threshold: u8) -> Result<RootKey, CryptoError> {
    let parsed = shares
        .iter()
        .map(|s| parse_share(s))
        .collect::<Result<Vec<_>, _>>()?;
    let secret = Zeroizing::new(
        Sharks(threshold)
            .recover(&parsed)
            .map_err(|e| CryptoError::InvalidInput(format!("cannot recover the seal key: {e}")))?,
    );
    RootKey::from_secret(&secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_threshold_shares_recover_the_key_and_fewer_do_not() {
        let (key, shares) = split_key(5, 3).unwrap();
        assert_eq!(shares.len(), 5);
        let root = RootKey::generate();
        let sealed = root.seal_under(&key, "r");
        for picked in [[0, 1, 2], [4, 2, 0], [1, 3, 4]] {
            let subset: Vec<String> = picked.iter().map(|&i| shares[i].clone()).collect();
            let kek = combine_shares(&subset, 3).unwrap();
            let opened = RootKey::unseal_under(&sealed, &kek, "r").unwrap();
            assert_eq!(opened.export_secret(), root.export_secret());
        }
        // Two of three: refused outright.
        assert!(combine_shares(&shares[..2], 3).is_err());
        // The same share twice does not count twice.
        let twice = vec![shares[0].clone(), shares[0].clone(), shares[1].clone()];
        assert!(combine_shares(&twice, 3).is_err());
        // Two shares claimed as a threshold of two give a wrong key, which the wrap refuses.
        let wrong = combine_shares(&shares[..2], 2).unwrap();
        assert!(RootKey::unseal_under(&sealed, &wrong, "r").is_err());
    }

    #[test]
    fn malformed_shares_are_refused() {
        assert!(check_share("hello").is_err());
        assert!(check_share("trent-share-v1-zz").is_err());
        assert!(check_share(&format!("trent-share-v1-{}", "00".repeat(33))).is_err());
        assert!(split_key(3, 1).is_err());
        assert!(split_key(2, 3).is_err());
    }
}
