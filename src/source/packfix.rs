//! Packs without their `.idx`. Git itself cannot read such a pack (its objects are invisible to
//! every git command), but the pack still holds history, so a secret scanner must read it: the
//! pack is indexed into a temporary objects directory (gix's index-pack machinery,
//! `Bundle::write_to_directory`, which copies the pack there beside its new index), and the
//! repository's object store is re-rooted there with the real objects directories as
//! alternates, so both the sweep and the commit walks of provenance see its objects. The
//! repository itself is never written to. The missing index is still an error (exit 2): the
//! repository is damaged, and the scan went beyond what git can see.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use gix::odb::pack;

/// Packs indexed for this scan, in a temporary objects directory that lives as long as this.
pub struct TempIndexes {
    dir: tempfile::TempDir,
    /// The bundles written there (taken by the source that sweeps them).
    pub bundles: Vec<pack::Bundle>,
}

impl std::fmt::Debug for TempIndexes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempIndexes")
            .field("dir", &self.dir.path())
            .field("bundles", &self.bundles.len())
            .finish()
    }
}

impl TempIndexes {
    /// Indexes each of `packs` (pack files without a `.idx`) into a new temporary objects
    /// directory whose alternates are `objects_dirs`. Returns it (if any pack could be indexed)
    /// and one message per pack: indexed for this scan, or why not.
    pub fn build(
        packs: &[PathBuf],
        objects_dirs: &[PathBuf],
        hash: gix::hash::Kind,
    ) -> (Option<TempIndexes>, Vec<String>) {
        let mut messages = Vec::new();
        if packs.is_empty() {
            return (None, messages);
        }
        let dir = match make_objects_dir(objects_dirs) {
            Ok(dir) => dir,
            Err(e) => {
                for p in packs {
                    messages.push(format!(
                        "{}: pack has no index (.idx), and no temporary directory could be made to index it ({e}): its objects are not read; run `git index-pack` on it",
                        p.display()
                    ));
                }
                return (None, messages);
            }
        };
        let mut bundles = Vec::new();
        for p in packs {
            match index_pack(p, &dir.path().join("pack"), hash) {
                Ok(bundle) => {
                    messages.push(format!(
                        "{}: pack has no index (.idx), which git needs to read it: indexed in a temporary directory for this scan; run `git index-pack` on it",
                        p.display()
                    ));
                    bundles.push(bundle);
                }
                Err(e) => messages.push(format!(
                    "{}: pack has no index (.idx) and cannot be indexed ({e}): its objects are not read",
                    p.display()
                )),
            }
        }
        if bundles.is_empty() {
            return (None, messages);
        }
        (Some(TempIndexes { dir, bundles }), messages)
    }

    /// An object store rooted at the temporary directory, reaching the repository's own objects
    /// through its alternates.
    pub fn store(&self, hash: gix::hash::Kind) -> std::io::Result<gix::odb::Store> {
        gix::odb::Store::at_opts(
            self.dir.path().to_owned(),
            hash,
            &mut std::iter::empty(),
            gix::odb::store::init::Options::default(),
        )
    }
}

/// A temporary `objects` directory with an empty `pack/` and `info/alternates` naming
/// `objects_dirs` (absolute paths, one a line).
fn make_objects_dir(objects_dirs: &[PathBuf]) -> std::io::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new()
        .prefix("keysweep-index-")
        .tempdir()?;
    std::fs::create_dir(dir.path().join("pack"))?;
    std::fs::create_dir(dir.path().join("info"))?;
    let mut alternates = std::fs::File::create(dir.path().join("info").join("alternates"))?;
    for d in objects_dirs {
        let d = d.canonicalize().unwrap_or_else(|_| d.clone());
        writeln!(alternates, "{}", d.display())?;
    }
    Ok(dir)
}

/// Indexes the pack at `pack_path` into `into` and opens the result.
fn index_pack(
    pack_path: &Path,
    into: &Path,
    hash: gix::hash::Kind,
) -> Result<pack::Bundle, Box<dyn std::error::Error + Send + Sync>> {
    let file = std::fs::File::open(pack_path)?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let outcome = gix_pack::Bundle::write_to_directory(
        &mut reader,
        Some(into),
        &mut gix::progress::Discard,
        &AtomicBool::new(false),
        None::<gix::objs::find::Never>,
        hash,
        gix_pack::bundle::write::Options::default(),
    )?;
    let bundle = outcome.to_bundle().ok_or("no index was written")??;
    Ok(bundle)
}
