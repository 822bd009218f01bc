//! The ids a [`PgRecorder`](crate::PgRecorder) stores: each id type has an encoding into the
//! `bytea` key column, and back.

use std::borrow::Cow;
use std::hash::Hash;

/// A key the database can look up: the bytes an id is stored as. Implemented by every
/// [`PgId`] and by the borrowed forms queries accept (`&str` for `String` ids, `[u8]` for
/// `Vec<u8>` ids): a borrowed form encodes exactly as its owned id does.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot key a `PgRecorder`: it does not implement `PgKey`",
    note = "a PgRecorder stores ids of types implementing `tasks_recorder_postgres::PgId`: String, u64, i64, Vec<u8> (and uuid::Uuid with the `uuid` feature)"
)]
pub trait PgKey {
    /// The bytes stored in the key column. Two keys are the same id exactly when their bytes
    /// are equal.
    fn key_bytes(&self) -> Cow<'_, [u8]>;
}

/// An id type a [`PgRecorder`](crate::PgRecorder) can store: `String`, `u64`, `i64`,
/// `Vec<u8>`, and `uuid::Uuid` with the `uuid` feature.
///
/// Using another type is a compile error that names this trait. Each recorder name holds
/// ids of one type: the database remembers which, and [`connect`](crate::PgRecorder::connect)
/// refuses a recorder of the same name with another id type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the id type of a `PgRecorder`: it does not implement `PgId`",
    note = "a PgRecorder stores ids of types implementing `tasks_recorder_postgres::PgId`: String, u64, i64, Vec<u8> (and uuid::Uuid with the `uuid` feature)"
)]
pub trait PgId: PgKey + Eq + Hash + Clone + Send + Sync + 'static {
    /// The name stored with the recorder, so that two processes cannot use one recorder name
    /// with two id types.
    const TYPE_NAME: &'static str;

    /// The id stored as `bytes`, or `None` if they are not an encoding of this type.
    fn from_key_bytes(bytes: &[u8]) -> Option<Self>;
}

impl PgKey for str {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }
}

impl PgKey for String {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }
}

impl PgId for String {
    const TYPE_NAME: &'static str = "string";

    fn from_key_bytes(bytes: &[u8]) -> Option<Self> {
        String::from_utf8(bytes.to_vec()).ok()
    }
}

impl PgKey for [u8] {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self)
    }
}

impl PgKey for Vec<u8> {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self)
    }
}

impl PgId for Vec<u8> {
    const TYPE_NAME: &'static str = "bytes";

    fn from_key_bytes(bytes: &[u8]) -> Option<Self> {
        Some(bytes.to_vec())
    }
}

/// Integers are stored big-endian, so that the key column sorts them in order.
macro_rules! integer_ids {
    ($($int:ty => $name:literal),*) => {$(
        impl PgKey for $int {
            fn key_bytes(&self) -> Cow<'_, [u8]> {
                Cow::Owned(self.to_be_bytes().to_vec())
            }
        }

        impl PgId for $int {
            const TYPE_NAME: &'static str = $name;

            fn from_key_bytes(bytes: &[u8]) -> Option<Self> {
                Some(<$int>::from_be_bytes(bytes.try_into().ok()?))
            }
        }
    )*};
}

integer_ids!(u64 => "u64", i64 => "i64");

#[cfg(feature = "uuid")]
impl PgKey for uuid::Uuid {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }
}

#[cfg(feature = "uuid")]
impl PgId for uuid::Uuid {
    const TYPE_NAME: &'static str = "uuid";

    fn from_key_bytes(bytes: &[u8]) -> Option<Self> {
        uuid::Uuid::from_slice(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches an encoding that does not round-trip, or a borrowed form that encodes
    /// differently from its owned id (a `&str` query would then miss a `String` id).
    #[test]
    fn encodings_round_trip_and_borrowed_forms_agree() {
        let s = "upload-7".to_string();
        assert_eq!(s.key_bytes(), "upload-7".key_bytes());
        assert_eq!(String::from_key_bytes(&s.key_bytes()), Some(s));
        for n in [0u64, 1, u64::MAX] {
            assert_eq!(u64::from_key_bytes(&n.key_bytes()), Some(n));
        }
        for n in [i64::MIN, -1, 0, i64::MAX] {
            assert_eq!(i64::from_key_bytes(&n.key_bytes()), Some(n));
        }
        let v = vec![0u8, 255, 7];
        assert_eq!(v.key_bytes(), v.as_slice().key_bytes());
        assert_eq!(Vec::<u8>::from_key_bytes(&v.key_bytes()), Some(v));
        assert_eq!(u64::from_key_bytes(b"short"), None);
        assert_eq!(String::from_key_bytes(&[0xff]), None);
    }
}
