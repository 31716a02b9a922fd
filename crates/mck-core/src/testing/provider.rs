//! [`Provider`] for [`FakeCloud`](super::FakeCloud): creates, updates, deletes and readiness polls, with what
//! real AWS does around them ([`RepeatedCreate`], busy refusals, dependency violations).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::faults::Fault;
use super::reader::serial;
use super::{FakeCloud, FakeResource, cloud_ids, dereference, prefix, references};
use crate::exec::Op;
use crate::model::{
    EcsServiceSpec, LogicalId, RepeatedCreate, ResourceKind, ResourceSpec, TAG_ID, TAG_STACK,
    TaskDefinitionSpec, Value,
};
use crate::provider::{Context, ErrorClass, Observed, Provider, ProviderError, Readiness};

#[async_trait]
impl Provider for FakeCloud {
    async fn create(
        &self,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &ResourceSpec,
    ) -> Result<Observed, ProviderError> {
        let lost_response = self.enter(Op::Create, id, spec.kind()).await?;
        dereference(ctx, spec)?;
        let mut fields = BTreeMap::new();
        for field in spec.fields() {
            fields.insert(field.name.to_string(), ctx.resolve(&field.value)?);
        }
        let mut state = self.lock();
        state.refuse_create(ctx.stack, id, spec.kind())?;
        // Like EFS refusing a mount target on a file system still creating: what a new
        // resource uses must be usable.
        let now = Instant::now();
        let mut used_ids = Vec::new();
        for value in fields.values() {
            cloud_ids(value, &mut used_ids);
        }
        if let Some((cid, used)) = used_ids.iter().find_map(|cid| {
            state
                .resources
                .get(cid)
                .filter(|r| now < r.ready_at && r.gone_at.is_none())
                .map(|r| (cid, r))
        }) {
            return Err(ProviderError::new(
                ErrorClass::DependencyViolation,
                format!("failed to create {id}: {} {cid} is not ready", used.id),
            ));
        }
        // A create repeated after a lost answer does what the kind's driver and AWS make of it
        // ([`RepeatedCreate`]): the first resource comes back (a client token, an adopted
        // name), is found once reads see it, or a second one is made.
        let now = Instant::now();
        let claimed = state
            .claims
            .get(&(ctx.stack.to_string(), id.clone()))
            .cloned()
            .unwrap_or_default();
        let finds_first = |r: &FakeResource| match spec.kind().repeated_create() {
            RepeatedCreate::ReturnsFirst => true,
            RepeatedCreate::FoundOnceVisible => now >= r.visible_at,
            RepeatedCreate::MakesAnother => false,
        };
        if let Some((cid, existing)) = claimed.iter().find_map(|cid| {
            state
                .resources
                .get(cid)
                .filter(|r| {
                    r.stack == ctx.stack
                        && &r.id == id
                        && r.kind == spec.kind()
                        && r.gone_at.is_none()
                        && r.fields == fields
                        && finds_first(r)
                })
                .map(|r| (cid, r))
        }) {
            let observed = existing.observe(cid);
            return match lost_response {
                Some(err) if now >= existing.visible_at => Err(err),
                _ => Ok(observed),
            };
        }
        state.next_serial += 1;
        let cloud_id = format!("{}-{:06}", prefix(spec.kind()), state.next_serial);
        let latency = self.latency.get(&spec.kind()).copied().unwrap_or_default();
        let ready_at = if state.stuck.contains(id) {
            Instant::now() + Duration::from_secs(1 << 40)
        } else {
            Instant::now() + latency
        };
        let tags = ctx.tags_for(id).into_iter().collect::<BTreeMap<_, _>>();
        debug_assert_eq!(tags.get(TAG_STACK).map(String::as_str), Some(ctx.stack));
        debug_assert_eq!(tags.get(TAG_ID).map(String::as_str), Some(id.as_str()));
        let follow_up = state.follow_up_refused(spec.kind(), None);
        if let Some((field, _)) = &follow_up {
            fields.insert((*field).to_string(), Value::Null);
        }
        let res = FakeResource {
            stack: ctx.stack.to_string(),
            id: id.clone(),
            kind: spec.kind(),
            fields,
            tags,
            ready_at,
            failed: state.rollbacks.remove(id),
            visible_at: Instant::now()
                + self
                    .visibility_delay
                    .get(&spec.kind())
                    .copied()
                    .unwrap_or_default(),
            gone_at: None,
            created_at: now,
            hidden_until: state.hidden_after_start(spec.kind()),
        };
        let observed = res.observe(&cloud_id);
        state.resources.insert(cloud_id.clone(), res);
        state
            .claims
            .entry((ctx.stack.to_string(), id.clone()))
            .or_default()
            .push(cloud_id.clone());
        if let Some((_, message)) = follow_up {
            return Err(ProviderError::new(
                ErrorClass::Transient,
                format!("failed to finish creating {id}: {message}"),
            )
            .after_create(cloud_id));
        }
        if let Some(idx) = state.fail_after_create.iter().position(|f| f == id) {
            state.fail_after_create.remove(idx);
            return Err(ProviderError::new(
                ErrorClass::Throttled,
                format!("failed to finish creating {id}: scripted throttling"),
            )
            .after_create(cloud_id));
        }
        if let Some(idx) = state.lost_answers.iter().position(|f| f == id) {
            state.lost_answers.remove(idx);
            return Err(ProviderError::new(
                ErrorClass::Transient,
                format!("failed to create {id}: scripted 503 after the create took effect"),
            ));
        }
        match lost_response {
            Some(err) => Err(err),
            None => Ok(observed),
        }
    }

    async fn update(
        &self,
        ctx: &Context<'_>,
        spec: &ResourceSpec,
        live: &Observed,
        changed: &[&str],
    ) -> Result<Observed, ProviderError> {
        let lost_response = self.enter(Op::Update, &live.id, live.kind).await?;
        dereference(ctx, spec)?;
        let mut new_values = Vec::new();
        for field in spec
            .fields()
            .into_iter()
            .filter(|f| changed.contains(&f.name))
        {
            new_values.push((field.name, ctx.resolve(&field.value)?));
        }
        let latency = self.latency.get(&live.kind).copied().unwrap_or_default();
        let mut state = self.lock();
        let res = state.resources.get_mut(&live.cloud_id).ok_or_else(|| {
            ProviderError::new(ErrorClass::NotFound, format!("{} not found", live.cloud_id))
        })?;
        // RDS and ElastiCache refuse a change while the last one is still being applied
        // (InvalidDBClusterStateFault, InvalidReplicationGroupState); other services take it.
        let refuses_while_busy = matches!(
            live.kind,
            ResourceKind::DbCluster
                | ResourceKind::DbInstance
                | ResourceKind::ReplicationGroup
                | ResourceKind::CacheCluster
        );
        if refuses_while_busy && Instant::now() < res.ready_at {
            return Err(ProviderError::new(
                ErrorClass::DependencyViolation,
                format!("failed to update {}: it is busy (modifying)", live.cloud_id),
            ));
        }
        let created_at = res.created_at;
        if let Some((field, message)) = state.follow_up_refused(live.kind, Some(created_at))
            && changed.contains(&field)
        {
            return Err(ProviderError::new(
                ErrorClass::Transient,
                format!("failed to update {}: {message}", live.id),
            ));
        }
        let hidden_until = state.hidden_after_start(live.kind);
        let rollback = state
            .rollbacks
            .remove(&live.id)
            .or_else(|| state.update_fails_later(live.kind));
        state
            .resources
            .get_mut(&live.cloud_id)
            .expect("checked above")
            .hidden_until = hidden_until;
        match rollback {
            // Rolled back: the old values stay.
            Some(reason) => {
                state
                    .resources
                    .get_mut(&live.cloud_id)
                    .expect("checked above")
                    .failed = Some(reason)
            }
            None => {
                let res = state
                    .resources
                    .get_mut(&live.cloud_id)
                    .expect("checked above");
                for (name, value) in new_values {
                    res.fields.insert(name.to_string(), value);
                }
            }
        }
        let stuck = state.stuck.contains(&live.id);
        let res = state
            .resources
            .get_mut(&live.cloud_id)
            .expect("checked above");
        res.ready_at = if stuck {
            Instant::now() + Duration::from_secs(1 << 40)
        } else {
            Instant::now() + latency
        };
        match lost_response {
            Some(err) => Err(err),
            None => Ok(res.observe(&live.cloud_id)),
        }
    }

    /// Task definitions keep their newest revisions, like [`crate::provider::Provider::retire`]
    /// on AWS: the older ones beyond `keep_revisions` go, never one a service runs.
    async fn retire(
        &self,
        ctx: &Context<'_>,
        spec: &ResourceSpec,
        old: &Observed,
    ) -> Result<bool, ProviderError> {
        let ResourceSpec::TaskDefinition(td) = spec else {
            return self.delete(ctx, old).await.map(|()| true);
        };
        self.enter(Op::Delete, &old.id, old.kind).await?;
        let now = Instant::now();
        let mut state = self.lock();
        let live = |r: &FakeResource| r.gone_at.is_none_or(|at| now < at);
        let active: Vec<(i64, String)> = state
            .resources
            .iter()
            .filter(|(_, r)| r.stack == ctx.stack && r.id == old.id && live(r))
            .map(|(cid, _)| (serial(cid), cid.clone()))
            .collect();
        let in_use: std::collections::BTreeSet<String> = state
            .resources
            .values()
            .filter(|r| r.kind == ResourceKind::EcsService && live(r))
            .filter_map(
                |r| match r.fields.get(EcsServiceSpec::TASK_DEFINITION.name) {
                    Some(Value::CloudId(arn)) => Some(arn.clone()),
                    _ => None,
                },
            )
            .collect();
        let prune = TaskDefinitionSpec::revisions_to_prune(&active, &in_use, td.keep_revisions);
        for cid in &prune {
            if let Some(r) = state.resources.get_mut(cid) {
                r.gone_at = Some(now);
            }
        }
        Ok(prune.contains(&old.cloud_id))
    }

    async fn delete(&self, _ctx: &Context<'_>, live: &Observed) -> Result<(), ProviderError> {
        let lost_response = self.enter(Op::Delete, &live.id, live.kind).await?;
        let now = Instant::now();
        let mut state = self.lock();
        // AWS lets a NAT gateway or an instance go while routes or addresses still name them
        // (the route turns blackhole, the address is disassociated); everything else is refused.
        let blocking = !matches!(live.kind, ResourceKind::NatGateway | ResourceKind::Instance);
        if blocking
            && let Some((user_cid, user)) = state.resources.iter().find(|(cid, r)| {
                *cid != &live.cloud_id
                    && !r.is_gone(now)
                    && r.fields.values().any(|v| references(v, &live.cloud_id))
            })
        {
            return Err(ProviderError::new(
                ErrorClass::DependencyViolation,
                format!(
                    "failed to delete {} {}: still used by {} {user_cid}",
                    live.kind, live.cloud_id, user.id
                ),
            ));
        }
        let latency = self
            .delete_latency
            .get(&live.kind)
            .copied()
            .unwrap_or_default();
        // Deleting a revisioned resource (a task definition) deregisters its kept older
        // revisions too.
        if live.kind.replace_policy() == crate::model::ReplacePolicy::CreateFirst
            && state.resources.contains_key(&live.cloud_id)
        {
            let stack = state.resources[&live.cloud_id].stack.clone();
            for (cid, r) in state.resources.iter_mut() {
                if *cid != live.cloud_id
                    && r.stack == stack
                    && r.id == live.id
                    && r.gone_at.is_none()
                {
                    r.gone_at = Some(now + latency);
                }
            }
        }
        match state.resources.get_mut(&live.cloud_id) {
            Some(res) if res.gone_at.is_none() => res.gone_at = Some(now + latency),
            Some(_) => {}
            None => {
                return Err(ProviderError::new(
                    ErrorClass::NotFound,
                    format!("{} not found", live.cloud_id),
                ));
            }
        }
        match lost_response {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    async fn poll(&self, _ctx: &Context<'_>, live: &Observed) -> Result<Readiness, ProviderError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Some((class, _)) = self.draw_fault() {
            return Err(ProviderError::new(
                class,
                format!("failed to describe {}: injected {class:?}", live.cloud_id),
            ));
        }
        let now = Instant::now();
        let mut state = self.lock();
        *state.polls.entry(live.id.clone()).or_default() += 1;
        let status = state
            .stuck_status
            .get(&live.id)
            .cloned()
            .unwrap_or_else(|| "pending".into());
        if state
            .resources
            .get(&live.cloud_id)
            .and_then(|r| r.hidden_until)
            .is_some_and(|until| now < until)
        {
            state.hit(
                |f| matches!(f, Fault::InvisibleAfterStart { kind, .. } if *kind == live.kind),
            );
            return Ok(Readiness::Gone);
        }
        Ok(match state.resources.get_mut(&live.cloud_id) {
            None => Readiness::Gone,
            Some(r) if r.is_gone(now) || now < r.visible_at => Readiness::Gone,
            Some(r) if r.gone_at.is_some() => Readiness::Pending("deleting".into()),
            Some(r) if now >= r.ready_at => match r.failed.take() {
                Some(reason) => Readiness::Failed(reason),
                None => Readiness::Ready(r.observe(&live.cloud_id)),
            },
            Some(_) => Readiness::Pending(status),
        })
    }

    async fn tag_network(&self, id: &str, tags: &[(String, String)]) -> Result<(), ProviderError> {
        let mut state = self.lock();
        let vpc = state
            .resources
            .get_mut(id)
            .filter(|r| r.kind == ResourceKind::Vpc)
            .ok_or_else(|| ProviderError::new(ErrorClass::NotFound, format!("no VPC {id}")))?;
        vpc.tags.extend(tags.iter().cloned());
        Ok(())
    }
}
