//! Scopes: the three the host enforces, plus the raw strings plugins may look at.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A scope the host itself enforces. Ordered by power: `Admin` ⊇ `Write` ⊇ `Read`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// List and call read-only tools, read the registry.
    Read,
    /// Call tools that change things.
    Write,
    /// Change the plugin and device registry.
    Admin,
}

impl Scope {
    /// Every host scope, weakest first (the order of `scopes_supported` in metadata).
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    /// The scope string as it appears in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }

    /// Whether holding `self` grants `required`.
    pub fn grants(self, required: Scope) -> bool {
        self >= required
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string is not a host scope (it may still be a scope a plugin understands).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a host scope (read, write, admin)")]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;

    /// Exact match: OAuth scope tokens are case-sensitive (RFC 6749 §3.3).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(Self::Read),
            "write" => Ok(Self::Write),
            "admin" => Ok(Self::Admin),
            other => Err(UnknownScope(other.to_owned())),
        }
    }
}

/// The scopes a token grants: the raw strings in token order (deduplicated), and the
/// strongest host scope among them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeSet {
    raw: Vec<String>,
    strongest: Option<Scope>,
}

impl ScopeSet {
    /// Builds a set from scope strings; empty strings are dropped, unknown ones kept raw.
    pub fn from_strings<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut set = Self::default();
        for scope in scopes {
            let scope = scope.into();
            if scope.is_empty() || set.raw.contains(&scope) {
                continue;
            }
            if let Ok(known) = scope.parse::<Scope>() {
                set.strongest = set.strongest.max(Some(known));
            }
            set.raw.push(scope);
        }
        set
    }

    /// Parses an RFC 6749 space-delimited scope string.
    pub fn parse(scope: &str) -> Self {
        Self::from_strings(scope.split(' '))
    }

    /// Whether the set grants `required`, following the hierarchy.
    pub fn allows(&self, required: Scope) -> bool {
        self.strongest.is_some_and(|held| held.grants(required))
    }

    /// All scope strings as the token had them, unknown ones included.
    pub fn as_strings(&self) -> &[String] {
        &self.raw
    }

    /// Whether the token carried no scopes at all.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchy_grants_weaker_scopes_only() {
        use Scope::*;
        let table = [
            (Read, Read, true),
            (Read, Write, false),
            (Read, Admin, false),
            (Write, Read, true),
            (Write, Write, true),
            (Write, Admin, false),
            (Admin, Read, true),
            (Admin, Write, true),
            (Admin, Admin, true),
        ];
        for (held, required, expected) in table {
            assert_eq!(held.grants(required), expected, "{held} grants {required}");
            assert_eq!(
                ScopeSet::from_strings([held.as_str()]).allows(required),
                expected
            );
        }
    }

    #[test]
    fn scope_strings_parse_exactly() {
        let table = [
            ("read", Some(Scope::Read)),
            ("write", Some(Scope::Write)),
            ("admin", Some(Scope::Admin)),
            ("Admin", None),
            (" read", None),
            ("read:tools", None),
            ("", None),
        ];
        for (input, expected) in table {
            assert_eq!(input.parse::<Scope>().ok(), expected, "{input:?}");
        }
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
        }
    }

    #[test]
    fn sets_allow_by_their_strongest_known_scope() {
        let table: [(&str, [bool; 3]); 7] = [
            ("", [false, false, false]),
            ("read", [true, false, false]),
            ("write", [true, true, false]),
            ("read admin", [true, true, true]),
            ("plugin:ssh ADMIN", [false, false, false]),
            ("  write  plugin:ssh ", [true, true, false]),
            ("admin admin", [true, true, true]),
        ];
        for (input, [read, write, admin]) in table {
            let set = ScopeSet::parse(input);
            assert_eq!(set.allows(Scope::Read), read, "{input:?} read");
            assert_eq!(set.allows(Scope::Write), write, "{input:?} write");
            assert_eq!(set.allows(Scope::Admin), admin, "{input:?} admin");
        }
    }

    #[test]
    fn keeps_raw_strings_in_order_without_duplicates() {
        let set = ScopeSet::parse("plugin:ssh read  plugin:ssh write");
        assert_eq!(set.as_strings(), ["plugin:ssh", "read", "write"]);
        assert!(ScopeSet::parse(" ").is_empty());
    }
}
