//! tmnet keeps pytest-testmon's data in an S3 bucket (or a local directory), per environment
//! and per git commit, so that every CI job starts from the newest data among its commit's
//! ancestors and runs only the tests its change affects.
//!
//! Modules, one concern each: [`cli`] (arguments), [`config`] (settings and their precedence),
//! [`git`] (history), [`index`] (bucket layout, pure), [`store`] (S3 and local directory),
//! [`snapshot`] (SQLite), [`transfer`] (streaming, compression, digests), and the two flows
//! [`restore`] and [`upload`].

pub mod cli;
pub mod config;
pub mod error;
pub mod flow;
pub mod git;
pub mod index;
pub mod restore;
pub mod snapshot;
pub mod store;
pub mod transfer;
pub mod upload;

use std::path::PathBuf;

use crate::cli::Cli;
use crate::error::{Error, Result};
use crate::flow::Context;

/// Run one invocation: resolve settings, open the store and the repository, then restore or
/// upload. `var` reads the process environment (a parameter so tests can pass their own).
pub fn run(cli: &Cli, var: &dyn Fn(&str) -> Option<String>) -> Result<()> {
    let cwd = current_dir()?;
    let located = config::locate(&cwd)?;
    let settings = config::resolve(cli, &located, &cwd, var)?;
    let repo = git::Repo::open(&cwd)?;
    let store = store::Store::open(&settings.store, var)?;
    let ctx = Context {
        settings,
        store,
        repo,
        quiet: cli.quiet,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| Error::failure(format!("cannot start the async runtime: {err}")))?;
    runtime.block_on(async {
        if cli.upload {
            upload::upload(&ctx).await.map(|_| ())
        } else {
            restore::restore(&ctx).await.map(|_| ())
        }
    })
}

fn current_dir() -> Result<PathBuf> {
    std::env::current_dir()
        .map_err(|err| Error::failure(format!("cannot read the working directory: {err}")))
}
