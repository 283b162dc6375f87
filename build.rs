//! Embeds every `patterns/*.yaml` file into the binary, so the default rules need no files at run time.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    // Read at run time, not with env!(): the compiled build script is cached in target/, and a
    // second checkout sharing that target directory must embed its own patterns/.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest_dir).join("patterns");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("patterns/ exists at the crate root")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let mut out =
        String::from("/// Every shipped rule file: (path relative to the crate, contents).\n");
    out.push_str("pub const EMBEDDED_RULE_FILES: &[(&str, &str)] = &[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f.file_name().expect("a file name").to_string_lossy();
        writeln!(
            out,
            "    (\"patterns/{name}\", include_str!({:?})),",
            f.display().to_string()
        )
        .expect("writing to a String cannot fail");
    }
    out.push_str("];\n");
    let dest =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("patterns.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}
