//! Key-by-key comparison of the data loaded into etcd with the data read back after a restore.

use std::collections::BTreeMap;

/// Outcome of comparing two key-value sets. Keys are kept as lossy UTF-8 for display.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Keys present on both sides with equal values.
    pub matched: usize,
    /// Keys of the source that the restored etcd lacks.
    pub missing: Vec<String>,
    /// Keys of the restored etcd that the source lacks.
    pub extra: Vec<String>,
    /// Keys present on both sides with different values.
    pub changed: Vec<String>,
}

impl Comparison {
    pub fn is_exact(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.changed.is_empty()
    }
}

/// Compares `source` with `restored`. Neither needs to be sorted.
pub fn compare(source: &[(Vec<u8>, Vec<u8>)], restored: &[(Vec<u8>, Vec<u8>)]) -> Comparison {
    let to_map = |pairs: &[(Vec<u8>, Vec<u8>)]| -> BTreeMap<Vec<u8>, Vec<u8>> {
        pairs.iter().cloned().collect()
    };
    let source = to_map(source);
    let restored = to_map(restored);
    let display = |key: &[u8]| String::from_utf8_lossy(key).into_owned();

    let mut comparison = Comparison::default();
    for (key, value) in &source {
        match restored.get(key) {
            None => comparison.missing.push(display(key)),
            Some(other) if other != value => comparison.changed.push(display(key)),
            Some(_) => comparison.matched += 1,
        }
    }
    comparison.extra = restored
        .keys()
        .filter(|key| !source.contains_key(*key))
        .map(|key| display(key))
        .collect();
    comparison
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(key: &str, value: &[u8]) -> (Vec<u8>, Vec<u8>) {
        (key.as_bytes().to_vec(), value.to_vec())
    }

    #[test]
    fn equal_sets_match_exactly() {
        let source = vec![pair("/a", b"1"), pair("/b", b"\0\xff")];
        let restored = vec![pair("/b", b"\0\xff"), pair("/a", b"1")];
        let comparison = compare(&source, &restored);
        assert!(comparison.is_exact());
        assert_eq!(comparison.matched, 2);
    }

    #[test]
    fn differences_are_classified() {
        let source = vec![
            pair("/same", b"x"),
            pair("/changed", b"old"),
            pair("/missing", b"m"),
        ];
        let restored = vec![
            pair("/same", b"x"),
            pair("/changed", b"new"),
            pair("/extra", b"e"),
        ];
        let comparison = compare(&source, &restored);
        assert!(!comparison.is_exact());
        assert_eq!(comparison.matched, 1);
        assert_eq!(comparison.missing, ["/missing"]);
        assert_eq!(comparison.changed, ["/changed"]);
        assert_eq!(comparison.extra, ["/extra"]);
    }

    #[test]
    fn empty_value_differs_from_missing_key() {
        let comparison = compare(&[pair("/empty", b"")], &[]);
        assert_eq!(comparison.missing, ["/empty"]);
    }
}
