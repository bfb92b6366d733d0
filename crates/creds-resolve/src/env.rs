//! A snapshot of the process environment, read once, so every chain step uses one
//! consistent view and tests can pass their own variables.

use std::collections::BTreeMap;

/// Environment variables as read by the chain.
#[derive(Clone, Default)]
pub struct EnvVars {
    vars: BTreeMap<String, String>,
}

impl std::fmt::Debug for EnvVars {
    // Values can be secrets, so only the names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.vars.keys()).finish()
    }
}

impl EnvVars {
    /// Reads the process environment. Values that are not valid UTF-8 are converted
    /// lossily, so they fail the later value checks instead of vanishing.
    pub fn from_process() -> Self {
        let vars = std::env::vars_os()
            .filter_map(|(name, value)| {
                let name = name.into_string().ok()?;
                Some((name, value.to_string_lossy().into_owned()))
            })
            .collect();
        EnvVars { vars }
    }

    /// Builds a snapshot from name/value pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let vars = pairs
            .into_iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        EnvVars { vars }
    }

    /// Returns the value as set, untrimmed, or `None` when the variable is absent.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Returns the value without surrounding whitespace; empty or whitespace-only
    /// values count as unset.
    pub fn value(&self, name: &str) -> Option<&str> {
        let value = self.raw(name)?.trim();
        if value.is_empty() { None } else { Some(value) }
    }

    /// Returns true when the variable has a non-blank value.
    pub fn is_set(&self, name: &str) -> bool {
        self.value(name).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_value_counts_as_unset() {
        let env = EnvVars::from_pairs([("A", "  "), ("B", ""), ("C", " x ")]);
        assert_eq!(env.value("A"), None);
        assert_eq!(env.value("B"), None);
        assert_eq!(env.value("C"), Some("x"));
        assert_eq!(env.raw("C"), Some(" x "));
    }

    #[test]
    fn debug_shows_names_only() {
        let env = EnvVars::from_pairs([("AWS_SECRET_ACCESS_KEY", "hidden-value")]);
        let debug = format!("{env:?}");
        assert!(debug.contains("AWS_SECRET_ACCESS_KEY"));
        assert!(!debug.contains("hidden-value"));
    }
}
