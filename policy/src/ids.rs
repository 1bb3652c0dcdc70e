//! Rule Ids derived from rule content, so the same suggestion gets the same Id in every run
//! (reproducible output, and `Set-AppLockerPolicy -Merge` drops a rule it already has).

/// The 128-bit FNV-1a hash of `content`: stable across platforms and releases, which is
/// what content-derived ids need (not collision resistance against an adversary).
pub fn fnv1a_128(content: &str) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut hash = OFFSET;
    for byte in content.as_bytes() {
        hash ^= u128::from(*byte);
        hash = hash.wrapping_mul(PRIME);
    }
    hash
}

/// A GUID (RFC 9562 version 8, "custom") from a 128-bit FNV-1a hash of `content`.
pub fn content_id(content: &str) -> String {
    let mut b = fnv1a_128(content).to_be_bytes();
    b[6] = (b[6] & 0x0f) | 0x80; // version 8
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 9562 variant
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn stable_and_distinct() {
        let a = super::content_id("Exe|Allow|S-1-1-0|publisher|O=A|*|*|*|*");
        assert_eq!(
            a,
            super::content_id("Exe|Allow|S-1-1-0|publisher|O=A|*|*|*|*")
        );
        assert_ne!(
            a,
            super::content_id("Exe|Allow|S-1-1-0|publisher|O=B|*|*|*|*")
        );
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "8");
    }
}
