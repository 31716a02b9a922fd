//! The desired graph: a petgraph DAG of typed resources, built by [`crate::lower`].
//!
//! Edges point from a resource to the resources it needs (`subnet.public.a -> vpc`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::model::{LogicalId, Resource, ResourceKind, Tags};

/// Why a set of resources does not form a valid graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("two resources have the logical id `{0}`")]
    /// Two resources have the same logical id.
    DuplicateId(LogicalId),
    #[error("`{from}` references `{to}` ({kind}), which the stack does not define")]
    /// A resource references an id the graph does not have.
    MissingReference {
        /// The resource that references.
        from: LogicalId,
        /// The id it references.
        to: LogicalId,
        /// Its kind.
        kind: ResourceKind,
    },
    #[error("`{from}` references `{to}` as {expected}, but it is {actual}")]
    /// A reference names a resource of another kind.
    WrongKind {
        /// The resource that references.
        from: LogicalId,
        /// The id it references.
        to: LogicalId,
        /// The kind the reference wants.
        expected: ResourceKind,
        /// The kind it found.
        actual: ResourceKind,
    },
    #[error("`{from}` uses output `{output}` of `{to}` ({kind}), which {kind} does not report (it reports: {known})", known = .kind.output_names().join(", "))]
    /// A reference names an output the kind does not have.
    UnknownOutput {
        /// The resource that references.
        from: LogicalId,
        /// The id it references.
        to: LogicalId,
        /// Its kind.
        kind: ResourceKind,
        /// The output name.
        output: &'static str,
    },
    #[error("dependency cycle: {}", .0.iter().map(LogicalId::as_str).collect::<Vec<_>>().join(" -> "))]
    /// Resources depend on each other in a cycle (the whole cycle).
    Cycle(Vec<LogicalId>),
}

/// Everything the engine needs to know about a stack's desired state.
#[derive(Debug, Clone)]
pub struct DesiredGraph {
    stack: String,
    region: String,
    tags: Tags,
    /// Per-kind overrides of [`ResourceKind::default_timeout`].
    timeouts: HashMap<ResourceKind, Duration>,
    graph: DiGraph<Resource, ()>,
    index: HashMap<LogicalId, NodeIndex>,
    /// Invariant: every node exactly once, dependencies before dependents.
    topo: Vec<NodeIndex>,
    /// Where lowering found each resource; empty for graphs built in code.
    declared: HashMap<LogicalId, Declared>,
}

/// Where in a stack file a resource is declared, as lowering recorded it: the path of map keys
/// that produced it (`["caches", "session"]`), and for fields that have a key of their own, that
/// key's path (`instance_class` → `["database", "instance_class"]`). Reports locate findings
/// with it ([`crate::stack::Stack::locate`] turns a path into file and line).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Declared {
    path: Vec<String>,
    fields: Vec<(&'static str, Vec<String>)>,
}

impl Declared {
    /// Declared under `path`.
    pub fn at(path: &[&str]) -> Declared {
        Declared {
            path: path.iter().map(|key| (*key).to_string()).collect(),
            fields: Vec::new(),
        }
    }

    /// The field named `field` is declared under a `path` of its own.
    pub fn with_field(mut self, field: &'static str, path: &[&str]) -> Declared {
        self.fields
            .push((field, path.iter().map(|key| (*key).to_string()).collect()));
        self
    }

    /// The path of `field`, or of the resource when `field` is `None` or has no key of its own.
    pub fn path(&self, field: Option<&str>) -> &[String] {
        field
            .and_then(|field| self.fields.iter().find(|(name, _)| *name == field))
            .map_or(&self.path, |(_, path)| path)
    }

    /// The name of the stack entry it comes from, for resources of an entry of a map section
    /// (`caches.session` gives `session`, `apps.admin` gives `admin`); `None` for the others.
    pub fn entry(&self) -> Option<&str> {
        match self.path.as_slice() {
            [_section, entry, ..] => Some(entry.as_str()),
            _ => None,
        }
    }
}

impl DesiredGraph {
    /// Builds and checks the graph: unique ids, references that exist with the right kind, no
    /// cycles (the whole cycle is reported).
    pub fn new(
        stack: &str,
        region: &str,
        tags: Tags,
        resources: Vec<Resource>,
        timeouts: HashMap<ResourceKind, Duration>,
    ) -> Result<DesiredGraph, GraphError> {
        let mut graph = DiGraph::with_capacity(resources.len(), resources.len() * 2);
        let mut index = HashMap::with_capacity(resources.len());
        for resource in resources {
            let id = resource.id.clone();
            let node = graph.add_node(resource);
            if index.insert(id.clone(), node).is_some() {
                return Err(GraphError::DuplicateId(id));
            }
        }
        let mut edges = Vec::new();
        for node in graph.node_indices() {
            let resource = &graph[node];
            for (kind, dep) in resource.spec.dependencies() {
                let Some(&dep_node) = index.get(&dep) else {
                    return Err(GraphError::MissingReference {
                        from: resource.id.clone(),
                        to: dep,
                        kind,
                    });
                };
                let actual = graph[dep_node].kind();
                if actual != kind {
                    return Err(GraphError::WrongKind {
                        from: resource.id.clone(),
                        to: dep,
                        expected: kind,
                        actual,
                    });
                }
                edges.push((node, dep_node));
            }
            for (kind, to, output) in resource.spec.outputs_used() {
                if !kind.output_names().contains(&output) {
                    return Err(GraphError::UnknownOutput {
                        from: resource.id.clone(),
                        to,
                        kind,
                        output,
                    });
                }
            }
        }
        for (from, to) in edges {
            graph.add_edge(from, to, ());
        }
        let topo = topological_order(&graph)?;
        Ok(DesiredGraph {
            stack: stack.to_string(),
            region: region.to_string(),
            tags,
            timeouts,
            declared: HashMap::new(),
            graph,
            index,
            topo,
        })
    }

    /// The same stack with no resources (what `down` converges to); timeouts are kept.
    pub fn emptied(&self) -> DesiredGraph {
        DesiredGraph::new(
            &self.stack,
            &self.region,
            self.tags.clone(),
            Vec::new(),
            self.timeouts.clone(),
        )
        .expect("an empty graph is valid")
    }

    /// The stack name.
    pub fn stack(&self) -> &str {
        &self.stack
    }

    /// The region the clients send requests to.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// User tags for every taggable resource (without the `mck:` ones).
    pub fn tags(&self) -> &Tags {
        &self.tags
    }

    /// The number of resources.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    /// No resources.
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// The resource with this id.
    pub fn get(&self, id: &LogicalId) -> Option<&Resource> {
        self.index.get(id).map(|&n| &self.graph[n])
    }

    /// Resources, dependencies before dependents.
    pub fn iter(&self) -> impl Iterator<Item = &Resource> {
        self.topo.iter().map(|&n| &self.graph[n])
    }

    /// The graph with where each resource is declared, as lowering recorded it.
    pub fn with_declarations(mut self, declared: HashMap<LogicalId, Declared>) -> DesiredGraph {
        self.declared = declared;
        self
    }

    /// Where `id` is declared in the stack file; `None` for a resource lowering did not make
    /// (graphs built in code).
    pub fn declared_at(&self, id: &LogicalId) -> Option<&Declared> {
        self.declared.get(id)
    }

    /// The ids `id` needs directly.
    pub fn dependencies(&self, id: &LogicalId) -> Vec<&LogicalId> {
        match self.index.get(id) {
            Some(&n) => self
                .graph
                .neighbors_directed(n, Direction::Outgoing)
                .map(|d| &self.graph[d].id)
                .collect(),
            None => Vec::new(),
        }
    }

    /// How long to wait for a resource of `kind` to become ready or gone.
    pub fn timeout(&self, kind: ResourceKind) -> Duration {
        self.timeouts
            .get(&kind)
            .copied()
            .unwrap_or_else(|| kind.default_timeout())
    }

    /// Graphviz DOT, one node per resource labelled with id and kind.
    pub fn to_dot(&self) -> String {
        let mut out = format!(
            "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
            self.stack
        );
        for resource in self.iter() {
            let _ = writeln!(
                out,
                "  \"{}\" [label=\"{}\\n{}\"];",
                resource.id,
                resource.id,
                resource.kind()
            );
        }
        for resource in self.iter() {
            for dep in self.sorted_deps(&resource.id) {
                let _ = writeln!(out, "  \"{}\" -> \"{}\";", resource.id, dep);
            }
        }
        out.push_str("}\n");
        out
    }

    /// A Mermaid flowchart; node names are indices because Mermaid ids cannot hold dots or slashes.
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        let position: HashMap<&LogicalId, usize> =
            self.iter().enumerate().map(|(i, r)| (&r.id, i)).collect();
        for (idx, resource) in self.iter().enumerate() {
            let _ = writeln!(
                out,
                "  n{idx}[\"{}<br/><small>{}</small>\"]",
                resource.id,
                resource.kind()
            );
        }
        for resource in self.iter() {
            for dep in self.sorted_deps(&resource.id) {
                let _ = writeln!(out, "  n{} --> n{}", position[&resource.id], position[dep]);
            }
        }
        out
    }

    fn sorted_deps(&self, id: &LogicalId) -> Vec<&LogicalId> {
        let mut deps = self.dependencies(id);
        deps.sort();
        deps
    }
}

/// Dependencies first; ties broken by logical id so output is deterministic.
fn topological_order(graph: &DiGraph<Resource, ()>) -> Result<Vec<NodeIndex>, GraphError> {
    for scc in tarjan_scc(graph) {
        let has_self_loop = scc.len() == 1 && graph.contains_edge(scc[0], scc[0]);
        if scc.len() > 1 || has_self_loop {
            // The shortest cycle through the smallest id (breadth-first inside the component),
            // so the report reads as a path that ends where it starts.
            let start = *scc
                .iter()
                .min_by_key(|&&n| &graph[n].id)
                .expect("non-empty");
            let mut came_from: HashMap<NodeIndex, NodeIndex> = HashMap::new();
            let mut queue = std::collections::VecDeque::from([start]);
            'search: while let Some(node) = queue.pop_front() {
                let mut next: Vec<NodeIndex> = graph
                    .neighbors_directed(node, Direction::Outgoing)
                    .filter(|n| scc.contains(n))
                    .collect();
                next.sort_by_key(|&n| &graph[n].id);
                for succ in next {
                    if succ == start {
                        came_from.insert(start, node);
                        break 'search;
                    }
                    if let std::collections::hash_map::Entry::Vacant(e) = came_from.entry(succ) {
                        e.insert(node);
                        queue.push_back(succ);
                    }
                }
            }
            let mut path = vec![graph[start].id.clone()];
            let mut node = came_from[&start];
            while node != start {
                path.push(graph[node].id.clone());
                node = came_from[&node];
            }
            path.push(graph[start].id.clone());
            path.reverse();
            return Err(GraphError::Cycle(path));
        }
    }
    // Kahn's algorithm over "needs" edges, smallest id first.
    let mut remaining: Vec<usize> = graph
        .node_indices()
        .map(|n| graph.neighbors_directed(n, Direction::Outgoing).count())
        .collect();
    let mut ready: std::collections::BTreeSet<(&LogicalId, NodeIndex)> = graph
        .node_indices()
        .filter(|&n| remaining[n.index()] == 0)
        .map(|n| (&graph[n].id, n))
        .collect();
    let mut order = Vec::with_capacity(graph.node_count());
    while let Some((_, node)) = ready.pop_first() {
        order.push(node);
        for dependent in graph.neighbors_directed(node, Direction::Incoming) {
            remaining[dependent.index()] -= 1;
            if remaining[dependent.index()] == 0 {
                ready.insert((&graph[dependent].id, dependent));
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{InternetGatewaySpec, Ref, ResourceSpec, SecurityGroupSpec, VpcSpec, kind};

    fn graph(resources: Vec<Resource>) -> Result<DesiredGraph, GraphError> {
        DesiredGraph::new("t", "us-east-1", Tags::new(), resources, HashMap::new())
    }

    fn record(id: &str, after: &[&str]) -> Resource {
        Resource {
            id: LogicalId::new(id),
            spec: ResourceSpec::RecordSet(crate::model::RecordSetSpec {
                zone: Ref::new("zone"),
                name: format!("{id}.example"),
                record_type: "CNAME".into(),
                ttl: 60,
                value: crate::model::Value::Str("x".into()),
                after: after
                    .iter()
                    .map(|a| (ResourceKind::RecordSet, LogicalId::new(*a)))
                    .collect(),
            }),
        }
    }

    fn zone() -> Vec<Resource> {
        vec![
            Resource {
                id: "vpc".into(),
                spec: ResourceSpec::Vpc(VpcSpec {
                    cidr: "10.0.0.0/16".into(),
                    enable_dns_support: true,
                    enable_dns_hostnames: true,
                }),
            },
            Resource {
                id: "zone".into(),
                spec: ResourceSpec::HostedZone(crate::model::HostedZoneSpec {
                    name: "example".into(),
                    vpc: Ref::new("vpc"),
                    vpc_region: "us-east-1".into(),
                    comment: String::new(),
                }),
            },
        ]
    }

    #[test]
    fn the_whole_cycle_is_reported() {
        let mut resources = zone();
        resources.extend([
            record("a", &["c"]),
            record("b", &["a"]),
            record("c", &["b"]),
            record("d", &["a"]),
        ]);
        let err = graph(resources).unwrap_err();
        assert_eq!(err.to_string(), "dependency cycle: a -> c -> b -> a");
    }

    #[test]
    fn references_must_exist_and_have_the_right_kind() {
        let igw = |vpc: &str| Resource {
            id: "igw".into(),
            spec: ResourceSpec::InternetGateway(InternetGatewaySpec { vpc: Ref::new(vpc) }),
        };
        let err = graph(vec![igw("vpc")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`igw` references `vpc` (aws_vpc), which the stack does not define"
        );
        let sg = Resource {
            id: "sg".into(),
            spec: ResourceSpec::SecurityGroup(SecurityGroupSpec {
                vpc: Ref::new("vpc"),
                group_name: "g".into(),
                description: "d".into(),
            }),
        };
        let err = graph(vec![zone().remove(0), sg, igw("sg")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`igw` references `sg` as aws_vpc, but it is aws_security_group"
        );
        let err = graph(vec![zone().remove(0), zone().remove(0)]).unwrap_err();
        assert_eq!(err, GraphError::DuplicateId("vpc".into()));
    }

    #[test]
    fn outputs_must_be_ones_the_target_kind_reports() {
        let mut resources = zone();
        let mut bad = record("a", &[]);
        let mut good = record("b", &[]);
        if let ResourceSpec::RecordSet(spec) = &mut bad.spec {
            spec.value = Ref::<kind::HostedZone>::new("zone").output("endpoint");
        }
        if let ResourceSpec::RecordSet(spec) = &mut good.spec {
            spec.value = Ref::<kind::HostedZone>::new("zone").output("name");
        }
        resources.push(good);
        assert!(graph(resources.clone()).is_ok());
        resources.push(bad);
        let err = graph(resources).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`a` uses output `endpoint` of `zone` (aws_route53_zone), which aws_route53_zone does not report (it reports: zone_id, name)"
        );
    }

    #[test]
    fn dependencies_come_first_and_renderings_name_every_edge() {
        let mut resources = zone();
        resources.extend([record("b", &["a"]), record("a", &[])]);
        let g = graph(resources).unwrap();
        let order: Vec<&str> = g.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(order, ["vpc", "zone", "a", "b"]);
        assert!(g.to_dot().contains("\"b\" -> \"a\";"));
        assert!(g.to_mermaid().contains("n3 --> n2"));
    }
}
