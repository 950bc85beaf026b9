//! Contacts: a petname the user chose for a peer id (Zooko's triangle: the name is local and
//! memorable, the id global and secure). The table is in [`crate::store`].

/// Longest petname, in bytes.
pub const MAX_PETNAME_BYTES: usize = 32;
/// Most contacts one node keeps (presence and conversations are bounded by it).
pub const MAX_CONTACTS: usize = 1024;

/// Why a petname is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PetnameError {
    /// Empty or too long.
    #[error("a contact name has 1 to {MAX_PETNAME_BYTES} characters; '{0}' has {1}")]
    Length(String, usize),
    /// A character outside the allowed set.
    #[error(
        "contact name '{0}' may only hold lowercase letters, digits, '-', '_' and '.', and starts with a letter"
    )]
    Chars(String),
}

/// Checks a petname: 1 to 32 of `a-z 0-9 - _ .`, starting with a letter (so it never reads as
/// a peer id or a number).
///
/// # Errors
/// [`PetnameError`] saying what is wrong.
pub fn check_petname(name: &str) -> Result<(), PetnameError> {
    if name.is_empty() || name.len() > MAX_PETNAME_BYTES {
        return Err(PetnameError::Length(name.into(), name.chars().count()));
    }
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c);
    let starts_with_letter = name.starts_with(|c: char| c.is_ascii_lowercase());
    if !starts_with_letter || !name.chars().all(ok_char) {
        return Err(PetnameError::Chars(name.into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn petnames() {
        assert!(check_petname("alice").is_ok());
        assert!(check_petname("bob-2.work_x").is_ok());
        assert!(check_petname("").is_err());
        assert!(check_petname("Alice").is_err());
        assert!(check_petname("2bob").is_err());
        assert!(check_petname("a b").is_err());
        assert!(check_petname(&"a".repeat(33)).is_err());
        assert!(check_petname(&"a".repeat(32)).is_ok());
    }
}
