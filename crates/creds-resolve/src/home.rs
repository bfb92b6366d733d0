//! Home directory lookup that works under systemd, where `HOME` is often unset.
//!
//! aws-config reads only `HOME`. Without it, `~/.aws/credentials` is resolved
//! against the working directory, so this crate resolves home itself and hands
//! aws-config absolute paths.

use std::ffi::{CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Source of the home directory, shown by `--explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HomeOrigin {
    /// The `HOME` variable.
    EnvVar,
    /// The user database (`getpwuid_r`) because `HOME` is unset, blank or relative.
    UserDatabase,
}

/// The resolved home directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    /// Absolute path.
    pub path: PathBuf,
    /// Source of the path.
    pub origin: HomeOrigin,
}

/// Resolves the home directory from the value of `HOME`, falling back to the user
/// database entry of the current user when `HOME` is unset, blank or not absolute.
/// Returns `None` when neither gives an absolute path.
pub fn resolve_home(home_var: Option<&str>) -> Option<Home> {
    resolve_home_with(home_var, home_from_user_database)
}

/// Like [`resolve_home`], with the user database lookup passed in for tests.
pub fn resolve_home_with(
    home_var: Option<&str>,
    lookup: impl FnOnce() -> Option<PathBuf>,
) -> Option<Home> {
    if let Some(value) = home_var.map(str::trim).filter(|v| !v.is_empty()) {
        let path = Path::new(value);
        if path.is_absolute() {
            return Some(Home {
                path: path.to_path_buf(),
                origin: HomeOrigin::EnvVar,
            });
        }
    }

    let path = lookup().filter(|p| p.is_absolute())?;
    Some(Home {
        path,
        origin: HomeOrigin::UserDatabase,
    })
}

/// Returns the home directory of the current real user from the user database.
pub fn home_from_user_database() -> Option<PathBuf> {
    // SAFETY: getuid has no preconditions and always succeeds (POSIX).
    let uid = unsafe { libc::getuid() };
    let mut buffer_len = 1024usize;

    // Entries with long gecos fields or NSS backends may need a larger buffer;
    // getpwuid_r reports that with ERANGE. One MiB bounds the retries.
    while buffer_len <= 1 << 20 {
        let mut buffer = vec![0u8; buffer_len];
        // SAFETY: passwd is a plain C struct for which all-zero bytes are a valid value.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();

        // SAFETY: every pointer refers to live memory of the stated size, and the
        // strings in `entry` point into `buffer`, which outlives their use below.
        let rc = unsafe {
            libc::getpwuid_r(
                uid,
                &mut entry,
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE {
            buffer_len *= 2;
            continue;
        }
        if rc != 0 || result.is_null() || entry.pw_dir.is_null() {
            return None;
        }

        // SAFETY: pw_dir is a NUL-terminated string inside `buffer`, checked non-null.
        let dir = unsafe { CStr::from_ptr(entry.pw_dir) };
        let dir = PathBuf::from(OsStr::from_bytes(dir.to_bytes()));
        return if dir.as_os_str().is_empty() {
            None
        } else {
            Some(dir)
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_lookup() -> Option<PathBuf> {
        Some(PathBuf::from("/home/from-passwd"))
    }

    #[test]
    fn home_var_wins_when_absolute() {
        let home = resolve_home_with(Some("/srv/backup"), fake_lookup).unwrap();
        assert_eq!(home.path, PathBuf::from("/srv/backup"));
        assert_eq!(home.origin, HomeOrigin::EnvVar);
    }

    #[test]
    fn unset_blank_or_relative_home_uses_database() {
        for value in [None, Some(""), Some("   "), Some("relative/dir"), Some("~")] {
            let home = resolve_home_with(value, fake_lookup).unwrap();
            assert_eq!(home.path, PathBuf::from("/home/from-passwd"), "{value:?}");
            assert_eq!(home.origin, HomeOrigin::UserDatabase, "{value:?}");
        }
    }

    #[test]
    fn no_home_anywhere_is_none() {
        assert_eq!(resolve_home_with(None, || None), None);
        assert_eq!(resolve_home_with(None, || Some(PathBuf::from("rel"))), None);
    }

    #[test]
    fn user_database_matches_passwd_file() {
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        let expected = passwd
            .lines()
            .map(|line| line.split(':').collect::<Vec<_>>())
            .find(|fields| fields.len() >= 7 && fields[2] == uid.to_string())
            .map(|fields| PathBuf::from(fields[5]));
        let Some(expected) = expected else {
            // The user comes from a network directory, not /etc/passwd; the lookup
            // must still return an absolute path.
            assert!(home_from_user_database().unwrap().is_absolute());
            return;
        };
        assert_eq!(home_from_user_database(), Some(expected));
    }
}
