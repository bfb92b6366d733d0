//! User metadata (`x-amz-meta-*`) and object tags from the command line.

use std::collections::BTreeMap;
use std::path::Path;

/// S3's limit for all user-defined metadata of one object: keys plus values, in bytes.
pub const MAX_METADATA_BYTES: usize = 2048;

/// Prefix of keys flattened from `--metadata-json`.
pub const JSON_KEY_PREFIX: &str = "etcd-";

/// Error in `--metadata`, `--metadata-json` or `--tag`.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("invalid {flag} {value:?}: expected KEY=VALUE")]
    MissingEquals { flag: &'static str, value: String },

    #[error("invalid {flag} key {key:?}: use letters, digits, '-', '_' or '.'")]
    BadKey { flag: &'static str, key: String },

    #[error(
        "invalid metadata value for {key:?}: S3 stores only printable ASCII in metadata; \
         encode the value first"
    )]
    NonAsciiValue { key: String },

    #[error("metadata key {key:?} is given twice")]
    Duplicate { key: String },

    #[error(
        "user metadata is {size} bytes, above S3's limit of {MAX_METADATA_BYTES} bytes \
         (keys plus values); drop some --metadata entries"
    )]
    TooLarge { size: usize },

    #[error("cannot read --metadata-json {path}: {reason}")]
    Json { path: String, reason: String },
}

/// Parses one `KEY=VALUE` argument of `flag`.
pub fn parse_pair(flag: &'static str, arg: &str) -> Result<(String, String), MetadataError> {
    let Some((key, value)) = arg.split_once('=') else {
        return Err(MetadataError::MissingEquals {
            flag,
            value: arg.to_owned(),
        });
    };
    let valid_key = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid_key {
        return Err(MetadataError::BadKey {
            flag,
            key: key.to_owned(),
        });
    }
    Ok((key.to_owned(), value.to_owned()))
}

/// Builds the user metadata from `--metadata` pairs and an optional
/// `--metadata-json` document, and checks S3's size limit.
///
/// The JSON object is flattened: nested keys are joined with '-', every key is
/// lowercased with characters outside `[a-z0-9-]` replaced by '-', and each key
/// gets the `etcd-` prefix. Strings are stored as they are; numbers, booleans
/// and arrays as their JSON text; null is skipped.
pub fn build_metadata(
    pairs: &[String],
    json: Option<&serde_json::Value>,
) -> Result<BTreeMap<String, String>, MetadataError> {
    let mut metadata = BTreeMap::new();

    for arg in pairs {
        let (key, value) = parse_pair("--metadata", arg)?;
        insert(&mut metadata, key.to_ascii_lowercase(), value)?;
    }

    if let Some(json) = json {
        let mut flat = Vec::new();
        flatten(json, JSON_KEY_PREFIX.trim_end_matches('-'), &mut flat);
        for (key, value) in flat {
            insert(&mut metadata, key, value)?;
        }
    }

    let size: usize = metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_METADATA_BYTES {
        return Err(MetadataError::TooLarge { size });
    }
    Ok(metadata)
}

fn insert(
    metadata: &mut BTreeMap<String, String>,
    key: String,
    value: String,
) -> Result<(), MetadataError> {
    if !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(MetadataError::NonAsciiValue { key });
    }
    if metadata.contains_key(&key) {
        return Err(MetadataError::Duplicate { key });
    }
    metadata.insert(key, value);
    Ok(())
}

fn flatten(value: &serde_json::Value, prefix: &str, out: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map {
                let key = format!("{prefix}-{}", normalize_key(key));
                flatten(child, &key, out);
            }
        }
        serde_json::Value::Null => {}
        serde_json::Value::String(text) => out.push((prefix.to_owned(), text.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

fn normalize_key(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Reads and parses the `--metadata-json` file; it must contain a JSON object.
pub fn read_metadata_json(path: &Path) -> Result<serde_json::Value, MetadataError> {
    let error = |reason: String| MetadataError::Json {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|err| error(err.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|err| error(err.to_string()))?;
    if !value.is_object() {
        return Err(error("expected a JSON object".to_owned()));
    }
    Ok(value)
}

/// Encodes `--tag` pairs as the `x-amz-tagging` query string.
pub fn encode_tags(pairs: &[String]) -> Result<Option<String>, MetadataError> {
    if pairs.is_empty() {
        return Ok(None);
    }
    let mut encoded = Vec::with_capacity(pairs.len());
    for arg in pairs {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(MetadataError::MissingEquals {
                flag: "--tag",
                value: arg.clone(),
            });
        };
        if key.is_empty() {
            return Err(MetadataError::BadKey {
                flag: "--tag",
                key: key.to_owned(),
            });
        }
        encoded.push(format!("{}={}", percent_encode(key), percent_encode(value)));
    }
    Ok(Some(encoded.join("&")))
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pair_parses() {
        assert_eq!(
            parse_pair("--metadata", "cluster=prod=1").unwrap(),
            ("cluster".to_owned(), "prod=1".to_owned())
        );
    }

    #[test]
    fn pair_without_equals_rejected() {
        let err = parse_pair("--metadata", "cluster").unwrap_err();
        assert!(err.to_string().contains("KEY=VALUE"), "{err}");
    }

    #[test]
    fn pair_with_bad_key_rejected() {
        assert!(parse_pair("--metadata", "a b=c").is_err());
        assert!(parse_pair("--metadata", "=c").is_err());
    }

    #[test]
    fn metadata_keys_lowercased() {
        let metadata = build_metadata(&["Cluster=prod".to_owned()], None).unwrap();
        assert_eq!(metadata.get("cluster").map(String::as_str), Some("prod"));
    }

    #[test]
    fn json_flattened_with_prefix() {
        let summary = json!({
            "revision": 42,
            "etcdVersion": "3.5.1",
            "hash": {"sha256": "abc"},
            "compacted": false,
            "members": [1, 2],
            "note": null
        });
        let metadata = build_metadata(&[], Some(&summary)).unwrap();
        assert_eq!(
            metadata.get("etcd-revision").map(String::as_str),
            Some("42")
        );
        assert_eq!(
            metadata.get("etcd-etcdversion").map(String::as_str),
            Some("3.5.1")
        );
        assert_eq!(
            metadata.get("etcd-hash-sha256").map(String::as_str),
            Some("abc")
        );
        assert_eq!(
            metadata.get("etcd-compacted").map(String::as_str),
            Some("false")
        );
        assert_eq!(
            metadata.get("etcd-members").map(String::as_str),
            Some("[1,2]")
        );
        assert!(!metadata.contains_key("etcd-note"));
    }

    #[test]
    fn duplicate_key_rejected() {
        let pairs = ["etcd-revision=1".to_owned()];
        let err = build_metadata(&pairs, Some(&json!({"revision": 2}))).unwrap_err();
        assert!(matches!(err, MetadataError::Duplicate { .. }), "{err}");
    }

    #[test]
    fn non_ascii_value_rejected() {
        let err = build_metadata(&["owner=Jürgen".to_owned()], None).unwrap_err();
        assert!(matches!(err, MetadataError::NonAsciiValue { .. }), "{err}");
    }

    #[test]
    fn oversized_metadata_rejected() {
        let pairs = [format!("big={}", "x".repeat(2046))];
        let err = build_metadata(&pairs, None).unwrap_err();
        assert!(
            matches!(err, MetadataError::TooLarge { size: 2049 }),
            "{err}"
        );
        let pairs = [format!("big={}", "x".repeat(2045))];
        assert!(build_metadata(&pairs, None).is_ok());
    }

    #[test]
    fn tags_percent_encoded() {
        let tags = encode_tags(&["team=sre ops".to_owned(), "a&b=c=d".to_owned()]).unwrap();
        assert_eq!(tags.as_deref(), Some("team=sre%20ops&a%26b=c%3Dd"));
        assert_eq!(encode_tags(&[]).unwrap(), None);
        assert!(encode_tags(&["novalue".to_owned()]).is_err());
    }
}
