//! Rebuilds the crate when a migration is added, changed or removed: `sqlx::migrate!`
//! embeds `migrations/` at compile time, and without this cargo would not notice a new file.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
