//! The byte <-> character table of byte-level BPE (GPT-2).
//!
//! Byte-level vocabularies spell every byte as a printable character: bytes `!`..=`~`,
//! `¡`..=`¬` and `®`..=`ÿ` stand for themselves, and the remaining 68 bytes, in increasing
//! order, take the characters from U+0100 upwards (so the space byte 0x20 is `Ġ`, U+0120).

/// The character that spells `byte` in a byte-level vocabulary.
pub fn byte_to_char(byte: u8) -> char {
    if is_printable(byte) {
        return char::from(byte);
    }
    let rank = (0..byte).filter(|&b| !is_printable(b)).count() as u32;
    char::from_u32(256 + rank).expect("U+0100..U+0144 are valid characters")
}

/// The byte that `c` spells, if `c` belongs to the byte-level alphabet.
pub fn char_to_byte(c: char) -> Option<u8> {
    let code = c as u32;
    if code < 256 && is_printable(code as u8) {
        return Some(code as u8);
    }
    let rank = code.checked_sub(256)?;
    (0..=255u8).filter(|&b| !is_printable(b)).nth(rank as usize)
}

/// Bytes of a byte-level token string, or `None` when a character is outside the alphabet.
pub fn token_to_bytes(token: &str) -> Option<Vec<u8>> {
    token.chars().map(char_to_byte).collect()
}

fn is_printable(byte: u8) -> bool {
    matches!(byte, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_spellings() {
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(byte_to_char(b'a'), 'a');
        assert_eq!(token_to_bytes("Ġhello"), Some(b" hello".to_vec()));
    }

    #[test]
    fn every_byte_round_trips_through_a_distinct_char() {
        let chars: std::collections::BTreeSet<char> = (0..=255u8).map(byte_to_char).collect();
        assert_eq!(chars.len(), 256);
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(byte_to_char(b)), Some(b));
        }
        assert_eq!(char_to_byte('▁'), None);
    }
}
