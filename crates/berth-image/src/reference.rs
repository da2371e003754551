//! Docker image references ("busybox", "busybox:1.36", "docker.io/library/busybox",
//! "localhost:5000/team/app:v1"), normalized to Docker's familiar `name:tag` form.

use crate::digest::is_full_hex;
use crate::error::ImageError;

fn invalid(detail: &str) -> ImageError {
    if detail.is_empty() {
        ImageError::InvalidInput("invalid reference format".into())
    } else {
        ImageError::InvalidInput(format!("invalid reference format: {detail}"))
    }
}

fn valid_component(c: &str) -> bool {
    // [a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let ch = b[i];
        if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && matches!(b[i], b'.' | b'_' | b'-') {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok || sep.is_empty() {
            return false;
        }
    }
    true
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Normalizes a tagged reference to Docker's familiar `name:tag` (tag `latest` by default;
/// `docker.io/` and `library/` dropped). Digest references are refused here: see
/// [`normalize_digest_reference`].
pub fn normalize_reference(reference: &str) -> Result<String, ImageError> {
    if reference.contains('@') {
        return Err(ImageError::InvalidInput(format!("refusing to create a tag with a digest reference: {reference}")));
    }
    let (name, tag) = split_tag(reference);
    if !valid_tag(tag) {
        return Err(invalid(""));
    }
    Ok(format!("{}:{tag}", familiar_name(name)?))
}

/// Normalizes `name[:tag]@sha256:<hex>` to Docker's familiar `name@sha256:<hex>` (a tag beside
/// a digest is ignored, as Docker does).
pub fn normalize_digest_reference(reference: &str) -> Result<String, ImageError> {
    let Some((named, digest)) = reference.split_once('@') else {
        return Err(invalid("no digest"));
    };
    let hex = digest.strip_prefix("sha256:").ok_or_else(|| invalid("unsupported digest algorithm"))?;
    if !is_full_hex(hex) {
        return Err(invalid("invalid checksum digest format"));
    }
    let (name, tag) = split_tag(named);
    if !valid_tag(tag) {
        return Err(invalid(""));
    }
    Ok(format!("{}@sha256:{hex}", familiar_name(name)?))
}

/// Either form, as Docker's `ParseNormalizedNamed` accepts both.
pub fn normalize_any_reference(reference: &str) -> Result<String, ImageError> {
    if reference.contains('@') {
        normalize_digest_reference(reference)
    } else {
        normalize_reference(reference)
    }
}

/// `name` and its tag (`latest` when none); a `:` followed by a `/` is a registry's port.
fn split_tag(reference: &str) -> (&str, &str) {
    match reference.rfind(':') {
        Some(i) if !reference[i + 1..].contains('/') => (&reference[..i], &reference[i + 1..]),
        _ => (reference, "latest"),
    }
}

/// A repository name in Docker's familiar form (`docker.io/library/` dropped).
fn familiar_name(name: &str) -> Result<String, ImageError> {
    if name.is_empty() || name.len() > 255 {
        return Err(invalid(""));
    }
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(invalid("repository name must be lowercase"));
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    let has_domain = parts.len() > 1 && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost");
    let mut domain = None;
    if has_domain {
        domain = Some(parts.remove(0));
    }
    if !parts.iter().all(|p| valid_component(p)) {
        return Err(invalid(""));
    }
    if domain.is_none() && parts.len() == 1 && is_full_hex(parts[0]) {
        return Err(ImageError::InvalidInput(format!(
            "invalid repository name ({name}), cannot specify 64-byte hexadecimal strings"
        )));
    }
    Ok(match domain {
        Some("docker.io") | Some("index.docker.io") | None => {
            if parts.len() == 2 && parts[0] == "library" {
                parts[1..].join("/")
            } else {
                parts.join("/")
            }
        }
        Some(d) => format!("{d}/{}", parts.join("/")),
    })
}

/// Whether a normalized reference names a digest (`name@sha256:…`) rather than a tag.
pub fn is_digest_reference(normalized: &str) -> bool {
    normalized.contains('@')
}

/// The repository part of a familiar `name:tag` or `name@sha256:…`.
pub(crate) fn repository_of(familiar: &str) -> &str {
    if let Some((name, _)) = familiar.split_once('@') {
        return name;
    }
    match familiar.rfind(':') {
        Some(i) if !familiar[i + 1..].contains('/') => &familiar[..i],
        _ => familiar,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_docker() {
        assert_eq!(normalize_reference("busybox").unwrap(), "busybox:latest");
        assert_eq!(normalize_reference("busybox:1.36").unwrap(), "busybox:1.36");
        assert_eq!(normalize_reference("docker.io/library/busybox").unwrap(), "busybox:latest");
        assert_eq!(normalize_reference("docker.io/me/app:v1").unwrap(), "me/app:v1");
        assert_eq!(normalize_reference("localhost:5000/a/b").unwrap(), "localhost:5000/a/b:latest");
        assert_eq!(normalize_reference("my-app_x.y").unwrap(), "my-app_x.y:latest");
        assert_eq!(repository_of("localhost:5000/a/b:latest"), "localhost:5000/a/b");
        assert_eq!(
            normalize_reference("BusyBox").unwrap_err().to_string(),
            "invalid reference format: repository name must be lowercase"
        );
        assert!(normalize_reference("a:b:c").is_err());
        assert!(normalize_reference("-a").is_err());
        assert!(normalize_reference("a@sha256:00").is_err());
        let hex = "ab".repeat(32);
        assert_eq!(
            normalize_digest_reference(&format!("docker.io/library/busybox@sha256:{hex}")).unwrap(),
            format!("busybox@sha256:{hex}")
        );
        assert_eq!(
            normalize_digest_reference(&format!("localhost:5000/a:v1@sha256:{hex}")).unwrap(),
            format!("localhost:5000/a@sha256:{hex}")
        );
        assert_eq!(repository_of(&format!("localhost:5000/a@sha256:{hex}")), "localhost:5000/a");
        assert!(normalize_digest_reference("a@sha256:00").is_err());
        assert!(normalize_digest_reference(&format!("a@md5:{hex}")).is_err());
        assert!(normalize_any_reference("a:b").is_ok());
        assert!(normalize_reference(&"a".repeat(64)).is_err());
    }
}
