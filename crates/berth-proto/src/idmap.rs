//! The id mappings of `--userns-remap` (Docker's idtools): ranges of container ids to host ids,
//! read from /etc/subuid and /etc/subgid, container ids numbered from 0 across the ranges in
//! the order the files list them.

use serde::{Deserialize, Serialize};

/// One line of `uid_map`: `size` ids from `container_id` map to `host_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRange {
    pub container_id: u32,
    pub host_id: u32,
    pub size: u32,
}

/// Both mappings, as recorded with a container (invariant 8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IdMaps {
    pub uids: Vec<IdRange>,
    pub gids: Vec<IdRange>,
}

fn to_host(ranges: &[IdRange], id: u32) -> Option<u32> {
    ranges
        .iter()
        .find(|r| id >= r.container_id && id - r.container_id < r.size)
        .map(|r| r.host_id + (id - r.container_id))
}

fn to_container(ranges: &[IdRange], id: u32) -> Option<u32> {
    ranges.iter().find(|r| id >= r.host_id && id - r.host_id < r.size).map(|r| r.container_id + (id - r.host_id))
}

fn map_text(ranges: &[IdRange]) -> String {
    ranges.iter().map(|r| format!("{} {} {}\n", r.container_id, r.host_id, r.size)).collect()
}

impl IdMaps {
    /// Ranges of subordinate ids (`start`, `count`), in file order, numbered from container id 0.
    pub fn from_subordinate(uids: &[(u32, u32)], gids: &[(u32, u32)]) -> IdMaps {
        let number = |v: &[(u32, u32)]| {
            let mut next = 0u32;
            v.iter()
                .map(|&(host_id, size)| {
                    let r = IdRange { container_id: next, host_id, size };
                    next = next.saturating_add(size);
                    r
                })
                .collect()
        };
        IdMaps { uids: number(uids), gids: number(gids) }
    }

    /// The host uid of a container uid; None when it is not mapped.
    pub fn host_uid(&self, uid: u32) -> Option<u32> {
        to_host(&self.uids, uid)
    }

    pub fn host_gid(&self, gid: u32) -> Option<u32> {
        to_host(&self.gids, gid)
    }

    /// The host ids of the container's root (`<uid>.<gid>` of Docker's remapped data-root).
    pub fn root(&self) -> (u32, u32) {
        (self.host_uid(0).unwrap_or(0), self.host_gid(0).unwrap_or(0))
    }

    /// The container uid a host uid is; None when it is outside the mapping.
    pub fn container_uid(&self, uid: u32) -> Option<u32> {
        to_container(&self.uids, uid)
    }

    pub fn container_gid(&self, gid: u32) -> Option<u32> {
        to_container(&self.gids, gid)
    }

    /// `/proc/<pid>/uid_map`'s text.
    pub fn uid_map(&self) -> String {
        map_text(&self.uids)
    }

    pub fn gid_map(&self) -> String {
        map_text(&self.gids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_numbered_in_order() {
        let m = IdMaps::from_subordinate(&[(100000, 65536), (300000, 10)], &[(200000, 65536)]);
        assert_eq!(m.root(), (100000, 200000));
        assert_eq!(m.host_uid(65536), Some(300000));
        assert_eq!(m.host_uid(65546), None);
        assert_eq!(m.container_uid(300001), Some(65537));
        assert_eq!(m.container_gid(5), None);
        assert_eq!(m.uid_map(), "0 100000 65536\n65536 300000 10\n");
    }
}
