//! Sources: the only code that walks anything. `fs` walks a directory tree, `git` enumerates a
//! repository's object database, `staged` lists what the index would commit. Each hands blobs to a consumer; none of them matches.

pub mod commits;
pub mod fs;
pub mod git;
pub mod integrity;
pub mod pack_walk;
pub mod packfix;
pub mod pages;
pub mod staged;
pub mod tree_walk;
