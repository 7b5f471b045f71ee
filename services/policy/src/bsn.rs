//! The Burgerservicenummer (BSN) and its eleven test.

/// True when `value` is nine digits whose weighted sum
/// 9·d1 + 8·d2 + … + 2·d8 − 1·d9 is a positive multiple of 11.
#[must_use]
pub fn is_valid(value: &str) -> bool {
    let bytes = value.as_bytes();
    if bytes.len() != 9 || !bytes.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: i64 = bytes
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let digit = i64::from(b - b'0');
            if i == 8 {
                -digit
            } else {
                digit * (9 - i as i64)
            }
        })
        .sum();
    sum != 0 && sum % 11 == 0
}

#[cfg(test)]
mod tests {
    use super::is_valid;

    #[test]
    fn accepts_numbers_that_pass_the_eleven_test() {
        // Synthetic numbers: 9*1+8*1+7*1+6*2+5*2+4*2+3*3+2*3 - 1*3 = 9+8+7+12+10+8+9+6-3 = 66 = 6*11
        assert!(is_valid("111222333"));
        assert!(is_valid("123456782"));
    }

    #[test]
    fn rejects_wrong_checksum_length_and_characters() {
        assert!(!is_valid("111222334"));
        assert!(!is_valid("12345678"));
        assert!(!is_valid("1234567890"));
        assert!(!is_valid("12345678a"));
        assert!(!is_valid(" 11222333"));
        assert!(!is_valid("000000000"), "a zero sum is not a BSN");
    }
}
