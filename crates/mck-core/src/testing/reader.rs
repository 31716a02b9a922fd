//! [`Reader`] for [`FakeCloud`](super::FakeCloud): what the fake shows, as AWS describe calls would.

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{FakeCloud, FakeResource};
use crate::model::{ReleaseRecordSpec, ReleaseTaskSpec, ResourceKind, TaskDefinitionSpec, Value};
use crate::provider::{Network, Observed, ProviderError, Reader, Unmanaged, Who};

#[async_trait]
impl Reader for FakeCloud {
    async fn read_all(&self, stack: &str) -> Result<Vec<Observed>, ProviderError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Some((class, _)) = self.draw_fault() {
            return Err(ProviderError::new(
                class,
                format!("failed to read stack {stack}: injected {class:?}"),
            ));
        }
        let now = Instant::now();
        let state = self.lock();
        let visible: Vec<(&String, &FakeResource)> = state
            .resources
            .iter()
            .filter(|(_, r)| {
                // A resource being deleted is read until it is gone, as describe calls
                // show it (`deleting`, `shutting-down`, `DRAINING`).
                r.stack == stack
                    && !r.is_gone(now)
                    && now >= r.visible_at
                    && !(now < r.ready_at && state.unreadable_while_creating.contains(&r.kind))
            })
            .collect();
        // Revisioned kinds read like ECS task definitions: the newest revision of each
        // (cloud ids grow with each create).
        let superseded = |cid: &String, r: &FakeResource| {
            r.kind.replace_policy() == crate::model::ReplacePolicy::CreateFirst
                && visible
                    .iter()
                    .any(|(other, o)| o.id == r.id && o.kind == r.kind && *other > cid)
        };
        let mut observed: Vec<Observed> = visible
            .iter()
            .filter(|(cid, r)| !superseded(cid, r))
            .map(|(cid, r)| r.observe(cid))
            .collect();
        // Like the AWS reader: removing the maintenance flag and cleaning the caches count
        // only for the build migrated last (a migration since has set the flag again).
        let migrated = observed
            .iter()
            .find(|o| o.id.as_str() == ReleaseTaskSpec::MIGRATE_ID)
            .and_then(|o| o.fields.get(ReleaseTaskSpec::IMAGE.name).cloned());
        for o in observed.iter_mut().filter(|o| {
            o.kind == ResourceKind::Maintenance
                || o.id.as_str() == crate::model::ReleaseJob::CacheClean.id()
        }) {
            if o.fields.get(ReleaseTaskSpec::IMAGE.name) != migrated.as_ref() {
                o.fields
                    .insert(ReleaseTaskSpec::IMAGE.name.to_string(), Value::Null);
            }
        }
        Ok(observed)
    }

    async fn read_unmanaged(
        &self,
        stack: &str,
        _owned: &[Observed],
    ) -> Result<Vec<Unmanaged>, ProviderError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        Ok(self
            .lock()
            .unmanaged
            .iter()
            .filter(|(s, _)| s == stack)
            .map(|(_, u)| u.clone())
            .collect())
    }

    async fn list_stacks(&self) -> Result<Vec<String>, ProviderError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut stacks: Vec<String> = self
            .lock()
            .resources
            .values()
            .filter(|r| !r.is_gone(Instant::now()))
            .map(|r| r.stack.clone())
            .collect();
        stacks.sort();
        stacks.dedup();
        Ok(stacks)
    }

    async fn list_networks(&self) -> Result<Vec<Network>, ProviderError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let state = self.lock();
        let mut networks: Vec<Network> = state
            .resources
            .iter()
            .filter(|(_, r)| r.kind == ResourceKind::Vpc && !r.is_gone(now) && now >= r.visible_at)
            .map(|(cid, r)| Network {
                id: cid.clone(),
                cidr: match r.fields.get(crate::model::VpcSpec::CIDR_BLOCK.name) {
                    Some(Value::Str(cidr)) => cidr.clone(),
                    _ => String::new(),
                },
                tags: r.tags.clone(),
            })
            .collect();
        networks.extend(state.foreign_networks.iter().cloned());
        Ok(networks)
    }

    async fn count_resources(
        &self,
    ) -> Result<std::collections::BTreeMap<String, usize>, ProviderError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let mut counts = std::collections::BTreeMap::new();
        for r in self.lock().resources.values() {
            if !r.is_gone(now) && now >= r.visible_at && r.kind.is_taggable() {
                *counts.entry(r.stack.clone()).or_insert(0) += 1;
            }
        }
        Ok(counts)
    }

    async fn last_write(&self, _kind: ResourceKind, cloud_id: &str) -> Who {
        match self.lock().writes.get(cloud_id) {
            Some(event) => Who::Found(event.clone()),
            None => Who::NoEvent,
        }
    }

    fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    async fn live_release(
        &self,
        stack: &str,
    ) -> Result<Option<crate::model::LiveRelease>, ProviderError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let state = self.lock();
        Ok(state
            .resources
            .values()
            .find(|r| r.stack == stack && r.kind == ResourceKind::ReleaseRecord && !r.is_gone(now))
            .map(|r| {
                let text = |name: &str| match r.fields.get(name) {
                    Some(Value::Str(s)) => Some(s.as_str()),
                    _ => None,
                };
                crate::model::LiveRelease::from_record(
                    text(ReleaseRecordSpec::TAG.name),
                    text(ReleaseRecordSpec::REVISION.name),
                    text(ReleaseRecordSpec::FILE.name),
                )
            }))
    }

    async fn revisions(
        &self,
        family: &str,
    ) -> Result<Vec<crate::provider::Revision>, ProviderError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let state = self.lock();
        let mut out: Vec<crate::provider::Revision> = state
            .resources
            .iter()
            .filter(|(_, r)| {
                r.kind == ResourceKind::TaskDefinition
                    && r.gone_at.is_none_or(|at| now < at)
                    && r.fields.get(TaskDefinitionSpec::FAMILY.name)
                        == Some(&Value::Str(family.to_string()))
            })
            .map(|(cid, r)| crate::provider::Revision::from_fields(cid, serial(cid), &r.fields))
            .collect();
        out.sort_by_key(|r| std::cmp::Reverse(r.number));
        Ok(out)
    }
}

/// The serial number in a fake cloud id (`ecs_task_definition-000083` -> 83): revisions grow
/// with it.
pub(super) fn serial(cloud_id: &str) -> i64 {
    cloud_id
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
