//! The state repository shared through a remote: the branch's upstream is fetched in-process
//! with gix, a clean local branch is fast-forwarded to it, and baton's commits are published
//! with `git push --porcelain --force-with-lease=<branch>:<the head fetched>` (gix 0.90 cannot
//! push). A commit moves the local branch only once the remote took it, so a clone never
//! holds a baton commit the team did not get, and a rejected push is a `PushRejected` the
//! writer answers by reading the upstream again.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use gix::ObjectId;

use super::{GitAccess, StateError, StateRepo, git, transport};

/// Where the branch is published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    /// The remote's name (`origin`).
    pub remote: String,
    /// Its URL with any user name or password removed, for messages.
    pub url: String,
    /// The branch on the remote (`main`).
    pub branch: String,
}

impl Upstream {
    /// `origin/main`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.remote, self.branch)
    }
}

/// What bringing the local branch up to its upstream did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synced {
    /// There is no upstream, or the repository was told to stay local.
    Local,
    /// The branch already was the upstream's head (or ahead by baton's own commits).
    Current,
    /// The branch was behind and moved forward by this many commits.
    FastForwarded(usize),
}

/// What a push is leased on: the upstream's head as the last successful sync read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lease {
    /// No sync has succeeded: nothing may be published yet.
    Unknown,
    /// The upstream has no such branch yet.
    Absent,
    /// The upstream's branch is at this commit.
    At(ObjectId),
}

impl Lease {
    fn of(head: Option<ObjectId>) -> Lease {
        head.map_or(Lease::Absent, Lease::At)
    }
}

/// How long one `git push` (or fast-forward) may take.
const PUSH_TIMEOUT: Duration = Duration::from_secs(300);

/// The most of a git command's output kept (each of stdout and stderr); the rest is drained.
const OUTPUT_LIMIT: u64 = 1 << 20;

/// A URL without userinfo (`https://user:token@host/x` → `https://host/x`).
pub fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    match path {
        Some(path) => format!("{scheme}://{host}/{path}"),
        None => format!("{scheme}://{host}"),
    }
}

impl StateRepo {
    /// Fetches and pushes with `access` on top of git's own settings (a token, say).
    pub fn set_access(&mut self, access: GitAccess) {
        self.access = access;
    }

    /// Commit locally only: no fetch, no push (`--no-push`).
    pub fn stay_local(&mut self) {
        self.follow = false;
    }

    /// The branch's upstream from git's configuration (`branch.<name>.remote` and `.merge`),
    /// when it has one and baton follows it.
    pub fn upstream(&self) -> Option<Upstream> {
        if !self.follow || self.detached || self.repo.workdir().is_none() {
            return None;
        }
        let short = self.branch();
        let remote = self.config_string(&format!("branch.{short}.remote"))?;
        let merge = self.config_string(&format!("branch.{short}.merge"))?;
        let branch = merge.strip_prefix("refs/heads/").unwrap_or(&merge).to_owned();
        let url = self.config_string(&format!("remote.{remote}.url"))?;
        Some(Upstream { url: without_credentials(&url), remote, branch })
    }

    /// Fetches the upstream and brings the local branch to it: a fast-forward when the branch
    /// is behind (refused when the work tree holds changes git would lose), nothing when it is
    /// there or ahead by baton's own unpublished commits. Local commits that are not baton's, or
    /// a branch and upstream that both moved, are errors naming the next step. Remembers the
    /// upstream's head as the lease of the next push.
    pub fn sync_with_upstream(&self) -> Result<Synced, StateError> {
        let Some(upstream) = self.upstream() else { return Ok(Synced::Local) };
        // The lease is known only once the branch is in a state baton may publish from: until
        // this sync succeeds, no commit is pushed.
        if let Ok(mut head) = self.upstream_head.lock() {
            *head = Lease::Unknown;
        }
        let remote_head = self.fetch(&upstream)?;
        let synced = self.bring_to(&upstream, remote_head)?;
        if let Ok(mut head) = self.upstream_head.lock() {
            *head = Lease::of(remote_head);
        }
        Ok(synced)
    }

    /// The local branch brought to `remote_head` (see [`StateRepo::sync_with_upstream`]).
    fn bring_to(
        &self,
        upstream: &Upstream,
        remote_head: Option<ObjectId>,
    ) -> Result<Synced, StateError> {
        let Some(remote_head) = remote_head else { return Ok(Synced::Current) };
        let local = self.snapshot()?.commit;
        let Some(local) = local else {
            self.fast_forward(remote_head)?;
            return Ok(Synced::FastForwarded(self.count_between(remote_head, None)?));
        };
        if local == remote_head {
            return Ok(Synced::Current);
        }
        if self.descends_from(remote_head, local)? {
            let behind = self.count_between(remote_head, Some(local))?;
            self.fast_forward(remote_head)?;
            return Ok(Synced::FastForwarded(behind));
        }
        if self.descends_from(local, remote_head)? {
            // Ahead: only baton's own commits may wait to be published with the next one.
            let mut foreign = Vec::new();
            for info in self.repo.rev_walk([local]).all().map_err(|e| self.git(e))? {
                let info = info.map_err(|e| self.git(e))?;
                if info.id == remote_head {
                    break;
                }
                let message = self.commit_info(info.id)?.message;
                if !message.contains("\nBaton-Action: ") {
                    foreign.push(info.id.to_hex_with_len(12).to_string());
                }
            }
            if !foreign.is_empty() {
                return Err(StateError::Unpublished {
                    branch: self.branch(),
                    upstream: upstream.name(),
                    commits: foreign.join(", "),
                });
            }
            return Ok(Synced::Current);
        }
        Err(StateError::Diverged { branch: self.branch(), upstream: upstream.name() })
    }

    /// The commits reachable from `tip` and not from `base`.
    fn count_between(&self, tip: ObjectId, base: Option<ObjectId>) -> Result<usize, StateError> {
        let mut count = 0;
        for info in self.repo.rev_walk([tip]).all().map_err(|e| self.git(e))? {
            let info = info.map_err(|e| self.git(e))?;
            if Some(info.id) == base {
                break;
            }
            count += 1;
        }
        Ok(count)
    }

    /// Fetches the upstream's branch into its remote-tracking ref, in-process; returns its head
    /// (`None` when the remote has no such branch yet).
    fn fetch(&self, upstream: &Upstream) -> Result<Option<ObjectId>, StateError> {
        let what = format!("cannot fetch `{}` from", upstream.branch);
        let fail = |e: super::GitError| StateError::remote(&self.root, &what, &upstream.url, e);
        let tracking = format!("refs/remotes/{}/{}", upstream.remote, upstream.branch);
        // The remote-tracking ref's reflog needs a committer, which a runner may not configure:
        // gix's generic one stands in, as git's own fetch would use the machine's.
        let mut repo = self.repo.clone();
        repo.committer_or_set_generic_fallback().map_err(|e| fail(e.into()))?;
        let remote = repo
            .find_remote(upstream.remote.as_str())
            .map_err(|e| fail(e.into()))?
            .with_refspecs(
                [format!("+refs/heads/{}:{tracking}", upstream.branch).as_str()],
                gix::remote::Direction::Fetch,
            )
            .map_err(|e| fail(e.into()))?;
        // A shallow clone (as CI checks out) gets the whole history: the judge needs it.
        let shallow = repo.is_shallow().map_err(|e| fail(e.into()))?;
        let mut connection =
            remote.connect(gix::remote::Direction::Fetch).map_err(|e| fail(e.into()))?;
        self.access.configure(&mut connection).map_err(|e| fail(e.into()))?;
        transport::bounded(|interrupt| {
            let mut fetch = connection
                .prepare_fetch(gix::progress::Discard, gix::remote::ref_map::Options::default())
                .map_err(|e| fail(e.into()))?;
            if shallow {
                tracing::info!(
                    "the clone is shallow: fetching the whole history of `{}`",
                    upstream.name()
                );
                fetch = fetch.with_shallow(gix::remote::fetch::Shallow::undo());
            }
            fetch.receive(gix::progress::Discard, interrupt).map_err(|e| fail(e.into()))
        })?;
        match self.repo.try_find_reference(tracking.as_str()).map_err(|e| self.git(e))? {
            Some(mut reference) => {
                Ok(Some(reference.peel_to_id().map_err(|e| self.git(e))?.detach()))
            }
            None => Ok(None),
        }
    }

    /// Moves the branch, work tree and index forward to `to` with `git merge --ff-only`, which
    /// refuses when a changed file would be lost.
    fn fast_forward(&self, to: ObjectId) -> Result<(), StateError> {
        let _lock = self.lock()?;
        self.finish_interrupted_sync()?;
        let output = self.run_git(&["merge", "--ff-only", "--quiet", &to.to_string()])?;
        if !output.status.success() {
            return Err(StateError::Publish {
                remote: self.upstream().map(|u| u.name()).unwrap_or_default(),
                reason: format!(
                    "the branch cannot be fast-forwarded to the upstream ({}): commit or stash the local changes git names, then run baton again",
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            });
        }
        Ok(())
    }

    /// The head of the upstream as last fetched, when baton publishes to one: `Some(lease)`.
    pub(super) fn publishing(&self) -> Option<(Upstream, Option<ObjectId>)> {
        let upstream = self.upstream()?;
        match self.upstream_head.lock().map_or(Lease::Unknown, |h| *h) {
            Lease::Unknown => None,
            Lease::Absent => Some((upstream, None)),
            Lease::At(head) => Some((upstream, Some(head))),
        }
    }

    /// Pushes `commit` to the upstream's branch if the branch is still at `lease` (or does not
    /// exist, for `None`). A rejection is `PushRejected`; anything else that fails is `Publish`.
    pub(super) fn push(
        &self,
        upstream: &Upstream,
        commit: ObjectId,
        lease: Option<ObjectId>,
    ) -> Result<(), StateError> {
        let target = format!("refs/heads/{}", upstream.branch);
        let lease_value = lease.map_or_else(String::new, |l| l.to_string());
        let output = self.run_git(&[
            "push",
            "--porcelain",
            &format!("--force-with-lease={target}:{lease_value}"),
            &upstream.remote,
            &format!("{commit}:{target}"),
        ])?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        // `<flag>\t<from>:<to>\t<summary>`: ' ' fast-forward, '=' up to date, '!' rejected.
        let line = stdout.lines().find(|l| l.contains(&format!(":{target}\t")));
        match line.and_then(|l| l.chars().next()) {
            Some(' ' | '=' | '+' | '*') if output.status.success() => {
                if let Ok(mut head) = self.upstream_head.lock() {
                    *head = Lease::At(commit);
                }
                Ok(())
            }
            Some('!') => Err(StateError::PushRejected {
                remote: upstream.url.clone(),
                branch: upstream.branch.clone(),
                reason: line.and_then(|l| l.split('\t').nth(2)).unwrap_or("rejected").to_owned(),
            }),
            _ => Err(StateError::Publish {
                remote: upstream.url.clone(),
                reason: format!(
                    "git push said: {}",
                    without_credentials(String::from_utf8_lossy(&output.stderr).trim())
                ),
            }),
        }
    }

    /// Runs `git ARGS` in the work tree (see [`run_git`]).
    fn run_git(&self, args: &[&str]) -> Result<std::process::Output, StateError> {
        let remote = self.upstream().map(|u| u.url).unwrap_or_default();
        run_git(&self.root, &self.access, args, &remote)
    }
}

/// Runs `git ARGS` in `dir` with `access` (a token), bounded in time, its output captured (read
/// as it comes, so a chatty git never blocks on a full pipe). `remote` names the remote in the
/// error when git takes too long.
pub(super) fn run_git(
    dir: &std::path::Path,
    access: &GitAccess,
    args: &[&str],
    remote: &str,
) -> Result<std::process::Output, StateError> {
    use std::io::Read as _;
    let mut command = Command::new("git");
    access.git_command(&mut command);
    let mut child = command
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| git(dir, std::io::Error::other(format!("cannot run git: {e}"))))?;
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = (&mut pipe).take(OUTPUT_LIMIT).read_to_end(&mut bytes);
                let _ = std::io::copy(&mut pipe, &mut std::io::sink());
            }
            bytes
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as _));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > PUSH_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(StateError::Publish {
                remote: remote.to_owned(),
                reason: format!("git {} took longer than {}s", args[0], PUSH_TIMEOUT.as_secs()),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(std::process::Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::without_credentials;

    #[test]
    fn urls_are_shown_without_credentials() {
        for (url, shown) in [
            (
                "https://ci:ghp_s3cr3t@git.example.com/team/state",
                "https://git.example.com/team/state",
            ),
            ("https://oauth2:token@git.example.com", "https://git.example.com"),
            ("ssh://git@git.example.com:2222/state.git", "ssh://git.example.com:2222/state.git"),
            ("https://git.example.com/state", "https://git.example.com/state"),
            ("/srv/state.git", "/srv/state.git"),
        ] {
            assert_eq!(without_credentials(url), shown, "{url}");
        }
    }
}
