//! The command line, as clap types. Commands turn these raw arguments into validated plans.

use std::path::PathBuf;

use baton_model::{BundleName, Digest, Reference, StoreLocation};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Promote one immutable bundle of infrastructure description through dev, staging and prod.
#[derive(Debug, Parser)]
#[command(name = "baton", version, about, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

impl Cli {
    /// What clap's declarations cannot say across a global option: `render --stdout` writes
    /// the tree to stdout, so it cannot also write a JSON document there.
    pub(crate) fn check(&self) -> Result<(), clap::Error> {
        if let Command::Render(args) = &self.command
            && args.stdout
            && self.global.output == OutputFormat::Json
        {
            return Err(<Cli as clap::CommandFactory>::command().error(
                clap::error::ErrorKind::ArgumentConflict,
                "`render --stdout` writes the rendered YAML to stdout; use `--into DIR` with `--output json`",
            ));
        }
        Ok(())
    }
}

/// Options every command takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub(crate) struct GlobalArgs {
    /// Output for people (tables) or for pipelines (one JSON document on stdout).
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Human)]
    pub(crate) output: OutputFormat,
    /// When to colour the output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub(crate) color: ColorChoice,
    /// Reach this registry host over plain HTTP (loopback hosts always are); repeatable.
    #[arg(long = "insecure-registry", global = true, value_name = "HOST")]
    pub(crate) insecure_registries: Vec<String>,
    /// Trust this CA (a PEM file) for registries, besides the system's and the `certs.d`
    /// directories (`~/.config/containers/certs.d`, `/etc/containers/certs.d`,
    /// `/etc/docker/certs.d`: `HOST[:PORT]/*.crt`); repeatable. A loopback registry with a CA
    /// is reached over HTTPS.
    #[arg(long = "registry-ca", global = true, value_name = "FILE")]
    pub(crate) registry_cas: Vec<PathBuf>,
    /// Upload blobs in PATCH chunks instead of one streamed PUT (baton falls back to chunks by
    /// itself when a registry refuses the PUT).
    #[arg(long, global = true)]
    pub(crate) chunked_uploads: bool,
    /// How long connecting to a registry may take.
    #[arg(
        long,
        global = true,
        env = "BATON_REGISTRY_CONNECT_TIMEOUT",
        value_name = "DURATION",
        default_value = "10s"
    )]
    pub(crate) registry_connect_timeout: baton_model::Duration,
    /// How long a registry may be silent while it answers.
    #[arg(
        long,
        global = true,
        env = "BATON_REGISTRY_READ_TIMEOUT",
        value_name = "DURATION",
        default_value = "30s"
    )]
    pub(crate) registry_read_timeout: baton_model::Duration,
    /// How long one registry request may take in all, a blob's body included.
    #[arg(
        long,
        global = true,
        env = "BATON_REGISTRY_TIMEOUT",
        value_name = "DURATION",
        default_value = "10m"
    )]
    pub(crate) registry_timeout: baton_model::Duration,
    /// Log lines on stderr as text for people or as one JSON object per line (for log shippers).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
    /// More log lines on stderr (-v, -vv, -vvv); `BATON_LOG` takes a tracing filter.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Tables and sentences.
    Human,
    /// One JSON document on stdout.
    Json,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Text for people.
    Text,
    /// One JSON object per line.
    Json,
}

/// When to colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Build, list, inspect, verify and unpack bundles.
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Create a state repository: a commented baton.toml, params/ and state/, committed.
    Init(InitArgs),
    /// Promote a bundle's digest, unchanged, into an environment once its gates hold (exit 3 when not).
    Promote(PromoteArgs),
    /// Approve a digest for an environment (by default, what its upstream pins now).
    Approve(ApproveArgs),
    /// What is pinned where: bundle × environment, with version, digest, age and who.
    Status(StatusArgs),
    /// Digest and parameter differences between two environments.
    Diff(DiffArgs),
    /// Every pin change of an environment: time, digest, version, from, by, action, signature.
    History(HistoryArgs),
    /// Re-pin a digest an environment held before, recorded as a rollback.
    Rollback(RollbackArgs),
    /// What `apply` would change: files added, changed and removed, as a diff (secrets masked).
    Plan(TargetArgs),
    /// Fetch, verify, unpack, render and apply what an environment pins to its target.
    Apply(ApplyArgs),
    /// The tree apply would write for a pinned bundle, rendered with the environment's params:
    /// into a directory, or as YAML documents on stdout (secrets are placeholders unless
    /// --with-secrets).
    Render(RenderArgs),
    /// Publish an environment's rendering of a pinned bundle for Flux and Argo CD: an OCI
    /// artifact with one standard tar+gzip layer, in the environment's store, tagged with its
    /// name (a rendering that reads a secret is refused).
    Publish(PublishRenderingArgs),
    /// Does the target still hold what was applied? Exit 4 with every difference when not.
    Drift(TargetArgs),
    /// The pull-based control loop: apply what changed, heal drift, until SIGTERM.
    Agent(AgentArgs),
    /// Prove, with read access only, that every environment holds exactly the bytes that passed
    /// the chain; exit 4 with every finding when not.
    Audit(AuditArgs),
    /// Re-hash every byte of a bundle and, with --key, check its signatures; exit 4 when anything
    /// does not match (`bundle verify`).
    Verify(VerifyArgs),
    /// Sign a bundle's digest with an ECDSA P-256 key, in cosign's format (`sha256-<hex>.sig`).
    Sign(SignArgs),
    /// Every signature and attestation attached to a bundle, with who signed each and, with
    /// --key, whether it verifies; exit 4 when one does not count.
    Evidence(VerifyArgs),
    /// Print a completion script for a shell (`source <(baton completions bash)`).
    Completions(CompletionsArgs),
    /// Print baton's manual page (`baton man | man -l -`), or write one per command into a
    /// directory (`--dir`).
    Man(ManArgs),
    /// Print the JSON Schema of a file baton reads (`baton.toml`, `bundle.toml`, params, state)
    /// or of a command's `--output json` (`status`, `promote`, …); without a name, list them.
    Schema(SchemaArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SchemaArgs {
    /// The schema's name (`baton schema` lists them).
    pub(crate) name: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Write `baton.1` and a page per command (`baton-promote.1`, …) into DIR.
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// Only this environment.
    #[arg(long, value_name = "ENV")]
    pub(crate) env: Option<String>,
    /// Only this bundle.
    #[arg(long)]
    pub(crate) bundle: Option<BundleName>,
    /// Only findings in commits from this date on (`2026-01-01`, or RFC 3339); the pins of today
    /// are always checked.
    #[arg(long, value_parser = parse_since)]
    pub(crate) since: Option<i64>,
    /// Re-hash every digest ever pinned, not only the current pins.
    #[arg(long)]
    pub(crate) deep: bool,
    /// Also check each target reachable from here: its applied record names the pinned digest
    /// and its files match (drift).
    #[arg(long)]
    pub(crate) targets: bool,
    /// Also write a self-contained HTML report to PATH (one file, no external assets).
    #[arg(long, value_name = "PATH")]
    pub(crate) report: Option<PathBuf>,
    /// Also write every attestation the audit relied on and found holding to PATH, one DSSE
    /// envelope per line (`evidence.intoto.jsonl`).
    #[arg(long, value_name = "PATH")]
    pub(crate) export: Option<PathBuf>,
    // `--state` may also be a URL here (`file://…`, `ssh://…`): it is mirrored read-only.
    #[command(flatten)]
    pub(crate) state: StateArgs,
    #[command(flatten)]
    pub(crate) applier: ApplierArgs,
}

fn parse_since(text: &str) -> Result<i64, String> {
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Ok(t.as_second());
    }
    let date: jiff::civil::Date = text
        .parse()
        .map_err(|e| format!("`{text}` is not a date (YYYY-MM-DD) or an RFC 3339 time: {e}"))?;
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp().as_second())
        .map_err(|e| e.to_string())
}

/// Where the applier keeps what it fetched and what it applied.
#[derive(Debug, Args)]
pub(crate) struct ApplierArgs {
    /// The content-addressed cache of fetched bundles (default: `$XDG_CACHE_HOME/baton`).
    #[arg(long, env = "BATON_CACHE", value_name = "PATH")]
    pub(crate) cache: Option<PathBuf>,
    /// Where exec targets keep releases and applied records (default: `$XDG_STATE_HOME/baton`).
    #[arg(long, env = "BATON_APPLIED_DIR", value_name = "PATH")]
    pub(crate) applied_dir: Option<PathBuf>,
    /// The directory `from_file` secrets are read from (default: the environment's
    /// `secrets_dir` in baton.toml); nothing outside it is read.
    #[arg(long, env = "BATON_SECRETS_DIR", value_name = "DIR")]
    pub(crate) secrets_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct TargetArgs {
    /// The environment.
    pub(crate) env: String,
    /// Only this bundle (default: every bundle the environment pins).
    pub(crate) bundle: Option<BundleName>,
    #[command(flatten)]
    pub(crate) state: StateArgs,
    #[command(flatten)]
    pub(crate) applier: ApplierArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RenderArgs {
    /// The environment.
    pub(crate) env: String,
    /// The bundle.
    pub(crate) bundle: BundleName,
    /// Write the tree into DIR (new, or an empty directory), moved there whole.
    #[arg(long, value_name = "DIR", conflicts_with = "stdout", required_unless_present_any = ["stdout", "check"])]
    pub(crate) into: Option<PathBuf>,
    /// Write the YAML and JSON files to stdout as one stream of YAML documents
    /// (`| kubectl diff -f -`).
    #[arg(long)]
    pub(crate) stdout: bool,
    /// Resolve secrets as apply does (from the environment or the secrets directory); the files
    /// that read one are written 0600. Without it each secret renders as `<secret:NAME>` (or 0,
    /// false, [] or {} by its type).
    #[arg(long)]
    pub(crate) with_secrets: bool,
    /// Check the tree against what a consumer takes (Flux's extraction and default exclusions,
    /// Argo CD's size limit; both: regular files only); exit 4 naming each problem. Repeatable.
    #[arg(long, value_enum, value_name = "CONSUMER")]
    pub(crate) check: Vec<Consumer>,
    #[command(flatten)]
    pub(crate) state: StateArgs,
    #[command(flatten)]
    pub(crate) applier: ApplierArgs,
}

/// A tool that consumes a rendered tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Consumer {
    /// Flux (`OCIRepository` + `Kustomization`).
    Flux,
    /// Argo CD (an `Application` with an OCI source).
    Argocd,
}

impl From<Consumer> for baton_bundle::rendered::Consumer {
    fn from(consumer: Consumer) -> baton_bundle::rendered::Consumer {
        match consumer {
            Consumer::Flux => baton_bundle::rendered::Consumer::Flux,
            Consumer::Argocd => baton_bundle::rendered::Consumer::Argocd,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct PublishRenderingArgs {
    /// The environment.
    pub(crate) env: String,
    /// The bundle.
    pub(crate) bundle: BundleName,
    #[command(flatten)]
    pub(crate) state: StateArgs,
    #[command(flatten)]
    pub(crate) applier: ApplierArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    #[command(flatten)]
    pub(crate) reporter: ReporterArgs,
}

/// Who reports what the target did, and with which key.
#[derive(Debug, Args)]
pub(crate) struct ReporterArgs {
    /// This target's id in its environment: reports of each apply, heal and verification go to
    /// the environment's store, signed with `--sign-key` (required where the environment lists
    /// `targets` and a gate counts them).
    #[arg(long, env = "BATON_TARGET_ID", value_name = "ID")]
    pub(crate) target_id: Option<baton_model::TargetId>,
    /// Sign reports with this SSH private key (ed25519 or ecdsa-p256), listed in
    /// `.baton/allowed_signers` for `ID@ENV.target`; required where that file exists.
    #[arg(long, env = "BATON_SIGN_KEY", value_name = "PATH")]
    pub(crate) sign_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct AgentArgs {
    // `--state` may also be a URL here (`file://…`, `ssh://…`): the agent mirrors it.
    /// The environment to keep applied.
    #[arg(long, value_name = "ENV")]
    pub(crate) env: String,
    /// One reconcile pass, then exit (for cron and tests).
    #[arg(long)]
    pub(crate) once: bool,
    /// The longest wait between passes, in seconds (each wait is 75–100 % of it, so a fleet does
    /// not pass in step).
    #[arg(long, default_value_t = 30)]
    pub(crate) interval: u64,
    /// Report drift without repairing it.
    #[arg(long)]
    pub(crate) no_heal: bool,
    /// After each pass, write the agent's state here as JSON (atomically), for a supervisor:
    /// the time, whether the pass succeeded, consecutive failures, and each bundle's action.
    #[arg(long, value_name = "PATH")]
    pub(crate) health_file: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) state: StateArgs,
    #[command(flatten)]
    pub(crate) applier: ApplierArgs,
    #[command(flatten)]
    pub(crate) reporter: ReporterArgs,
}

/// Where the state repository is, and who acts.
#[derive(Debug, Args)]
pub(crate) struct StateArgs {
    /// The state repository (default: found upwards from the current directory, as git does).
    #[arg(long, env = "BATON_STATE", value_name = "PATH")]
    pub(crate) state: Option<PathBuf>,
}

/// Who acts.
#[derive(Debug, Args)]
pub(crate) struct ActorArgs {
    /// Act as this principal (default: git's user.email in the state repository).
    #[arg(long = "as", value_name = "PRINCIPAL")]
    pub(crate) as_: Option<String>,
    /// Sign the commit (and the promotion's attestation) with this SSH private key (default:
    /// git's user.signingkey); required when the state repository has `.baton/allowed_signers`.
    #[arg(long, env = "BATON_SIGN_KEY", value_name = "PATH")]
    pub(crate) sign_key: Option<PathBuf>,
}

/// How a writer's commit reaches the team.
#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    /// Commit locally only: neither fetch the branch's upstream nor push to it.
    #[arg(long)]
    pub(crate) no_push: bool,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("stores").required(true).args(["store_prefix", "local"]))]
pub(crate) struct InitArgs {
    /// The directory (created when missing; made a git repository when it is not one).
    #[arg(default_value = ".")]
    pub(crate) dir: PathBuf,
    /// Where the environments' stores live, shared by every machine: `REGISTRY/PATH` gives
    /// `REGISTRY/PATH/dev`, `…/staging` and `…/prod`.
    #[arg(long, value_name = "REGISTRY/PATH")]
    pub(crate) store_prefix: Option<String>,
    /// OCI layout stores inside this clone (`oci:stores/…`), for one machine only: another
    /// clone or CI runner cannot read them.
    #[arg(long)]
    pub(crate) local: bool,
    #[command(flatten)]
    pub(crate) actor: ActorArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PromoteArgs {
    /// The bundle's name.
    pub(crate) bundle: BundleName,
    /// The environment to promote into.
    #[arg(long, value_name = "ENV")]
    pub(crate) to: String,
    /// The digest to promote (default: what the upstream environment pins).
    #[arg(long)]
    pub(crate) digest: Option<Digest>,
    /// The store to copy from (default: the upstream environment's); needed for the first environment.
    #[arg(long, value_parser = parse_store, value_name = "STORE")]
    pub(crate) from_store: Option<StoreLocation>,
    /// Accept a digest the upstream environment pinned before, though it pins another now.
    #[arg(long)]
    pub(crate) allow_superseded: bool,
    /// Skip the gates, where baton.toml allows it; the reason is recorded and always audited.
    #[arg(long, value_name = "REASON")]
    pub(crate) break_glass: Option<String>,
    #[command(flatten)]
    pub(crate) state: StateArgs,
    #[command(flatten)]
    pub(crate) actor: ActorArgs,
    #[command(flatten)]
    pub(crate) publish: PublishArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ApproveArgs {
    /// The bundle's name.
    pub(crate) bundle: BundleName,
    /// The environment the digest may then be promoted to.
    #[arg(long, value_name = "ENV")]
    pub(crate) env: String,
    /// The digest (default: what the environment's upstream pins now).
    #[arg(long)]
    pub(crate) digest: Option<Digest>,
    /// A comment, kept in the approval record.
    #[arg(long)]
    pub(crate) comment: Option<String>,
    #[command(flatten)]
    pub(crate) state: StateArgs,
    #[command(flatten)]
    pub(crate) actor: ActorArgs,
    #[command(flatten)]
    pub(crate) publish: PublishArgs,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) state: StateArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    /// The first environment.
    pub(crate) a: String,
    /// The second environment.
    pub(crate) b: String,
    /// Only this bundle.
    pub(crate) bundle: Option<BundleName>,
    #[command(flatten)]
    pub(crate) state: StateArgs,
}

#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// The environment.
    pub(crate) env: String,
    /// Only this bundle.
    pub(crate) bundle: Option<BundleName>,
    #[command(flatten)]
    pub(crate) state: StateArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RollbackArgs {
    /// The bundle's name.
    pub(crate) bundle: BundleName,
    /// The environment.
    #[arg(long, value_name = "ENV")]
    pub(crate) env: String,
    /// The digest to go back to (default: the one pinned before the current one).
    #[arg(long, value_name = "DIGEST")]
    pub(crate) to: Option<Digest>,
    /// Why (an incident, what broke): kept in the pin and its commit, shown by status and
    /// history.
    #[arg(long, value_name = "TEXT")]
    pub(crate) reason: Option<String>,
    #[command(flatten)]
    pub(crate) state: StateArgs,
    #[command(flatten)]
    pub(crate) actor: ActorArgs,
    #[command(flatten)]
    pub(crate) publish: PublishArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BundleCommand {
    /// Pack a descriptor into a bundle and store it; prints name:version@digest.
    Build(BuildArgs),
    /// List the bundles in a store.
    List(ListArgs),
    /// Show a bundle's manifest, config, parameters, source and files.
    Inspect(RefArgs),
    /// Re-hash every byte of a bundle and, with --key, check its signatures; exit 4 when anything
    /// does not match.
    Verify(VerifyArgs),
    /// Extract a bundle's files into a new directory, verified on the way.
    Unpack(UnpackArgs),
    /// Copy a bundle to another store, digest unchanged; blobs already there are not sent again.
    Copy(CopyArgs),
    /// Write a bundle as one deterministic tar holding an OCI image layout (for air-gapped sites).
    Export(ExportArgs),
    /// Read a tar written by `export` into a store, verifying every blob first.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// The descriptor: a directory with bundle.toml at its root.
    pub(crate) dir: PathBuf,
    /// The store to write to: `oci:PATH` or `HOST[:PORT]/PATH`.
    #[arg(long, env = "BATON_STORE", default_value = "oci:.baton/store", value_parser = parse_store)]
    pub(crate) store: StoreLocation,
    /// Build even when the descriptor's files differ from the git commit; recorded as dirty.
    #[arg(long)]
    pub(crate) allow_dirty: bool,
    /// Compression threads (default: one per core); the bundle does not depend on it.
    #[arg(long)]
    pub(crate) threads: Option<usize>,
    /// Sign the bundle with this ECDSA P-256 private key (unencrypted PEM), in cosign's format.
    #[arg(long, env = "BATON_BUNDLE_SIGN_KEY", value_name = "FILE")]
    pub(crate) sign_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The bundle: `STORE/NAME:TAG` or `STORE/NAME@sha256:HEX`.
    #[arg(value_parser = parse_reference)]
    pub(crate) reference: Reference,
    /// A public key (PEM) one of the bundle's signatures must verify with; repeatable, any one
    /// suffices.
    #[arg(long, value_name = "FILE")]
    pub(crate) key: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// The bundle: `STORE/NAME:TAG` or `STORE/NAME@sha256:HEX`.
    #[arg(value_parser = parse_reference)]
    pub(crate) reference: Reference,
    /// The ECDSA P-256 private key (unencrypted PEM, PKCS#8 or SEC1).
    #[arg(long, env = "BATON_BUNDLE_SIGN_KEY", value_name = "FILE")]
    pub(crate) key: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// The store to list: `oci:PATH` or `HOST[:PORT]/PATH`.
    #[arg(long, env = "BATON_STORE", default_value = "oci:.baton/store", value_parser = parse_store)]
    pub(crate) store: StoreLocation,
}

#[derive(Debug, Args)]
pub(crate) struct RefArgs {
    /// The bundle: `STORE/NAME:TAG` or `STORE/NAME@sha256:HEX`.
    #[arg(value_parser = parse_reference)]
    pub(crate) reference: Reference,
}

#[derive(Debug, Args)]
pub(crate) struct CopyArgs {
    /// The bundle to copy: `STORE/NAME:TAG` or `STORE/NAME@sha256:HEX`.
    #[arg(value_parser = parse_reference)]
    pub(crate) reference: Reference,
    /// The store to copy into: `oci:PATH` or `HOST[:PORT]/PATH`; the bundle lands at `STORE/NAME`.
    #[arg(value_parser = parse_store)]
    pub(crate) to: StoreLocation,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The bundle: `STORE/NAME:TAG` or `STORE/NAME@sha256:HEX`.
    #[arg(value_parser = parse_reference)]
    pub(crate) reference: Reference,
    /// The tar file to write.
    #[arg(short = 'o', long)]
    pub(crate) output_file: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// A tar written by `baton bundle export`.
    pub(crate) file: PathBuf,
    /// The store to import into: `oci:PATH` or `HOST[:PORT]/PATH`.
    #[arg(long, env = "BATON_STORE", default_value = "oci:.baton/store", value_parser = parse_store)]
    pub(crate) store: StoreLocation,
}

#[derive(Debug, Args)]
pub(crate) struct UnpackArgs {
    /// The bundle: `STORE/NAME:TAG` or `STORE/NAME@sha256:HEX`.
    #[arg(value_parser = parse_reference)]
    pub(crate) reference: Reference,
    /// A new or empty directory to unpack into.
    #[arg(long)]
    pub(crate) into: PathBuf,
}

fn parse_store(text: &str) -> Result<StoreLocation, String> {
    text.parse().map_err(|e: baton_model::ReferenceError| e.to_string())
}

fn parse_reference(text: &str) -> Result<Reference, String> {
    text.parse().map_err(|e: baton_model::ReferenceError| e.to_string())
}
