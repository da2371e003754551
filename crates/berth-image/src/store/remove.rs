//! `docker rmi` semantics, after moby's `daemon/images/image_delete.go`.

use super::{ContainerUse, DeleteItem, ImageStore};
use crate::digest::{hex_part, short_id};
use crate::error::ImageError;
use crate::reference::{is_digest_reference, normalize_any_reference, repository_of};

struct Conflict {
    hard: bool,
    used: bool,
    message: String,
}

impl Conflict {
    fn error(&self, id: &str) -> ImageError {
        let force = if self.hard { "cannot be forced" } else { "must be forced" };
        ImageError::Conflict(format!("conflict: unable to delete {} ({force}) - {}", short_id(id), self.message))
    }
}

/// Docker's `checkImageDeleteConflict`: child images and running containers are a hard
/// conflict; with `soft`, remaining references (if `active_refs`) and stopped containers are too.
fn check(users: &[ContainerUse], children: usize, soft: bool, active_refs: usize) -> Option<Conflict> {
    if children > 0 {
        return Some(Conflict { hard: true, used: false, message: "image has dependent child images".into() });
    }
    if let Some(c) = users.iter().find(|c| c.running) {
        return Some(Conflict {
            hard: true,
            used: true,
            message: format!("image is being used by running container {}", short_id(&c.id)),
        });
    }
    if soft && active_refs > 0 {
        return Some(Conflict {
            hard: false,
            used: false,
            message: "image is referenced in multiple repositories".into(),
        });
    }
    if soft {
        if let Some(c) = users.iter().find(|c| !c.running) {
            return Some(Conflict {
                hard: false,
                used: true,
                message: format!("image is being used by stopped container {}", short_id(&c.id)),
            });
        }
    }
    None
}

/// Whether `reference` names the image by (a prefix of) its id rather than by a tag.
fn is_id_prefix(id: &str, reference: &str) -> bool {
    id.starts_with(reference) || hex_part(id).starts_with(reference)
}

/// Docker's `isSingleReference`: at most one tag, and every reference in that one repository
/// (digests of the tagged repository do not count as more references).
fn single_repository(refs: &[String]) -> bool {
    let tags: Vec<&String> = refs.iter().filter(|r| !is_digest_reference(r)).collect();
    let digest_repos: std::collections::BTreeSet<&str> =
        refs.iter().filter(|r| is_digest_reference(r)).map(|r| repository_of(r)).collect();
    match (tags.as_slice(), digest_repos.len()) {
        ([], 0) => false,
        ([_], 0) => true,
        ([], 1) => true,
        ([t], 1) => digest_repos.contains(repository_of(t)),
        _ => false,
    }
}

impl ImageStore {
    /// `docker rmi`: untags `reference` if it is a tag, and deletes the image (and the layers no
    /// one else uses) once no tag is left, or when named by id. `in_use` tells which containers
    /// use an image; it is called with the store's write lock held, so it may read the store
    /// (`resolve`, `list`) but must not change it.
    /// Conflicts are Docker's 409 messages. The deleted image's untagged parents that nothing
    /// else uses go with it ([`ImageStore::remove_with`] with `prune`).
    pub fn remove(
        &self,
        reference: &str,
        force: bool,
        in_use: &dyn Fn(&str) -> Vec<ContainerUse>,
    ) -> Result<Vec<DeleteItem>, ImageError> {
        self.remove_with(reference, force, true, in_use)
    }

    /// [`ImageStore::remove`]; without `prune` (`docker rmi --no-prune`) the parents are kept.
    pub fn remove_with(
        &self,
        reference: &str,
        force: bool,
        prune: bool,
        in_use: &dyn Fn(&str) -> Vec<ContainerUse>,
    ) -> Result<Vec<DeleteItem>, ImageError> {
        let _g = self.lock_for_remove();
        let id = Self::resolve_id(&self.read_state(), reference)?;
        let users = in_use(&id);
        let refs_of = |s: &Self| -> Vec<String> {
            s.read_state().refs.iter().filter(|(_, v)| **v == id).map(|(k, _)| k.clone()).collect()
        };
        let repo_refs = refs_of(self);
        let mut records = Vec::new();
        let quiet = if !is_id_prefix(&id, reference) {
            if !force && single_repository(&repo_refs) {
                if let Some(c) = users.first() {
                    return Err(ImageError::Conflict(format!(
                        "conflict: unable to remove repository reference \"{reference}\" (must force) - container {} is using its referenced image {}",
                        short_id(&c.id),
                        short_id(&id)
                    )));
                }
            }
            let name = normalize_any_reference(reference)?;
            {
                let mut st = self.write_state();
                if st.refs.remove(&name).is_none() {
                    return Err(ImageError::no_such_image(&name));
                }
                records.push(DeleteItem::Untagged(name.clone()));
                // The last tag of a repository takes that repository's digests with it.
                let repo = repository_of(&name).to_string();
                let tag_left =
                    st.refs.iter().any(|(k, v)| *v == id && !is_digest_reference(k) && repository_of(k) == repo);
                if !is_digest_reference(&name) && !tag_left {
                    let digests: Vec<String> = st
                        .refs
                        .iter()
                        .filter(|(k, v)| **v == id && is_digest_reference(k) && repository_of(k) == repo)
                        .map(|(k, _)| k.clone())
                        .collect();
                    for dg in digests {
                        st.refs.remove(&dg);
                        records.push(DeleteItem::Untagged(dg));
                    }
                }
                self.save_refs(&st)?;
            }
            if !refs_of(self).is_empty() {
                return Ok(records);
            }
            true
        } else {
            if single_repository(&repo_refs) {
                let children = Self::children_of(&self.read_state(), &id).len();
                if let Some(c) = check(&users, children, !force, 0) {
                    return Err(c.error(&id));
                }
                let mut st = self.write_state();
                for r in &repo_refs {
                    st.refs.remove(r);
                    records.push(DeleteItem::Untagged(r.clone()));
                }
                self.save_refs(&st)?;
            }
            false
        };

        self.delete_helper(id, &users, force, prune, quiet, in_use, &mut records)?;
        Ok(records)
    }

    /// Docker's `imageDeleteHelper`: deletes `id` unless a conflict forbids it (silently when
    /// `quiet` and the image is still referenced, has children or is used), then, with `prune`,
    /// its parent the same way (quietly, unforced).
    #[allow(clippy::too_many_arguments)] // Docker's own parameters, one for one
    fn delete_helper(
        &self,
        id: String,
        users: &[ContainerUse],
        force: bool,
        prune: bool,
        quiet: bool,
        in_use: &dyn Fn(&str) -> Vec<ContainerUse>,
        records: &mut Vec<DeleteItem>,
    ) -> Result<(), ImageError> {
        let refs_of = |s: &Self| -> Vec<String> {
            s.read_state().refs.iter().filter(|(_, v)| **v == id).map(|(k, _)| k.clone()).collect()
        };
        let remaining = refs_of(self);
        let children = Self::children_of(&self.read_state(), &id).len();
        if let Some(c) = check(users, children, !force, remaining.len()) {
            let dangling = remaining.is_empty() && children == 0;
            if quiet && (!dangling || c.used) {
                return Ok(());
            }
            return Err(c.error(&id));
        }
        let parent = self.read_state().parents.get(&id).cloned();
        for r in remaining {
            records.push(DeleteItem::Untagged(r));
        }
        let deleted_layers = self.remove_image_locked(&id)?;
        records.push(DeleteItem::Deleted(id));
        records.extend(deleted_layers.into_iter().map(DeleteItem::Deleted));
        match parent {
            Some(p) if prune && self.read_state().images.contains_key(&p) => {
                let users = in_use(&p);
                self.delete_helper(p, &users, false, true, true, in_use, records)
            }
            _ => Ok(()),
        }
    }
}
