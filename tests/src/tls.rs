//! Per-server TLS material made with rcgen: a CA, a server certificate for 127.0.0.1 and
//! localhost, a client certificate, and an unrelated second CA with its own client certificate
//! for tests that expect the server to reject a client.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// PEM files of one etcd server's TLS setup. `other_*` come from a CA the server does not trust.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub other_ca: PathBuf,
    pub other_client_cert: PathBuf,
    pub other_client_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

fn new_ca(common_name: &str) -> Result<CertifiedIssuer<'static, KeyPair>, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate()?)
}

/// Returns (certificate PEM, key PEM) of a leaf certificate signed by `ca`.
fn new_leaf(
    ca: &CertifiedIssuer<'static, KeyPair>,
    common_name: &str,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> Result<(String, String), rcgen::Error> {
    let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
    let mut params = CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, ca)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn write(dir: &Path, name: &str, contents: &str) -> Result<PathBuf, String> {
    let path = dir.join(name);
    std::fs::write(&path, contents)
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    Ok(path)
}

impl TlsFiles {
    /// Generates a fresh set of certificates and keys into `dir`.
    pub fn generate(dir: &Path) -> Result<TlsFiles, String> {
        let build = || -> Result<_, rcgen::Error> {
            let ca = new_ca("etcd-s3-pipes e2e CA")?;
            let server = new_leaf(
                &ca,
                "etcd server",
                &["127.0.0.1", "localhost"],
                ExtendedKeyUsagePurpose::ServerAuth,
            )?;
            // etcd treats a client certificate's CN as the user name when auth is on and the
            // request has no password, so the CN names no etcd user.
            let client = new_leaf(&ca, "e2e-client", &[], ExtendedKeyUsagePurpose::ClientAuth)?;
            let other_ca = new_ca("etcd-s3-pipes e2e untrusted CA")?;
            let other_client = new_leaf(
                &other_ca,
                "e2e-client",
                &[],
                ExtendedKeyUsagePurpose::ClientAuth,
            )?;
            Ok((ca.pem(), server, client, other_ca.pem(), other_client))
        };
        let (ca, server, client, other_ca, other_client) =
            build().map_err(|error| format!("cannot generate TLS certificates: {error}"))?;

        std::fs::create_dir_all(dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        Ok(TlsFiles {
            ca: write(dir, "ca.crt", &ca)?,
            server_cert: write(dir, "server.crt", &server.0)?,
            server_key: write(dir, "server.key", &server.1)?,
            client_cert: write(dir, "client.crt", &client.0)?,
            client_key: write(dir, "client.key", &client.1)?,
            other_ca: write(dir, "other-ca.crt", &other_ca)?,
            other_client_cert: write(dir, "other-client.crt", &other_client.0)?,
            other_client_key: write(dir, "other-client.key", &other_client.1)?,
        })
    }
}
