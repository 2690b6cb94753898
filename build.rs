//! The rules in `rules/` are embedded with `include_dir!`, which cannot tell
//! cargo that it read them; this makes cargo rebuild when a rule changes.
fn main() {
    println!("cargo:rerun-if-changed=rules");
}
