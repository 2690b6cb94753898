//! Kubernetes manifests: every YAML document with `apiVersion` and `kind`
//! (several per file, and the items of `List` kinds).
//!
//! Each manifest is a `manifest` subject. A workload (every kind that holds
//! a pod template, at whatever depth) also yields a `pod` subject (its pod
//! spec, so `hostNetwork` is at the same path for a Pod and a CronJob) and a
//! `container` subject per container, init container and ephemeral
//! container, keyed by name. Checkov's skip annotations
//! (`checkov.io/skip1: CKV_K8S_20=reason`) travel with every subject of
//! the manifest.

use super::model::{Model, Node, Scalar, Subject, Value};
use std::collections::HashMap;

/// Where the pod spec sits in each workload kind. Kinds not listed
/// (operators' custom workloads) are looked at under the two usual paths,
/// and taken as workloads when a pod spec with `containers` is there.
const POD_SPEC_PATHS: [(&str, &[&str]); 12] = [
    ("Pod", &["spec"]),
    ("Deployment", &["spec", "template", "spec"]),
    ("StatefulSet", &["spec", "template", "spec"]),
    ("DaemonSet", &["spec", "template", "spec"]),
    ("ReplicaSet", &["spec", "template", "spec"]),
    ("ReplicationController", &["spec", "template", "spec"]),
    ("Job", &["spec", "template", "spec"]),
    (
        "CronJob",
        &["spec", "jobTemplate", "spec", "template", "spec"],
    ),
    ("PodTemplate", &["template", "spec"]),
    // OpenShift.
    ("DeploymentConfig", &["spec", "template", "spec"]),
    // Knative Serving's Revision holds the pod spec itself (its Service and
    // Configuration fall under the usual `spec.template.spec`).
    ("Revision", &["spec"]),
    // Argo Rollouts.
    ("Rollout", &["spec", "template", "spec"]),
];

/// Paths tried for kinds [`POD_SPEC_PATHS`] does not list.
const USUAL_POD_SPEC_PATHS: [&[&str]; 2] = [
    &["spec", "template", "spec"],
    &["spec", "jobTemplate", "spec", "template", "spec"],
];

/// Pod-level `securityContext` fields a container inherits unless it sets
/// them itself (the others, such as `fsGroup`, are pod-only).
const INHERITED_SECURITY_CONTEXT: [&str; 7] = [
    "runAsUser",
    "runAsGroup",
    "runAsNonRoot",
    "seLinuxOptions",
    "seccompProfile",
    "appArmorProfile",
    "windowsOptions",
];

fn at_path<'a>(doc: &'a Node, path: &[&str]) -> Option<&'a Node> {
    path.iter().try_fold(doc, |node, step| node.get(step))
}

/// The pod spec of a workload manifest.
fn pod_spec<'a>(kind: &str, doc: &'a Node) -> Option<&'a Node> {
    match POD_SPEC_PATHS.iter().find(|(k, _)| *k == kind) {
        Some((_, path)) => at_path(doc, path),
        None => USUAL_POD_SPEC_PATHS
            .iter()
            .filter_map(|path| at_path(doc, path))
            .find(|spec| spec.get("containers").is_some()),
    }
}

/// A container's effective `securityContext`: its own, with what it does
/// not set taken from the pod's (each value keeps the lines it was written
/// on, so a finding on an inherited value points at the pod's line).
fn effective_container(container: &Node, pod: &Node) -> Node {
    let Some(pod_context) = pod.get("securityContext") else {
        return container.clone();
    };
    let mut effective = container.clone();
    let mut context = container.get("securityContext").cloned().unwrap_or(Node {
        span: pod_context.span,
        value: Value::Map(Vec::new()),
    });
    if !matches!(context.value, Value::Map(_)) {
        return effective;
    }
    for field in INHERITED_SECURITY_CONTEXT {
        if context.get(field).is_none()
            && let Some(value) = pod_context.get(field)
        {
            context.set(field, value.clone());
        }
    }
    if matches!(&context.value, Value::Map(entries) if !entries.is_empty()) {
        effective.set("securityContext", context);
    }
    effective
}

/// `automountServiceAccountToken` of every ServiceAccount among `docs`, by
/// namespace and name: a pod that does not set it takes its account's.
fn service_account_automount(docs: &[Node]) -> HashMap<(String, String), Node> {
    let mut out = HashMap::new();
    for doc in docs.iter().take(MAX_DOCUMENTS) {
        if doc.get_text("kind") != Some("ServiceAccount") {
            continue;
        }
        let metadata = doc.get("metadata");
        let name = metadata.and_then(|m| m.get_text("name"));
        let namespace = metadata
            .and_then(|m| m.get_text("namespace"))
            .unwrap_or("default");
        if let (Some(name), Some(value)) = (name, doc.get("automountServiceAccountToken")) {
            out.insert((namespace.to_owned(), name.to_owned()), value.clone());
        }
    }
    out
}

/// Manifests read from one file at most; the rest are named in a reason.
pub const MAX_DOCUMENTS: usize = 5_000;

/// True when a YAML document is a manifest.
pub fn is_manifest(doc: &Node) -> bool {
    doc.get_text("apiVersion").is_some() && doc.get_text("kind").is_some()
}

/// The subjects of the manifests among `docs`.
pub fn model(docs: &[Node]) -> Model {
    let mut model = Model::default();
    let accounts = service_account_automount(docs);
    let mut budget = MAX_DOCUMENTS;
    for doc in docs {
        add_manifest(doc, &accounts, &mut budget, &mut model);
    }
    if budget == 0 {
        model.partial = Some(format!(
            "more than {MAX_DOCUMENTS} manifests in one file: the first {MAX_DOCUMENTS} were analysed"
        ));
    }
    model
}

fn add_manifest(
    doc: &Node,
    accounts: &HashMap<(String, String), Node>,
    budget: &mut usize,
    model: &mut Model,
) {
    if *budget == 0 {
        return;
    }
    if !is_manifest(doc) {
        return;
    }
    let kind = doc.get_text("kind").unwrap_or_default().to_owned();
    if kind.ends_with("List") {
        if let Some(Value::List(items)) = doc.get("items").map(|i| &i.value) {
            for item in items {
                add_manifest(item, accounts, budget, model);
            }
        }
        return;
    }
    *budget -= 1;
    let metadata = doc.get("metadata");
    let name = metadata
        .and_then(|m| m.get_text("name"))
        .unwrap_or("(unnamed)");
    let namespace = metadata
        .and_then(|m| m.get_text("namespace"))
        .unwrap_or("default");
    let key = format!("{kind}/{namespace}/{name}");
    let label = format!("{kind} {namespace}/{name}");
    let skips = skip_annotations(metadata);
    model.subjects.push(Subject {
        target: "manifest",
        kind: kind.clone(),
        key: key.clone(),
        label: label.clone(),
        node: doc.clone(),
        skips: skips.clone(),
    });
    let Some(pod) = pod_spec(&kind, doc) else {
        return;
    };
    let mut pod_node = pod.clone();
    if pod_node.get("automountServiceAccountToken").is_none() {
        let account = pod
            .get_text("serviceAccountName")
            .or_else(|| pod.get_text("serviceAccount"))
            .unwrap_or("default");
        if let Some(value) = accounts.get(&(namespace.to_owned(), account.to_owned())) {
            pod_node.set("automountServiceAccountToken", value.clone());
        }
    }
    model.subjects.push(Subject {
        target: "pod",
        kind: kind.clone(),
        key: format!("{key}/pod"),
        label: label.clone(),
        node: pod_node,
        skips: skips.clone(),
    });
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        let Some(Value::List(containers)) = pod.get(list).map(|c| &c.value) else {
            continue;
        };
        for (index, container) in containers.iter().enumerate() {
            let container_name = container
                .get_text("name")
                .map(str::to_owned)
                .unwrap_or_else(|| index.to_string());
            model.subjects.push(Subject {
                target: "container",
                kind: kind.clone(),
                key: format!("{key}/{list}/{container_name}"),
                label: format!("{label}, container `{container_name}`"),
                node: effective_container(container, pod),
                skips: skips.clone(),
            });
        }
    }
}

/// `checkov.io/skip<N>: <ID>=<reason>` annotations.
fn skip_annotations(metadata: Option<&Node>) -> Vec<(String, Option<String>)> {
    let Some(Value::Map(annotations)) = metadata
        .and_then(|m| m.get("annotations"))
        .map(|a| &a.value)
    else {
        return Vec::new();
    };
    annotations
        .iter()
        .filter(|(key, _)| key.starts_with("checkov.io/skip"))
        .filter_map(|(_, value)| match value.as_scalar() {
            Some(Scalar::Str(text)) => {
                let (id, reason) = match text.split_once('=') {
                    Some((id, reason)) => (id.trim(), Some(reason.trim().to_owned())),
                    None => (text.trim(), None),
                };
                Some((id.to_owned(), reason.filter(|r| !r.is_empty())))
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::iac::yaml;

    #[test]
    fn workloads_yield_pod_and_container_subjects_and_lists_are_unpacked() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: batch/v1\n  kind: CronJob\n  metadata: {name: nightly, namespace: ops, annotations: {checkov.io/skip1: CKV_K8S_20=needs it}}\n  spec:\n    jobTemplate:\n      spec:\n        template:\n          spec:\n            initContainers: [{name: init, image: busybox:1.36}]\n            containers: [{name: main, image: app:1}]\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\nnot: a manifest\n";
        let docs = yaml::parse(text, true).expect("parses");
        let model = model(&docs);
        let keys: Vec<(&str, &str)> = model
            .subjects
            .iter()
            .map(|s| (s.target, s.key.as_str()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("manifest", "CronJob/ops/nightly"),
                ("pod", "CronJob/ops/nightly/pod"),
                ("container", "CronJob/ops/nightly/initContainers/init"),
                ("container", "CronJob/ops/nightly/containers/main"),
                ("manifest", "ConfigMap/default/c"),
            ]
        );
        assert_eq!(
            model.subjects[2].skips,
            vec![("CKV_K8S_20".to_owned(), Some("needs it".to_owned()))]
        );
    }
}
