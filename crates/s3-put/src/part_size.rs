//! Part sizes for a stream of unknown length.
//!
//! The part size starts at the configured size and doubles after every
//! [`GROWTH_INTERVAL`] parts, capped at S3's maximum part size. Short streams
//! keep small parts (and small buffers), while a stream that keeps going can
//! still fit in S3's part-count limit.

/// S3's minimum part size (all parts but the last).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// S3's maximum part size.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// S3's maximum number of parts in one multipart upload.
pub const MAX_PARTS: u32 = 10_000;

/// Number of parts after which the part size doubles.
pub const GROWTH_INTERVAL: u32 = 1_000;

/// Part-size schedule of one upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartSizer {
    base: u64,
    max_parts: u32,
}

impl PartSizer {
    /// Creates a schedule starting at `base` bytes per part with at most `max_parts` parts.
    pub fn new(base: u64, max_parts: u32) -> Self {
        Self { base, max_parts }
    }

    /// Returns the size of part `part_number` (1-based).
    pub fn part_size(&self, part_number: u32) -> u64 {
        let cap = MAX_PART_SIZE.max(self.base);
        let doublings = part_number.saturating_sub(1) / GROWTH_INTERVAL;
        let mut size = self.base;
        for _ in 0..doublings {
            if size >= cap {
                break;
            }
            size = size.saturating_mul(2);
        }
        size.min(cap)
    }

    /// Returns the maximum number of parts.
    pub fn max_parts(&self) -> u32 {
        self.max_parts
    }

    /// Returns the number of bytes that fit in `max_parts` parts.
    pub fn capacity(&self) -> u64 {
        (1..=self.max_parts)
            .map(|n| self.part_size(n))
            .fold(0u64, u64::saturating_add)
    }

    /// Returns the number of parts a stream of `size` bytes is split into
    /// (at least 1), or `None` when it does not fit in `max_parts` parts.
    pub fn parts_for(&self, size: u64) -> Option<u32> {
        let mut remaining = size;
        for n in 1..=self.max_parts {
            let part = self.part_size(n);
            if remaining <= part {
                return Some(n);
            }
            remaining -= part;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;
    const TIB: u64 = 1024 * 1024 * MIB;

    #[test]
    fn part_size_doubles_every_interval() {
        let sizer = PartSizer::new(16 * MIB, MAX_PARTS);
        assert_eq!(sizer.part_size(1), 16 * MIB);
        assert_eq!(sizer.part_size(1000), 16 * MIB);
        assert_eq!(sizer.part_size(1001), 32 * MIB);
        assert_eq!(sizer.part_size(2001), 64 * MIB);
    }

    #[test]
    fn part_size_caps_at_s3_maximum() {
        let sizer = PartSizer::new(16 * MIB, MAX_PARTS);
        assert_eq!(sizer.part_size(9001), MAX_PART_SIZE);
        assert_eq!(sizer.part_size(u32::MAX), MAX_PART_SIZE);
    }

    #[test]
    fn default_schedule_holds_five_tib() {
        assert!(PartSizer::new(16 * MIB, MAX_PARTS).capacity() > 5 * TIB);
        assert!(PartSizer::new(8 * MIB, MAX_PARTS).capacity() > 5 * TIB);
    }

    #[test]
    fn minimum_part_size_capacity() {
        // Ten groups of 1000 parts: 5 MiB × (1 + 2 + … + 512) × 1000, about 4.9 TiB.
        let capacity = PartSizer::new(MIN_PART_SIZE, MAX_PARTS).capacity();
        assert_eq!(capacity, 5 * MIB * 1000 * 1023);
    }

    #[test]
    fn parts_for_boundaries() {
        let sizer = PartSizer::new(5 * MIB, 4);
        assert_eq!(sizer.parts_for(0), Some(1));
        assert_eq!(sizer.parts_for(5 * MIB), Some(1));
        assert_eq!(sizer.parts_for(5 * MIB + 1), Some(2));
        assert_eq!(sizer.parts_for(20 * MIB), Some(4));
        assert_eq!(sizer.parts_for(20 * MIB + 1), None);
        assert_eq!(sizer.capacity(), 20 * MIB);
    }

    #[test]
    fn parts_for_after_growth() {
        let sizer = PartSizer::new(MIB, MAX_PARTS);
        assert_eq!(sizer.parts_for(1000 * MIB), Some(1000));
        assert_eq!(sizer.parts_for(1000 * MIB + 1), Some(1001));
        assert_eq!(sizer.parts_for(1002 * MIB), Some(1001));
        assert_eq!(sizer.parts_for(1002 * MIB + 1), Some(1002));
    }
}
