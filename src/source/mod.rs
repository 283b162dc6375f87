//! Sources: the only code that walks anything. `fs` walks a directory tree, `git` enumerates a
//! repository's object database. Each hands blobs to a consumer; none of them matches.

pub mod fs;
pub mod git;
