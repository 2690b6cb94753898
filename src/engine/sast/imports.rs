//! Import aliases, resolved before any rule runs.
//!
//! Rules are written against the names code uses when it imports without
//! an alias: `subprocess.Popen(…)`, `hashlib.md5(…)`, `Command::new(…)`.
//! Code that aliases (`from subprocess import Popen as pop`, `import
//! xml.etree.ElementTree as badET`, `use std::process::Command as Cmd`)
//! would slip past every one of them. Rather than teach every rule every
//! spelling, the analyzer rewrites each reference to an alias into the name
//! it stands for and lets the rules, the taint engine included, read that
//! canonical text. This is what a rule writer expects ("every sink matches
//! through `import … as`") at the cost of a second, incremental parse for
//! files that alias at all.
//!
//! Python: `import a.b as c` ─▶ `c` reads `a.b`; `from a import b as c` ─▶
//! `c` reads `a.b` (the qualified name, which rules accept alongside the
//! bare one); a plain `from os import system` likewise makes `system`
//! read `os.system`, for the few modules rules know by qualified names
//! only. Rust: `use a::b::C as D` ─▶ `D` reads `C`, as it would after
//! a plain `use a::b::C` (Rust rules match the last path segment).
//!
//! Replacements never hold a newline, so rows stay as they were: only
//! columns shift, and [`Canonical::original_offset`] maps them back for
//! findings. Shadowing (a local variable that reuses an alias' name) is not
//! tracked: aliases are module-wide, which is how they are used in
//! practice.

use super::walk::{is_python_statement_container, is_rust_item_container};
use ast_grep_core::AstGrep;
use ast_grep_core::tree_sitter::StrDoc;
use ast_grep_language::SupportLang;
use std::collections::HashMap;

/// Aliases read at most per file (a hostile file could import thousands).
const MAX_ALIASES: usize = 512;

/// References rewritten at most per file; past this the file is analysed
/// with the references rewritten so far.
const MAX_REWRITES: usize = 100_000;

/// One replaced range.
#[derive(Debug, Clone, Copy)]
struct Edit {
    /// Byte range in the original text.
    original: (usize, usize),
    /// Byte range of the replacement in the canonical text.
    canonical: (usize, usize),
}

/// A file's text with every alias reference replaced by its canonical name.
#[derive(Debug, Clone)]
pub struct Canonical {
    /// The rewritten text.
    pub text: String,
    /// The original text, for positions and snippets.
    pub original: String,
    edits: Vec<Edit>,
}

impl Canonical {
    /// The byte offset in the original text of `offset` in the canonical
    /// text. An offset inside a replacement maps to the start of the
    /// replaced name when it is the replacement's start, else to its end.
    pub fn original_offset(&self, offset: usize) -> usize {
        let index = self.edits.partition_point(|e| e.canonical.0 <= offset);
        let Some(edit) = index.checked_sub(1).and_then(|i| self.edits.get(i)) else {
            return offset;
        };
        if offset == edit.canonical.0 {
            return edit.original.0;
        }
        if offset < edit.canonical.1 {
            return edit.original.1;
        }
        (offset - edit.canonical.1) + edit.original.1
    }

    /// True when a canonical byte range holds a rewritten reference (a fix
    /// computed on that text would not apply to the original).
    pub fn rewrites_within(&self, start: usize, end: usize) -> bool {
        let index = self.edits.partition_point(|e| e.canonical.1 <= start);
        self.edits.get(index).is_some_and(|e| e.canonical.0 < end)
    }

    /// The edits as tree-sitter input edits, last first, for an
    /// incremental reparse of the original tree: applied in that order,
    /// each edit's offsets are still those of the original text.
    pub fn input_edits(&self) -> Vec<tree_sitter::InputEdit> {
        let bytes = self.original.as_bytes();
        // One forward pass for the rows and columns of every edit.
        let (mut row, mut line_start, mut scanned) = (0usize, 0usize, 0usize);
        let mut edits: Vec<_> = self
            .edits
            .iter()
            .map(|e| {
                let (start, old_end) = e.original;
                for (offset, &byte) in bytes.iter().enumerate().take(start).skip(scanned) {
                    if byte == b'\n' {
                        row += 1;
                        line_start = offset + 1;
                    }
                }
                scanned = start;
                let new_end = start + (e.canonical.1 - e.canonical.0);
                let column = start - line_start;
                let point = |column| tree_sitter::Point { row, column };
                tree_sitter::InputEdit {
                    start_byte: start,
                    old_end_byte: old_end,
                    new_end_byte: new_end,
                    start_position: point(column),
                    old_end_position: point(column + (old_end - start)),
                    new_end_position: point(column + (new_end - start)),
                }
            })
            .collect();
        edits.reverse();
        edits
    }
}

type Tree = AstGrep<StrDoc<SupportLang>>;

/// The canonical text of a parsed file, or `None` when it aliases nothing
/// (the common case: the tree at hand is used as it is).
pub fn canonicalise(root: &Tree, language: SupportLang) -> Option<Canonical> {
    let source = root.root().get_doc().src.as_str();
    // Most files are turned away by this test, before any walk.
    if !may_rewrite(source, language) {
        return None;
    }
    let tree = &root.root().get_doc().tree;
    let aliases = match language {
        SupportLang::Python => python_aliases(tree, source),
        SupportLang::Rust => rust_aliases(tree, source),
        _ => HashMap::new(),
    };
    if aliases.is_empty() {
        return None;
    }
    let mut edits = Vec::new();
    let mut cursor = tree.walk();
    'walk: loop {
        let node = cursor.node();
        let skip = matches!(
            node.kind(),
            "import_statement"
                | "import_from_statement"
                | "future_import_statement"
                | "use_declaration"
                | "parameters"
                | "lambda_parameters"
                | "closure_parameters"
                | "string"
                | "string_literal"
                | "comment"
                | "line_comment"
                | "block_comment"
        );
        if !skip {
            if matches!(node.kind(), "identifier" | "type_identifier")
                && !matches!(
                    cursor.field_name(),
                    Some("name" | "attribute" | "field" | "alias" | "pattern")
                )
                && let Some(text) = source.get(node.byte_range())
                && let Some(canonical) = aliases.get(text)
            {
                edits.push((node.byte_range(), canonical.as_str()));
                if edits.len() >= MAX_REWRITES {
                    break 'walk;
                }
            }
            if cursor.goto_first_child() {
                continue;
            }
        }
        while !cursor.goto_next_sibling() {
            if !cursor.goto_parent() {
                break 'walk;
            }
        }
    }
    if edits.is_empty() {
        return None;
    }
    let mut text = String::with_capacity(source.len() + edits.len() * 8);
    let mut done = Vec::with_capacity(edits.len());
    let mut copied = 0;
    for (range, canonical) in edits {
        text.push_str(&source[copied..range.start]);
        let start = text.len();
        text.push_str(canonical);
        done.push(Edit {
            original: (range.start, range.end),
            canonical: (start, text.len()),
        });
        copied = range.end;
    }
    text.push_str(&source[copied..]);
    Some(Canonical {
        text,
        original: source.to_owned(),
        edits: done,
    })
}

fn text<'s>(node: tree_sitter::Node, source: &'s str) -> &'s str {
    source.get(node.byte_range()).unwrap_or_default()
}

/// Whether a canonical name is usable as a replacement: dotted or `::`
/// separated identifiers only (a relative import's dots are not).
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | ':'))
}

/// Import statements are found where statements are: the walk does not
/// enter expressions, so it costs about the number of statements.
fn statements(tree: &tree_sitter::Tree, mut each: impl FnMut(tree_sitter::Node)) {
    let mut stack = vec![tree.root_node()];
    let mut visited = 0usize;
    while let Some(node) = stack.pop() {
        visited += 1;
        if visited > 1_000_000 {
            return;
        }
        each(node);
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            let kind = child.kind();
            if is_python_statement_container(kind)
                || is_rust_item_container(kind)
                || matches!(
                    kind,
                    "import_statement" | "import_from_statement" | "use_declaration"
                )
            {
                stack.push(child);
            }
        }
    }
}

/// Modules whose functions rules know by their qualified name: after a
/// plain `from os import system`, `system(x)` reads `os.system(x)`. Other
/// modules' plain imports are left as written: rules read their bare
/// names, and rewriting every `from flask import request` would cost most
/// files a second parse.
const QUALIFIED_MODULES: [&str; 12] = [
    "os",
    "subprocess",
    "commands",
    "pickle",
    "cPickle",
    "_pickle",
    "dill",
    "marshal",
    "shelve",
    "yaml",
    "hashlib",
    "tempfile",
];

/// Whether a file's text may need rewriting: it aliases (both languages
/// spell an alias with ` as `), or imports a sink by its plain name.
pub(super) fn may_rewrite(source: &str, language: SupportLang) -> bool {
    source.contains(" as ") || qualifies_plain_imports(source, language)
}

/// Whether the file may import a function of [`QUALIFIED_MODULES`] by its
/// plain name (a cheap test before any walk).
fn qualifies_plain_imports(source: &str, language: SupportLang) -> bool {
    language == SupportLang::Python
        && source.contains(" import ")
        && QUALIFIED_MODULES
            .iter()
            .any(|module| source.contains(&format!("from {module} import ")))
}

fn python_aliases(tree: &tree_sitter::Tree, source: &str) -> HashMap<String, String> {
    let mut aliases = HashMap::new();
    statements(tree, |node| {
        let module = match node.kind() {
            "import_statement" => None,
            "import_from_statement" => node.child_by_field_name("module_name"),
            _ => return,
        };
        let mut cursor = node.walk();
        for name in node.children_by_field_name("name", &mut cursor) {
            if aliases.len() >= MAX_ALIASES {
                continue;
            }
            // `from os import system`: `system` reads `os.system`.
            if name.kind() == "dotted_name"
                && let Some(module) = module.map(|m| text(m, source))
                && QUALIFIED_MODULES.contains(&module)
            {
                let imported = text(name, source);
                // Module data, not functions: `path` is also everyone's
                // variable name, which must keep reading as a variable.
                let data = matches!(
                    imported,
                    "path" | "name" | "sep" | "linesep" | "curdir" | "pardir" | "devnull"
                );
                if !imported.contains('.') && !data {
                    aliases.insert(imported.to_owned(), format!("{module}.{imported}"));
                }
                continue;
            }
            if name.kind() != "aliased_import" {
                continue;
            }
            let (Some(imported), Some(alias)) = (
                name.child_by_field_name("name"),
                name.child_by_field_name("alias"),
            ) else {
                continue;
            };
            let imported = text(imported, source);
            let canonical = match module.map(|m| text(m, source)) {
                Some(module) if is_name(module) => format!("{module}.{imported}"),
                // `from . import x as y`: the module has no usable name.
                Some(_) => imported.to_owned(),
                None => imported.to_owned(),
            };
            let alias = text(alias, source);
            if is_name(&canonical) && alias != canonical {
                aliases.insert(alias.to_owned(), canonical);
            }
        }
    });
    aliases
}

fn rust_aliases(tree: &tree_sitter::Tree, source: &str) -> HashMap<String, String> {
    let mut aliases = HashMap::new();
    statements(tree, |node| {
        if node.kind() != "use_declaration" {
            return;
        }
        // `use a::{b as c, d::{e as f}}`: the clauses sit anywhere below.
        let mut stack = vec![node];
        while let Some(current) = stack.pop() {
            if aliases.len() >= MAX_ALIASES {
                return;
            }
            if current.kind() == "use_as_clause" {
                if let (Some(path), Some(alias)) = (
                    current.child_by_field_name("path"),
                    current.child_by_field_name("alias"),
                ) {
                    let path = text(path, source);
                    let last = path.rsplit("::").next().unwrap_or(path);
                    let alias = text(alias, source);
                    if is_name(last) && alias != last && last != "self" && alias != "_" {
                        aliases.insert(alias.to_owned(), last.to_owned());
                    }
                }
                continue;
            }
            let mut cursor = current.walk();
            stack.extend(current.named_children(&mut cursor));
        }
    });
    aliases
}

#[cfg(test)]
mod tests {
    use super::canonicalise;
    use crate::engine::sast::{DEFAULT_PARSE_TIMEOUT, parse};
    use ast_grep_language::SupportLang;

    fn canonical(source: &str, language: SupportLang) -> Option<String> {
        let root = parse(source, language, DEFAULT_PARSE_TIMEOUT).expect("parses");
        canonicalise(&root, language).map(|c| c.text)
    }

    #[test]
    fn python_aliases_read_as_the_names_they_stand_for() {
        let source = "import xml.etree.ElementTree as badET\nfrom subprocess import Popen as pop\nbadET.fromstring(x)\npop(cmd, shell=True)\nobj.pop(1)\nf(pop=1)\n";
        let text = canonical(source, SupportLang::Python).expect("aliases");
        assert!(
            text.contains("\nxml.etree.ElementTree.fromstring(x)\n"),
            "{text}"
        );
        assert!(
            text.contains("\nsubprocess.Popen(cmd, shell=True)\n"),
            "{text}"
        );
        // An attribute or a keyword of the same name is not the alias.
        assert!(text.contains("\nobj.pop(1)\nf(pop=1)\n"), "{text}");
        // The import statements themselves are left alone.
        assert!(text.starts_with("import xml.etree.ElementTree as badET\n"));
    }

    #[test]
    fn plain_imports_of_sink_modules_read_as_qualified_names() {
        let source = "from os import system, path\nfrom flask import request\nsystem(cmd)\npath = x\nrequest.args\n";
        let text = canonical(source, SupportLang::Python).expect("rewritten");
        // `path` is module data and a common variable name: left alone.
        assert!(text.contains("\nos.system(cmd)\npath = x\n"), "{text}");
        // Modules rules know by bare names are left as written.
        assert!(text.contains("\nrequest.args\n"), "{text}");
    }

    #[test]
    fn files_without_aliases_are_not_rewritten() {
        assert_eq!(
            canonical("import os\nos.system(x)\n", SupportLang::Python),
            None
        );
        assert_eq!(
            canonical("x = a if b else c  # as seen\n", SupportLang::Python),
            None
        );
    }

    #[test]
    fn rust_use_aliases_read_as_the_last_segment() {
        let source = "use std::process::{Command as Cmd, Stdio};\nfn f() { Cmd::new(\"sh\").arg(\"-c\"); }\n";
        let text = canonical(source, SupportLang::Rust).expect("aliases");
        assert!(text.contains("Command::new(\"sh\")"), "{text}");
    }

    #[test]
    fn offsets_map_back_to_the_original_text() {
        let source = "from os import system as s\ns(x); s(y)\n";
        let root = parse(source, SupportLang::Python, DEFAULT_PARSE_TIMEOUT).expect("parses");
        let c = canonicalise(&root, SupportLang::Python).expect("aliases");
        assert_eq!(
            c.text,
            "from os import system as s\nos.system(x); os.system(y)\n"
        );
        let second = c.text.find("os.system(y)").expect("there");
        assert_eq!(
            c.original_offset(second),
            source.find("s(y)").expect("there")
        );
        let end = second + "os.system(y)".len();
        assert_eq!(
            c.original_offset(end),
            source.find("s(y)").expect("there") + 4
        );
        assert!(c.rewrites_within(second, end));
        assert!(!c.rewrites_within(end, end + 1));
    }
}
