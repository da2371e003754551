//! Deserializers for the shapes Docker clients send.

use serde::{Deserialize, Deserializer};

/// `null` (docker-py sends `None` for unset fields) becomes the type's default; any other value
/// must have the right type.
pub fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StrOrVec {
    One(String),
    Many(Vec<String>),
}

/// Docker's `StrSlice` (Cmd, Entrypoint, Shell, Healthcheck.Test): a JSON string is a
/// one-element list, `null` is unset.
pub fn str_slice<'de, D>(d: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(match Option::<StrOrVec>::deserialize(d)? {
        None => None,
        Some(StrOrVec::One(s)) => Some(vec![s]),
        Some(StrOrVec::Many(v)) => Some(v),
    })
}
