//! Random inputs to the file and profile layer must produce a result or an
//! error, never a panic, and errors must never echo a secret.

use creds_resolve::files::{self, FileKind, FileLocation, LoadedFile, PathOrigin};
use creds_resolve::profiles;
use std::path::{Path, PathBuf};

/// Fragments that hit the parser's edge cases: section syntax, comments,
/// continuation lines, CRLF, BOMs, invalid UTF-8 and the credential keys.
const PIECES: &[&[u8]] = &[
    b"[",
    b"]",
    b"[default]",
    b"[profile ",
    b"[profile backup]",
    b"[backup]",
    b"[sso-session s]",
    b"[services x]",
    b"profile",
    b"default",
    b"backup",
    b" ",
    b"  ",
    b"\t",
    b"\n",
    b"\r\n",
    b"\r",
    b"=",
    b" = ",
    b"#",
    b";",
    b" # c",
    b"\xEF\xBB\xBF",
    b"\xFF",
    b"\xC3",
    b"\xC3\xA9",
    b"aws_access_key_id",
    b"aws_secret_access_key",
    b"aws_session_token",
    b"role_arn",
    b"source_profile",
    b"credential_source",
    b"credential_process",
    b"region",
    b"sso_session",
    b"AKIAFUZZ",
    b"fuzzSEKRIT",
    b"arn:aws:iam::1:role/r",
    b"Environment",
    b"\0",
    b"%",
    b"[]",
];

const NAMES: &[&str] = &[
    "default", "backup", "base", "Backup", "a", "b", "a b", "x/y", "",
];
const KEYS: &[&str] = &[
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "role_arn",
    "source_profile",
    "credential_source",
    "credential_process",
    "region",
    "sso_session",
    "endpoint_url",
];
const VALUES: &[&str] = &[
    "AKIAFUZZ",
    "fuzzSEKRIT",
    "",
    "  ",
    "arn:aws:iam::1:role/r",
    "Environment",
    "backup",
    "base",
    "a",
    "b",
    "default",
    "/bin/false",
];

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Builds a file line by line: mostly well-formed sections and properties, with
/// random fragments mixed in so that malformed lines also appear.
fn random_file(rng: &mut XorShift) -> Vec<u8> {
    let mut bytes = Vec::new();
    if rng.below(10) == 0 {
        bytes.extend_from_slice(b"\xEF\xBB\xBF");
    }
    for index in 0..rng.below(25) {
        // A file rarely starts with a property, which is a parse error.
        let kind = if index == 0 && rng.below(8) != 0 {
            0
        } else {
            rng.below(20)
        };
        let line = match kind {
            0..=5 => {
                let name = NAMES[rng.below(NAMES.len())];
                match rng.below(3) {
                    0 => format!("[{name}]"),
                    1 => format!("[profile {name}]"),
                    _ => format!("[ profile {name} ] # note"),
                }
            }
            6..=14 => format!(
                "{} = {}",
                KEYS[rng.below(KEYS.len())],
                VALUES[rng.below(VALUES.len())]
            ),
            15 | 16 => format!("  {}", VALUES[rng.below(VALUES.len())]),
            17 | 18 => "# comment".to_string(),
            _ => {
                let mut fragment = Vec::new();
                for _ in 0..rng.below(6) {
                    fragment.extend_from_slice(PIECES[rng.below(PIECES.len())]);
                }
                bytes.extend_from_slice(&fragment);
                String::new()
            }
        };
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(if rng.below(4) == 0 { b"\r\n" } else { b"\n" });
    }
    bytes
}

fn loaded(kind: FileKind, bytes: Vec<u8>) -> Result<LoadedFile, creds_resolve::Error> {
    let path = PathBuf::from(format!("/fuzz/{kind:?}"));
    let contents = files::decode_text(Path::new(&path), bytes)?;
    Ok(LoadedFile {
        location: FileLocation {
            kind,
            path: Some(path),
            origin: PathOrigin::EnvVar,
        },
        contents: Some(contents),
        mode: Some(0o600),
    })
}

#[tokio::test]
async fn random_files_never_panic() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut parsed_ok = 0;

    for _ in 0..3000 {
        let credentials = loaded(FileKind::Credentials, random_file(&mut rng));
        let config = loaded(FileKind::Config, random_file(&mut rng));
        let (Ok(credentials), Ok(config)) = (credentials, config) else {
            continue;
        };

        match profiles::parse(credentials, config).await {
            Ok(parsed) => {
                parsed_ok += 1;
                for name in ["default", "backup", "profile backup", ""] {
                    let _ = profiles::hints(&parsed, name);
                    let _ = profiles::describe_mechanism(&parsed, name);
                    if let Err(err) = profiles::check_role_chain(&parsed, name) {
                        let text = err.to_string();
                        assert!(!text.contains("fuzzSEKRIT"), "secret in error: {text}");
                    }
                    let _ = profiles::not_found_error(&parsed, name, "fuzz");
                }
                let debug = format!("{parsed:?}");
                assert!(!debug.contains("fuzzSEKRIT"), "secret in Debug: {debug}");
            }
            Err(err) => {
                let text = err.to_string();
                assert!(
                    text.contains("/fuzz/"),
                    "parse error without the file: {text}"
                );
                assert!(!text.contains("fuzzSEKRIT"), "secret in error: {text}");
            }
        }
    }
    // The generator must reach the profile checks, not only parse errors.
    assert!(parsed_ok > 500, "only {parsed_ok} inputs parsed");
}
