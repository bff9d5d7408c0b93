//! Rebuilds the generator when the boot script it embeds changes. The script's parts
//! live outside this package (`templates/node-boot/`), and cargo remembers a path outside a package by
//! its absolute path: a target folder shared by two clones would otherwise keep one
//! clone's script for the other's.
fn main() {
    println!("cargo:rerun-if-changed=../templates/node-boot");
}
