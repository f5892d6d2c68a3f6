//! `Fingerprint`: the digest a resumed run compares to decide whether a flow must run again.
//!
//! Schedulers hash a flow into a 128-bit number and save one per result, often 100 000 per
//! run; so the common form is that number, kept as it is (no text to format, allocate and
//! parse again on every save), and any other digest a user writes ("sha256:…") is kept as
//! text. Both have one text form, 32 lowercase hex digits for a number, which is how stores
//! write them; reading that text back gives the number again.

use std::fmt;

/// A digest of a flow's definition and inputs: a 128-bit number (32 hex digits as text) or
/// any other digest a user writes, kept as text (`sha256:…`).
///
/// ```
/// use flow_results::Fingerprint;
///
/// let hashed = Fingerprint::from_u128(0x2a);
/// assert_eq!(hashed.to_string(), "0000000000000000000000000000002a");
/// assert_eq!(Fingerprint::from("0000000000000000000000000000002a"), hashed);
/// assert_eq!(Fingerprint::from("sha256:abc").as_u128(), None);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(Repr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    /// Written as 32 lowercase hex digits.
    Number(u128),
    /// Any text that is not exactly 32 lowercase hex digits.
    Text(Box<str>),
}

impl Fingerprint {
    /// The fingerprint that is this number.
    pub const fn from_u128(number: u128) -> Self {
        Fingerprint(Repr::Number(number))
    }

    /// The number, unless the fingerprint is some other text.
    pub fn as_u128(&self) -> Option<u128> {
        match self.0 {
            Repr::Number(number) => Some(number),
            Repr::Text(_) => None,
        }
    }
}

impl From<&str> for Fingerprint {
    fn from(text: &str) -> Self {
        match parse_hex(text) {
            Some(number) => Fingerprint(Repr::Number(number)),
            None => Fingerprint(Repr::Text(text.into())),
        }
    }
}

impl From<String> for Fingerprint {
    fn from(text: String) -> Self {
        match parse_hex(&text) {
            Some(number) => Fingerprint(Repr::Number(number)),
            None => Fingerprint(Repr::Text(text.into_boxed_str())),
        }
    }
}

impl From<u128> for Fingerprint {
    fn from(number: u128) -> Self {
        Fingerprint::from_u128(number)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Number(number) => write!(f, "{number:032x}"),
            Repr::Text(text) => f.write_str(text),
        }
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({:?})", self.to_string())
    }
}

impl serde::Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Fingerprint::from)
    }
}

/// The number that `text` spells when it is exactly 32 lowercase hex digits (the form
/// `format!("{:032x}")` writes it back in); `None` for anything else.
fn parse_hex(text: &str) -> Option<u128> {
    let bytes: &[u8; 32] = text.as_bytes().try_into().ok()?;
    let (high, low) = bytes.split_at(16);
    let high = parse_hex_half(high)?;
    let low = parse_hex_half(low)?;
    Some(u128::from(high) << 64 | u128::from(low))
}

/// The number 16 lowercase hex digits spell. Branch-free over the digits: a table gives each
/// byte's value, or `NOT_HEX`, which is or-ed into a flag checked once at the end.
fn parse_hex_half(digits: &[u8]) -> Option<u64> {
    const NOT_HEX: u8 = 0x80;
    const VALUES: [u8; 256] = {
        let mut values = [NOT_HEX; 256];
        let mut digit = 0;
        while digit < 16 {
            values[b"0123456789abcdef"[digit] as usize] = digit as u8;
            digit += 1;
        }
        values
    };
    let mut number = 0u64;
    let mut seen = 0u8;
    for &byte in digits {
        let value = VALUES[usize::from(byte)];
        seen |= value;
        number = number << 4 | u64::from(value & 0x0f);
    }
    (seen & NOT_HEX == 0).then_some(number)
}

/// Texts close to the written form of a number that are not one (shared by the tests).
#[cfg(test)]
pub(crate) const NOT_NUMBERS: [&str; 9] = [
    "",
    "sha256:abc",
    "0123456789ABCDEF0123456789abcdef",
    "0123456789abcdef0123456789abcde",
    "0123456789abcdef0123456789abcdef0",
    "+123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdeg",
    "0123456789abcdef0123456789abcdé",
    " 123456789abcdef0123456789abcdef",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_round_trips_through_its_text() {
        for number in [0u128, 1, 0xabc, u128::MAX, u128::MAX / 3] {
            let fingerprint = Fingerprint::from_u128(number);
            let text = fingerprint.to_string();
            assert_eq!(text, format!("{number:032x}"));
            assert_eq!(Fingerprint::from(text.as_str()), fingerprint);
            assert_eq!(Fingerprint::from(text).as_u128(), Some(number));
        }
    }

    #[test]
    fn any_other_text_reads_back_exactly() {
        for odd in NOT_NUMBERS {
            let fingerprint = Fingerprint::from(odd);
            assert_eq!(fingerprint.as_u128(), None, "{odd:?}");
            assert_eq!(fingerprint.to_string(), odd);
        }
    }

    #[test]
    fn every_byte_that_is_not_a_lowercase_hex_digit_makes_text() {
        let valid = "0123456789abcdef0123456789abcdef";
        assert!(parse_hex(valid).is_some());
        for byte in (0u8..=127).filter(|b| !b"0123456789abcdef".contains(b)) {
            for at in [0, 15, 16, 31] {
                let mut text = valid.as_bytes().to_vec();
                text[at] = byte;
                let text = String::from_utf8(text).unwrap();
                assert_eq!(parse_hex(&text), None, "{text:?}");
            }
        }
    }

    #[test]
    fn serde_writes_the_text_form() {
        let fingerprint = Fingerprint::from_u128(7);
        let json = serde_json::to_string(&fingerprint).unwrap();
        assert_eq!(json, "\"00000000000000000000000000000007\"");
        assert_eq!(
            serde_json::from_str::<Fingerprint>(&json).unwrap(),
            fingerprint
        );
        let text: Fingerprint = serde_json::from_str("\"sha256:abc\"").unwrap();
        assert_eq!(text.to_string(), "sha256:abc");
    }
}
