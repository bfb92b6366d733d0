//! Choice of the member to take the snapshot from.

use crate::member::MemberStatus;

/// Outcome of checking one endpoint.
pub type Probe = Result<MemberStatus, String>;

/// Reason no member was chosen.
#[derive(Debug, PartialEq, Eq)]
pub enum SelectError {
    /// Every endpoint failed or is unsuitable; one line per endpoint.
    NoUsable(String),
    /// Usable members report different cluster ids.
    ClusterMismatch(String),
}

/// Explains why a reachable member cannot serve the snapshot, if it cannot.
pub fn unsuitability(status: &MemberStatus) -> Option<String> {
    if status.is_learner {
        // A learner may lag behind the committed data.
        return Some("member is a learner".to_owned());
    }
    if status.leader == 0 {
        return Some("member has no leader, so its data may be stale".to_owned());
    }
    None
}

/// Returns the index of the member to use: among reachable, non-learner
/// members that follow a leader, the one with the highest revision, and on a
/// tie the one listed first.
pub fn choose(endpoints: &[String], probes: &[Probe]) -> Result<usize, SelectError> {
    let usable: Vec<(usize, &MemberStatus)> = probes
        .iter()
        .enumerate()
        .filter_map(|(i, probe)| probe.as_ref().ok().map(|s| (i, s)))
        .filter(|(_, s)| unsuitability(s).is_none())
        .collect();

    if let Some((_, first)) = usable.first()
        && let Some((_, other)) = usable
            .iter()
            .find(|(_, s)| s.cluster_id != first.cluster_id)
    {
        return Err(SelectError::ClusterMismatch(format!(
            "endpoints belong to different clusters: {} is in cluster {:016x}, {} in cluster {:016x}",
            first.endpoint, first.cluster_id, other.endpoint, other.cluster_id
        )));
    }

    let mut best: Option<(usize, &MemberStatus)> = None;
    for (i, status) in usable {
        if best.is_none_or(|(_, b)| status.revision > b.revision) {
            best = Some((i, status));
        }
    }
    if let Some((i, _)) = best {
        return Ok(i);
    }

    let details = endpoints
        .iter()
        .zip(probes)
        .map(|(endpoint, probe)| match probe {
            Err(reason) => format!("  {endpoint}: {reason}"),
            Ok(status) => format!(
                "  {endpoint}: {}",
                unsuitability(status).unwrap_or_default()
            ),
        })
        .collect::<Vec<_>>()
        .join("\n");
    Err(SelectError::NoUsable(details))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(endpoint: &str, revision: i64) -> MemberStatus {
        MemberStatus {
            endpoint: endpoint.to_owned(),
            member_id: 1,
            cluster_id: 7,
            version: "3.5.1".to_owned(),
            revision,
            raft_term: 2,
            leader: 1,
            is_learner: false,
            errors: vec![],
        }
    }

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("http://m{i}:2379")).collect()
    }

    #[test]
    fn skips_dead_member() {
        let probes = vec![Err("connection refused".to_owned()), Ok(member("b", 5))];
        assert_eq!(choose(&names(2), &probes), Ok(1));
    }

    #[test]
    fn prefers_highest_revision_then_order() {
        let probes = vec![Ok(member("a", 5)), Ok(member("b", 9)), Ok(member("c", 9))];
        assert_eq!(choose(&names(3), &probes), Ok(1));
    }

    #[test]
    fn skips_learner_and_leaderless() {
        let mut learner = member("a", 100);
        learner.is_learner = true;
        let mut orphan = member("b", 100);
        orphan.leader = 0;
        let probes = vec![Ok(learner), Ok(orphan), Ok(member("c", 1))];
        assert_eq!(choose(&names(3), &probes), Ok(2));
    }

    #[test]
    fn alarms_do_not_disqualify() {
        let mut full = member("a", 3);
        full.errors = vec!["memberID:1 alarm:NOSPACE".to_owned()];
        assert_eq!(choose(&names(1), &[Ok(full)]), Ok(0));
    }

    #[test]
    fn none_usable_lists_every_endpoint() {
        let mut learner = member("b", 1);
        learner.is_learner = true;
        let probes = vec![Err("connection refused".to_owned()), Ok(learner)];
        let Err(SelectError::NoUsable(details)) = choose(&names(2), &probes) else {
            panic!("expected NoUsable");
        };
        assert!(
            details.contains("http://m0:2379: connection refused"),
            "{details}"
        );
        assert!(
            details.contains("http://m1:2379: member is a learner"),
            "{details}"
        );
    }

    #[test]
    fn different_clusters_rejected() {
        let mut other = member("b", 1);
        other.cluster_id = 8;
        let probes = vec![Ok(member("a", 1)), Ok(other)];
        assert!(matches!(
            choose(&names(2), &probes),
            Err(SelectError::ClusterMismatch(_))
        ));
    }
}
