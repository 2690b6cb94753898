//! tree-sitter on mimalloc, as `hunkscan` runs it (`hunkscan::alloc`).
//!
//! Its own test binary: the allocator is process-wide and must be installed
//! before any tree-sitter object exists, so it cannot share a process with
//! tests that parse under the default allocator.

use ast_grep_language::SupportLang;
use hunkscan::engine::sast::{DEFAULT_PARSE_TIMEOUT, parse};

const SOURCE: &str =
    "import subprocess\n\ndef run(cmd):\n    return subprocess.run(cmd, shell=True)\n";

#[test]
fn trees_parse_and_free_across_threads_with_mimalloc() {
    // SAFETY: the only test in this binary, and it installs the allocator
    // before it creates any tree-sitter object.
    unsafe { hunkscan::alloc::use_mimalloc_for_tree_sitter() };

    // Parsed on worker threads, freed on this one: mimalloc takes a block
    // back from a thread other than its owner.
    let trees: Vec<_> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| parse(SOURCE, SupportLang::Python, DEFAULT_PARSE_TIMEOUT)))
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a parser thread panicked"))
            .collect()
    });
    let sexps: Vec<String> = trees
        .iter()
        .map(|tree| match tree {
            Ok(tree) => tree.root().get_inner_node().to_sexp(),
            Err(e) => panic!("the sample did not parse: {e}"),
        })
        .collect();
    drop(trees);

    assert!(
        sexps[0].starts_with("(module (import_statement"),
        "unexpected tree: {}",
        sexps[0]
    );
    assert!(sexps[0].contains("(keyword_argument name: (identifier) value: (true))"));
    assert!(sexps.iter().all(|sexp| *sexp == sexps[0]));
}
