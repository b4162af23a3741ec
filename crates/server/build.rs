// `sqlx::migrate!` embeds the migrations at compile time; rebuild when one is added or changed (on stable Rust
// the macro cannot tell cargo itself).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
