//! The resolution chain: flags, environment, credentials file, then aws-config's
//! profile, web identity, container and instance metadata providers.

use crate::cli::Args;
use crate::env::EnvVars;
use crate::error::Error;
use crate::explain::Report;
use crate::files::{self, FileKind, FileLocation, LoadedFile};
use crate::home::{Home, HomeOrigin, resolve_home};
use crate::profiles::{self, ParsedProfiles};
use crate::providers::{self, Attempt};
use crate::recursion;
use crate::secret::ResolvedCredentials;
use crate::statics::{ENV_NAMES, FILE_NAMES, KeyParts, assemble};
use aws_config::ecs::EcsCredentialsProvider;
use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::web_identity_token::WebIdentityTokenCredentialsProvider;
use std::ffi::OsString;
use std::io::Read;
use std::path::Path;

/// Source of the profile name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileOrigin {
    /// `--profile`.
    Flag,
    /// `AWS_PROFILE`.
    EnvVar,
    /// Neither was set.
    Default,
}

impl ProfileOrigin {
    fn describe(self) -> &'static str {
        match self {
            ProfileOrigin::Flag => "from --profile",
            ProfileOrigin::EnvVar => "from AWS_PROFILE",
            ProfileOrigin::Default => "default, neither --profile nor AWS_PROFILE is set",
        }
    }
}

/// Everything decided before any file is read or any provider runs.
#[derive(Debug)]
pub struct Plan {
    /// The command line.
    pub args: Args,
    /// The environment snapshot.
    pub env: EnvVars,
    /// The home directory, if one was found.
    pub home: Option<Home>,
    /// The profile name.
    pub profile: String,
    /// Source of the profile name.
    pub profile_origin: ProfileOrigin,
    /// The shared credentials file path, or why it is invalid. The error is raised
    /// only when the chain reaches the files, so explicit flags still work.
    pub credentials_location: Result<FileLocation, String>,
    /// The config file path, or why it is invalid.
    pub config_location: Result<FileLocation, String>,
    /// Value for the recursion guard variable, when the chain may run a process.
    pub recursion_chain: Option<String>,
}

impl Plan {
    /// Chooses the profile, home directory and file paths, and checks the recursion guard.
    pub fn prepare(args: Args, env: EnvVars, report: &mut Report) -> Result<Plan, Error> {
        let (profile, profile_origin) = choose_profile(&args, &env)?;
        report.context(format!(
            "profile \"{profile}\" ({})",
            profile_origin.describe()
        ));

        let home = resolve_home(env.raw("HOME"));
        match &home {
            Some(Home {
                path,
                origin: HomeOrigin::EnvVar,
            }) => report.context(format!("home directory {} (from HOME)", path.display())),
            Some(Home {
                path,
                origin: HomeOrigin::UserDatabase,
            }) => report.context(format!(
                "home directory {} (from the user database, because HOME is unset, blank or \
                 relative)",
                path.display()
            )),
            None => report.warn(
                "no home directory found (HOME is unset and the user database has no entry); \
                 the default ~/.aws files are not read",
            ),
        }

        let credentials_location = files::locate(FileKind::Credentials, &env, home.as_ref())
            .map_err(|err| err.to_string());
        let config_location =
            files::locate(FileKind::Config, &env, home.as_ref()).map_err(|err| err.to_string());

        let recursion_chain = if args.access_key_id.is_some() {
            None
        } else {
            Some(recursion::enter(&env, &profile)?)
        };

        Ok(Plan {
            args,
            env,
            home,
            profile,
            profile_origin,
            credentials_location,
            config_location,
            recursion_chain,
        })
    }

    /// Variables to set in this process before aws-config runs, so that its
    /// providers and any `credential_process` child see the same absolute files, the
    /// resolved home directory, and the recursion guard. An empty file variable makes
    /// aws-config read no file instead of resolving `~` against the working directory.
    pub fn process_env_overrides(&self) -> Vec<(&'static str, OsString)> {
        let mut vars = Vec::new();
        if let Some(Home {
            path,
            origin: HomeOrigin::UserDatabase,
        }) = &self.home
        {
            vars.push(("HOME", path.clone().into_os_string()));
        }
        let locations = [&self.credentials_location, &self.config_location];
        for location in locations.into_iter().flatten() {
            let value = location
                .path
                .clone()
                .map(|p| p.into_os_string())
                .unwrap_or_default();
            vars.push((location.kind.env_var(), value));
        }
        if let Some(chain) = &self.recursion_chain {
            vars.push((recursion::CHAIN_VAR, OsString::from(chain)));
        }
        vars
    }
}

fn choose_profile(args: &Args, env: &EnvVars) -> Result<(String, ProfileOrigin), Error> {
    if let Some(flag) = &args.profile {
        let name = flag.trim();
        if name.is_empty() {
            return Err(Error::Usage(
                "--profile is empty; pass a profile name or leave the option out".to_string(),
            ));
        }
        return Ok((name.to_string(), ProfileOrigin::Flag));
    }
    if let Some(name) = env.value("AWS_PROFILE") {
        return Ok((name.to_string(), ProfileOrigin::EnvVar));
    }
    Ok(("default".to_string(), ProfileOrigin::Default))
}

/// Runs the chain and returns the first credentials found.
pub async fn resolve(plan: &Plan, report: &mut Report) -> Result<ResolvedCredentials, Error> {
    if let Some(creds) = from_flags(plan, report)? {
        return Ok(creds);
    }
    if let Some(creds) = from_env(plan, report)? {
        return Ok(creds);
    }

    let parsed = load_profiles(plan, report).await?;
    if let Some(creds) = from_credentials_file(plan, &parsed, report)? {
        return Ok(creds);
    }

    let (region, region_origin) = providers::choose_region(&plan.env, Some(&parsed), &plan.profile);
    report.context(format!("region {region} for STS ({region_origin})"));
    let provider_config = providers::provider_config(region);

    if let Some(creds) = from_config_profile(plan, &parsed, &provider_config, report).await? {
        return Ok(creds);
    }
    if let Some(creds) = from_web_identity(plan, &provider_config, report).await? {
        return Ok(creds);
    }
    if let Some(creds) = from_container(plan, &provider_config, report).await? {
        return Ok(creds);
    }
    if let Some(creds) = from_instance_metadata(plan, &provider_config, report).await? {
        return Ok(creds);
    }

    Err(Error::NoCredentials(format!(
        "flags, environment, profile \"{}\" in {}, web identity, container, instance metadata",
        plan.profile,
        parsed.searched()
    )))
}

const FLAG_NAMES: [&str; 3] = ["--access-key-id", "--secret-access-key", "--session-token"];

fn from_flags(plan: &Plan, report: &mut Report) -> Result<Option<ResolvedCredentials>, Error> {
    const STEP: &str = "command-line flags";
    let args = &plan.args;
    let Some(key) = &args.access_key_id else {
        report.step(STEP, "skipped: --access-key-id not given");
        return Ok(None);
    };

    let mut warnings = Vec::new();
    let secret = match (&args.secret_access_key, &args.secret_access_key_file) {
        (Some(value), _) => Some(value.clone()),
        (None, Some(path)) => Some(read_secret_file(
            path,
            "--secret-access-key-file",
            plan,
            &mut warnings,
        )?),
        (None, None) => None,
    };
    let token = match (&args.session_token, &args.session_token_file) {
        (Some(value), _) => Some(value.clone()),
        (None, Some(path)) => Some(read_secret_file(
            path,
            "--session-token-file",
            plan,
            &mut warnings,
        )?),
        (None, None) => None,
    };
    for warning in warnings {
        report.warn(warning);
    }

    let creds = assemble(KeyParts {
        source: STEP,
        names: FLAG_NAMES,
        values: [Some(key.as_str()), secret.as_deref(), token.as_deref()],
    })
    .map_err(|err| Error::Usage(err.to_string()))?;
    let Some(creds) = creds else {
        return Err(Error::Usage(
            "--access-key-id and --secret-access-key are empty; pass values or leave the \
             options out"
                .to_string(),
        ));
    };

    if plan.env.is_set("AWS_SESSION_TOKEN") && creds.session_token.is_none() {
        report.context("AWS_SESSION_TOKEN in the environment is ignored: flags never take parts from other sources");
    }
    report.step(STEP, "used");
    Ok(Some(creds))
}

/// Reads a secret from a file or, for "-", from stdin.
fn read_secret_file(
    path: &Path,
    option: &str,
    plan: &Plan,
    warnings: &mut Vec<String>,
) -> Result<String, Error> {
    let both_stdin = plan.args.secret_access_key_file.as_deref() == Some(Path::new("-"))
        && plan.args.session_token_file.as_deref() == Some(Path::new("-"));
    if both_stdin {
        return Err(Error::Usage(
            "--secret-access-key-file and --session-token-file cannot both read stdin (\"-\")"
                .to_string(),
        ));
    }

    let bytes = if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|err| Error::Usage(format!("{option} -: cannot read stdin: {err}")))?;
        bytes
    } else {
        let bytes = std::fs::read(path).map_err(|err| {
            Error::Usage(format!(
                "{option} {}: cannot read the file: {err}",
                path.display()
            ))
        })?;
        if let Ok(meta) = std::fs::metadata(path) {
            use std::os::unix::fs::PermissionsExt;
            files::check_permissions(
                path,
                meta.permissions().mode(),
                plan.args.strict_permissions,
                warnings,
            )?;
        }
        bytes
    };
    String::from_utf8(bytes).map_err(|_| {
        Error::Usage(format!(
            "{option} {}: the content is not UTF-8",
            path.display()
        ))
    })
}

fn from_env(plan: &Plan, report: &mut Report) -> Result<Option<ResolvedCredentials>, Error> {
    const STEP: &str = "environment";
    let env = &plan.env;

    if plan.profile_origin == ProfileOrigin::Flag {
        let set: Vec<&str> = ENV_NAMES.into_iter().filter(|n| env.is_set(n)).collect();
        if !set.is_empty() {
            report.warn(format!(
                "{} ignored because --profile {} was given",
                set.join(", "),
                plan.profile
            ));
        }
        report.step(
            STEP,
            "skipped: --profile was given, which overrides environment keys",
        );
        return Ok(None);
    }

    let creds = assemble(KeyParts {
        source: STEP,
        names: ENV_NAMES,
        values: ENV_NAMES.map(|name| env.raw(name)),
    })?;
    match creds {
        Some(creds) => {
            if plan.profile_origin == ProfileOrigin::EnvVar {
                report.warn(format!(
                    "AWS_PROFILE={} is set, but AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY take \
                     precedence; unset them, or pass --profile {} to use the profile",
                    plan.profile, plan.profile
                ));
            }
            report.step(STEP, "used AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
            Ok(Some(creds))
        }
        None => {
            report.step(
                STEP,
                "skipped: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN are unset \
                 or blank",
            );
            Ok(None)
        }
    }
}

async fn load_profiles(plan: &Plan, report: &mut Report) -> Result<ParsedProfiles, Error> {
    let mut warnings = Vec::new();
    let strict = plan.args.strict_permissions;
    let location =
        |result: &Result<FileLocation, String>| result.clone().map_err(Error::Misconfigured);
    let credentials = files::load(location(&plan.credentials_location)?, strict, &mut warnings)?;
    let config = files::load(location(&plan.config_location)?, strict, &mut warnings)?;
    for warning in warnings {
        report.warn(warning);
    }
    for file in [&credentials, &config] {
        report.context(describe_loaded(file));
    }
    profiles::parse(credentials, config).await
}

fn describe_loaded(file: &LoadedFile) -> String {
    let state = match (&file.contents, file.mode) {
        (Some(_), Some(mode)) => format!("read, mode {:03o}", mode & 0o777),
        (Some(_), None) => "read".to_string(),
        (None, _) if file.location.path.is_none() => "not read".to_string(),
        (None, _) => "not found".to_string(),
    };
    format!(
        "{} {}: {state}",
        file.location.kind,
        file.location.describe()
    )
}

fn from_credentials_file(
    plan: &Plan,
    parsed: &ParsedProfiles,
    report: &mut Report,
) -> Result<Option<ResolvedCredentials>, Error> {
    const STEP: &str = "credentials file";
    let name = plan.profile.as_str();

    if !parsed.exists(name) {
        let hints = profiles::hints(parsed, name);
        if plan.profile_origin != ProfileOrigin::Default || !hints.is_empty() {
            let err = profiles::not_found_error(parsed, name, plan.profile_origin.describe());
            report.step(STEP, format!("failed: {err}"));
            return Err(err);
        }
        report.step(
            STEP,
            format!("skipped: no profile \"{name}\" in {}", parsed.searched()),
        );
        return Ok(None);
    }

    let Some(profile) = parsed.credentials_sections.get_profile(name) else {
        report.step(
            STEP,
            format!(
                "skipped: no [{name}] section in {}",
                parsed.credentials.location.describe()
            ),
        );
        return Ok(None);
    };

    let source = format!(
        "profile \"{name}\" in {}",
        parsed.credentials.display_path()
    );
    let creds = assemble(KeyParts {
        source: &source,
        names: FILE_NAMES,
        values: FILE_NAMES.map(|key| profile.get(key)),
    })
    .inspect_err(|err| report.step(STEP, format!("failed: {err}")))?;

    match creds {
        Some(creds) => {
            report.step(STEP, format!("used static keys of {source}"));
            Ok(Some(creds))
        }
        None => {
            report.step(
                STEP,
                format!("skipped: {source} has no aws_access_key_id or aws_secret_access_key"),
            );
            Ok(None)
        }
    }
}

async fn from_config_profile(
    plan: &Plan,
    parsed: &ParsedProfiles,
    provider_config: &ProviderConfig,
    report: &mut Report,
) -> Result<Option<ResolvedCredentials>, Error> {
    let name = plan.profile.as_str();
    let step = format!("profile \"{name}\" through aws-config");

    if !parsed.exists(name) {
        report.step(&step, "skipped: the profile does not exist");
        return Ok(None);
    }
    profiles::check_role_chain(parsed, name)
        .inspect_err(|err| report.step(&step, format!("failed: {err}")))?;

    report.context(format!(
        "profile \"{name}\" uses {}",
        profiles::describe_mechanism(parsed, name)
    ));
    let provider = ProfileFileCredentialsProvider::builder()
        .configure(provider_config)
        .profile_files(parsed.env_config_files())
        .profile_name(name)
        .build();
    run_step(&step, &provider, report).await
}

async fn from_web_identity(
    plan: &Plan,
    provider_config: &ProviderConfig,
    report: &mut Report,
) -> Result<Option<ResolvedCredentials>, Error> {
    const STEP: &str = "web identity";
    let env = &plan.env;
    let token_file = env.is_set("AWS_WEB_IDENTITY_TOKEN_FILE");
    let role_arn = env.is_set("AWS_ROLE_ARN");

    match (token_file, role_arn) {
        (false, false) => {
            report.step(
                STEP,
                "skipped: AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN are unset",
            );
            Ok(None)
        }
        (true, false) | (false, true) => {
            let (set, missing) = if token_file {
                ("AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN")
            } else {
                ("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")
            };
            let err = Error::Misconfigured(format!(
                "web identity: {set} is set but {missing} is missing or blank; set both, or \
                 unset both to use the next source"
            ));
            report.step(STEP, format!("failed: {err}"));
            Err(err)
        }
        (true, true) => {
            require_named_file(env, "AWS_WEB_IDENTITY_TOKEN_FILE")
                .inspect_err(|err| report.step(STEP, format!("failed: {err}")))?;
            let provider = WebIdentityTokenCredentialsProvider::builder()
                .configure(provider_config)
                .build();
            run_step(STEP, &provider, report).await
        }
    }
}

async fn from_container(
    plan: &Plan,
    provider_config: &ProviderConfig,
    report: &mut Report,
) -> Result<Option<ResolvedCredentials>, Error> {
    const STEP: &str = "container credentials";
    let env = &plan.env;
    let uri_set = env.is_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        || env.is_set("AWS_CONTAINER_CREDENTIALS_FULL_URI");

    if !uri_set {
        let token_vars: Vec<&str> = [
            "AWS_CONTAINER_AUTHORIZATION_TOKEN",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        ]
        .into_iter()
        .filter(|n| env.is_set(n))
        .collect();
        if !token_vars.is_empty() {
            let err = Error::Misconfigured(format!(
                "container credentials: {} is set but AWS_CONTAINER_CREDENTIALS_FULL_URI and \
                 AWS_CONTAINER_CREDENTIALS_RELATIVE_URI are not; set the endpoint URI or unset \
                 the token",
                token_vars.join(" and ")
            ));
            report.step(STEP, format!("failed: {err}"));
            return Err(err);
        }
        report.step(
            STEP,
            "skipped: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and \
             AWS_CONTAINER_CREDENTIALS_FULL_URI are unset",
        );
        return Ok(None);
    }

    require_named_file(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
        .inspect_err(|err| report.step(STEP, format!("failed: {err}")))?;
    let provider = EcsCredentialsProvider::builder()
        .configure(provider_config)
        .build();
    run_step(STEP, &provider, report).await
}

async fn from_instance_metadata(
    plan: &Plan,
    provider_config: &ProviderConfig,
    report: &mut Report,
) -> Result<Option<ResolvedCredentials>, Error> {
    const STEP: &str = "EC2 instance metadata (IMDSv2)";
    const VAR: &str = "AWS_EC2_METADATA_DISABLED";

    match plan.env.value(VAR) {
        Some(value) if value.eq_ignore_ascii_case("true") => {
            report.step(STEP, format!("skipped: {VAR}={value}"));
            return Ok(None);
        }
        Some(value) if value.eq_ignore_ascii_case("false") => {}
        None => {}
        Some(value) => {
            // aws-config treats anything but "true" as enabled, so "1" or "yes"
            // would silently probe the metadata service.
            let err = Error::Misconfigured(format!("{VAR} is \"{value}\"; use true or false"));
            report.step(STEP, format!("failed: {err}"));
            return Err(err);
        }
    }

    // NOTE: aws-config reads `ec2_metadata_service_endpoint(_mode)` from the profile
    // named by AWS_PROFILE (else `default`), not from --profile, because a provider
    // configuration cannot be given a profile name through the public API.
    let provider = ImdsCredentialsProvider::builder()
        .configure(provider_config)
        .build();
    run_step(STEP, &provider, report).await
}

/// Fails when the variable names a file that does not exist. aws-config reports
/// only the OS error, without the path or the variable.
fn require_named_file(env: &EnvVars, variable: &str) -> Result<(), Error> {
    let Some(path) = env.value(variable) else {
        return Ok(());
    };
    if Path::new(path).exists() {
        return Ok(());
    }
    Err(Error::Misconfigured(format!(
        "{variable} names {path}, which does not exist; fix the path or unset {variable}"
    )))
}

async fn run_step(
    step: &str,
    provider: &impl aws_credential_types::provider::ProvideCredentials,
    report: &mut Report,
) -> Result<Option<ResolvedCredentials>, Error> {
    match providers::attempt(step, provider).await {
        Ok(Attempt::Found(creds)) => {
            report.step(step, "used");
            Ok(Some(creds))
        }
        Ok(Attempt::Skipped(reason)) => {
            report.step(step, format!("skipped: {reason}"));
            Ok(None)
        }
        Err(err) => {
            let detail = match &err {
                Error::SourceFailed { message, .. } => message.clone(),
                other => other.to_string(),
            };
            report.step(step, format!("failed: {detail}"));
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn plan_debug_hides_secrets() {
        let args = Args::try_parse_from([
            "creds-resolve",
            "--access-key-id",
            "AKIAFLAG",
            "--secret-access-key",
            "flag-secret-value",
        ])
        .unwrap();
        let env = EnvVars::from_pairs([
            ("AWS_SECRET_ACCESS_KEY", "env-secret-value"),
            ("HOME", "/home/u"),
        ]);
        let plan = Plan::prepare(args, env, &mut Report::new(false)).unwrap();
        let debug = format!("{plan:?}");
        assert!(!debug.contains("flag-secret-value"), "{debug}");
        assert!(!debug.contains("env-secret-value"), "{debug}");
    }

    #[test]
    fn profile_precedence() {
        let args = Args::try_parse_from(["creds-resolve", "--profile", "flag"]).unwrap();
        let env = EnvVars::from_pairs([("AWS_PROFILE", "env")]);
        assert_eq!(
            choose_profile(&args, &env).unwrap(),
            ("flag".to_string(), ProfileOrigin::Flag)
        );

        let args = Args::try_parse_from(["creds-resolve"]).unwrap();
        assert_eq!(
            choose_profile(&args, &env).unwrap(),
            ("env".to_string(), ProfileOrigin::EnvVar)
        );

        let blank = EnvVars::from_pairs([("AWS_PROFILE", " ")]);
        assert_eq!(
            choose_profile(&args, &blank).unwrap(),
            ("default".to_string(), ProfileOrigin::Default)
        );
    }

    #[test]
    fn env_overrides_use_absolute_paths() {
        let args = Args::try_parse_from(["creds-resolve"]).unwrap();
        let env = EnvVars::from_pairs([("HOME", "/home/u")]);
        let plan = Plan::prepare(args, env, &mut Report::new(false)).unwrap();
        let overrides = plan.process_env_overrides();
        assert!(overrides.contains(&(
            "AWS_SHARED_CREDENTIALS_FILE",
            OsString::from("/home/u/.aws/credentials")
        )));
        assert!(overrides.contains(&("AWS_CONFIG_FILE", OsString::from("/home/u/.aws/config"))));
        assert!(overrides.contains(&(recursion::CHAIN_VAR, OsString::from("default"))));
        assert!(!overrides.iter().any(|(name, _)| *name == "HOME"));
    }
}
