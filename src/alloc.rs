//! One allocator for the whole process, tree-sitter's C code included.
//!
//! Parsing is most of a scan, and tree-sitter allocates and frees every node
//! of every tree through C `malloc`/`free`: with glibc's allocator that was
//! 8 % of a Python scan (perf over `cargo bench --bench scan_throughput`).
//! mimalloc is faster at exactly this pattern (many small, short-lived
//! blocks, freed by the thread that allocated them). The binary makes it the
//! Rust global allocator; [`use_mimalloc_for_tree_sitter`] hands the same
//! allocator to tree-sitter, whose allocator is process-wide C state.

use std::ffi::c_void;
use std::sync::Once;

/// Makes tree-sitter allocate with mimalloc; later calls do nothing.
///
/// # Safety
///
/// Call it before any tree-sitter parser, tree, cursor or query exists (first
/// thing in `main`): an object allocated by the previous allocator would
/// later be freed by mimalloc.
pub unsafe fn use_mimalloc_for_tree_sitter() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let allocator = tree_sitter::Allocator {
            malloc: ts_malloc,
            calloc: ts_calloc,
            realloc: ts_realloc,
            free: libmimalloc_sys::mi_free,
        };
        // SAFETY: one allocator family (mimalloc, malloc's alignment), never
        // null for a non-zero size (the wrappers abort, as tree-sitter's own
        // default does); the `Once` makes the call single-threaded, and the
        // caller's contract means no tree-sitter object is alive yet.
        unsafe { tree_sitter::set_allocator(Some(allocator)) };
    });
}

/// tree-sitter does not check for null: out of memory aborts, as its default
/// allocator does.
fn non_null(ptr: *mut c_void, size: usize) -> *mut c_void {
    if ptr.is_null() && size != 0 {
        std::process::abort();
    }
    ptr
}

unsafe extern "C" fn ts_malloc(size: usize) -> *mut c_void {
    // SAFETY: plain allocation, any size.
    non_null(unsafe { libmimalloc_sys::mi_malloc(size) }, size)
}

unsafe extern "C" fn ts_calloc(count: usize, size: usize) -> *mut c_void {
    // SAFETY: plain allocation; mi_calloc checks count * size for overflow.
    non_null(
        unsafe { libmimalloc_sys::mi_calloc(count, size) },
        count.saturating_mul(size),
    )
}

unsafe extern "C" fn ts_realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: tree-sitter only reallocates what this allocator gave it.
    non_null(unsafe { libmimalloc_sys::mi_realloc(ptr, size) }, size)
}
