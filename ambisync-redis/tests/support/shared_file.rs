//! State shared by the test and its child processes outside Redis, in a
//! file under an exclusive `flock`: a fenced resource that refuses stale
//! tokens, and a counter of concurrent holders.

#![allow(dead_code)]

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Numbers in a file, read and written under an exclusive lock.
#[derive(Clone, Debug)]
pub struct SharedFile {
    path: PathBuf,
}

impl SharedFile {
    pub fn new(path: impl AsRef<Path>) -> SharedFile {
        SharedFile {
            path: path.as_ref().to_owned(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the file's numbers (missing ones are 0) under the lock and
    /// writes back what it leaves.
    pub fn update<T>(&self, f: impl FnOnce(&mut [i64; 4]) -> T) -> T {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
            .expect("open shared file");
        file.lock().expect("flock shared file");
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        let mut values = [0i64; 4];
        for (slot, word) in values.iter_mut().zip(text.split_whitespace()) {
            *slot = word.parse().unwrap_or(0);
        }
        let result = f(&mut values);
        file.set_len(0).unwrap();
        file.seek(SeekFrom::Start(0)).unwrap();
        let line: Vec<String> = values.iter().map(i64::to_string).collect();
        file.write_all(line.join(" ").as_bytes()).unwrap();
        file.sync_data().ok();
        drop(file);
        result
    }

    pub fn read(&self) -> [i64; 4] {
        self.update(|v| *v)
    }
}

/// A resource that accepts a write only with a fencing token at least as
/// high as the highest it has accepted (slot 0: highest token, slot 1:
/// writes accepted, slot 2: writes refused).
#[derive(Clone, Debug)]
pub struct FencedResource(pub SharedFile);

impl FencedResource {
    /// Whether the write with `token` was accepted.
    pub fn write(&self, token: u64) -> bool {
        self.0.update(|v| {
            if token as i64 >= v[0] {
                v[0] = token as i64;
                v[1] += 1;
                true
            } else {
                v[2] += 1;
                false
            }
        })
    }
}

/// Concurrent holders counted outside Redis (slot 0: inside now, slot 1:
/// the most ever inside at once, slot 2: entries in total).
#[derive(Clone, Debug)]
pub struct HolderCount(pub SharedFile);

impl HolderCount {
    pub fn enter(&self) -> i64 {
        self.0.update(|v| {
            v[0] += 1;
            v[1] = v[1].max(v[0]);
            v[2] += 1;
            v[0]
        })
    }

    pub fn leave(&self) {
        self.0.update(|v| v[0] -= 1);
    }
}
