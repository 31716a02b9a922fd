//! The health-gated rollout of an ECS service: where the deployment of the wanted task
//! definition stands, the target group's health, and the stopped tasks' reasons.
//!
//! ECS's own "steady state" ignores the load balancer: a service whose tasks run but fail their
//! ALB health checks looks stable. So a create or update is ready only when the deployment of
//! the wanted task definition has COMPLETED *and* the target group reports at least the desired
//! count of healthy targets; a deployment the circuit breaker failed (and rolled back) is a
//! failure that names the stopped tasks' reasons and exit codes.

use std::fmt::Write as _;

use aws_sdk_ecs::types::{DeploymentRolloutState, DesiredStatus, Service};
use aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum;
use mck_core::provider::ProviderError;

use crate::AwsProvider;
use crate::error::sdk;

/// Where the deployment of the wanted task definition stands.
#[derive(Debug, PartialEq)]
pub(super) enum Rollout {
    InProgress(String),
    Completed,
    Failed(String),
}

impl Rollout {
    pub(super) fn of(service: &Service, wanted: &str) -> Rollout {
        let name = service.service_name().unwrap_or_default();
        if service.deployments().is_empty() {
            return Rollout::InProgress("waiting for ECS to start the deployment".into());
        }
        let ours = service
            .deployments()
            .iter()
            .find(|d| d.task_definition() == Some(wanted))
            .or_else(|| {
                // On AWS the primary deployment always runs the service's task definition;
                // the emulator keeps its first deployment's (docs/emulator.md).
                (service.task_definition() == Some(wanted))
                    .then(|| {
                        service
                            .deployments()
                            .iter()
                            .find(|d| d.status() == Some("PRIMARY"))
                    })
                    .flatten()
            });
        let Some(deployment) = ours else {
            // The circuit breaker rolled back to the previous revision and the failed
            // deployment is already gone from the list.
            return Rollout::Failed(format!(
                "service {name} runs {} instead of {wanted}: its deployment was rolled back",
                service.task_definition().unwrap_or("nothing"),
            ));
        };
        let reason = deployment.rollout_state_reason().unwrap_or_default();
        match deployment.rollout_state() {
            Some(DeploymentRolloutState::Failed) => {
                let rolled_back = service.task_definition() != Some(wanted);
                Rollout::Failed(format!(
                    "the deployment of service {name} failed{}: {reason}",
                    if rolled_back {
                        " and the circuit breaker rolled it back"
                    } else {
                        ""
                    }
                ))
            }
            _ if deployment.status() != Some("PRIMARY") => Rollout::Failed(format!(
                "service {name} moved on from {wanted} (now {}): its deployment was rolled back or replaced",
                service.task_definition().unwrap_or("nothing")
            )),
            Some(DeploymentRolloutState::Completed)
                if service.running_count() >= service.desired_count() =>
            {
                Rollout::Completed
            }
            // Without a rollout state (no circuit breaker): one deployment left, fully running.
            None if service.deployments().len() == 1
                && service.running_count() >= service.desired_count() =>
            {
                Rollout::Completed
            }
            _ => Rollout::InProgress(format!(
                "deployment in progress: running {}/{}, pending {}, failed tasks {}",
                deployment.running_count(),
                deployment.desired_count(),
                deployment.pending_count(),
                deployment.failed_tasks(),
            )),
        }
    }
}

/// The service's deployment alarms that are firing, as a sentence to add to a rollout's
/// failure (ECS rolls a deployment back when one fires): empty when none is, or when they
/// cannot be read (the failure stands without the detail).
pub(super) async fn alarms_fired(aws: &AwsProvider, service: &Service) -> String {
    let names = super::service::deployment_alarms(service);
    match crate::cloudwatch::alarms_in_alarm(aws, &names).await {
        Ok(fired) if !fired.is_empty() => format!(
            "; rolled back by its deployment alarm{} {} (in ALARM)",
            if fired.len() == 1 { "" } else { "s" },
            fired.join(", ")
        ),
        Ok(_) => String::new(),
        Err(err) => {
            tracing::debug!(%err, "reading the deployment alarms' state");
            String::new()
        }
    }
}

/// Healthy targets in the service's target group, and the first unhealthy target's reason.
pub(super) async fn target_health(
    aws: &AwsProvider,
    service: &Service,
) -> Result<(i32, String), ProviderError> {
    let Some(target_group) = service
        .load_balancers()
        .first()
        .and_then(|lb| lb.target_group_arn())
    else {
        return Ok((service.running_count(), String::new()));
    };
    let out = aws
        .clients
        .elbv2
        .describe_target_health()
        .target_group_arn(target_group)
        .send()
        .await
        .map_err(|e| sdk(&format!("describe target health of {target_group}"), e))?;
    let targets = out.target_health_descriptions();
    let healthy = targets
        .iter()
        .filter(|t| {
            t.target_health().and_then(|h| h.state()) == Some(&TargetHealthStateEnum::Healthy)
        })
        .count();
    let why = targets
        .iter()
        .filter_map(|t| t.target_health())
        .find(|h| h.state() != Some(&TargetHealthStateEnum::Healthy))
        .map(|h| {
            format!(
                "; a target is {}: {}",
                h.state().map_or("unknown", |s| s.as_str()),
                h.description()
                    .or(h.reason().map(|r| r.as_str()))
                    .unwrap_or("no reason given")
            )
        })
        .unwrap_or_default();
    Ok((i32::try_from(healthy).unwrap_or(i32::MAX), why))
}

/// The last stopped tasks of the wanted task definition with their reasons and container exit
/// codes, as "; stopped tasks: …". Best effort: a failure to read them is said, not raised.
pub(super) async fn stopped_tasks(
    aws: &AwsProvider,
    cluster: &str,
    service: &Service,
    wanted: &str,
) -> String {
    let name = service.service_name().unwrap_or_default();
    let listed = aws
        .clients
        .ecs
        .list_tasks()
        .cluster(cluster)
        .service_name(name)
        .desired_status(DesiredStatus::Stopped)
        .max_results(10)
        .send()
        .await;
    let arns = match listed {
        Ok(out) => out.task_arns().to_vec(),
        Err(e) => {
            return format!(
                "; stopped tasks unreadable ({})",
                sdk("list tasks", e).message
            );
        }
    };
    if arns.is_empty() {
        return String::new();
    }
    let described = aws
        .clients
        .ecs
        .describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(arns))
        .send()
        .await;
    let tasks = match described {
        Ok(out) => out.tasks().to_vec(),
        Err(e) => {
            return format!(
                "; stopped tasks unreadable ({})",
                sdk("describe tasks", e).message
            );
        }
    };
    let mut out = String::new();
    for task in tasks
        .iter()
        .filter(|t| t.task_definition_arn() == Some(wanted))
        .take(3)
    {
        let short = task
            .task_arn()
            .and_then(|a| a.rsplit('/').next())
            .unwrap_or("?");
        let _ = write!(
            out,
            "{} task {short}: {}",
            if out.is_empty() {
                "; stopped tasks:"
            } else {
                ";"
            },
            task.stopped_reason().unwrap_or("no reason given")
        );
        for c in task.containers() {
            if let Some(code) = c.exit_code() {
                let _ = write!(out, " ({} exit {code}", c.name().unwrap_or("?"));
                if let Some(reason) = c.reason() {
                    let _ = write!(out, ": {reason}");
                }
                out.push(')');
            } else if let Some(reason) = c.reason() {
                let _ = write!(out, " ({}: {reason})", c.name().unwrap_or("?"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::Deployment;
    use mck_core::model::EcsServiceSpec;
    use mck_core::provider::Readiness;
    use serde_json::json;

    use super::*;
    use crate::driver::Driver;
    use crate::ecs::service::tests::{TD1, TD2, live, resolved, service_json, spec};
    use crate::testing::{Replay, context, query_xml};

    #[test]
    fn a_service_without_a_deployment_yet_is_in_progress_not_rolled_back() {
        let service = Service::builder()
            .service_name("frontend")
            .task_definition(TD2)
            .desired_count(1)
            .build();
        assert!(matches!(Rollout::of(&service, TD2), Rollout::InProgress(_)));
        // With a deployment of another revision only, and the service on it: rolled back.
        let rolled_back = Service::builder()
            .service_name("frontend")
            .task_definition(TD1)
            .desired_count(1)
            .deployments(
                Deployment::builder()
                    .status("PRIMARY")
                    .task_definition(TD1)
                    .rollout_state(DeploymentRolloutState::Completed)
                    .build(),
            )
            .build();
        assert!(matches!(
            Rollout::of(&rolled_back, TD2),
            Rollout::Failed(why) if why.contains("rolled back")
        ));
    }

    fn deployment_json(status: &str, td: &str, state: &str, reason: &str) -> serde_json::Value {
        json!({
            "id": format!("ecs-svc/{td}"), "status": status, "taskDefinition": td,
            "desiredCount": 2, "runningCount": 0, "pendingCount": 0, "failedTasks": 3,
            "rolloutState": state, "rolloutStateReason": reason,
        })
    }

    fn health_xml(states: &[(&str, &str)]) -> String {
        let members: String = states
            .iter()
            .enumerate()
            .map(|(n, (state, description))| {
                format!(
                    "<member><Target><Id>10.0.1.{n}</Id><Port>80</Port></Target><TargetHealth><State>{state}</State><Reason>Target.ResponseCodeMismatch</Reason><Description>{description}</Description></TargetHealth></member>"
                )
            })
            .collect();
        query_xml(
            "DescribeTargetHealth",
            &format!("<TargetHealthDescriptions>{members}</TargetHealthDescriptions>"),
        )
    }

    /// The circuit breaker gave up on revision 2 and rolled the service back to revision 1:
    /// a failure naming the service, the breaker's reason, and the stopped tasks' reasons and
    /// exit codes, never a success.
    #[tokio::test]
    async fn a_rollback_by_the_circuit_breaker_fails_with_the_stopped_tasks_reasons() {
        let aws = Replay::new([
            (
                "DescribeServices",
                200,
                service_json(
                    "ACTIVE",
                    TD1,
                    json!([
                        deployment_json("PRIMARY", TD1, "IN_PROGRESS", "ECS deployment rolling back."),
                        deployment_json("ACTIVE", TD2, "FAILED", "ECS deployment circuit breaker: tasks failed to start."),
                    ]),
                ),
            ),
            (
                "ListTasks",
                200,
                json!({"taskArns": ["arn:aws:ecs:us-east-1:1:task/dev-app/0a1b2c", "arn:aws:ecs:us-east-1:1:task/dev-app/old"]}).to_string(),
            ),
            (
                "DescribeTasks",
                200,
                json!({"tasks": [
                    {"taskArn": "arn:aws:ecs:us-east-1:1:task/dev-app/0a1b2c", "taskDefinitionArn": TD2,
                     "stoppedReason": "Essential container in task exited",
                     "containers": [{"name": "php-fpm", "exitCode": 255, "reason": "Magento: SQLSTATE[HY000] [2002]"},
                                    {"name": "nginx"}]},
                    {"taskArn": "arn:aws:ecs:us-east-1:1:task/dev-app/old", "taskDefinitionArn": TD1,
                     "stoppedReason": "Scaling activity initiated by deployment"}
                ], "failures": []}).to_string(),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = resolved();
        let Readiness::Failed(why) = EcsServiceSpec::poll(&provider, &context(&deps), &live(TD2))
            .await
            .unwrap()
        else {
            panic!("a rolled back deployment must fail")
        };
        for part in [
            "frontend",
            "rolled it back",
            "tasks failed to start",
            "task 0a1b2c: Essential container in task exited",
            "php-fpm exit 255",
            "SQLSTATE",
        ] {
            assert!(why.contains(part), "`{part}` missing from: {why}");
        }
        assert!(!why.contains("Scaling activity"), "{why}");
        aws.assert_done();
    }

    /// A deployment alarm fired during the rollout and ECS rolled it back: a failed release
    /// naming the alarm (read from CloudWatch: only the firing ones), never a success.
    #[tokio::test]
    async fn a_rollback_by_a_deployment_alarm_fails_naming_the_alarm() {
        let mut service: serde_json::Value = serde_json::from_str(&service_json(
            "ACTIVE",
            TD1,
            json!([
                deployment_json(
                    "PRIMARY",
                    TD1,
                    "IN_PROGRESS",
                    "ECS deployment rolling back."
                ),
                deployment_json(
                    "ACTIVE",
                    TD2,
                    "FAILED",
                    "ECS deployment detected triggered alarms."
                ),
            ]),
        ))
        .unwrap();
        service["services"][0]["deploymentConfiguration"] = json!({
            "maximumPercent": 200, "minimumHealthyPercent": 100,
            "deploymentCircuitBreaker": {"enable": true, "rollback": true},
            "alarms": {"alarmNames": ["mck/t/app.frontend.5xx", "mck/t/app.frontend.other"],
                       "enable": true, "rollback": true},
        });
        let alarms = "<DescribeAlarmsResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\"><DescribeAlarmsResult><MetricAlarms>\
            <member><AlarmName>mck/t/app.frontend.5xx</AlarmName><StateValue>ALARM</StateValue></member>\
            <member><AlarmName>mck/t/app.frontend.other</AlarmName><StateValue>OK</StateValue></member>\
            </MetricAlarms><CompositeAlarms/></DescribeAlarmsResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeAlarmsResponse>";
        let aws = Replay::new([
            ("DescribeServices", 200, service.to_string()),
            ("DescribeAlarms", 200, alarms.to_string()),
            ("ListTasks", 200, json!({"taskArns": []}).to_string()),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = resolved();
        let Readiness::Failed(why) = EcsServiceSpec::poll(&provider, &context(&deps), &live(TD2))
            .await
            .unwrap()
        else {
            panic!("a deployment rolled back by an alarm must fail")
        };
        assert!(
            why.contains("rolled back by its deployment alarm mck/t/app.frontend.5xx (in ALARM)"),
            "{why}"
        );
        assert!(why.contains("triggered alarms"), "{why}");
        assert!(!why.contains("other"), "{why}");
        let requests = aws.requests();
        assert!(
            requests.iter().any(|(name, body)| name == "DescribeAlarms"
                && body.contains("AlarmNames.member.1=mck%2Ft%2Fapp.frontend.5xx")),
            "{requests:?}"
        );
        aws.assert_done();
    }

    /// A rollout of a scaled service suspends its scale-in before UpdateService (ECS must
    /// not remove tasks while it replaces them) and resumes it when the rollout ends, here a
    /// rollback: the target ends as it was, and the failure stands.
    #[tokio::test]
    async fn a_rollout_of_a_scaled_service_suspends_scale_in_and_resumes_it_when_it_fails() {
        let target = json!({"ScalableTargets": [{
            "ServiceNamespace": "ecs", "ResourceId": "service/dev-app/frontend",
            "ScalableDimension": "ecs:service:DesiredCount", "MinCapacity": 2, "MaxCapacity": 6,
            "RoleARN": "arn:aws:iam::1:role/x", "CreationTime": 0}]})
        .to_string();
        let rolled_back = service_json(
            "ACTIVE",
            TD1,
            json!([
                deployment_json(
                    "PRIMARY",
                    TD1,
                    "IN_PROGRESS",
                    "ECS deployment rolling back."
                ),
                deployment_json(
                    "ACTIVE",
                    TD2,
                    "FAILED",
                    "ECS deployment circuit breaker: tasks failed to start."
                ),
            ]),
        );
        let aws = Replay::new([
            ("DescribeScalableTargets", 200, target.clone()),
            ("RegisterScalableTarget", 200, "{}".to_string()),
            (
                "UpdateService",
                200,
                json!({"service": serde_json::from_str::<serde_json::Value>(
                    &service_json("ACTIVE", TD2, json!([]))
                ).unwrap()["services"][0]})
                .to_string(),
            ),
            ("DescribeServices", 200, rolled_back),
            ("DescribeScalableTargets", 200, target),
            ("RegisterScalableTarget", 200, "{}".to_string()),
            ("ListTasks", 200, json!({"taskArns": []}).to_string()),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = resolved();
        let scaled = EcsServiceSpec {
            scaled: true,
            ..spec()
        };
        let updated = EcsServiceSpec::update(
            &provider,
            &context(&deps),
            &scaled,
            &live(TD1),
            &[EcsServiceSpec::TASK_DEFINITION.name],
        )
        .await
        .unwrap();
        let Readiness::Failed(_) = EcsServiceSpec::poll(&provider, &context(&deps), &updated)
            .await
            .unwrap()
        else {
            panic!("a rolled back deployment must fail")
        };
        aws.assert_done();
        let registrations: Vec<String> = aws
            .requests()
            .into_iter()
            .filter(|(name, _)| name == "RegisterScalableTarget")
            .map(|(_, body)| body)
            .collect();
        assert_eq!(registrations.len(), 2);
        assert!(
            registrations[0].contains("\"DynamicScalingInSuspended\":true"),
            "{}",
            registrations[0]
        );
        assert!(
            registrations[1].contains("\"DynamicScalingInSuspended\":false"),
            "{}",
            registrations[1]
        );
        // Only the suspension is sent: the range stays what the target has.
        assert!(
            !registrations[0].contains("MinCapacity"),
            "{}",
            registrations[0]
        );
        let update = aws
            .requests()
            .into_iter()
            .find(|(name, _)| name == "UpdateService")
            .unwrap()
            .1;
        assert!(
            !update.contains("desiredCount"),
            "a rollout keeps the live count: {update}"
        );
    }

    /// A rollout of a scaled service that completes with healthy targets resumes the scale-in
    /// its update suspended, then is ready; one that is still rolling leaves it suspended.
    #[tokio::test]
    async fn a_completed_rollout_of_a_scaled_service_resumes_scale_in() {
        let target = json!({"ScalableTargets": [{
            "ServiceNamespace": "ecs", "ResourceId": "service/dev-app/frontend",
            "ScalableDimension": "ecs:service:DesiredCount", "MinCapacity": 2, "MaxCapacity": 6,
            "RoleARN": "arn:aws:iam::1:role/x", "CreationTime": 0}]})
        .to_string();
        let deployment = |state: &str| {
            let mut d = deployment_json("PRIMARY", TD2, state, "");
            d["runningCount"] = json!(2);
            d["failedTasks"] = json!(0);
            service_json("ACTIVE", TD2, json!([d]))
        };
        let aws = Replay::new([
            ("DescribeServices", 200, deployment("IN_PROGRESS")),
            ("DescribeServices", 200, deployment("COMPLETED")),
            (
                "DescribeTargetHealth",
                200,
                health_xml(&[("healthy", ""), ("healthy", "")]),
            ),
            ("DescribeScalableTargets", 200, target),
            ("RegisterScalableTarget", 200, "{}".to_string()),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = resolved();
        let suspended = live(TD2).output("_scale_in_suspended", "service/dev-app/frontend");
        let rolling = EcsServiceSpec::poll(&provider, &context(&deps), &suspended)
            .await
            .unwrap();
        assert!(matches!(rolling, Readiness::Pending(_)), "{rolling:?}");
        assert!(
            aws.requests()
                .iter()
                .all(|(name, _)| name != "RegisterScalableTarget")
        );
        let done = EcsServiceSpec::poll(&provider, &context(&deps), &suspended)
            .await
            .unwrap();
        assert!(matches!(done, Readiness::Ready(_)), "{done:?}");
        aws.assert_done();
        let resumed = aws
            .requests()
            .into_iter()
            .find(|(name, _)| name == "RegisterScalableTarget")
            .unwrap()
            .1;
        assert!(
            resumed.contains("\"DynamicScalingInSuspended\":false"),
            "{resumed}"
        );
    }

    /// ECS says COMPLETED, the tasks run, but the ALB finds them unhealthy: not ready, and the
    /// wait says why (the executor turns a wait that never ends into a named timeout).
    #[tokio::test]
    async fn running_tasks_whose_targets_are_unhealthy_are_not_ready() {
        let completed = || {
            service_json(
                "ACTIVE",
                TD2,
                json!([deployment_json(
                    "PRIMARY",
                    TD2,
                    "COMPLETED",
                    "ECS deployment completed."
                )]),
            )
        };
        let aws = Replay::new([
            ("DescribeServices", 200, completed()),
            (
                "DescribeTargetHealth",
                200,
                health_xml(&[
                    ("unhealthy", "Health checks failed with these codes: [500]"),
                    ("healthy", ""),
                ]),
            ),
            ("DescribeServices", 200, completed()),
            (
                "DescribeTargetHealth",
                200,
                health_xml(&[("healthy", ""), ("healthy", "")]),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = resolved();
        let ctx = context(&deps);
        match EcsServiceSpec::poll(&provider, &ctx, &live(TD2))
            .await
            .unwrap()
        {
            Readiness::Pending(status) => {
                assert!(status.contains("running 2/2, healthy 1/2"), "{status}");
                assert!(status.contains("[500]"), "{status}");
            }
            other => panic!("expected pending, got {other:?}"),
        }
        assert!(matches!(
            EcsServiceSpec::poll(&provider, &ctx, &live(TD2))
                .await
                .unwrap(),
            Readiness::Ready(_)
        ));
        aws.assert_done();
    }

    /// A forced new deployment (the login's rotation) on the same task definition: ECS lists
    /// the old deployment beside the new one, both on that revision, in whatever order. The
    /// wait goes by the new deployment's id (UpdateService's answer): done only once it has
    /// completed, is the only one left and the targets are healthy; gone, it is a failure.
    #[tokio::test]
    async fn a_redeploy_waits_for_its_own_deployment_whatever_the_order_ecs_lists() {
        let deployment = |id: &str, status: &str, state: &str, running: i32| {
            json!({"id": id, "status": status, "taskDefinition": TD1, "desiredCount": 2,
                   "runningCount": running, "pendingCount": 0, "failedTasks": 0,
                   "rolloutState": state, "rolloutStateReason": ""})
        };
        let old = deployment("ecs-svc/old", "ACTIVE", "COMPLETED", 2);
        let updated = json!({"service": serde_json::from_str::<serde_json::Value>(&service_json(
            "ACTIVE",
            TD1,
            json!([deployment("ecs-svc/new", "PRIMARY", "IN_PROGRESS", 0), old.clone()]),
        ))
        .unwrap()["services"][0]
            .clone()})
        .to_string();
        let aws = Replay::new([
            ("UpdateService", 200, updated.clone()),
            // The old deployment first: complete, but not the one started.
            (
                "DescribeServices",
                200,
                service_json(
                    "ACTIVE",
                    TD1,
                    json!([
                        old.clone(),
                        deployment("ecs-svc/new", "PRIMARY", "IN_PROGRESS", 1)
                    ]),
                ),
            ),
            // Completed, the old tasks still draining.
            (
                "DescribeServices",
                200,
                service_json(
                    "ACTIVE",
                    TD1,
                    json!([old, deployment("ecs-svc/new", "PRIMARY", "COMPLETED", 2)]),
                ),
            ),
            (
                "DescribeServices",
                200,
                service_json(
                    "ACTIVE",
                    TD1,
                    json!([deployment("ecs-svc/new", "PRIMARY", "COMPLETED", 2)]),
                ),
            ),
            (
                "DescribeTargetHealth",
                200,
                health_xml(&[("healthy", ""), ("initial", "")]),
            ),
            (
                "DescribeServices",
                200,
                service_json(
                    "ACTIVE",
                    TD1,
                    json!([deployment("ecs-svc/new", "PRIMARY", "COMPLETED", 2)]),
                ),
            ),
            (
                "DescribeTargetHealth",
                200,
                health_xml(&[("healthy", ""), ("healthy", "")]),
            ),
            // A second rotation whose deployment the circuit breaker rolled back: gone.
            ("UpdateService", 200, updated),
            (
                "DescribeServices",
                200,
                service_json(
                    "ACTIVE",
                    TD1,
                    json!([deployment("ecs-svc/old", "PRIMARY", "COMPLETED", 2)]),
                ),
            ),
            ("ListTasks", 200, json!({"taskArns": []}).to_string()),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        crate::ecs::redeploy(&provider, "dev-app", "frontend")
            .await
            .unwrap();
        let update: serde_json::Value = serde_json::from_str(&aws.requests()[0].1).unwrap();
        assert_eq!(update["forceNewDeployment"], true);
        assert_eq!(update.get("taskDefinition"), None, "the same revision");
        let err = crate::ecs::redeploy(&provider, "dev-app", "frontend")
            .await
            .unwrap_err();
        assert!(
            err.message.contains("rolled back or replaced"),
            "{}",
            err.message
        );
        aws.assert_done();
    }
}
