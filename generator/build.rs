//! Rebuilds the generator when the boot script it embeds changes. The script lives
//! outside this package (`templates/`), and cargo remembers a file outside a package by
//! its absolute path: a target folder shared by two clones would otherwise keep one
//! clone's script for the other's.
fn main() {
    println!("cargo:rerun-if-changed=../templates/node-boot.sh");
}
