//! The people who call `DossierService`: bearer token → personnel number
//! (`HUB_DOSSIER_USERS`, `HUB_DOSSIER_USERS_FILE`). In production Defensie's
//! identity provider takes this place; the service only needs the
//! personnel number a token proves.

use hub_core::auth::Credentials;

use crate::caller::RECORDS_MANAGER;
use crate::convert::is_personnel_number;

/// Parses `number:token` pairs, separated by commas or new lines; blank
/// lines and lines starting with `#` are skipped. Refuses malformed pairs,
/// identities that are not personnel numbers, the records manager's name,
/// short tokens and shared tokens. Errors name the entry, never a token.
pub fn parse_users(text: &str) -> Result<Credentials, String> {
    let mut pairs = Vec::new();
    for (index, item) in text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .flat_map(|line| line.split(','))
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .enumerate()
    {
        let Some((number, token)) = item.split_once(':') else {
            return Err(format!(
                "dossier user {}: expected `personnel_number:token`",
                index + 1
            ));
        };
        let number = number.trim();
        if !is_personnel_number(number) || number == RECORDS_MANAGER {
            return Err(format!(
                "dossier user {}: `{number}` is not a personnel number",
                index + 1
            ));
        }
        pairs.push((number.to_owned(), token.trim().to_owned()));
    }
    Credentials::new(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_parsed_and_bad_ones_named() {
        let users = parse_users(
            "# staff\nP2000001:token-of-p2000001-abcdef\n\nP2000002:token-of-p2000002-abcdef, P2000003:token-of-p2000003-abcdef",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(users.identify("token-of-p2000002-abcdef"), Some("P2000002"));
        assert_eq!(users.identify("token-of-p2000003-abcdef"), Some("P2000003"));
        for (bad, needle) in [
            ("P1:short", "shorter"),
            ("no-colon-here-at-all", "expected"),
            ("admin:token-of-admin-abcdefgh", "not a personnel number"),
            ("P 1:token-of-someone-abcdefgh", "not a personnel number"),
        ] {
            let error = parse_users(bad).err().unwrap_or_default();
            assert!(error.contains(needle), "{bad}: {error}");
            assert!(!error.contains("token-of"), "{error}");
        }
    }
}
