//! Endpoint and client certificate locations of common etcd deployments.
//!
//! Sources: K3s (`pkg/daemons/control/deps`, and `k3s etcd-snapshot`, which
//! dials etcd with `<data-dir>/server/tls/etcd/{server-ca.crt,client.crt,
//! client.key}`); RKE2 vendors the same code under /var/lib/rancher/rke2;
//! kubeadm writes the etcd CA and the `etcd-healthcheck-client` certificate
//! to /etc/kubernetes/pki/etcd. All three listen on https://127.0.0.1:2379.

use std::fmt;
use std::path::{Path, PathBuf};

/// A distribution whose default layout fills in endpoint and certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    K3s,
    Rke2,
    Kubeadm,
}

/// Endpoint and certificate paths that a preset supplies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresetLayout {
    pub endpoint: String,
    pub cacert: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

const LOCAL_ENDPOINT: &str = "https://127.0.0.1:2379";

impl Preset {
    /// Default directory the layout lives under: the data dir for K3s and
    /// RKE2 (their `--data-dir`), the certificate dir for kubeadm (its
    /// `--cert-dir`).
    pub fn default_dir(self) -> &'static Path {
        match self {
            Preset::K3s => Path::new("/var/lib/rancher/k3s"),
            Preset::Rke2 => Path::new("/var/lib/rancher/rke2"),
            Preset::Kubeadm => Path::new("/etc/kubernetes/pki"),
        }
    }

    /// Returns the endpoint and file paths under `dir`, or under the
    /// distribution's default directory when `dir` is `None`.
    pub fn layout(self, dir: Option<&Path>) -> PresetLayout {
        let dir = dir.unwrap_or_else(|| self.default_dir());
        match self {
            Preset::K3s | Preset::Rke2 => {
                let tls = dir.join("server/tls/etcd");
                PresetLayout {
                    endpoint: LOCAL_ENDPOINT.to_owned(),
                    cacert: tls.join("server-ca.crt"),
                    cert: tls.join("client.crt"),
                    key: tls.join("client.key"),
                }
            }
            Preset::Kubeadm => {
                let etcd = dir.join("etcd");
                PresetLayout {
                    endpoint: LOCAL_ENDPOINT.to_owned(),
                    cacert: etcd.join("ca.crt"),
                    cert: etcd.join("healthcheck-client.crt"),
                    key: etcd.join("healthcheck-client.key"),
                }
            }
        }
    }

    /// Returns the advice for a user whose preset file is missing.
    pub fn dir_hint(self) -> &'static str {
        match self {
            Preset::K3s => "run on a K3s server node, or pass --preset-dir with K3s's --data-dir",
            Preset::Rke2 => {
                "run on an RKE2 server node, or pass --preset-dir with RKE2's --data-dir"
            }
            Preset::Kubeadm => {
                "run on a kubeadm control-plane node, or pass --preset-dir with kubeadm's --cert-dir"
            }
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Preset::K3s => "k3s",
            Preset::Rke2 => "rke2",
            Preset::Kubeadm => "kubeadm",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k3s_default_layout() {
        let layout = Preset::K3s.layout(None);
        assert_eq!(layout.endpoint, "https://127.0.0.1:2379");
        assert_eq!(
            layout.cacert,
            Path::new("/var/lib/rancher/k3s/server/tls/etcd/server-ca.crt")
        );
        assert_eq!(
            layout.cert,
            Path::new("/var/lib/rancher/k3s/server/tls/etcd/client.crt")
        );
        assert_eq!(
            layout.key,
            Path::new("/var/lib/rancher/k3s/server/tls/etcd/client.key")
        );
    }

    #[test]
    fn rke2_default_layout() {
        let layout = Preset::Rke2.layout(None);
        assert_eq!(
            layout.cacert,
            Path::new("/var/lib/rancher/rke2/server/tls/etcd/server-ca.crt")
        );
        assert_eq!(
            layout.cert,
            Path::new("/var/lib/rancher/rke2/server/tls/etcd/client.crt")
        );
        assert_eq!(
            layout.key,
            Path::new("/var/lib/rancher/rke2/server/tls/etcd/client.key")
        );
    }

    #[test]
    fn kubeadm_default_layout() {
        let layout = Preset::Kubeadm.layout(None);
        assert_eq!(layout.cacert, Path::new("/etc/kubernetes/pki/etcd/ca.crt"));
        assert_eq!(
            layout.cert,
            Path::new("/etc/kubernetes/pki/etcd/healthcheck-client.crt")
        );
        assert_eq!(
            layout.key,
            Path::new("/etc/kubernetes/pki/etcd/healthcheck-client.key")
        );
    }

    #[test]
    fn custom_dir_replaces_root() {
        let layout = Preset::Rke2.layout(Some(Path::new("/srv/rke2")));
        assert_eq!(
            layout.cert,
            Path::new("/srv/rke2/server/tls/etcd/client.crt")
        );
        let layout = Preset::Kubeadm.layout(Some(Path::new("/tmp/pki")));
        assert_eq!(layout.cacert, Path::new("/tmp/pki/etcd/ca.crt"));
    }
}
