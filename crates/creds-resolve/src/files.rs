//! Locating and reading the shared credentials and config files.
//!
//! aws-config silently treats a missing env-named file, a non-UTF-8 file or a
//! relative home as "no file". Here those are errors, a UTF-8 BOM is stripped,
//! and permissions are checked, before the text is handed to aws-config's parser.

use crate::env::EnvVars;
use crate::error::Error;
use crate::home::Home;
use std::fmt;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// The two shared files of the AWS SDKs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `~/.aws/credentials`: sections are `[name]`.
    Credentials,
    /// `~/.aws/config`: sections are `[profile name]`, except `[default]`.
    Config,
}

impl FileKind {
    /// Returns the variable that overrides the default location.
    pub fn env_var(self) -> &'static str {
        match self {
            FileKind::Credentials => "AWS_SHARED_CREDENTIALS_FILE",
            FileKind::Config => "AWS_CONFIG_FILE",
        }
    }

    fn default_relative(self) -> &'static str {
        match self {
            FileKind::Credentials => ".aws/credentials",
            FileKind::Config => ".aws/config",
        }
    }

    /// Returns the aws-runtime kind used when handing the text to the parser.
    pub fn aws_kind(self) -> aws_runtime::env_config::file::EnvConfigFileKind {
        use aws_runtime::env_config::file::EnvConfigFileKind;
        match self {
            FileKind::Credentials => EnvConfigFileKind::Credentials,
            FileKind::Config => EnvConfigFileKind::Config,
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Credentials => "credentials file",
            FileKind::Config => "config file",
        })
    }
}

/// Source of a file path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathOrigin {
    /// Under the home directory.
    Default,
    /// Named by `AWS_SHARED_CREDENTIALS_FILE` or `AWS_CONFIG_FILE`.
    EnvVar,
}

/// The chosen path of one shared file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLocation {
    /// Which file.
    pub kind: FileKind,
    /// Absolute path; `None` when no home directory could be found and no variable names one.
    pub path: Option<PathBuf>,
    /// Source of the path.
    pub origin: PathOrigin,
}

impl FileLocation {
    /// Describes the file for messages: its path and where the path came from.
    pub fn describe(&self) -> String {
        match (&self.path, self.origin) {
            (Some(path), PathOrigin::EnvVar) => {
                format!("{} (from {})", path.display(), self.kind.env_var())
            }
            (Some(path), PathOrigin::Default) => format!("{} (default location)", path.display()),
            (None, _) => format!(
                "no {} (no home directory found and {} is unset)",
                self.kind,
                self.kind.env_var()
            ),
        }
    }
}

/// Chooses the path of one file: the env variable when set and non-blank, else the
/// default under `home`. `~` or `~/...` in the variable expands to `home`. A relative
/// path is an error because it would silently depend on the working directory.
pub fn locate(kind: FileKind, env: &EnvVars, home: Option<&Home>) -> Result<FileLocation, Error> {
    let Some(value) = env.value(kind.env_var()) else {
        return Ok(FileLocation {
            kind,
            path: home.map(|h| h.path.join(kind.default_relative())),
            origin: PathOrigin::Default,
        });
    };

    let raw = Path::new(value);
    let mut components = raw.components();
    let path = match components.next() {
        Some(Component::Normal(first)) if first == "~" => {
            let Some(home) = home else {
                return Err(Error::Misconfigured(format!(
                    "{} is {value} but no home directory was found to expand `~` (HOME is unset \
                     and the user database has no entry); use an absolute path",
                    kind.env_var()
                )));
            };
            home.path.join(components.as_path())
        }
        _ => raw.to_path_buf(),
    };

    if !path.is_absolute() {
        return Err(Error::Misconfigured(format!(
            "{} is the relative path {value}; use an absolute path, because a relative one \
             depends on the working directory",
            kind.env_var()
        )));
    }
    Ok(FileLocation {
        kind,
        path: Some(path),
        origin: PathOrigin::EnvVar,
    })
}

/// One shared file after reading.
#[derive(Clone)]
pub struct LoadedFile {
    /// Path and its source.
    pub location: FileLocation,
    /// Text with any UTF-8 BOM removed; `None` when the default file does not exist.
    pub contents: Option<String>,
    /// Permission bits when the file exists.
    pub mode: Option<u32>,
}

impl fmt::Debug for LoadedFile {
    // The contents hold secrets, so only their presence is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedFile")
            .field("location", &self.location)
            .field("contents", &self.contents.as_ref().map(|_| "<redacted>"))
            .field("mode", &self.mode.map(|m| format!("{m:o}")))
            .finish()
    }
}

impl LoadedFile {
    /// Returns the path for messages, or the file kind when there is no path.
    pub fn display_path(&self) -> String {
        match &self.location.path {
            Some(path) => path.display().to_string(),
            None => self.location.kind.to_string(),
        }
    }
}

/// Reads a located file. A missing default file is not an error; a missing file named
/// by a variable is. Loose permissions add a warning, or fail under `strict_permissions`.
pub fn load(
    location: FileLocation,
    strict_permissions: bool,
    warnings: &mut Vec<String>,
) -> Result<LoadedFile, Error> {
    let Some(path) = location.path.clone() else {
        return Ok(LoadedFile {
            location,
            contents: None,
            mode: None,
        });
    };

    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == ErrorKind::NotFound && location.origin == PathOrigin::Default => {
            return Ok(LoadedFile {
                location,
                contents: None,
                mode: None,
            });
        }
        Err(err) if err.kind() == ErrorKind::NotFound => {
            return Err(Error::Misconfigured(format!(
                "{} names {}, which does not exist; fix the path or unset {}",
                location.kind.env_var(),
                path.display(),
                location.kind.env_var()
            )));
        }
        Err(err) => {
            return Err(Error::Misconfigured(format!(
                "cannot read the {} {}: {err}",
                location.kind,
                path.display()
            )));
        }
    };

    let mode = std::fs::metadata(&path)
        .map(|m| m.permissions().mode() & 0o7777)
        .ok();
    if let Some(mode) = mode {
        check_permissions(&path, mode, strict_permissions, warnings)?;
    }

    let contents = decode_text(&path, bytes)?;
    Ok(LoadedFile {
        location,
        contents: Some(contents),
        mode,
    })
}

/// Warns about, or with `strict` rejects, a file that group or others may access.
pub fn check_permissions(
    path: &Path,
    mode: u32,
    strict: bool,
    warnings: &mut Vec<String>,
) -> Result<(), Error> {
    if mode & 0o077 == 0 {
        return Ok(());
    }
    let message = format!(
        "{} is accessible by group or others (mode {:03o}); run `chmod 600 {}`",
        path.display(),
        mode & 0o777,
        path.display()
    );
    if strict {
        return Err(Error::Misconfigured(format!(
            "{message} (rejected because of --strict-permissions)"
        )));
    }
    warnings.push(message);
    Ok(())
}

/// Decodes file bytes as UTF-8 after removing a leading BOM. Invalid UTF-8 is an
/// error naming the line, where aws-config would treat the file as empty.
pub fn decode_text(path: &Path, mut bytes: Vec<u8>) -> Result<String, Error> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    if bytes.starts_with(BOM) {
        bytes.drain(..BOM.len());
    }
    String::from_utf8(bytes).map_err(|err| {
        let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        Error::Misconfigured(format!(
            "{} line {line}: the file is not valid UTF-8; save it as UTF-8",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::home::HomeOrigin;

    fn home() -> Home {
        Home {
            path: PathBuf::from("/home/u"),
            origin: HomeOrigin::EnvVar,
        }
    }

    #[test]
    fn default_path_is_under_home() {
        let env = EnvVars::default();
        let loc = locate(FileKind::Credentials, &env, Some(&home())).unwrap();
        assert_eq!(loc.path, Some(PathBuf::from("/home/u/.aws/credentials")));
        assert_eq!(loc.origin, PathOrigin::Default);
    }

    #[test]
    fn blank_variable_means_default() {
        let env = EnvVars::from_pairs([("AWS_CONFIG_FILE", "  ")]);
        let loc = locate(FileKind::Config, &env, Some(&home())).unwrap();
        assert_eq!(loc.path, Some(PathBuf::from("/home/u/.aws/config")));
    }

    #[test]
    fn tilde_expands_to_home() {
        let env = EnvVars::from_pairs([("AWS_CONFIG_FILE", "~/cfg/aws")]);
        let loc = locate(FileKind::Config, &env, Some(&home())).unwrap();
        assert_eq!(loc.path, Some(PathBuf::from("/home/u/cfg/aws")));
        assert_eq!(loc.origin, PathOrigin::EnvVar);
    }

    #[test]
    fn relative_variable_is_rejected() {
        let env = EnvVars::from_pairs([("AWS_SHARED_CREDENTIALS_FILE", "creds")]);
        let err = locate(FileKind::Credentials, &env, Some(&home())).unwrap_err();
        assert!(err.to_string().contains("relative path creds"), "{err}");
    }

    #[test]
    fn no_home_gives_no_default_path() {
        let loc = locate(FileKind::Credentials, &EnvVars::default(), None).unwrap();
        assert_eq!(loc.path, None);
    }

    #[test]
    fn bom_is_stripped() {
        let text = decode_text(Path::new("/x"), b"\xEF\xBB\xBF[default]\n".to_vec()).unwrap();
        assert_eq!(text, "[default]\n");
    }

    #[test]
    fn invalid_utf8_names_line() {
        let err = decode_text(Path::new("/x"), b"[a]\nk = \xFF\n".to_vec()).unwrap_err();
        assert!(err.to_string().contains("/x line 2"), "{err}");
    }

    #[test]
    fn loose_mode_warns_or_fails() {
        let mut warnings = Vec::new();
        check_permissions(Path::new("/x"), 0o644, false, &mut warnings).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("chmod 600 /x"));

        let err = check_permissions(Path::new("/x"), 0o640, true, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("--strict-permissions"));

        let mut none = Vec::new();
        check_permissions(Path::new("/x"), 0o600, true, &mut none).unwrap();
        assert!(none.is_empty());
    }
}
