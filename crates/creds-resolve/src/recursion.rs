//! Guard against a profile whose `credential_process` runs `creds-resolve` for
//! the same profile, which would otherwise fork without end.
//!
//! Each run appends its profile to [`CHAIN_VAR`] in its own environment, which
//! `credential_process` children inherit. A child that finds its profile already
//! listed, or a chain deeper than [`MAX_DEPTH`], stops with an error.

use crate::env::EnvVars;
use crate::error::Error;

/// Comma-separated profiles being resolved by ancestor `creds-resolve` processes.
pub const CHAIN_VAR: &str = "CREDS_RESOLVE_PROFILE_CHAIN";

/// Maximum number of nested `creds-resolve` runs, the same limit aws-cli uses.
pub const MAX_DEPTH: usize = 4;

/// Checks the inherited chain and returns the value to export to children.
pub fn enter(env: &EnvVars, profile: &str) -> Result<String, Error> {
    let chain: Vec<&str> = env
        .value(CHAIN_VAR)
        .map(|v| v.split(',').filter(|p| !p.is_empty()).collect())
        .unwrap_or_default();

    if chain.contains(&profile) {
        return Err(Error::Misconfigured(format!(
            "credential_process loop: profile \"{profile}\" is already being resolved by a parent \
             creds-resolve (chain: {} -> {profile}); its credential_process must not run \
             creds-resolve for the same profile",
            chain.join(" -> ")
        )));
    }
    if chain.len() >= MAX_DEPTH {
        return Err(Error::Misconfigured(format!(
            "credential_process chain too deep: {} nested creds-resolve runs ({} -> {profile}); \
             the limit is {MAX_DEPTH}",
            chain.len() + 1,
            chain.join(" -> ")
        )));
    }

    let mut next = chain;
    next.push(profile);
    Ok(next.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_run_starts_chain() {
        assert_eq!(enter(&EnvVars::default(), "a").unwrap(), "a");
    }

    #[test]
    fn repeated_profile_is_loop() {
        let env = EnvVars::from_pairs([(CHAIN_VAR, "a,b")]);
        let err = enter(&env, "a").unwrap_err();
        assert!(err.to_string().contains("a -> b -> a"), "{err}");
    }

    #[test]
    fn depth_limit_applies() {
        let env = EnvVars::from_pairs([(CHAIN_VAR, "a,b,c,d")]);
        assert!(enter(&env, "e").is_err());
        let env = EnvVars::from_pairs([(CHAIN_VAR, "a,b,c")]);
        assert_eq!(enter(&env, "e").unwrap(), "a,b,c,e");
    }
}
