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

/// Where the pod spec sits in each workload kind.
const POD_SPEC_PATHS: [(&str, &[&str]); 9] = [
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
];

/// True when a YAML document is a manifest.
pub fn is_manifest(doc: &Node) -> bool {
    doc.get_text("apiVersion").is_some() && doc.get_text("kind").is_some()
}

/// The subjects of the manifests among `docs`.
pub fn model(docs: &[Node]) -> Model {
    let mut model = Model::default();
    for doc in docs {
        add_manifest(doc, &mut model);
    }
    model
}

fn add_manifest(doc: &Node, model: &mut Model) {
    if !is_manifest(doc) {
        return;
    }
    let kind = doc.get_text("kind").unwrap_or_default().to_owned();
    if kind.ends_with("List") {
        if let Some(Value::List(items)) = doc.get("items").map(|i| &i.value) {
            for item in items {
                add_manifest(item, model);
            }
        }
        return;
    }
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
    let Some((_, path)) = POD_SPEC_PATHS.iter().find(|(k, _)| *k == kind) else {
        return;
    };
    let mut pod = Some(doc);
    for step in *path {
        pod = pod.and_then(|n| n.get(step));
    }
    let Some(pod) = pod else {
        return;
    };
    model.subjects.push(Subject {
        target: "pod",
        kind: kind.clone(),
        key: format!("{key}/pod"),
        label: label.clone(),
        node: pod.clone(),
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
                node: container.clone(),
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
