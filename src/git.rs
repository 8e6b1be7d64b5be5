//! Git access through the `git` binary.
//!
//! Why the binary and not a library: CI machines always have git, and only git itself follows
//! every repository feature users have (worktrees, shallow and partial clones, `safe.directory`,
//! alternates, sha256 repositories) exactly as their own checkout does. Restore needs three calls:
//! `rev-parse`, `rev-list` (streamed, stopped at the first hit) and `--is-shallow-repository`.
//! A library such as gix would add minutes of build time for no behaviour we need.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// A git working tree, located from a directory inside it.
#[derive(Debug, Clone)]
pub struct Repo {
    cwd: PathBuf,
}

/// The first ancestor (HEAD included) that a predicate accepts, and how many commits were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk<T> {
    pub found: Option<(String, T)>,
    pub walked: usize,
}

impl Repo {
    /// Open the repository containing `cwd`, with clear errors for the usual CI pitfalls.
    pub fn open(cwd: &Path) -> Result<Repo> {
        let repo = Repo {
            cwd: cwd.to_path_buf(),
        };
        repo.run(&["rev-parse", "--git-dir"])?;
        Ok(repo)
    }

    /// Full SHA of HEAD.
    pub fn head(&self) -> Result<String> {
        let out = self.run(&["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]);
        match out {
            Ok(sha) if !sha.is_empty() => Ok(sha),
            _ => Err(Error::failure(format!(
                "the git repository at {} has no commits yet: commit first, then run tmnet",
                self.cwd.display()
            ))),
        }
    }

    /// The abbreviated SHA that `git log --format=%h` prints, as the original script keyed entries.
    pub fn abbrev(&self, sha: &str) -> Result<String> {
        self.run(&["rev-parse", "--short", sha])
    }

    pub fn is_shallow(&self) -> Result<bool> {
        Ok(self.run(&["rev-parse", "--is-shallow-repository"])? == "true")
    }

    /// Walk `start`'s ancestors newest first (merges included, no depth limit) and stop at the
    /// first commit `accept` returns something for. Only what is needed is read from git.
    pub fn find_ancestor<T>(
        &self,
        start: &str,
        mut accept: impl FnMut(&str) -> Option<T>,
    ) -> Result<Walk<T>> {
        let mut child = self
            .command(&["rev-list", start])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_error)?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut walked = 0;
        let mut found = None;
        for line in BufReader::new(stdout).lines() {
            let line = line
                .map_err(|err| Error::failure(format!("reading `git rev-list` output: {err}")))?;
            walked += 1;
            if let Some(hit) = accept(line.trim()) {
                found = Some((line.trim().to_string(), hit));
                break;
            }
        }
        if found.is_some() {
            let _ = child.kill();
            let _ = child.wait();
        } else {
            let output = child.wait_with_output().map_err(spawn_error)?;
            if !output.status.success() {
                return Err(git_error(
                    &self.cwd,
                    &["rev-list", start],
                    &String::from_utf8_lossy(&output.stderr),
                ));
            }
        }
        Ok(Walk { found, walked })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("git");
        command
            .args(args)
            .current_dir(&self.cwd)
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Result<String> {
        let output = self.command(args).output().map_err(spawn_error)?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
        } else {
            Err(git_error(
                &self.cwd,
                args,
                &String::from_utf8_lossy(&output.stderr),
            ))
        }
    }
}

fn spawn_error(err: std::io::Error) -> Error {
    if err.kind() == std::io::ErrorKind::NotFound {
        Error::failure("git was not found on PATH: tmnet needs git to read the commit history")
    } else {
        Error::failure(format!("cannot run git: {err}"))
    }
}

/// Turn git's stderr into one line that says what to do.
fn git_error(cwd: &Path, args: &[&str], stderr: &str) -> Error {
    let lower = stderr.to_ascii_lowercase();
    if lower.contains("dubious ownership") {
        let repo = stderr
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("git config --global --add safe.directory ")
            })
            .map(str::to_string)
            .unwrap_or_else(|| cwd.display().to_string());
        return Error::failure(format!(
            "git refuses the repository at {repo} because another user owns it (\"dubious ownership\", common in CI containers): run `git config --global --add safe.directory {repo}` first"
        ));
    }
    if lower.contains("not a git repository") {
        return Error::failure(format!(
            "{} is not inside a git repository: run tmnet from your project's checkout",
            cwd.display()
        ));
    }
    let first = stderr
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no message");
    Error::failure(format!(
        "`git {}` failed in {}: {first}",
        args.join(" "),
        cwd.display()
    ))
}
