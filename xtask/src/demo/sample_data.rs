//! Deterministic sample data shaped like the etcd keyspace of a Kubernetes cluster.
//!
//! The API server stores built-in objects as protobuf behind the 4-byte magic `k8s\0` and
//! custom resources as JSON, under `/registry/<resource>/<namespace>/<name>`. The values here
//! imitate both: a protobuf-like envelope around object metadata, repeated field text (which
//! compresses well) and random bytes (which do not). Helm release Secrets are the largest
//! values, as in real clusters. The same seed always yields the same keys and values, so runs
//! and compression ratios are comparable.
//!
//! The end-to-end suite includes this file with `#[path]`, so it depends on `std` only.

/// Number of objects to generate.
#[derive(Clone, Copy, Debug)]
pub struct SampleSize {
    pub namespaces: usize,
    /// Pods per namespace. Events match pods one to one, and the other kinds scale from it.
    pub pods_per_namespace: usize,
    /// Helm release Secrets (100 KiB to 700 KiB each) spread over the namespaces.
    pub helm_releases: usize,
    pub nodes: usize,
}

impl SampleSize {
    /// About 5,600 keys and 35 MiB: the demo's data set.
    pub const DEMO: SampleSize = SampleSize {
        namespaces: 24,
        pods_per_namespace: 80,
        helm_releases: 40,
        nodes: 12,
    };

    /// About 300 keys and 2 MiB: one end-to-end case.
    #[allow(dead_code, reason = "used by the end-to-end suite, not by the demo")]
    pub const SMALL: SampleSize = SampleSize {
        namespaces: 4,
        pods_per_namespace: 25,
        helm_releases: 3,
        nodes: 3,
    };

    /// About 1,400 keys and 14 MiB: enough for a multipart upload with 5 MiB parts.
    #[allow(dead_code, reason = "used by the end-to-end suite, not by the demo")]
    pub const LARGE: SampleSize = SampleSize {
        namespaces: 8,
        pods_per_namespace: 60,
        helm_releases: 24,
        nodes: 6,
    };
}

/// Returns the generated keys and values, sorted by key, with no duplicate keys.
pub fn generate(size: SampleSize, seed: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut generator = Generator {
        random: SplitMix64(seed),
        items: Vec::new(),
    };

    generator.cluster_scoped(size);
    for index in 0..size.namespaces {
        let namespace = namespace_name(index);
        generator.namespace(&namespace, size);
    }
    for release in 0..size.helm_releases {
        let namespace = namespace_name(release % size.namespaces.max(1));
        generator.helm_release(&namespace, release);
    }

    let mut items = generator.items;
    items.sort();
    items.dedup_by(|later, earlier| later.0 == earlier.0);
    items
}

/// Sum of key and value lengths, the amount of data a caller loads into etcd.
pub fn total_bytes(items: &[(Vec<u8>, Vec<u8>)]) -> usize {
    items
        .iter()
        .map(|(key, value)| key.len() + value.len())
        .sum()
}

fn namespace_name(index: usize) -> String {
    const FIXED: [&str; 4] = ["kube-system", "default", "monitoring", "ingress-nginx"];
    match FIXED.get(index) {
        Some(name) => (*name).to_string(),
        None => format!("team-{}-{index}", WORDS[index % WORDS.len()]),
    }
}

/// Words for names and for the compressible part of values.
const WORDS: [&str; 32] = [
    "api",
    "web",
    "worker",
    "billing",
    "search",
    "cache",
    "redis",
    "postgres",
    "gateway",
    "metrics",
    "ingest",
    "auth",
    "payments",
    "catalog",
    "checkout",
    "mailer",
    "scheduler",
    "frontend",
    "backend",
    "queue",
    "kafka",
    "reports",
    "images",
    "cdn",
    "ledger",
    "orders",
    "profile",
    "notify",
    "export",
    "import",
    "audit",
    "session",
];

const FIELD_TEXT: [&str; 12] = [
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/managed-by",
    "kubectl.kubernetes.io/last-applied-configuration",
    "node.kubernetes.io/not-ready",
    "registry.example.com/platform/",
    "IfNotPresent",
    "RuntimeDefault",
    "/var/run/secrets/kubernetes.io/serviceaccount",
    "ClusterFirst",
    "default-scheduler",
    "TerminationMessageReadFile",
];

struct Generator {
    random: SplitMix64,
    items: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Generator {
    fn put(&mut self, key: String, value: Vec<u8>) {
        self.items.push((key.into_bytes(), value));
    }

    fn cluster_scoped(&mut self, size: SampleSize) {
        for node in 0..size.nodes {
            let name = format!("node-{node:02}");
            let value = self.protobuf_object("v1", "Node", "", &name, 6_000, 14_000);
            self.put(format!("/registry/minions/{name}"), value);
            let lease = self.protobuf_object(
                "coordination.k8s.io/v1",
                "Lease",
                "kube-node-lease",
                &name,
                200,
                400,
            );
            self.put(format!("/registry/leases/kube-node-lease/{name}"), lease);
        }

        for controller in [
            "kube-controller-manager",
            "kube-scheduler",
            "cert-manager-controller",
        ] {
            let lease = self.protobuf_object(
                "coordination.k8s.io/v1",
                "Lease",
                "kube-system",
                controller,
                200,
                400,
            );
            self.put(format!("/registry/leases/kube-system/{controller}"), lease);
        }

        let crd = self.json_object(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "",
            "certificates.cert-manager.io",
            20_000,
        );
        self.put(
            "/registry/apiextensions.k8s.io/customresourcedefinitions/certificates.cert-manager.io"
                .to_string(),
            crd,
        );

        // The API server writes this key on every compaction; its value is a revision number.
        self.put("compact_rev_key".to_string(), b"1".to_vec());
    }

    fn namespace(&mut self, namespace: &str, size: SampleSize) {
        let value = self.protobuf_object("v1", "Namespace", "", namespace, 300, 600);
        self.put(format!("/registry/namespaces/{namespace}"), value);

        let deployments = (size.pods_per_namespace / 8).max(1);
        for deployment in 0..deployments {
            let app = format!("{}-{deployment}", WORDS[self.random.below(WORDS.len())]);
            self.workload(namespace, &app, size.pods_per_namespace / deployments);
        }

        for index in 0..size.pods_per_namespace / 4 {
            let name = format!("{}-config-{index}", WORDS[index % WORDS.len()]);
            let value = self.protobuf_object("v1", "ConfigMap", namespace, &name, 500, 24_000);
            self.put(format!("/registry/configmaps/{namespace}/{name}"), value);

            let name = format!("{}-credentials-{index}", WORDS[(index + 7) % WORDS.len()]);
            let value = self.protobuf_object("v1", "Secret", namespace, &name, 300, 4_000);
            self.put(format!("/registry/secrets/{namespace}/{name}"), value);
        }

        let certificate = format!("{namespace}-tls");
        let value = self.json_object(
            "cert-manager.io/v1",
            "Certificate",
            namespace,
            &certificate,
            1_500,
        );
        self.put(
            format!("/registry/cert-manager.io/certificates/{namespace}/{certificate}"),
            value,
        );
    }

    /// Writes one Deployment with its ReplicaSet, Service, Pods and one Event per Pod.
    fn workload(&mut self, namespace: &str, app: &str, pods: usize) {
        let value = self.protobuf_object("apps/v1", "Deployment", namespace, app, 2_000, 6_000);
        self.put(format!("/registry/deployments/{namespace}/{app}"), value);

        let replica_set = format!("{app}-{}", self.random.hex(10));
        let value = self.protobuf_object(
            "apps/v1",
            "ReplicaSet",
            namespace,
            &replica_set,
            2_000,
            5_000,
        );
        self.put(
            format!("/registry/replicasets/{namespace}/{replica_set}"),
            value,
        );

        let value = self.protobuf_object("v1", "Service", namespace, app, 600, 1_500);
        self.put(format!("/registry/services/specs/{namespace}/{app}"), value);

        for _ in 0..pods {
            let pod = format!("{replica_set}-{}", self.random.hex(5));
            let value = self.protobuf_object("v1", "Pod", namespace, &pod, 2_000, 7_000);
            self.put(format!("/registry/pods/{namespace}/{pod}"), value);

            let event = format!("{pod}.{}", self.random.hex(16));
            let value = self.protobuf_object("v1", "Event", namespace, &event, 500, 1_200);
            self.put(format!("/registry/events/{namespace}/{event}"), value);
        }
    }

    /// Writes a Helm release Secret. Helm stores the release gzip-compressed and base64-encoded,
    /// so its payload is base64 text of random bytes.
    fn helm_release(&mut self, namespace: &str, release: usize) {
        let name = format!(
            "sh.helm.release.v1.{}-{release}.v{}",
            WORDS[release % WORDS.len()],
            1 + self.random.below(9)
        );
        let payload_len = 100_000 + self.random.below(600_000);
        let mut payload = Vec::with_capacity(payload_len);
        while payload.len() < payload_len {
            let byte = self.random.next_u64();
            payload.push(BASE64_ALPHABET[(byte % 64) as usize]);
        }
        let mut value = self.envelope("v1", "Secret", namespace, &name);
        push_field(&mut value, 2, &payload);
        self.put(format!("/registry/secrets/{namespace}/{name}"), value);
    }

    /// Builds a protobuf-like object between `min_len` and `max_len` bytes long.
    fn protobuf_object(
        &mut self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        min_len: usize,
        max_len: usize,
    ) -> Vec<u8> {
        let body_len = min_len + self.random.below(max_len - min_len);
        let mut body = Vec::with_capacity(body_len);
        while body.len() < body_len {
            // About a quarter of the body is random bytes, the rest repeated field text, which
            // gives zstd a ratio near that of real protobuf objects (an estimate).
            if self.random.below(4) == 0 {
                let mut chunk = [0u8; 48];
                self.random.fill(&mut chunk);
                push_field(&mut body, 3, &chunk);
            } else {
                let text = FIELD_TEXT[self.random.below(FIELD_TEXT.len())];
                push_field(&mut body, 4, text.as_bytes());
            }
        }
        let mut value = self.envelope(api_version, kind, namespace, name);
        push_field(&mut value, 2, &body);
        value
    }

    /// Starts a value with the `k8s\0` magic, the type and the object metadata.
    fn envelope(&mut self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Vec<u8> {
        let mut type_meta = Vec::new();
        push_field(&mut type_meta, 1, api_version.as_bytes());
        push_field(&mut type_meta, 2, kind.as_bytes());

        let mut metadata = Vec::new();
        push_field(&mut metadata, 1, name.as_bytes());
        push_field(&mut metadata, 3, namespace.as_bytes());
        push_field(&mut metadata, 5, self.uid().as_bytes());

        let mut value = b"k8s\0".to_vec();
        push_field(&mut value, 1, &type_meta);
        push_field(&mut value, 5, &metadata);
        value
    }

    /// Builds a custom resource as JSON text of about `len` bytes.
    fn json_object(
        &mut self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        len: usize,
    ) -> Vec<u8> {
        let mut annotations = String::new();
        let mut index = 0;
        while annotations.len() < len {
            let text = FIELD_TEXT[self.random.below(FIELD_TEXT.len())];
            annotations.push_str(&format!(
                "\"example.com/note-{index}\":\"{text}-{}\",",
                self.random.hex(8)
            ));
            index += 1;
        }
        annotations.pop();
        let namespace_field = if namespace.is_empty() {
            String::new()
        } else {
            format!("\"namespace\":\"{namespace}\",")
        };
        format!(
            "{{\"apiVersion\":\"{api_version}\",\"kind\":\"{kind}\",\"metadata\":{{\"name\":\"{name}\",{namespace_field}\"uid\":\"{}\",\"annotations\":{{{annotations}}}}}}}\n",
            self.uid()
        )
        .into_bytes()
    }

    fn uid(&mut self) -> String {
        let hex = self.random.hex(32);
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }
}

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends a length-delimited protobuf field (wire type 2).
fn push_field(buffer: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    push_varint(buffer, u64::from(field << 3 | 2));
    push_varint(buffer, bytes.len() as u64);
    buffer.extend_from_slice(bytes);
}

fn push_varint(buffer: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buffer.push((value as u8) | 0x80);
        value >>= 7;
    }
    buffer.push(value as u8);
}

/// SplitMix64 (Steele, Lea and Flood, 2014): a tiny seeded generator. The data only has to be
/// reproducible, not unpredictable.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        mixed ^ (mixed >> 31)
    }

    /// Returns a number in `0..bound`; `bound` must not be 0.
    fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }

    fn fill(&mut self, buffer: &mut [u8]) {
        for chunk in buffer.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn hex(&mut self, len: usize) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        (0..len).map(|_| DIGITS[self.below(16)] as char).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_data() {
        assert_eq!(
            generate(SampleSize::SMALL, 7),
            generate(SampleSize::SMALL, 7)
        );
    }

    #[test]
    fn different_seed_different_data() {
        assert_ne!(
            generate(SampleSize::SMALL, 7),
            generate(SampleSize::SMALL, 8)
        );
    }

    #[test]
    fn keys_are_unique_and_sorted() {
        let items = generate(SampleSize::SMALL, 1);
        assert!(items.windows(2).all(|pair| pair[0].0 < pair[1].0));
    }

    #[test]
    fn values_fit_etcd_request_limit() {
        // etcd rejects requests over 1.5 MiB by default (--max-request-bytes).
        let items = generate(SampleSize::DEMO, 1);
        let largest = items
            .iter()
            .map(|(key, value)| key.len() + value.len())
            .max();
        assert!(
            largest.is_some_and(|size| size < 1024 * 1024),
            "largest pair: {largest:?} bytes"
        );
    }

    #[test]
    fn demo_size_matches_description() {
        let items = generate(SampleSize::DEMO, 1);
        let mebibytes = total_bytes(&items) / (1024 * 1024);
        assert!(
            (4_000..8_000).contains(&items.len()),
            "{} keys",
            items.len()
        );
        assert!((20..45).contains(&mebibytes), "{mebibytes} MiB");
    }

    #[test]
    fn protobuf_values_carry_magic() {
        let items = generate(SampleSize::SMALL, 1);
        let pod = items
            .iter()
            .find(|(key, _)| key.starts_with(b"/registry/pods/"))
            .expect("a pod key");
        assert!(pod.1.starts_with(b"k8s\0"));
    }

    #[test]
    fn custom_resources_are_json() {
        let items = generate(SampleSize::SMALL, 1);
        let certificate = items
            .iter()
            .find(|(key, _)| key.starts_with(b"/registry/cert-manager.io/"))
            .expect("a certificate key");
        assert!(certificate.1.starts_with(b"{\"apiVersion\""));
    }
}
