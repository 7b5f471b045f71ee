//! Keyed pseudonyms of data subjects (HMAC-SHA256 with `HUB_PSEUDONYM_KEY`).
//!
//! The processing log stores these instead of a BSN, so that a subject
//! access request can be answered (compute the pseudonym, search) while the
//! log itself holds no direct identifier. The identifier kind is part of the
//! input, so a BSN and an employee id with the same digits never collide.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A secret key for pseudonyms. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct PseudonymKey(Vec<u8>);

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(<secret>)")
    }
}

/// What a subject identifier is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubjectId<'a> {
    /// A Burgerservicenummer.
    Bsn(&'a str),
    /// An employee id (Defensie personnel number).
    EmployeeId(&'a str),
}

impl PseudonymKey {
    /// Minimum key length in bytes.
    pub const MIN_LEN: usize = 16;

    /// A key from secret bytes; refuses keys shorter than [`Self::MIN_LEN`].
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<Self, String> {
        let secret = secret.into();
        if secret.len() < Self::MIN_LEN {
            return Err(format!(
                "the pseudonym key must be at least {} bytes long",
                Self::MIN_LEN
            ));
        }
        Ok(Self(secret))
    }

    /// The pseudonym of `subject`, as 64 hex characters.
    #[must_use]
    pub fn pseudonym(&self, subject: SubjectId<'_>) -> String {
        let (kind, value) = match subject {
            SubjectId::Bsn(v) => ("bsn", v),
            SubjectId::EmployeeId(v) => ("employee_id", v),
        };
        // HMAC accepts keys of any length; the error branch cannot happen.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(kind.as_bytes());
        mac.update(b":");
        mac.update(value.trim().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_subject_same_pseudonym_and_kinds_do_not_collide() {
        let key =
            PseudonymKey::new(b"0123456789abcdef0123".to_vec()).unwrap_or_else(|e| panic!("{e}"));
        let a = key.pseudonym(SubjectId::Bsn("111222333"));
        assert_eq!(a, key.pseudonym(SubjectId::Bsn("111222333")));
        assert_ne!(a, key.pseudonym(SubjectId::EmployeeId("111222333")));
        assert_eq!(a.len(), 64);
        assert!(!a.contains("111222333"));
        let other = PseudonymKey::new(b"another-key-of-enough-length".to_vec())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(a, other.pseudonym(SubjectId::Bsn("111222333")));
    }

    #[test]
    fn short_keys_are_refused_and_debug_hides_the_key() {
        assert!(PseudonymKey::new(b"short".to_vec()).is_err());
        let key =
            PseudonymKey::new(b"supersecretvalue-xyz".to_vec()).unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{key:?}").contains("supersecret"));
    }
}
