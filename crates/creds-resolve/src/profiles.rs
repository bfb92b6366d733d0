//! Parsing the shared files with aws-config's parser, profile lookup with hints
//! for the classic mistakes, and checks on the profiles a role chain uses.

use crate::error::Error;
use crate::files::{FileKind, LoadedFile};
use crate::statics::{FILE_NAMES, KeyParts, assemble};
use aws_config::profile::ProfileSet;
use aws_runtime::env_config::file::EnvConfigFiles;
use aws_types::os_shim_internal::{Env, Fs};

/// Both files, parsed alone and merged the way aws-config merges them.
pub struct ParsedProfiles {
    /// The credentials file as read.
    pub credentials: LoadedFile,
    /// The config file as read.
    pub config: LoadedFile,
    /// Profiles of the credentials file alone.
    pub credentials_sections: ProfileSet,
    /// Profiles of the config file alone.
    pub config_sections: ProfileSet,
    /// Both files merged (credentials file wins per key).
    pub merged: ProfileSet,
}

impl std::fmt::Debug for ParsedProfiles {
    // Parsed profiles hold secret values, so only the profile names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |set: &ProfileSet| {
            let mut names: Vec<String> = set.profiles().map(str::to_string).collect();
            names.sort();
            names
        };
        f.debug_struct("ParsedProfiles")
            .field("credentials", &self.credentials)
            .field("config", &self.config)
            .field("credentials_profiles", &names(&self.credentials_sections))
            .field("config_profiles", &names(&self.config_sections))
            .finish_non_exhaustive()
    }
}

impl ParsedProfiles {
    /// Returns both files' texts in the form aws-config's providers take. The texts
    /// are passed instead of paths so that a BOM is already gone and nothing is
    /// resolved against the working directory.
    pub fn env_config_files(&self) -> EnvConfigFiles {
        // Config first, credentials second: the later file wins when aws-config merges.
        EnvConfigFiles::builder()
            .with_contents(
                FileKind::Config.aws_kind(),
                self.config.contents.clone().unwrap_or_default(),
            )
            .with_contents(
                FileKind::Credentials.aws_kind(),
                self.credentials.contents.clone().unwrap_or_default(),
            )
            .build()
    }

    /// Returns true when a profile of this name exists in either file.
    pub fn exists(&self, name: &str) -> bool {
        self.merged.get_profile(name).is_some()
    }

    /// Names both files for "not found" messages.
    pub fn searched(&self) -> String {
        format!(
            "{} and {}",
            self.credentials.location.describe(),
            self.config.location.describe()
        )
    }
}

/// Parses both files. A parse error names the file and line.
pub async fn parse(credentials: LoadedFile, config: LoadedFile) -> Result<ParsedProfiles, Error> {
    let credentials_sections = parse_one(&credentials).await?;
    let config_sections = parse_one(&config).await?;
    let mut parsed = ParsedProfiles {
        credentials,
        config,
        credentials_sections,
        config_sections,
        merged: ProfileSet::default(),
    };
    parsed.merged = parse_files(&parsed.env_config_files(), "the shared files").await?;
    Ok(parsed)
}

async fn parse_one(file: &LoadedFile) -> Result<ProfileSet, Error> {
    let contents = file.contents.clone().unwrap_or_default();
    let files = EnvConfigFiles::builder()
        .with_contents(file.location.kind.aws_kind(), contents)
        .build();
    parse_files(&files, &file.display_path()).await
}

async fn parse_files(files: &EnvConfigFiles, label: &str) -> Result<ProfileSet, Error> {
    // An empty environment keeps AWS_PROFILE and HOME out of the parse; the texts
    // are in memory, so the file system is never touched.
    let env = Env::from_slice(&[]);
    let fs = Fs::from_slice(&[]);
    aws_config::profile::load(&fs, &env, files, None)
        .await
        .map_err(|err| {
            let detail = parse_error_detail(&err);
            Error::Misconfigured(format!("cannot parse {label}: {detail}"))
        })
}

/// Turns aws-config's parse error into "line N: message". With in-memory text the
/// error carries an empty path, so the caller adds the file name.
fn parse_error_detail(err: &aws_config::profile::ProfileFileLoadError) -> String {
    use aws_config::profile::ProfileParseError;
    use std::error::Error as _;
    let Some(parse) = err
        .source()
        .and_then(|source| source.downcast_ref::<ProfileParseError>())
    else {
        return err.to_string();
    };
    let text = parse.to_string();
    let detail = text
        .split_once(" on line ")
        .map(|(_, rest)| format!("line {rest}"))
        .unwrap_or(text);
    detail.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Builds the error for a requested profile found in neither file, with hints for
/// the classic mistakes.
pub fn not_found_error(parsed: &ParsedProfiles, name: &str, origin: &str) -> Error {
    let mut message = format!(
        "profile \"{name}\" ({origin}) was not found in {}",
        parsed.searched()
    );
    for hint in hints(parsed, name) {
        message.push_str("; ");
        message.push_str(&hint);
    }
    Error::Misconfigured(message)
}

/// Hints for a profile name that is not found: wrong section syntax for the file
/// kind, or the same name in another letter case.
pub fn hints(parsed: &ParsedProfiles, name: &str) -> Vec<String> {
    let mut hints = Vec::new();

    for file in [&parsed.credentials, &parsed.config] {
        let Some(text) = &file.contents else { continue };
        for (index, header) in section_headers(text) {
            let line = index + 1;
            let path = file.display_path();
            match file.location.kind {
                FileKind::Credentials => {
                    if header.strip_prefix("profile ").map(str::trim) == Some(name) {
                        hints.push(format!(
                            "{path} line {line} has [{header}], but the credentials file names \
                             sections without the prefix: write [{name}]"
                        ));
                    }
                }
                FileKind::Config => {
                    if header == name && name != "default" {
                        hints.push(format!(
                            "{path} line {line} has [{name}], but the config file needs \
                             [profile {name}]"
                        ));
                    }
                }
            }
        }
    }

    for other in parsed.merged.profiles() {
        if other != name && other.eq_ignore_ascii_case(name) {
            hints.push(format!(
                "profile names are case-sensitive and \"{other}\" exists"
            ));
        }
    }
    hints
}

/// Section headers with their zero-based line index, as written (trimmed, without
/// brackets or trailing comments).
fn section_headers(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(|(index, line)| {
        let inner = line.trim().strip_prefix('[')?;
        let (header, _) = inner.split_once(']')?;
        Some((index, header.trim()))
    })
}

/// Checks the selected profile and every `source_profile` it reaches: each must
/// exist, and none may have its key settings split over both files or half set.
pub fn check_role_chain(parsed: &ParsedProfiles, name: &str) -> Result<(), Error> {
    let mut visited: Vec<&str> = Vec::new();
    let mut current = name;

    loop {
        let Some(profile) = parsed.merged.get_profile(current) else {
            if let Some(parent) = visited.last() {
                return Err(Error::Misconfigured(format!(
                    "profile \"{parent}\" sets source_profile = {current}, but profile \
                     \"{current}\" was not found in {}",
                    parsed.searched()
                )));
            }
            return Ok(());
        };
        if visited.contains(&current) {
            visited.push(current);
            return Err(Error::Misconfigured(format!(
                "source_profile loop: {}",
                visited.join(" -> ")
            )));
        }
        visited.push(current);
        check_static_keys(parsed, current)?;

        if profile.get("role_arn").is_none() {
            return Ok(());
        }
        match profile.get("source_profile") {
            // A role profile may name itself as source to use its own static keys.
            Some(source) if source != current => current = source,
            _ => return Ok(()),
        }
    }
}

/// Checks the key settings of one profile in each file: no half pair in a file, and
/// not key settings in both files, which aws-config would merge key by key.
pub fn check_static_keys(parsed: &ParsedProfiles, name: &str) -> Result<(), Error> {
    let mut files_with_keys = Vec::new();
    for (file, sections) in [
        (&parsed.credentials, &parsed.credentials_sections),
        (&parsed.config, &parsed.config_sections),
    ] {
        let Some(profile) = sections.get_profile(name) else {
            continue;
        };
        let source = format!("profile \"{name}\" in {}", file.display_path());
        let values = FILE_NAMES.map(|key| profile.get(key));
        let keys = assemble(KeyParts {
            source: &source,
            names: FILE_NAMES,
            values,
        })?;
        if keys.is_some() {
            files_with_keys.push(file.display_path());
        }
    }

    if files_with_keys.len() > 1 {
        return Err(Error::Misconfigured(format!(
            "profile \"{name}\" has aws_access_key_id/aws_secret_access_key/aws_session_token \
             settings in both {} and {}; keep them in one file, because the SDKs would combine \
             values from the two",
            files_with_keys[0], files_with_keys[1]
        )));
    }
    Ok(())
}

/// Names the credential mechanism of a profile in the order aws-config checks
/// them, for `--explain`.
pub fn describe_mechanism(parsed: &ParsedProfiles, name: &str) -> String {
    let Some(profile) = parsed.merged.get_profile(name) else {
        return "nothing (the profile does not exist)".to_string();
    };
    let get = |key: &str| profile.get(key).map(str::trim).filter(|v| !v.is_empty());

    if let Some(role) = get("role_arn") {
        if let Some(source) = get("credential_source") {
            return format!("STS AssumeRole of {role} with credential_source = {source}");
        }
        if get("web_identity_token_file").is_some() {
            return format!("STS AssumeRoleWithWebIdentity of {role}");
        }
        if let Some(source) = get("source_profile") {
            return format!("STS AssumeRole of {role} with source_profile = {source}");
        }
        return format!("role_arn {role} without a source");
    }
    if get("sso_session").is_some() || get("sso_start_url").is_some() {
        return "SSO".to_string();
    }
    if get("credential_process").is_some() {
        return "credential_process".to_string();
    }
    if get("aws_access_key_id").is_some() {
        return "static keys".to_string();
    }
    "no credential settings".to_string()
}
