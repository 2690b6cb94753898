//! GitHub Actions workflows (`.github/workflows/*.yml`).
//!
//! Subjects: the `workflow` (with its triggers as a list, whatever form
//! `on:` takes, and the jobs that set no `permissions`), each `job` (keyed
//! by id) and each `step` (keyed by job and step `id`, else `name`, else
//! `uses`, else a hash of its content; repeats numbered). Steps and jobs carry the workflow's triggers,
//! so a policy can say "checks out the pull request's head in a
//! `pull_request_target` workflow" without Rust code.

use super::model::{self, Model, Node, Scalar, Subject, Value};
use std::collections::HashMap;

/// The most triggers a workflow may list. GitHub has a few dozen events;
/// every job and step carries a copy of the list, so a list of thousands
/// (repeated or made-up names) on a workflow of thousands of steps was
/// quadratic in memory. Truncating instead would let a trigger past the
/// cut escape the policies, so such a file is not read.
pub const MAX_TRIGGERS: usize = 64;

fn triggers(doc: &Node) -> Node {
    let on = doc.get("on").or_else(|| doc.get("true"));
    let span = on.map_or(doc.span.first_line(), |n| n.span);
    let names: Vec<Node> = match on.map(|n| &n.value) {
        Some(Value::Scalar(s)) => vec![Node::scalar(span, Scalar::Str(s.text().to_owned()))],
        Some(Value::List(items)) => items.clone(),
        Some(Value::Map(entries)) => entries
            .iter()
            .map(|(k, v)| Node::scalar(v.span, Scalar::Str(k.clone())))
            .collect(),
        None => Vec::new(),
    };
    Node {
        span,
        value: Value::List(names),
    }
}

/// The subjects of a workflow document; an error when it lists more than
/// [`MAX_TRIGGERS`] triggers.
pub fn model(docs: &[Node]) -> Result<Model, String> {
    let mut model = Model::default();
    let Some(doc) = docs.first() else {
        return Ok(model);
    };
    let triggers = triggers(doc);
    if let Value::List(names) = &triggers.value
        && names.len() > MAX_TRIGGERS
    {
        return Err(format!(
            "the workflow lists {} triggers (line {}), more than the {MAX_TRIGGERS} read",
            names.len(),
            triggers.span.start.line
        ));
    }
    let jobs = match doc.get("jobs").map(|j| &j.value) {
        Some(Value::Map(jobs)) => jobs.clone(),
        _ => Vec::new(),
    };
    let without_permissions: Vec<Node> = jobs
        .iter()
        .filter(|(_, job)| job.get("permissions").is_none())
        .map(|(id, job)| Node::scalar(job.span.first_line(), Scalar::Str(id.clone())))
        .collect();
    let mut workflow = doc.clone();
    workflow.set("triggers", triggers.clone());
    workflow.set(
        "jobs_without_permissions",
        Node {
            span: doc.span.first_line(),
            value: Value::List(without_permissions),
        },
    );
    model.subjects.push(Subject {
        target: "workflow",
        kind: "workflow".into(),
        key: "workflow".into(),
        label: "the workflow".into(),
        node: workflow,
        skips: Vec::new(),
    });
    for (id, job) in &jobs {
        let mut job_node = job.clone();
        job_node.set("workflow_triggers", triggers.clone());
        let job_key = format!("job:{id}");
        model.subjects.push(Subject {
            target: "job",
            kind: "job".into(),
            key: job_key.clone(),
            label: format!("job `{id}`"),
            node: job_node,
            skips: Vec::new(),
        });
        let Some(Value::List(steps)) = job.get("steps").map(|s| &s.value) else {
            continue;
        };
        // Unnamed steps are keyed by their content, not their position, so
        // a step inserted above an existing one is a new subject rather than
        // the old one "changed"; repeats get an occurrence number.
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (index, step) in steps.iter().enumerate() {
            let named = ["id", "name", "uses"]
                .iter()
                .find_map(|k| step.get_text(k))
                .map(str::to_owned);
            let name = named.clone().unwrap_or_else(|| format!("#{}", index + 1));
            let identity = named.unwrap_or_else(|| format!("{:016x}", model::content_hash(step)));
            let occurrence = seen.entry(identity.clone()).or_insert(0);
            let key = match *occurrence {
                0 => format!("{job_key}/step:{identity}"),
                n => format!("{job_key}/step:{identity}#{n}"),
            };
            *occurrence += 1;
            let mut step_node = step.clone();
            step_node.set("workflow_triggers", triggers.clone());
            model.subjects.push(Subject {
                target: "step",
                kind: "step".into(),
                key,
                label: format!("step `{name}` of job `{id}`"),
                node: step_node,
                skips: Vec::new(),
            });
        }
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::iac::yaml;

    #[test]
    fn triggers_in_every_form_and_step_keys() {
        for (on, expected) in [
            ("on: push", "[push]"),
            (
                "on: [push, pull_request_target]",
                "[push, pull_request_target]",
            ),
            (
                "on:\n  workflow_run:\n    workflows: [ci]\n  push: {}",
                "[workflow_run, push]",
            ),
        ] {
            let text = format!(
                "{on}\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: make\n"
            );
            let docs = yaml::parse(&text, false).expect("parses");
            let model = model(&docs).expect("a few triggers");
            assert_eq!(
                model.subjects[0].node.get("triggers").map(Node::display),
                Some(expected.to_owned()),
                "{on}"
            );
            let keys: Vec<&str> = model.subjects.iter().map(|s| s.key.as_str()).collect();
            assert_eq!(
                keys,
                vec![
                    "workflow",
                    "job:build",
                    "job:build/step:actions/checkout@v4",
                    "job:build/step:1418c60f084db2eb"
                ]
            );
        }
    }

    #[test]
    fn a_workflow_with_more_triggers_than_github_has_is_not_read() {
        let names = vec!["push"; MAX_TRIGGERS + 1].join(", ");
        let text = format!("on: [{names}]\njobs:\n  a:\n    steps:\n      - run: make\n");
        let docs = yaml::parse(&text, false).expect("parses");
        let error = model(&docs).expect_err("too many");
        assert!(error.contains("65 triggers (line 1)"), "{error}");
        let names = vec!["push"; MAX_TRIGGERS].join(", ");
        let text = format!("on: [{names}]\njobs: {{}}\n");
        let docs = yaml::parse(&text, false).expect("parses");
        assert!(model(&docs).is_ok());
    }
}
