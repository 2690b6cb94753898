//! A secret value never leaves the process. A pull request adds random
//! secrets on lines that also carry SAST and IaC findings, two secrets on one
//! line, a secret as a Django `SECRET_KEY` and a credential in a Terraform
//! provider; the bot reviews it through the GitHub emulator and the CLI scans
//! it in every format. No request body the bot sends, no log line at any
//! level and no CLI output may hold any eight characters of any secret.

use crate::support::bot::{Harness, REPO};
use crate::support::github_emulator::{FileSpec, PullSpec};
use std::io::Write;
use std::process::Command;
use std::sync::{Arc, Mutex};

/// Everything the process logs, at every level, for the whole test binary.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// xorshift64*: random enough for values nobody has seen, no dependency.
struct Random(u64);

impl Random {
    fn seeded() -> Self {
        let seed = std::env::var("HUNKSCAN_LEAK_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
                    | 1
            });
        eprintln!("secrets drawn with HUNKSCAN_LEAK_SEED={seed}");
        Random(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn from(&mut self, alphabet: &str, length: usize) -> String {
        let alphabet: Vec<char> = alphabet.chars().collect();
        (0..length)
            .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize])
            .collect()
    }
}

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A secret: a public prefix (the provider's, shown by every masked form and
/// in every provider's documentation) and the random rest.
struct Secret {
    prefix: &'static str,
    value: String,
}

impl Secret {
    fn new(prefix: &'static str, random: String) -> Self {
        Secret {
            prefix,
            value: format!("{prefix}{random}"),
        }
    }

    /// Every eight-character window that holds at least one random character.
    fn windows(&self) -> Vec<&str> {
        let bytes = self.value.len();
        (0..bytes.saturating_sub(7))
            .filter(|&start| start + 8 > self.prefix.len())
            .map(|start| &self.value[start..start + 8])
            .collect()
    }
}

struct Change {
    secrets: Vec<Secret>,
    files: Vec<(&'static str, String)>,
}

fn change(random: &mut Random) -> Change {
    let mut pat = || Secret::new("ghp_", random.from(ALNUM, 36));
    let (t1, t2, t3, t4, t5, t6) = (pat(), pat(), pat(), pat(), pat(), pat());
    let stripe = Secret::new("sk_live_", random.from(ALNUM, 24));
    let django = Secret::new(
        "django-insecure-",
        random.from("abcdefghijklmnopqrstuvwxyz0123456789", 40),
    );
    let aws_id = Secret::new("AKIA", random.from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16));
    let aws_secret = Secret::new("", random.from(ALNUM, 40));
    let upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let slack_path = format!(
        "T{}/B{}/{}",
        random.from(upper, 10),
        random.from(upper, 10),
        random.from(ALNUM, 24)
    );
    let slack = Secret::new("", slack_path);
    // A URL's user name is masked with its password: both are random here.
    let url_user = Secret::new("", random.from("abcdefghijklmnopqrstuvwxyz", 12));
    // The generic detector ignores a value with no digit (most such values
    // are words, not credentials), and about one 20-character draw from
    // ALNUM in thirty has none: end with a digit so the rule always fires.
    let url_password = Secret::new("", random.from(ALNUM, 19) + &random.from("0123456789", 1));
    let python = format!(
        r#"import hashlib
import os
import subprocess

import requests
import yaml


def load(stream, url):
    cfg = yaml.load(stream); token = "{t1}"
    digest = hashlib.md5(("{t2}" + "{stripe}").encode())
    subprocess.call("curl -H 'Authorization: token {t3}' " + url, shell=True)
    requests.post("https://hooks.slack.com/services/{slack}", json={{}}, verify=False)
    os.system("git clone https://{user}:{password}@git.example.com/app.git " + url)
    return cfg, digest


SECRET_KEY = "{django}"
"#,
        t1 = t1.value,
        t2 = t2.value,
        stripe = stripe.value,
        t3 = t3.value,
        django = django.value,
        slack = slack.value,
        user = url_user.value,
        password = url_password.value,
    );
    let dockerfile = format!(
        "FROM node:20.15.1\nENV GITHUB_TOKEN={}\nRUN curl -H \"Authorization: token {}\" https://get.example.sh | sh\nUSER node\n",
        t4.value, t5.value
    );
    let terraform = format!(
        r#"provider "aws" {{
  region     = "us-east-1"
  access_key = "{}"
  secret_key = "{}"
}}

resource "aws_security_group_rule" "ssh" {{
  type              = "ingress"
  from_port         = 22
  to_port           = 22
  protocol          = "tcp"
  cidr_blocks       = ["0.0.0.0/0"] # token {}
  security_group_id = "sg-123"
}}
"#,
        aws_id.value, aws_secret.value, t6.value
    );
    Change {
        secrets: vec![
            t1,
            t2,
            t3,
            t4,
            t5,
            t6,
            stripe,
            django,
            aws_id,
            aws_secret,
            slack,
            url_user,
            url_password,
        ],
        files: vec![
            ("app.py", python),
            ("Dockerfile", dockerfile),
            ("infra/main.tf", terraform),
        ],
    }
}

/// Rules that must fire, so the test is not passing on an empty review.
const EXPECTED_RULES: &[&str] = &[
    "python.yaml-load-without-loader",
    "python.weak-hash-md5-sha1",
    "python.subprocess-shell-true",
    "python.hardcoded-secret-key",
    "secrets.github-pat",
    "secrets.stripe-live-secret-key",
    "secrets.slack-webhook-url",
    "secrets.generic-url-credentials",
    "python.tls-verify-disabled",
    "python.os-system-non-literal",
    "dockerfile.secret-in-env-or-arg",
    "dockerfile.curl-pipe-shell",
    "terraform.provider-hardcoded-credentials",
    "terraform.aws-security-group-open-admin-ports",
];

fn leaks<'s>(secrets: &'s [Secret], output: &str) -> Vec<&'s str> {
    secrets
        .iter()
        .flat_map(Secret::windows)
        .filter(|window| output.contains(window))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_output_of_the_bot_or_the_cli_holds_a_secret() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let change = change(&mut Random::seeded());

    // The bot.
    let h = Harness::start().await;
    h.open(PullSpec {
        number: 7,
        base_sha: "base0007".into(),
        head_sha: "head0007".into(),
        draft: false,
        files: change
            .files
            .iter()
            .map(|(path, text)| FileSpec::added(path, text))
            .collect(),
    })
    .await;
    let check = h.completed_check("head0007").await;
    let annotated: Vec<String> = check
        .annotations
        .iter()
        .filter_map(|a| a.title.clone())
        .collect();
    for rule in EXPECTED_RULES {
        assert!(
            annotated.iter().any(|title| title.contains(rule)),
            "{rule} did not fire; the test would prove nothing: {annotated:#?}"
        );
    }
    let comments = h.github.review_comments(REPO, 7);
    assert!(comments.len() >= 10, "{} comments", comments.len());
    let mut sent = String::new();
    for request in h.github.requests() {
        if let Some(body) = &request.body {
            sent.push_str(&body.to_string());
            sent.push('\n');
        }
        sent.push_str(&request.path);
        sent.push_str(request.query.as_deref().unwrap_or_default());
        sent.push('\n');
    }
    assert!(sent.contains("hunkscan:fingerprint="), "reviews were sent");
    assert!(
        sent.contains("ghp_…(40 chars)"),
        "secrets were shown masked"
    );
    let found = leaks(&change.secrets, &sent);
    assert!(found.is_empty(), "request bodies hold {found:?}");
    let logged = logs.text();
    assert!(logged.contains("job finished"), "the logs were captured");
    let found = leaks(&change.secrets, &logged);
    assert!(found.is_empty(), "logs hold {found:?}");

    // The command line, every format, with its own logs at every level.
    let trees = tempfile::tempdir().expect("tempdir");
    let (base, head) = (trees.path().join("base"), trees.path().join("head"));
    std::fs::create_dir_all(&base).expect("base");
    for (path, text) in &change.files {
        let file = head.join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("dirs");
        std::fs::write(file, text).expect("write");
    }
    for format in ["text", "json", "sarif"] {
        let output = Command::new(env!("CARGO_BIN_EXE_hunkscan"))
            .args(["scan", "--format", format, "--base-tree"])
            .arg(&base)
            .arg("--head-tree")
            .arg(&head)
            .env("RUST_LOG", "trace")
            .output()
            .expect("hunkscan runs");
        assert_eq!(output.status.code(), Some(1), "{format}: findings fail");
        let printed = format!(
            "{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        for rule in EXPECTED_RULES {
            assert!(printed.contains(rule), "{format}: {rule} missing");
        }
        let found = leaks(&change.secrets, &printed);
        assert!(found.is_empty(), "{format} output holds {found:?}");
    }
}

/// A Dockerfile `ENV`/`ARG` credential is identified by where it is and the
/// name it sets, never by its value: rotating the value in place keeps the
/// finding's fingerprint, and the fingerprint says nothing about the value.
#[test]
fn a_dockerfile_credential_has_a_value_free_identity() {
    use hunkscan::engine::iac::IacAnalyzer;
    use hunkscan::engine::iac::policy::Policies;
    use hunkscan::engine::{ChangeSet, Content, Engine};
    let engine = Engine::new(vec![Box::new(IacAnalyzer::new(
        Policies::load(None).expect("policies"),
    ))]);
    let fingerprint = |token: &str| {
        let head = format!("FROM node:20.15.1\nENV GITHUB_TOKEN={token}\nUSER node\n");
        let file =
            hunkscan::local::changed_file("Dockerfile", Content::Absent, Content::Text(head))
                .expect("diff");
        let report = engine.scan(&ChangeSet { files: vec![file] });
        report
            .findings
            .iter()
            .find(|f| f.rule_id == "dockerfile.secret-in-env-or-arg")
            .map(|f| f.fingerprint.clone())
            .expect("the ENV credential is found")
    };
    let mut random = Random::seeded();
    let (one, two) = (random.from(ALNUM, 30), random.from(ALNUM, 30));
    assert_eq!(fingerprint(&one), fingerprint(&two));
}
