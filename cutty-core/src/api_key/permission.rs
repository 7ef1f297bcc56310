//! What an API key may do: `files:read`, `files:write`, `list:process`.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// One permission an API key can hold. Parsed from its exact contract string only.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// `files:read`: list and download own files.
    FilesRead,
    /// `files:write`: upload and delete own files.
    FilesWrite,
    /// `list:process`: run the CSV list processor.
    ListProcess,
}

impl Permission {
    /// Every permission, in canonical (serialization) order.
    pub const ALL: [Permission; 3] = [Self::FilesRead, Self::FilesWrite, Self::ListProcess];

    /// The contract string, e.g. `"files:read"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::FilesRead => "files:read",
            Self::FilesWrite => "files:write",
            Self::ListProcess => "list:process",
        }
    }

    /// Parses the exact contract string: no trimming, no case folding, no aliases. Anything
    /// else is `REQ_001` naming the field `permissions`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                Error::invalid_field(
                    "permissions",
                    "unknown permission; expected files:read, files:write or list:process",
                )
            })
    }

    const fn bit(self) -> u8 {
        match self {
            Self::FilesRead => 1,
            Self::FilesWrite => 2,
            Self::ListProcess => 4,
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl serde::Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Permission {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&s).map_err(|_| serde::de::Error::custom("unknown permission"))
    }
}

/// A set of [`Permission`]s as a bitset. Serializes as a JSON list of strings in canonical
/// order (`["files:read","list:process"]`); deserializes strictly (unknown strings refused,
/// duplicates folded).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PermissionSet(u8);

impl PermissionSet {
    /// No permission.
    pub const EMPTY: Self = Self(0);
    /// Every permission — what a JWT user holds on its own resources.
    pub const ALL: Self = Self(0b111);

    /// Whether `p` is in the set.
    pub const fn contains(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    /// The set with `p` added.
    #[must_use]
    pub const fn with(self, p: Permission) -> Self {
        Self(self.0 | p.bit())
    }

    /// The permissions in both sets.
    #[must_use]
    pub const fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// Whether every permission of `self` is also in `other`.
    pub const fn is_subset_of(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The permissions in canonical order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }

    /// Parses a request's `permissions` list strictly: every entry must be an exact contract
    /// string (else `REQ_001` on field `permissions`); duplicates are folded. An empty list is
    /// allowed here (an empty set); creation refuses it separately.
    pub fn parse_list<I, S>(items: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        items.into_iter().try_fold(Self::EMPTY, |set, s| {
            Ok(set.with(Permission::parse(s.as_ref())?))
        })
    }

    /// The one permission check: `Ok` when `required` is in `self`, else
    /// [`Error::ApiKeyPermissionDenied`] (`API_005`).
    pub fn require(self, required: Permission) -> Result<(), Error> {
        if self.contains(required) {
            Ok(())
        } else {
            Err(Error::ApiKeyPermissionDenied)
        }
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<T: IntoIterator<Item = Permission>>(iter: T) -> Self {
        iter.into_iter().fold(Self::EMPTY, Self::with)
    }
}

impl fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Permission::as_str))
            .finish()
    }
}

impl serde::Serialize for PermissionSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for PermissionSet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let list = Vec::<Permission>::deserialize(deserializer)?;
        Ok(list.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exact_strings_only() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()).unwrap(), p);
            assert_eq!(p.to_string().parse::<Permission>().unwrap(), p);
        }
        for bad in [
            "",
            "files:Read",
            "FILES:READ",
            " files:read",
            "files:read ",
            "files",
            "files:*",
            "admin",
            "list:process\0",
            "files_read",
        ] {
            let err = Permission::parse(bad).unwrap_err();
            match err {
                Error::InvalidRequest(v) => assert_eq!(v[0].field, "permissions"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn set_algebra_and_check() {
        let rw = PermissionSet::EMPTY
            .with(Permission::FilesRead)
            .with(Permission::FilesWrite);
        assert!(rw.require(Permission::FilesRead).is_ok());
        assert!(matches!(
            rw.require(Permission::ListProcess),
            Err(Error::ApiKeyPermissionDenied)
        ));
        assert!(rw.is_subset_of(PermissionSet::ALL));
        assert!(!PermissionSet::ALL.is_subset_of(rw));
        let r: PermissionSet = [Permission::FilesRead].into_iter().collect();
        assert_eq!(rw.intersection(r), r);
        assert!(PermissionSet::EMPTY.is_empty());
        assert_eq!(format!("{rw:?}"), r#"{"files:read", "files:write"}"#);
    }

    #[test]
    fn serde_is_a_canonical_list() {
        let set = PermissionSet::parse_list(["list:process", "files:read", "files:read"]).unwrap();
        assert_eq!(
            serde_json::to_string(&set).unwrap(),
            r#"["files:read","list:process"]"#
        );
        let back: PermissionSet = serde_json::from_str(r#"["list:process","files:read"]"#).unwrap();
        assert_eq!(back, set);
        assert!(serde_json::from_str::<PermissionSet>(r#"["files:READ"]"#).is_err());
        assert!(serde_json::from_str::<PermissionSet>(r#"[1]"#).is_err());
        assert!(PermissionSet::parse_list(["files:read", "nope"]).is_err());
    }

    proptest! {
        #[test]
        fn parse_accepts_exactly_the_contract_strings(s in any::<String>()) {
            let ok = Permission::parse(&s).is_ok();
            prop_assert_eq!(ok, ["files:read", "files:write", "list:process"].contains(&s.as_str()));
        }

        #[test]
        fn serde_round_trips(bits in 0u8..8) {
            let set: PermissionSet = Permission::ALL
                .into_iter()
                .filter(|p| bits & p.bit() != 0)
                .collect();
            let json = serde_json::to_string(&set).unwrap();
            prop_assert_eq!(serde_json::from_str::<PermissionSet>(&json).unwrap(), set);
        }
    }
}
