//! The AWS regions a config's `region:` may name, so that `validate` rejects a
//! typo (`ap-northeast-9`, `mars-north-9`) offline, with a "did you mean",
//! instead of the first AWS call failing with a DNS error. Pure data, no I/O.
//!
//! Source: the `regions` of every partition in the endpoint partition table the
//! AWS SDK for Rust compiles in (`partitions.json`, embedded in
//! `aws-sdk-ecs` 1.157.0 `src/endpoint_lib.rs`), without the `aws-*-global`
//! pseudo-regions: the commercial regions, China (`aws-cn`), GovCloud
//! (`aws-us-gov`), the European Sovereign Cloud (`aws-eusc`) and the isolated
//! (`aws-iso*`) regions. When AWS opens a region, add it here (and upgrade the
//! SDK, which must know the region's partition to reach it).

/// Every region, by partition.
pub const REGIONS: &[&str] = &[
    // aws
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    // aws-cn
    "cn-north-1",
    "cn-northwest-1",
    // aws-us-gov
    "us-gov-east-1",
    "us-gov-west-1",
    // aws-eusc
    "eusc-de-east-1",
    // aws-iso, aws-iso-b, aws-iso-e, aws-iso-f
    "us-iso-east-1",
    "us-iso-west-1",
    "us-isob-east-1",
    "us-isob-west-1",
    "eu-isoe-west-1",
    "us-isof-east-1",
    "us-isof-south-1",
];

/// True when `region` is one of [`REGIONS`] (exactly: region names are lowercase).
pub fn is_known(region: &str) -> bool {
    REGIONS.contains(&region)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_partition_is_covered_and_names_are_well_formed() {
        for r in [
            "ap-northeast-3",
            "us-east-1",
            "cn-northwest-1",
            "us-gov-west-1",
            "eusc-de-east-1",
            "us-iso-east-1",
        ] {
            assert!(is_known(r), "{r}");
        }
        for r in [
            "mars-north-9",
            "ap-northeast-9",
            "AP-NORTHEAST-1",
            "osaka",
            "aws-global",
            "",
        ] {
            assert!(!is_known(r), "{r}");
        }
        for r in REGIONS {
            let parts: Vec<&str> = r.split('-').collect();
            assert!(parts.len() >= 3, "{r}");
            assert!(parts.last().is_some_and(|p| p.parse::<u8>().is_ok()), "{r}");
            assert!(
                r.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{r}"
            );
        }
        let mut sorted = REGIONS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), REGIONS.len(), "no duplicates");
    }
}
