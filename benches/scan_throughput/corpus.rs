//! The generated corpus: realistic Python and Rust files with about one
//! vulnerable snippet per 200 lines, the same on every machine (splitmix64).

use ast_grep_language::SupportLang;
use std::fs;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Python,
    Rust,
}

impl Lang {
    pub fn name(self) -> &'static str {
        match self {
            Lang::Python => "Python",
            Lang::Rust => "Rust",
        }
    }

    pub fn support(self) -> SupportLang {
        match self {
            Lang::Python => SupportLang::Python,
            Lang::Rust => SupportLang::Rust,
        }
    }
}

pub struct SourceFile {
    /// Relative path, `/`-separated.
    pub path: String,
    pub text: String,
    pub lines: usize,
}

pub struct Corpus {
    pub lang: Lang,
    pub files: Vec<SourceFile>,
    pub lines: usize,
}

/// splitmix64: small, fast, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "order",
    "invoice",
    "customer",
    "report",
    "session",
    "payment",
    "profile",
    "audit",
    "shipment",
    "catalog",
    "ticket",
    "account",
    "metric",
    "export",
    "billing",
    "inventory",
];

/// Files of about `file_lines` lines until the corpus holds `min_lines`
/// lines and `min_files` files.
pub fn generate(
    lang: Lang,
    min_lines: usize,
    min_files: usize,
    file_lines: usize,
    seed: u64,
) -> Corpus {
    let mut rng = Rng(seed);
    let mut files = Vec::new();
    let mut total = 0;
    let mut serial = 0usize;
    // Lines until the next vulnerable snippet: about one per 200 lines.
    let mut until_vuln = 150 + rng.below(100);
    while total < min_lines || files.len() < min_files {
        let index = files.len();
        let (mut text, ext) = match lang {
            Lang::Python => (python_header(&mut rng), "py"),
            Lang::Rust => (rust_header(index), "rs"),
        };
        let mut lines = text.lines().count();
        until_vuln = until_vuln.saturating_sub(lines);
        while lines < file_lines {
            serial += 1;
            let block = if until_vuln == 0 {
                until_vuln = 150 + rng.below(100);
                vulnerable_block(lang, &mut rng, serial)
            } else {
                let block = normal_block(lang, &mut rng, serial);
                until_vuln = until_vuln.saturating_sub(block.lines().count());
                block
            };
            lines += block.lines().count();
            text.push_str(&block);
        }
        let path = match lang {
            Lang::Python => format!("pkg{}/module_{index}.{ext}", index / 20),
            Lang::Rust => format!("crate{}/src/module_{index}.{ext}", index / 20),
        };
        total += lines;
        files.push(SourceFile { path, text, lines });
    }
    Corpus {
        lang,
        files,
        lines: total,
    }
}

pub fn write_corpus(root: &Path, corpus: &Corpus) {
    for file in &corpus.files {
        let path = root.join(&file.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create a corpus directory");
        }
        fs::write(&path, &file.text).expect("write a corpus file");
    }
}

/// Fills `@N` (serial), `@K` (a small number), `@W` (a word) and `@C` (the
/// word capitalised) in a template.
fn fill(template: &str, rng: &mut Rng, serial: usize) -> String {
    let word = rng.pick(WORDS);
    let mut capital = word.to_owned();
    if let Some(first) = capital.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    template
        .replace("@N", &serial.to_string())
        .replace("@K", &(2 + rng.below(40)).to_string())
        .replace("@W", word)
        .replace("@C", &capital)
}

fn normal_block(lang: Lang, rng: &mut Rng, serial: usize) -> String {
    let templates = match lang {
        Lang::Python => PY_BLOCKS,
        Lang::Rust => RS_BLOCKS,
    };
    let template = rng.pick(templates);
    fill(template, rng, serial)
}

fn vulnerable_block(lang: Lang, rng: &mut Rng, serial: usize) -> String {
    let templates = match lang {
        Lang::Python => PY_VULNERABLE,
        Lang::Rust => RS_VULNERABLE,
    };
    let template = rng.pick(templates);
    fill(template, rng, serial)
}

fn python_header(rng: &mut Rng) -> String {
    let word = rng.pick(WORDS);
    format!(
        r#""""The {word} module: loading, validating and serving {word} records."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import pickle
import subprocess
from dataclasses import dataclass, field
from typing import Any, Optional

import requests
import yaml
from flask import Flask, redirect, render_template, request, url_for

logger = logging.getLogger(__name__)
app = Flask(__name__)

DEFAULT_TIMEOUT = 30
DEFAULT_TAX = 0.2
USERS_TABLE = "users"

"#
    )
}

fn rust_header(index: usize) -> String {
    format!(
        r#"//! Generated module {index}: accounts, state machines and storage.

use std::collections::{{BTreeMap, HashMap}};
use std::fmt;
use std::io;
use std::process::Command;

"#
    )
}

const PY_BLOCKS: &[&str] = &[
    r##"
@dataclass
class @COrder@N:
    """An entry of the @W table."""

    order_id: int
    customer: str
    amount: float = 0.0
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def total(self, tax_rate: float = DEFAULT_TAX) -> float:
        subtotal = self.amount * (1 + tax_rate)
        return round(subtotal, 2)

    def describe(self) -> str:
        return f"@C {self.order_id} for {self.customer}: {self.total():.2f}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.order_id,
            "customer": self.customer,
            "amount": self.amount,
            "tags": [t.lower() for t in self.tags if t],
        }

"##,
    r##"
def load_@W_records_@N(path: str, limit: int = @K) -> list[dict[str, Any]]:
    records = []
    try:
        with open(path, encoding="utf-8") as handle:
            for index, line in enumerate(handle):
                if index >= limit:
                    break
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                records.append(json.loads(line))
    except (OSError, ValueError) as error:
        logger.warning("cannot read %s: %s", path, error)
        return []
    return records

"##,
    r##"
class @CService@N:
    def __init__(self, client, cache=None, retries: int = 3):
        self.client = client
        self.cache = cache if cache is not None else {}
        self.retries = retries

    def fetch(self, key: str) -> Optional[dict]:
        if key in self.cache:
            return self.cache[key]
        for attempt in range(self.retries):
            response = self.client.get(f"/api/v1/@W/{key}", timeout=DEFAULT_TIMEOUT)
            if response.status_code == 200:
                payload = response.json()
                self.cache[key] = payload
                return payload
            logger.info("attempt %d for %s failed", attempt + 1, key)
        return None

    def fetch_many(self, keys):
        return {key: self.fetch(key) for key in sorted(set(keys))}

"##,
    r##"
def summarize_@W_@N(rows, key="@W"):
    totals = {}
    for row in rows:
        bucket = row.get(key, "unknown")
        totals[bucket] = totals.get(bucket, 0) + row.get("amount", 0)
    ranked = sorted(totals.items(), key=lambda item: item[1], reverse=True)
    top = [name for name, value in ranked[:@K] if value > 0]
    grand_total = max(sum(totals.values()), 1)
    ratios = {name: value / grand_total for name, value in ranked}
    return {"top": top, "ratios": ratios, "count": len(rows)}

"##,
    r##"
async def sync_@W_@N(session, items, *, batch_size=@K):
    results = []
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        response = await session.post("/sync/@W", json={"items": batch})
        if response.status >= 400:
            raise RuntimeError(f"sync of @W failed with {response.status}")
        results.extend(await response.json())
    return results

"##,
    r##"
def store_@W_@N(conn, user_id, path, extra_args):
    cursor = conn.cursor()
    cursor.execute("SELECT name, email FROM users WHERE id = %s", (user_id,))
    row = cursor.fetchone()
    with open(path) as handle:
        config = yaml.safe_load(handle)
    subprocess.run(["git", "status", "--short", *extra_args], check=True)
    digest = hashlib.sha256(str(row).encode()).hexdigest()
    cursor.execute(f"SELECT * FROM {USERS_TABLE} WHERE id = %s", (user_id,))
    return config, digest

"##,
    r##"
def build_@W_parser_@N():
    parser = argparse.ArgumentParser(description="@W maintenance tool")
    parser.add_argument("--input", required=True, help="file to read")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--limit", type=int, default=@K)
    parser.add_argument("--mode", choices=["fast", "full"], default="fast")
    return parser

"##,
    r##"
@app.route("/@W/<int:item_id>", methods=["GET", "POST"])
def @W_view_@N(item_id):
    item = @CModel.query.get_or_404(item_id)
    if request.method == "POST":
        form = request.form
        item.name = form.get("name", item.name).strip()
        item.notes = "\n".join(line for line in form.get("notes", "").splitlines() if line)
        db.session.commit()
        return redirect(url_for("@W_view_@N", item_id=item.id))
    related = [r for r in item.related if r.visible][:@K]
    return render_template("@W.html", item=item, related=related)

"##,
    r##"
class @CValidator@N:
    REQUIRED = ("id", "name", "created_at")

    def __init__(self, strict: bool = False):
        self.strict = strict
        self.errors: list[str] = []

    def validate(self, record: dict[str, Any]) -> bool:
        self.errors = [f"missing {name}" for name in self.REQUIRED if name not in record]
        if self.strict:
            unknown = set(record) - set(self.REQUIRED) - {"tags", "notes"}
            self.errors.extend(f"unknown field {name}" for name in sorted(unknown))
        if not isinstance(record.get("id"), int):
            self.errors.append("id must be an integer")
        return not self.errors

    def __repr__(self) -> str:
        return f"@CValidator@N(strict={self.strict!r}, errors={len(self.errors)})"

"##,
    r##"
@app.route("/@W/page/@N")
def page_@W_@N():
    page = int(request.args.get("page", "1"))
    path = os.path.join("/srv/@W", f"page-{page}.html")
    with open(path) as handle:
        return handle.read()

"##,
    r##"
ALLOWED_@C_SORTS_@N = {"name", "date", "amount"}


@app.route("/@W/sorted/@N")
def sorted_@W_@N():
    order = request.args.get("order", "name")
    if order not in ALLOWED_@C_SORTS_@N:
        order = "name"
    return redirect("/@W?order=" + order)

"##,
    r##"
@app.route("/@W/thumb/@N")
def thumb_@W_@N():
    name = os.path.basename(request.args.get("name", "default.png"))
    with open(os.path.join("/srv/thumbs", name), "rb") as handle:
        return handle.read()

"##,
];

const PY_VULNERABLE: &[&str] = &[
    r##"
def run_@W_report_@N(report_name):
    cmd = f"generate-report --name {report_name}"
    return subprocess.run(cmd, shell=True, capture_output=True)

"##,
    r##"
def read_@W_settings_@N(path):
    with open(path) as handle:
        return yaml.load(handle)

"##,
    r##"
def find_@W_@N(conn, name):
    cursor = conn.cursor()
    cursor.execute(f"SELECT * FROM @W WHERE name = '{name}'")
    return cursor.fetchone()

"##,
    r##"
def evaluate_@W_@N(expression, scope):
    return eval(expression, {"__builtins__": {}}, scope)

"##,
    r##"
def restore_@W_@N(blob):
    return pickle.loads(blob)

"##,
    r##"
def checksum_@W_@N(data):
    return hashlib.md5(data).hexdigest()

"##,
    r##"
def fetch_@W_insecure_@N(url):
    return requests.get(url, verify=False, timeout=DEFAULT_TIMEOUT)

"##,
    r##"
def cleanup_@W_@N(directory):
    os.system("rm -rf " + directory)

"##,
    r##"
@app.route("/@W/go/@N")
def go_@W_@N():
    next_url = request.args.get("next", "/")
    return redirect(next_url)

"##,
    r##"
@app.route("/@W/files/@N")
def download_@W_@N():
    name = request.args["name"]
    path = os.path.join("/srv/@W", name)
    with open(path, "rb") as handle:
        return handle.read()

"##,
    r##"
def _lookup_@W_@N(conn, key):
    query = "SELECT * FROM @W WHERE key = '%s'" % key
    return conn.execute(query).fetchall()


@app.route("/@W/lookup/@N")
def lookup_@W_@N():
    return _lookup_@W_@N(db.engine, request.args.get("key", ""))

"##,
    r##"
@app.route("/@W/preview/@N", methods=["POST"])
def preview_@W_@N():
    source = request.form.get("url", "")
    response = requests.get(source, timeout=DEFAULT_TIMEOUT)
    return response.text

"##,
    r##"
@app.route("/@W/archive/@N")
def archive_@W_@N():
    label = request.args.get("label", "daily")
    parts = ["tar", "czf", f"/backups/{label}.tgz", "/srv/@W"]
    return subprocess.run(" ".join(parts), shell=True).returncode

"##,
];

const RS_BLOCKS: &[&str] = &[
    r##"
#[derive(Debug, Clone, PartialEq)]
pub struct @CAccount@N {
    pub id: u64,
    pub owner: String,
    pub balance: i64,
    pub tags: Vec<String>,
}

impl @CAccount@N {
    pub fn new(id: u64, owner: impl Into<String>) -> Self {
        Self { id, owner: owner.into(), balance: 0, tags: Vec::new() }
    }

    pub fn deposit(&mut self, amount: i64) -> Result<i64, String> {
        if amount <= 0 {
            return Err(format!("invalid amount {amount} for @W {}", self.id));
        }
        self.balance = self.balance.checked_add(amount).ok_or_else(|| "overflow".to_string())?;
        Ok(self.balance)
    }

    pub fn label(&self) -> String {
        let tags: Vec<&str> = self.tags.iter().map(|t| t.as_str()).filter(|t| !t.is_empty()).collect();
        format!("{}#{} [{}]", self.owner, self.id, tags.join(", "))
    }
}

impl fmt::Display for @CAccount@N {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.owner, self.balance)
    }
}
"##,
    r##"
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum @CState@N {
    Idle,
    Running { pid: u32 },
    Failed(i32),
    Done,
}

pub fn transition_@W_@N(state: @CState@N, event: &str) -> @CState@N {
    match (state, event) {
        (@CState@N::Idle, "start") => @CState@N::Running { pid: @K },
        (@CState@N::Running { pid }, "crash") => @CState@N::Failed(pid as i32),
        (@CState@N::Running { .. }, "finish") => @CState@N::Done,
        (@CState@N::Failed(code), "retry") if code < 3 => @CState@N::Idle,
        (other, _) => other,
    }
}
"##,
    r##"
pub fn summarize_@W_@N(items: &[(String, u64)]) -> HashMap<String, u64> {
    let mut totals: HashMap<String, u64> = HashMap::new();
    for (name, value) in items.iter().filter(|(n, _)| !n.starts_with('_')) {
        *totals.entry(name.to_lowercase()).or_insert(0) += value;
    }
    let threshold = items.iter().map(|(_, v)| *v).max().unwrap_or(0) / @K;
    totals.retain(|_, v| *v >= threshold);
    totals
}
"##,
    r##"
pub trait @CStore@N {
    fn get(&self, key: &str) -> Option<Vec<u8>>;
    fn put(&mut self, key: &str, value: Vec<u8>) -> io::Result<()>;
}

#[derive(Default)]
pub struct Mem@CStore@N {
    entries: BTreeMap<String, Vec<u8>>,
}

impl @CStore@N for Mem@CStore@N {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.entries.get(key).cloned()
    }

    fn put(&mut self, key: &str, value: Vec<u8>) -> io::Result<()> {
        if key.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty @W key"));
        }
        self.entries.insert(key.to_owned(), value);
        Ok(())
    }
}
"##,
    r##"
pub fn @W_library_version_@N() -> u32 {
    // SAFETY: `@W_version` has no preconditions; the library is linked statically.
    let raw = unsafe { ffi::@W_version() };
    raw & 0x00ff_ffff
}
"##,
    r##"
pub async fn load_@W_@N(pool: &PgPool, id: i64) -> sqlx::Result<@CRow> {
    let row = sqlx::query_as::<_, @CRow>("SELECT id, name FROM @W WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await?;
    tracing::debug!(id, "loaded @W");
    Ok(row)
}
"##,
    r##"
pub fn parse_@W_line_@N(line: &str) -> Option<(String, Vec<u32>)> {
    let (name, rest) = line.split_once(':')?;
    let values = rest
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| v.parse::<u32>())
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    if values.len() > @K {
        return None;
    }
    Some((name.trim().to_owned(), values))
}
"##,
];

const RS_VULNERABLE: &[&str] = &[
    r##"
pub fn read_@W_u32_@N(buf: &[u8]) -> u32 {
    unsafe { std::ptr::read_unaligned(buf.as_ptr() as *const u32) }
}
"##,
    r##"
pub fn rename_@W_@N(conn: &rusqlite::Connection, id: i64, name: &str) -> rusqlite::Result<usize> {
    conn.execute(&format!("UPDATE @W SET name = '{}' WHERE id = {}", name, id), [])
}
"##,
    r##"
pub fn archive_@W_@N(dir: &str) -> io::Result<std::process::ExitStatus> {
    Command::new("sh").arg("-c").arg(format!("tar czf @W.tgz {}", dir)).status()
}
"##,
    r##"
pub fn to_bits_@N(x: f32) -> u32 {
    unsafe { std::mem::transmute::<f32, u32>(x) }
}
"##,
];
