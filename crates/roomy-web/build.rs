//! Rebuilds this crate when the built client changes: files Vite adds
//! under new hashed names are not otherwise seen by cargo.

fn main() {
    println!("cargo:rerun-if-changed=../../web/dist");
}
