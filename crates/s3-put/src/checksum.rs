//! Flexible checksums that s3-put computes itself and sends with every part.
//!
//! CRC32C and CRC64NVME go out as full-object checksums: each part carries its
//! own CRC, and Complete carries the CRC of the whole object, combined from the
//! part CRCs without a second pass over the data. The server checks every part
//! and the assembled object. SHA-256 has only the composite form, a digest of
//! the part digests with a `-N` suffix.

use aws_sdk_s3::types::{ChecksumAlgorithm as SdkAlgorithm, ChecksumType};
use aws_smithy_types::base64;
use crc_fast::CrcAlgorithm;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Checksum algorithm selected with `--checksum`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ChecksumAlgorithm {
    Crc32c,
    Crc64nvme,
    Sha256,
    None,
}

/// Checksum of one part, as sent in its header and listed on Complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartChecksum {
    /// Base64 value for the `x-amz-checksum-*` header.
    pub base64: String,
    /// Raw CRC value, used to combine part CRCs into the full-object CRC.
    crc: u64,
    /// Raw SHA-256 digest, used for the composite checksum and as the payload hash.
    pub sha256: Option<[u8; 32]>,
    len: u64,
}

/// Checksum of the whole object as reported in the JSON result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObjectChecksum {
    pub algorithm: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub value: String,
}

impl ChecksumAlgorithm {
    /// Returns the name S3 uses for the algorithm.
    pub fn s3_name(self) -> &'static str {
        match self {
            Self::Crc32c => "CRC32C",
            Self::Crc64nvme => "CRC64NVME",
            Self::Sha256 => "SHA256",
            Self::None => "NONE",
        }
    }

    /// Returns the SDK's algorithm value, or `None` when no checksum is sent.
    pub fn sdk_algorithm(self) -> Option<SdkAlgorithm> {
        match self {
            Self::Crc32c => Some(SdkAlgorithm::Crc32C),
            Self::Crc64nvme => Some(SdkAlgorithm::Crc64Nvme),
            Self::Sha256 => Some(SdkAlgorithm::Sha256),
            Self::None => None,
        }
    }

    /// Returns the multipart checksum type declared on CreateMultipartUpload.
    pub fn multipart_type(self) -> Option<ChecksumType> {
        match self {
            Self::Crc32c | Self::Crc64nvme => Some(ChecksumType::FullObject),
            Self::Sha256 => Some(ChecksumType::Composite),
            Self::None => None,
        }
    }

    fn crc_algorithm(self) -> Option<CrcAlgorithm> {
        match self {
            Self::Crc32c => Some(CrcAlgorithm::Crc32Iscsi),
            Self::Crc64nvme => Some(CrcAlgorithm::Crc64Nvme),
            Self::Sha256 | Self::None => None,
        }
    }

    /// Computes the checksum of one part (or of a single-PUT body).
    pub fn part_checksum(self, data: &[u8]) -> Option<PartChecksum> {
        let len = data.len() as u64;
        match self {
            Self::Crc32c => {
                let crc = crc_fast::checksum(CrcAlgorithm::Crc32Iscsi, data);
                Some(crc_part(crc, &(crc as u32).to_be_bytes(), len))
            }
            Self::Crc64nvme => {
                let crc = crc_fast::checksum(CrcAlgorithm::Crc64Nvme, data);
                Some(crc_part(crc, &crc.to_be_bytes(), len))
            }
            Self::Sha256 => {
                let digest: [u8; 32] = Sha256::digest(data).into();
                Some(PartChecksum {
                    base64: base64::encode(digest),
                    crc: 0,
                    sha256: Some(digest),
                    len,
                })
            }
            Self::None => None,
        }
    }

    /// Computes the whole-object checksum from the part checksums, in part order.
    pub fn object_checksum(self, parts: &[PartChecksum]) -> Option<ObjectChecksum> {
        let value = match self {
            Self::None => return None,
            Self::Sha256 if parts.len() == 1 => parts[0].base64.clone(),
            Self::Sha256 => {
                let mut outer = Sha256::new();
                for part in parts {
                    outer.update(part.sha256.unwrap_or_default());
                }
                format!("{}-{}", base64::encode(outer.finalize()), parts.len())
            }
            Self::Crc32c | Self::Crc64nvme => {
                let algorithm = self.crc_algorithm()?;
                let mut combined: Option<u64> = None;
                for part in parts {
                    combined = Some(match combined {
                        None => part.crc,
                        Some(crc) => crc_fast::checksum_combine(algorithm, crc, part.crc, part.len),
                    });
                }
                let crc = combined.unwrap_or_else(|| crc_fast::checksum(algorithm, &[]));
                match self {
                    Self::Crc32c => base64::encode((crc as u32).to_be_bytes()),
                    _ => base64::encode(crc.to_be_bytes()),
                }
            }
        };
        let kind = if self == Self::Sha256 && parts.len() > 1 {
            "COMPOSITE"
        } else {
            "FULL_OBJECT"
        };
        Some(ObjectChecksum {
            algorithm: self.s3_name(),
            kind,
            value,
        })
    }
}

fn crc_part(crc: u64, big_endian: &[u8], len: u64) -> PartChecksum {
    PartChecksum {
        base64: base64::encode(big_endian),
        crc,
        sha256: None,
        len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_known_value() {
        // CRC-32C of "123456789" is 0xE3069283 (RFC 3720 check value).
        let part = ChecksumAlgorithm::Crc32c
            .part_checksum(b"123456789")
            .unwrap();
        assert_eq!(part.base64, base64::encode([0xE3, 0x06, 0x92, 0x83]));
    }

    #[test]
    fn crc64nvme_known_value() {
        // CRC-64/NVME check value of "123456789".
        let part = ChecksumAlgorithm::Crc64nvme
            .part_checksum(b"123456789")
            .unwrap();
        assert_eq!(
            part.base64,
            base64::encode(0xAE8B14860A799888u64.to_be_bytes())
        );
    }

    #[test]
    fn combined_crc_equals_crc_of_whole() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        for algorithm in [ChecksumAlgorithm::Crc32c, ChecksumAlgorithm::Crc64nvme] {
            let parts: Vec<PartChecksum> = data
                .chunks(30_000)
                .map(|chunk| algorithm.part_checksum(chunk).unwrap())
                .collect();
            let whole = algorithm.part_checksum(&data).unwrap();
            let object = algorithm.object_checksum(&parts).unwrap();
            assert_eq!(object.value, whole.base64, "{algorithm:?}");
            assert_eq!(object.kind, "FULL_OBJECT");
        }
    }

    #[test]
    fn sha256_composite_has_part_suffix() {
        let parts: Vec<PartChecksum> = [b"abc".as_slice(), b"def".as_slice()]
            .iter()
            .map(|chunk| ChecksumAlgorithm::Sha256.part_checksum(chunk).unwrap())
            .collect();
        let mut outer = Sha256::new();
        outer.update(Sha256::digest(b"abc"));
        outer.update(Sha256::digest(b"def"));
        let expected = format!("{}-2", base64::encode(outer.finalize()));

        let object = ChecksumAlgorithm::Sha256.object_checksum(&parts).unwrap();
        assert_eq!(object.value, expected);
        assert_eq!(object.kind, "COMPOSITE");
    }

    #[test]
    fn none_has_no_checksum() {
        assert_eq!(ChecksumAlgorithm::None.part_checksum(b"x"), None);
        assert_eq!(ChecksumAlgorithm::None.object_checksum(&[]), None);
    }
}
