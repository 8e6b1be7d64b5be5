//! Command-line interface. The shape is inherited from the original script and kept exactly:
//! `tmnet ENV` restores, `tmnet ENV --upload` saves; `--s3-*` options override the config file.

use std::ffi::OsString;

use clap::error::ErrorKind;
use clap::{Parser, ValueEnum};

/// Keep pytest-testmon's data in S3 (or a local directory), per environment and git commit.
///
/// Before `pytest --testmon`, `tmnet ENV` restores the newest data stored for any ancestor of HEAD.
/// After it, `tmnet ENV --upload` stores this run's data under HEAD.
#[derive(Debug, Clone, Parser, Default)]
#[command(
    name = "tmnet",
    version,
    about,
    long_about = None,
    after_help = "Examples:\n  tmnet linux-py312            restore before `pytest --testmon`\n  tmnet linux-py312 --upload   store this run's data after it\n\nSettings go in the [pytest.tmnet] section of pytest.ini, tox.ini or setup.cfg, or [tool.tmnet] in pyproject.toml."
)]
pub struct Cli {
    /// Environment name the data belongs to, e.g. linux-py312 (letters, digits, `.`, `_`, `-`).
    #[arg(value_name = "ENV")]
    pub env: String,

    /// Store this run's data under HEAD instead of restoring.
    #[arg(long)]
    pub upload: bool,

    /// Bucket name (setting TMNET_S3_BUCKET).
    #[arg(long, value_name = "BUCKET")]
    pub s3_bucket: Option<String>,

    /// Access key id (setting TMNET_S3_ACCESS_ID). Without one, the AWS credential chain is used.
    #[arg(long, value_name = "ID")]
    pub s3_access_id: Option<String>,

    /// Secret key (setting TMNET_S3_SECRET_KEY; the variable TMNET_S3_SECRET_KEY overrides this).
    #[arg(long, value_name = "SECRET", hide_default_value = true)]
    pub s3_secret: Option<String>,

    /// Region (setting TMNET_S3_REGION; default: AWS_REGION, else us-east-1).
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,

    /// Endpoint URL of an S3-compatible store (setting TMNET_S3_ENDPOINT), e.g. http://127.0.0.1:9000.
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,

    /// Bucket addressing (setting TMNET_S3_ADDRESSING): path-style for MinIO/Garage, virtual for AWS.
    #[arg(long, value_enum, value_name = "STYLE")]
    pub s3_addressing: Option<Addressing>,

    /// Where to keep the data instead of S3 settings (setting TMNET_STORE):
    /// `file:///path` (a local or shared directory) or `s3://bucket`.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,

    /// Also write the original script's layout (abbreviated SHA key, raw object), so that jobs
    /// still running the original can read what tmnet uploads (setting TMNET_COMPAT = true).
    #[arg(long)]
    pub compat: bool,

    /// Print only errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// How requests name the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Addressing {
    /// `endpoint/bucket/key`: what MinIO, Garage and most self-hosted stores expect.
    Path,
    /// `bucket.endpoint/key`: what AWS recommends.
    Virtual,
}

impl Cli {
    /// Parse arguments. Help and version print as usual; a usage error becomes one line
    /// (`Err`), which the caller reports with exit status 2.
    pub fn parse_from_os(
        args: impl IntoIterator<Item = OsString>,
    ) -> Result<Self, crate::error::Error> {
        match Cli::try_parse_from(args) {
            Ok(cli) => Ok(cli),
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
                ) =>
            {
                err.exit()
            }
            Err(err) => {
                let text = err.to_string();
                let lines: Vec<&str> = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| {
                        !l.is_empty()
                            && !l.starts_with("Usage:")
                            && !l.starts_with("For more information")
                    })
                    .collect();
                let message = lines.join(" ");
                let message = message.strip_prefix("error: ").unwrap_or(&message);
                Err(crate::error::Error::usage(format!(
                    "{message} (see `tmnet --help`)"
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn original_usage_parses() {
        let cli =
            Cli::try_parse_from(["tmnet", "linux-py39", "--upload", "--s3-bucket", "b"]).unwrap();
        assert_eq!(cli.env, "linux-py39");
        assert!(cli.upload);
        assert_eq!(cli.s3_bucket.as_deref(), Some("b"));
        let err = Cli::try_parse_from(["tmnet"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
