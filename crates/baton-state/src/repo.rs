//! The state repository: reads files at a commit, walks history, and writes commits that update
//! the branch with compare-and-swap, keeping the index and work tree of a non-bare repository in
//! step so that `git status` stays clean.

use std::path::{Path, PathBuf};

use gix::{
    ObjectId,
    bstr::{BStr, ByteSlice},
    refs::{
        FullName, Target,
        transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog},
    },
};

/// Bytes of decoded delta bases kept while reading (git's default `core.deltaBaseCacheLimit`).
const DELTA_BASE_CACHE: usize = 96 << 20;

/// A git state repository, opened on its branch.
pub struct StateRepo {
    repo: gix::Repository,
    root: PathBuf,
    branch: FullName,
    /// What relative paths in `baton.toml` (layout stores, dir targets) are relative to.
    paths_root: PathBuf,
    /// Whether commits are published to the branch's upstream (and it is fetched first).
    follow: bool,
    /// HEAD is detached (a CI checkout): readers read the commit checked out, writers refuse.
    detached: bool,
    /// The upstream's head as last fetched: the lease a push is made against.
    upstream_head: std::sync::Mutex<Lease>,
    /// What baton adds to git's settings when it fetches or pushes (a token).
    access: GitAccess,
    /// The repository is baton's own copy of a state given as a URL (a mirror or a cached
    /// clone), not a clone the user made: its relative `oci:` stores mean nothing here.
    from_url: bool,
}

/// A commit of the branch, as read at one moment: everything a command computes comes from one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The commit; `None` before the first commit.
    pub commit: Option<ObjectId>,
    /// Its root tree.
    pub tree: ObjectId,
}

/// Who writes a commit.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The name.
    pub name: String,
    /// The e-mail address.
    pub email: String,
}

/// A file to write (`Some(bytes)`) or delete (`None`), by its `/`-separated repository path.
#[derive(Clone, Debug)]
pub struct FileChange {
    /// The path in the repository.
    pub path: String,
    /// The new bytes, or `None` to delete.
    pub content: Option<Vec<u8>>,
}

/// One commit of the history, decoded.
#[derive(Clone, Debug)]
pub struct CommitInfo {
    /// The commit.
    pub id: ObjectId,
    /// Committer time, seconds since the epoch.
    pub time: i64,
    /// The whole message.
    pub message: String,
    /// The parents.
    pub parents: Vec<ObjectId>,
    /// The root tree.
    pub tree: ObjectId,
    /// The `gpgsig` header, if the commit is signed.
    pub signature: Option<String>,
    /// The author's e-mail.
    pub author_email: String,
}

/// One move of the branch, from its reflog.
#[derive(Clone, Debug)]
pub struct ReflogEntry {
    /// What the branch pointed to before (all zeros when it was created).
    pub old: ObjectId,
    /// What it pointed to after.
    pub new: ObjectId,
    /// When, seconds since the epoch.
    pub time: i64,
    /// What moved it (`commit: …`, `reset: moving to HEAD~1`, `commit (amend): …`).
    pub message: String,
}

/// Signs the bytes of a commit object; returns the armored signature for the `gpgsig` header.
pub type Signer<'a> = &'a dyn Fn(&[u8]) -> Result<String, String>;

/// An error of gix (of one of its many error types), kept as the cause.
pub type GitError = Box<dyn std::error::Error + Send + Sync>;

/// Why the state repository cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// No git repository at or above the start directory.
    #[error(
        "no state repository at or above `{}`: run `baton init` there, or pass `--state PATH`",
        start.display()
    )]
    NotFound {
        /// Where the search started.
        start: PathBuf,
    },
    /// The search for a repository could not read a directory.
    #[error("cannot look for a state repository at `{}`", path.display())]
    Unreadable {
        /// The directory.
        path: PathBuf,
        /// Why (not found, permission denied, …).
        #[source]
        source: std::io::Error,
    },
    /// A git directory was found but cannot be opened.
    #[error(
        "`{}` is a git directory baton cannot open: check it with `git -C {} status`, or pass `--state PATH`",
        git_dir.display(),
        work_tree.display()
    )]
    Broken {
        /// The `.git` found.
        git_dir: PathBuf,
        /// The directory holding it.
        work_tree: PathBuf,
        /// What gix said.
        #[source]
        source: GitError,
    },
    /// HEAD is detached.
    #[error(
        "the state repository `{}` has a detached HEAD: baton reads the commit checked out, but writes only to a branch; check out the branch baton should write to (for example `git switch main`)",
        repo.display()
    )]
    Detached {
        /// The repository.
        repo: PathBuf,
    },
    /// The branch has no commit yet.
    #[error(
        "the state repository `{}` has no commit yet: run `baton init` there",
        repo.display()
    )]
    Unborn {
        /// The repository.
        repo: PathBuf,
    },
    /// A path baton would write lies beyond a symbolic link in the work tree.
    #[error(
        "the state repository `{repo}` has a symbolic link at `{link}`, on the way to `{path}`: baton does not write beyond a symbolic link (as git does not); replace the link with a directory"
    )]
    Symlink {
        /// The work tree.
        repo: PathBuf,
        /// The link, relative to the work tree.
        link: String,
        /// The path baton would write.
        path: String,
    },
    /// Someone else moved the branch between our read and our write.
    #[error("branch `{branch}` moved from {expected} to {found} while baton was writing")]
    Moved {
        /// The branch.
        branch: String,
        /// What we read.
        expected: String,
        /// What is there now.
        found: String,
    },
    /// A fetch would have rewritten the branch's history.
    #[error(
        "the state repository `{url}` rewrote the history of `{branch}` ({old} is not an ancestor of {new}); the mirror `{}` keeps {old} and will not follow. Find out why: `baton audit` in a clone that still has {old} names what was dropped. If the rewrite was intended, remove `{}` and the next run mirrors the new history",
        mirror.display(), mirror.display()
    )]
    Rewritten {
        /// The remote.
        url: String,
        /// The local mirror.
        mirror: PathBuf,
        /// The branch.
        branch: String,
        /// What the mirror had.
        old: String,
        /// What the remote has now.
        new: String,
    },
    /// Files baton would write differ from the commit in the work tree or index.
    #[error(
        "the state repository `{}` has uncommitted changes to {}: commit or discard them (`git status`, `git diff`) first",
        repo.display(), paths.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
    )]
    Dirty {
        /// The repository.
        repo: PathBuf,
        /// The paths.
        paths: Vec<String>,
    },
    /// The upstream refused a push (another writer moved its branch): read it again and retry.
    #[error("`{remote}` refused the push of `{branch}`: {reason}")]
    PushRejected {
        /// The remote, its URL without credentials.
        remote: String,
        /// The branch.
        branch: String,
        /// What git said.
        reason: String,
    },
    /// The upstream could not be reached or the push failed for another reason.
    #[error("cannot publish to `{remote}`: {reason}; `--no-push` commits locally only")]
    Publish {
        /// The remote, its URL without credentials.
        remote: String,
        /// What went wrong.
        reason: String,
    },
    /// The local branch holds commits that are not baton's and not on the upstream.
    #[error(
        "branch `{branch}` has commits that are not on `{upstream}` and not baton's ({commits}): push them or drop them (`git log {upstream}..{branch}`), then run baton again"
    )]
    Unpublished {
        /// The local branch.
        branch: String,
        /// The upstream, as `remote/branch`.
        upstream: String,
        /// The commits, short.
        commits: String,
    },
    /// The local branch and its upstream have both moved on.
    #[error(
        "branch `{branch}` and `{upstream}` have diverged: baton makes no merge or rebase; bring the branch onto `{upstream}` by hand (`git log --oneline --graph {branch} {upstream}`)"
    )]
    Diverged {
        /// The local branch.
        branch: String,
        /// The upstream, as `remote/branch`.
        upstream: String,
    },
    /// The remote could not be reached, or would not give what was asked (credentials, the
    /// server's certificate, the network).
    #[error("state repository `{}`: {what} `{url}`", repo.display())]
    Remote {
        /// The repository baton was fetching into.
        repo: PathBuf,
        /// What baton was doing (`cannot fetch main from`).
        what: String,
        /// The remote's URL, without credentials.
        url: String,
        /// What gix said.
        #[source]
        source: GitError,
    },
    /// A git operation failed.
    #[error("state repository `{}`: {what}", repo.display())]
    Git {
        /// The repository.
        repo: PathBuf,
        /// What baton was doing.
        what: String,
        /// What gix said.
        #[source]
        source: GitError,
    },
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl StateError {
    /// What to do next, when baton knows: for a remote it could not use, how to see what git
    /// itself gets with the same settings.
    pub fn next_step(&self) -> Option<String> {
        let StateError::Remote { url, .. } = self else { return None };
        let settings = if url.starts_with("https://") || url.starts_with("http://") {
            "credentials (a credential helper, GIT_ASKPASS, or BATON_GIT_TOKEN for an agent) and CA (http.sslCAInfo or GIT_SSL_CAINFO)"
        } else {
            "SSH command (GIT_SSH_COMMAND or core.sshCommand), keys and agent"
        };
        Some(format!(
            "`git ls-remote {url}` shows what git gets from the remote; baton uses the same {settings}"
        ))
    }

    /// A failure to fetch from or clone `url` into `repo`.
    fn remote(repo: &Path, what: &str, url: &str, source: GitError) -> StateError {
        StateError::Remote {
            repo: repo.to_owned(),
            what: what.to_owned(),
            url: without_credentials(url),
            source,
        }
    }
}

impl StateRepo {
    /// Finds the state repository at or above `start`, as git does, and its branch.
    pub fn discover(start: &Path) -> Result<StateRepo, StateError> {
        match gix::discover(start) {
            Ok(repo) => StateRepo::from_repo(repo),
            Err(e) => Err(why_not_found(start, e.into())),
        }
    }

    /// Opens the repository at exactly `path`.
    pub fn open(path: &Path) -> Result<StateRepo, StateError> {
        match gix::open(path) {
            Ok(repo) => StateRepo::from_repo(repo),
            Err(e) => Err(why_not_found(path, e.into())),
        }
    }

    /// Creates a repository at `path` (non-bare) on branch `main`, unless one exists there.
    pub fn init(path: &Path) -> Result<StateRepo, StateError> {
        if let Ok(repo) = gix::open(path) {
            return StateRepo::from_repo(repo);
        }
        let repo = gix::init(path).map_err(|e| StateError::Git {
            repo: path.to_owned(),
            what: "cannot create a git repository".into(),
            source: e.into(),
        })?;
        StateRepo::from_repo(repo)
    }

    fn from_repo(mut repo: gix::Repository) -> Result<StateRepo, StateError> {
        // Pins are small, similar files, so packs store them as long delta chains; a cache of
        // decoded delta bases keyed by pack offset (as git's core.deltaBaseCacheLimit) turns
        // reading thousands of them from quadratic into linear.
        repo.objects.set_pack_cache(|| {
            Box::new(gix::odb::pack::cache::lru::MemoryCappedHashmap::new(DELTA_BASE_CACHE))
        });
        let root = repo.workdir().unwrap_or_else(|| repo.git_dir()).to_owned();
        let root = fs_err::canonicalize(&root).unwrap_or(root);
        let head = repo.head_name().map_err(|e| git(&root, e))?;
        let detached = head.is_none();
        let branch = match head {
            Some(branch) => branch,
            None => FullName::try_from("HEAD").map_err(|e| git(&root, e))?,
        };
        Ok(StateRepo {
            repo,
            paths_root: root.clone(),
            root,
            branch,
            follow: true,
            detached,
            upstream_head: std::sync::Mutex::new(Lease::Unknown),
            access: GitAccess::default(),
            from_url: false,
        })
    }

    /// Mirrors the state repository at `url` into the bare repository `dir` (cloned the first
    /// time, fetched after), and opens it. A fetch that would rewrite the branch's history (not
    /// a fast-forward) is refused and the mirror keeps what it had. Relative paths in its
    /// `baton.toml` resolve against `paths_root`.
    pub fn mirror(
        url: &str,
        dir: &Path,
        paths_root: &Path,
        access: &GitAccess,
    ) -> Result<StateRepo, StateError> {
        let fail = |what: &str, e: GitError| StateError::remote(dir, what, url, e);
        let repo = if dir.join("HEAD").exists() {
            let mut repo =
                gix::open(dir).map_err(|e| fail("cannot open the mirror of", e.into()))?;
            transport::idle_cheap(&mut repo, url).map_err(|e| fail("cannot use", e))?;
            let before = StateRepo::from_repo(repo.clone())?.snapshot()?.commit;
            // The mirror's branches are the remote's branches, fetched from the URL given now.
            let remote = repo
                .remote_at(url)
                .and_then(|r| {
                    r.with_refspecs(["+refs/heads/*:refs/heads/*"], gix::remote::Direction::Fetch)
                })
                .map_err(|e| fail("cannot use", e.into()))?;
            let mut connection = remote
                .connect(gix::remote::Direction::Fetch)
                .map_err(|e| fail("cannot reach", e.into()))?;
            access.configure(&mut connection).map_err(|e| fail("cannot reach", e.into()))?;
            transport::bounded(|interrupt| {
                connection
                    .prepare_fetch(gix::progress::Discard, gix::remote::ref_map::Options::default())
                    .map_err(|e| fail("cannot fetch from", e.into()))?
                    .receive(gix::progress::Discard, interrupt)
                    .map_err(|e| fail("cannot fetch from", e.into()))
            })?;
            let mirror = StateRepo::from_repo(repo.clone())?;
            let after = mirror.snapshot()?.commit;
            if let (Some(old), Some(new)) = (before, after)
                && old != new
                && !mirror.descends_from(new, old)?
            {
                // Put the branch back where it was: the mirror never follows a rewrite.
                let edit = RefEdit {
                    change: Change::Update {
                        log: LogChange::default(),
                        expected: PreviousValue::MustExistAndMatch(Target::Object(new)),
                        new: Target::Object(old),
                    },
                    name: mirror.branch.clone(),
                    deref: false,
                };
                mirror.repo.edit_references_as([edit], None).map_err(|e| mirror.git(e))?;
                return Err(StateError::Rewritten {
                    url: without_credentials(url),
                    mirror: dir.to_owned(),
                    branch: mirror.branch(),
                    old: old.to_string(),
                    new: new.to_string(),
                });
            }
            repo
        } else {
            fs_err::create_dir_all(dir)?;
            let access = access.clone();
            let mut prepare = gix::prepare_clone_bare(url, dir)
                .map_err(|e| fail("cannot clone", e.into()))?
                .configure_connection(move |connection| access.configure(connection));
            let (repo, _) = transport::bounded(|interrupt| {
                prepare
                    .fetch_only(gix::progress::Discard, interrupt)
                    .map_err(|e| fail("cannot clone", e.into()))
            })?;
            repo
        };
        Ok(StateRepo::from_repo(repo)?.copy_of_url(paths_root, access))
    }

    /// A clone of the state repository at `url` with a work tree in `dir`, for the commands that
    /// write (`promote --state URL`): cloned the first time (into a temporary directory renamed
    /// into place, so a clone cut short is never used), then followed like any clone with an
    /// upstream, and pushed to. Relative paths of its `baton.toml` resolve against `paths_root`.
    pub fn cached_clone(
        url: &str,
        dir: &Path,
        paths_root: &Path,
        access: &GitAccess,
    ) -> Result<StateRepo, StateError> {
        if !dir.join(".git").exists() {
            let parent = dir.parent().unwrap_or(Path::new("."));
            fs_err::create_dir_all(parent)?;
            let partial = tempfile::Builder::new().prefix(".clone-").tempdir_in(parent)?;
            // gix clones without checking out (its work-tree feature is not built in), so the
            // git that pushes also clones: one program, one set of credentials.
            let target = partial.path().to_string_lossy().into_owned();
            let output = remote::run_git(
                parent,
                access,
                &["clone", "--quiet", "--no-tags", url, &target],
                &without_credentials(url),
            )?;
            if !output.status.success() {
                let said = without_credentials(String::from_utf8_lossy(&output.stderr).trim());
                return Err(StateError::remote(
                    dir,
                    "cannot clone",
                    url,
                    std::io::Error::other(said).into(),
                ));
            }
            let partial = partial.keep();
            if let Err(e) = fs_err::rename(&partial, dir) {
                // Another baton on this machine cloned it first: use that one.
                let _ = fs_err::remove_dir_all(&partial);
                if !dir.join(".git").exists() {
                    return Err(e.into());
                }
            }
        }
        Ok(StateRepo::open(dir)?.copy_of_url(paths_root, access))
    }

    /// This repository as baton's own copy of a state given as a URL: relative paths resolve
    /// against `paths_root`, relative `oci:` stores are not this machine's, fetches use `access`.
    fn copy_of_url(mut self, paths_root: &Path, access: &GitAccess) -> StateRepo {
        paths_root.clone_into(&mut self.paths_root);
        self.from_url = true;
        self.access = access.clone();
        self
    }

    /// True when `descendant` has `ancestor` in its history.
    fn descends_from(&self, descendant: ObjectId, ancestor: ObjectId) -> Result<bool, StateError> {
        for info in self.repo.rev_walk([descendant]).all().map_err(|e| self.git(e))? {
            if info.map_err(|e| self.git(e))?.id == ancestor {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// What relative paths in `baton.toml` are relative to: the work tree, or for a mirror the
    /// directory the caller chose.
    pub fn paths_root(&self) -> &Path {
        &self.paths_root
    }

    /// The work tree, or the git directory of a bare repository.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// True when this is a clone the user made (with a work tree), not baton's own copy of a
    /// state given as a URL: only then do relative `oci:` stores name folders here.
    pub fn is_users_clone(&self) -> bool {
        !self.from_url && self.repo.workdir().is_some()
    }

    /// The branch, short (`main`).
    pub fn branch(&self) -> String {
        self.branch.shorten().to_string()
    }

    /// Reads the branch head now.
    pub fn snapshot(&self) -> Result<Snapshot, StateError> {
        let reference =
            self.repo.try_find_reference(self.branch.as_ref()).map_err(|e| self.git(e))?;
        let Some(mut reference) = reference else {
            return Ok(Snapshot {
                commit: None,
                tree: ObjectId::empty_tree(self.repo.object_hash()),
            });
        };
        let id = reference.peel_to_id().map_err(|e| self.git(e))?.detach();
        let commit = self.repo.find_commit(id).map_err(|e| self.git(e))?;
        let tree = commit.tree_id().map_err(|e| self.git(e))?.detach();
        Ok(Snapshot { commit: Some(id), tree })
    }

    /// The snapshot of a given commit.
    pub fn snapshot_at(&self, commit: ObjectId) -> Result<Snapshot, StateError> {
        let found = self.repo.find_commit(commit).map_err(|e| self.git(e))?;
        let tree = found.tree_id().map_err(|e| self.git(e))?.detach();
        Ok(Snapshot { commit: Some(commit), tree })
    }

    /// Like [`StateRepo::snapshot`], but the branch must have a commit.
    pub fn head(&self) -> Result<Snapshot, StateError> {
        let snapshot = self.snapshot()?;
        if snapshot.commit.is_none() {
            return Err(StateError::Unborn { repo: self.root.clone() });
        }
        Ok(snapshot)
    }

    /// The blob id at `path` in `tree`, if it is a file.
    pub fn blob_id_in(&self, tree: ObjectId, path: &str) -> Result<Option<ObjectId>, StateError> {
        let tree = self.repo.find_tree(tree).map_err(|e| self.git(e))?;
        let entry = tree.lookup_entry_by_path(path).map_err(|e| self.git(e))?;
        Ok(entry.filter(|e| e.mode().is_blob()).map(|e| e.object_id()))
    }

    /// The blob id at `path` in the snapshot.
    pub fn blob_id(&self, snapshot: &Snapshot, path: &str) -> Result<Option<ObjectId>, StateError> {
        self.blob_id_in(snapshot.tree, path)
    }

    /// The bytes of a blob.
    pub fn blob(&self, id: ObjectId) -> Result<Vec<u8>, StateError> {
        let object = self.repo.find_object(id).map_err(|e| self.git(e))?;
        Ok(object.detach().data)
    }

    /// The bytes at `path` in the snapshot, if it is a file.
    pub fn read(&self, snapshot: &Snapshot, path: &str) -> Result<Option<Vec<u8>>, StateError> {
        self.blob_id(snapshot, path)?.map(|id| self.blob(id)).transpose()
    }

    /// The entries of directory `dir` in the snapshot: name, whether it is a directory, and id.
    pub fn list(
        &self,
        snapshot: &Snapshot,
        dir: &str,
    ) -> Result<Vec<(String, bool, ObjectId)>, StateError> {
        let root = self.repo.find_tree(snapshot.tree).map_err(|e| self.git(e))?;
        let tree = if dir.is_empty() {
            root
        } else {
            match root.lookup_entry_by_path(dir).map_err(|e| self.git(e))? {
                Some(entry) if entry.mode().is_tree() => {
                    self.repo.find_tree(entry.object_id()).map_err(|e| self.git(e))?
                }
                _ => return Ok(Vec::new()),
            }
        };
        let mut entries = Vec::new();
        for entry in tree.iter() {
            let entry = entry.map_err(|e| self.git(e))?;
            entries.push((
                entry.filename().to_str_lossy().into_owned(),
                entry.mode().is_tree(),
                entry.object_id(),
            ));
        }
        Ok(entries)
    }

    /// Every commit reachable from `tip`, newest first by commit time.
    pub fn commits(
        &self,
        tip: ObjectId,
    ) -> Result<impl Iterator<Item = Result<CommitInfo, StateError>> + '_, StateError> {
        let walk = self
            .repo
            .rev_walk([tip])
            .sorting(gix::revision::walk::Sorting::ByCommitTime(
                gix::traverse::commit::simple::CommitTimeOrder::default(),
            ))
            .all()
            .map_err(|e| self.git(e))?;
        Ok(walk.map(move |info| {
            let info = info.map_err(|e| self.git(e))?;
            self.commit_info(info.id)
        }))
    }

    /// One commit, decoded.
    pub fn commit_info(&self, id: ObjectId) -> Result<CommitInfo, StateError> {
        let commit = self.repo.find_commit(id).map_err(|e| self.git(e))?;
        let decoded = commit.decode().map_err(|e| self.git(e))?;
        let committer = decoded.committer().map_err(|e| self.git(e))?;
        let time = committer.time().map_err(|e| self.git(e))?.seconds;
        let author = decoded.author().map_err(|e| self.git(e))?;
        Ok(CommitInfo {
            id,
            time,
            message: decoded.message.to_str_lossy().into_owned(),
            parents: decoded.parents().collect(),
            tree: decoded.tree(),
            signature: decoded
                .extra_headers()
                .find("gpgsig")
                .map(|s| s.to_str_lossy().into_owned()),
            author_email: author.email.to_str_lossy().into_owned(),
        })
    }

    /// The reflog of the branch, oldest entry first: what the branch pointed to before and after
    /// each move this clone saw. Empty when the clone keeps no reflog (a bare mirror, say).
    pub fn reflog(&self) -> Result<Vec<ReflogEntry>, StateError> {
        self.reflog_of(self.branch.as_bstr().to_str_lossy().as_ref())
    }

    /// The reflog of what the team published: the upstream's remote-tracking ref, when the
    /// branch has an upstream (`None` otherwise). A local rebase or reset of commits never on
    /// the upstream does not appear there; a move of the upstream itself does.
    pub fn published_reflog(&self) -> Result<Option<Vec<ReflogEntry>>, StateError> {
        let short = self.branch();
        let (Some(remote), Some(merge)) = (
            self.config_string(&format!("branch.{short}.remote")),
            self.config_string(&format!("branch.{short}.merge")),
        ) else {
            return Ok(None);
        };
        let branch = merge.strip_prefix("refs/heads/").unwrap_or(&merge);
        self.reflog_of(&format!("refs/remotes/{remote}/{branch}")).map(Some)
    }

    fn reflog_of(&self, name: &str) -> Result<Vec<ReflogEntry>, StateError> {
        let Some(reference) = self.repo.try_find_reference(name).map_err(|e| self.git(e))? else {
            return Ok(Vec::new());
        };
        let mut platform = reference.log_iter();
        let Some(lines) = platform.all()? else { return Ok(Vec::new()) };
        let mut entries = Vec::new();
        for line in lines {
            let line = line.map_err(|e| self.git(e))?;
            entries.push(ReflogEntry {
                old: line.previous_oid(),
                new: line.new_oid(),
                time: line.signature.time().map_or(0, |t| t.seconds),
                message: line.message.to_str_lossy().into_owned(),
            });
        }
        Ok(entries)
    }

    /// The bytes git would sign for a commit: the commit object without its `gpgsig` header.
    pub fn signed_payload(&self, id: ObjectId) -> Result<Vec<u8>, StateError> {
        let commit = self.repo.find_commit(id).map_err(|e| self.git(e))?;
        let mut decoded: gix::objs::Commit =
            commit.decode().map_err(|e| self.git(e))?.try_into().map_err(|e| self.git(e))?;
        decoded.extra_headers.retain(|(k, _)| k != "gpgsig");
        let mut bytes = Vec::new();
        gix::objs::WriteTo::write_to(&decoded, &mut bytes)?;
        Ok(bytes)
    }

    /// The identity git is configured with (`user.name`, `user.email`, `GIT_COMMITTER_*`).
    pub fn configured_identity(&self) -> Option<Identity> {
        let signature = self.repo.committer()?.ok()?;
        Some(Identity {
            name: signature.name.to_str_lossy().into_owned(),
            email: signature.email.to_str_lossy().into_owned(),
        })
    }

    /// A git config value (`user.signingkey`, `gpg.format`).
    pub fn config_string(&self, key: &str) -> Option<String> {
        self.repo.config_snapshot().string(key).map(|v| v.to_str_lossy().into_owned())
    }

    /// A git config value that is a path, with `~/` expanded as git does.
    pub fn config_path(&self, key: &str) -> Option<PathBuf> {
        let config = self.repo.config_snapshot();
        let value = config.trusted_path(key).ok()??;
        Some(value)
    }

    /// Like [`StateRepo::dirty_paths`], but a difference that may be another baton's commit still
    /// being written into the work tree is looked at again once that commit is done (under the
    /// repository's lock, after finishing any sync a killed baton left): when the branch moved
    /// meanwhile the answer is `Moved` (read again), else the paths that really differ.
    pub fn settled_dirty_paths(
        &self,
        snapshot: &Snapshot,
        paths: &[String],
        dirs: &[String],
    ) -> Result<Vec<String>, StateError> {
        let dirty = self.dirty_paths(snapshot, paths, dirs)?;
        if dirty.is_empty() {
            return Ok(dirty);
        }
        let _lock = self.lock()?;
        self.finish_interrupted_sync()?;
        self.ensure_at(snapshot)?;
        self.dirty_paths(snapshot, paths, dirs)
    }

    /// `Moved` unless the branch still points where `snapshot` read it.
    fn ensure_at(&self, snapshot: &Snapshot) -> Result<(), StateError> {
        let now = self.snapshot()?;
        if now.commit == snapshot.commit {
            return Ok(());
        }
        Err(StateError::Moved {
            branch: self.branch(),
            expected: snapshot.commit.map_or_else(|| "nothing".into(), |c| c.to_string()),
            found: now.commit.map_or_else(|| "nothing".into(), |c| c.to_string()),
        })
    }

    /// Refuses a path whose way through the work tree passes a symbolic link.
    fn check_no_link_on_the_way(&self, path: &str) -> Result<(), StateError> {
        let Some(workdir) = self.repo.workdir() else { return Ok(()) };
        let mut prefix = PathBuf::new();
        let parts: Vec<&str> = path.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            prefix.push(part);
            match fs_err::symlink_metadata(workdir.join(&prefix)) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(StateError::Symlink {
                        repo: workdir.to_owned(),
                        link: prefix.to_string_lossy().into_owned(),
                        path: path.to_owned(),
                    });
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Paths among `paths` (files) and under `dirs` whose work tree or index differs from the
    /// snapshot. A bare repository has none.
    pub fn dirty_paths(
        &self,
        snapshot: &Snapshot,
        paths: &[String],
        dirs: &[String],
    ) -> Result<Vec<String>, StateError> {
        let Some(workdir) = self.repo.workdir() else {
            return Ok(Vec::new());
        };
        let mut candidates: Vec<String> = paths.to_vec();
        for dir in dirs {
            self.collect_tree_files(snapshot, dir, &mut candidates)?;
            collect_work_files(workdir, dir, &mut candidates)?;
        }
        candidates.sort();
        candidates.dedup();
        let index = self.open_index()?;
        let mut dirty = Vec::new();
        for path in candidates {
            // Never read a file through a link baton did not make.
            self.check_no_link_on_the_way(&path)?;
            let committed = self.blob_id(snapshot, &path)?;
            let on_disk = work_blob_id(&workdir.join(&path), self.repo.object_hash())?;
            let staged = index
                .as_ref()
                .and_then(|i| i.entry_by_path(BStr::new(path.as_bytes())))
                .map(|e| e.id);
            // An index that does not exist yet (right after `git init`) says nothing.
            let staged_differs = index.is_some() && staged != committed;
            if on_disk != committed || staged_differs {
                dirty.push(path);
            }
        }
        Ok(dirty)
    }

    fn collect_tree_files(
        &self,
        snapshot: &Snapshot,
        dir: &str,
        out: &mut Vec<String>,
    ) -> Result<(), StateError> {
        for (name, is_dir, _) in self.list(snapshot, dir)? {
            let path = format!("{dir}/{name}");
            if is_dir {
                self.collect_tree_files(snapshot, &path, out)?;
            } else {
                out.push(path);
            }
        }
        Ok(())
    }

    fn open_index(&self) -> Result<Option<gix::index::File>, StateError> {
        if !self.repo.index_path().exists() {
            return Ok(None);
        }
        self.repo.open_index().map(Some).map_err(|e| self.git(e))
    }

    /// Writes `changes` on top of `base` as one commit and moves the branch to it, only if the
    /// branch still points at `base` (compare-and-swap). In a non-bare repository the changed
    /// files are then written into the work tree and index. Returns the new commit.
    ///
    /// A work-tree file baton would overwrite must equal the file in `base`; otherwise nothing
    /// is written and the error names it.
    /// (Long because the steps of a compare-and-swap commit (tree, signature, ref edit, work tree)
    /// must run in this order under one lock.)
    pub fn commit(
        &self,
        base: &Snapshot,
        changes: &[FileChange],
        message: &str,
        identity: &Identity,
        time: i64,
        signer: Option<Signer<'_>>,
    ) -> Result<ObjectId, StateError> {
        self.commit_then(base, changes, message, identity, time, signer, &|_| Ok(()))
    }

    /// Like [`StateRepo::commit`], and then runs `then` with the new commit while still holding
    /// the repository's lock, so that what it does (moving a store's tag to the pinned digest)
    /// happens in the order of the commits. The commit stands whatever `then` answers; its
    /// failure is a warning naming what to do.
    #[allow(clippy::too_many_arguments)]
    pub fn commit_then(
        &self,
        base: &Snapshot,
        changes: &[FileChange],
        message: &str,
        identity: &Identity,
        time: i64,
        signer: Option<Signer<'_>>,
        then: &dyn Fn(ObjectId) -> Result<(), String>,
    ) -> Result<ObjectId, StateError> {
        if self.detached {
            return Err(StateError::Detached { repo: self.root.clone() });
        }
        let _lock = self.lock()?;
        self.finish_interrupted_sync()?;
        // Moved first: a work tree that differs from a stale base is the newer commit's files,
        // not anybody's uncommitted change.
        self.ensure_at(base)?;
        for change in changes {
            self.check_no_link_on_the_way(&change.path)?;
        }
        let paths: Vec<String> = changes.iter().map(|c| c.path.clone()).collect();
        let dirty = self.dirty_paths(base, &paths, &[])?;
        if !dirty.is_empty() {
            return Err(StateError::Dirty { repo: self.root.clone(), paths: dirty });
        }
        let (tree, pending) = self.write_tree(base, changes)?;
        let signature = gix::actor::Signature {
            name: identity.name.as_str().into(),
            email: identity.email.as_str().into(),
            time: gix::date::Time { seconds: time, offset: 0 },
        };
        let mut commit = gix::objs::Commit {
            tree,
            parents: base.commit.into_iter().collect(),
            author: signature.clone(),
            committer: signature.clone(),
            encoding: None,
            message: message.into(),
            extra_headers: Vec::new(),
        };
        if let Some(sign) = signer {
            let mut payload = Vec::new();
            gix::objs::WriteTo::write_to(&commit, &mut payload)?;
            let armored = sign(&payload).map_err(|message| self.git(message))?;
            commit.extra_headers.push(("gpgsig".into(), armored.into()));
        }
        let id = self.repo.write_object(&commit).map_err(|e| self.git(e))?.detach();
        let expected = match base.commit {
            Some(parent) => PreviousValue::MustExistAndMatch(Target::Object(parent)),
            None => PreviousValue::MustNotExist,
        };
        let subject = message.lines().next().unwrap_or_default();
        let edit = RefEdit {
            change: Change::Update {
                log: LogChange {
                    mode: RefLog::AndReference,
                    force_create_reflog: false,
                    message: format!("baton: {subject}").into(),
                },
                expected,
                new: Target::Object(id),
            },
            name: self.branch.clone(),
            deref: false,
        };
        // The reflog line names the same identity as the commit (git's config may have none).
        let mut time_text = gix::date::parse::TimeBuf::default();
        let reflog_committer = gix::actor::SignatureRef {
            name: signature.name.as_ref(),
            email: signature.email.as_ref(),
            time: signature.time.to_str(&mut time_text),
        };
        // Published first: the local branch moves only to a commit the upstream took.
        self.publish(id)?;
        // Written before the branch moves, removed once the work tree and index follow it: a
        // baton killed in between leaves it, and the next writer finishes the sync.
        let has_workdir = self.repo.workdir().is_some();
        if has_workdir {
            self.write_sync_marker(id, &pending)?;
        }
        if let Err(error) = self.repo.edit_references_as([edit], Some(reflog_committer)) {
            if has_workdir {
                self.remove_sync_marker()?;
            }
            self.ensure_at(base)?;
            return Err(self.git(error));
        }
        if has_workdir {
            match self.sync_workdir(tree, changes) {
                Ok(()) => self.remove_sync_marker()?,
                // The commit stands: say so, and leave the marker for the next writer.
                Err(error) => tracing::warn!(
                    commit = %id,
                    "committed, but the work tree and index were not updated ({error}): the next baton command that writes here brings them up to date, or run `git reset --keep HEAD`"
                ),
            }
        }
        if let Err(error) = then(id) {
            tracing::warn!(commit = %id, "committed, but {error}");
        }
        Ok(id)
    }

    /// Writes the tree of `base` with `changes`; returns it and, per path, the blob before and
    /// after.
    fn write_tree(
        &self,
        base: &Snapshot,
        changes: &[FileChange],
    ) -> Result<(ObjectId, Vec<Pending>), StateError> {
        let mut editor = self.repo.edit_tree(base.tree).map_err(|e| self.git(e))?;
        let mut pending = Vec::new();
        for change in changes {
            let before = self.blob_id(base, &change.path)?;
            let after = if let Some(bytes) = &change.content {
                let blob = self.repo.write_blob(bytes).map_err(|e| self.git(e))?;
                editor
                    .upsert(change.path.as_str(), gix::object::tree::EntryKind::Blob, blob)
                    .map_err(|e| self.git(e))?;
                Some(blob.detach())
            } else {
                editor.remove(change.path.as_str()).map_err(|e| self.git(e))?;
                None
            };
            pending.push((change.path.clone(), before, after));
        }
        Ok((editor.write().map_err(|e| self.git(e))?.detach(), pending))
    }

    /// Pushes `id` to the branch's upstream, when it has one, with a lease on the head the last
    /// successful sync read (syncing first when none did).
    fn publish(&self, id: ObjectId) -> Result<(), StateError> {
        if self.upstream().is_none() {
            return Ok(());
        }
        let publishing = if let Some(publishing) = self.publishing() {
            Some(publishing)
        } else {
            self.sync_with_upstream()?;
            self.publishing()
        };
        match publishing {
            Some((upstream, lease)) => self.push(&upstream, id, lease),
            None => Ok(()),
        }
    }

    fn sync_marker(&self) -> PathBuf {
        self.repo.git_dir().join("baton-sync")
    }

    /// Records the commit being made and, per path, the blob before and after it.
    fn write_sync_marker(&self, commit: ObjectId, pending: &[Pending]) -> Result<(), StateError> {
        use std::fmt::Write as _;
        let id = |o: &Option<ObjectId>| o.map_or_else(|| "-".into(), |o| o.to_string());
        let mut text = format!("{commit}\n");
        for (path, before, after) in pending {
            let _ = writeln!(text, "{} {} {path}", id(before), id(after));
        }
        Ok(baton_fs::write_atomic(&self.sync_marker(), text.as_bytes())?)
    }

    fn remove_sync_marker(&self) -> Result<(), StateError> {
        match fs_err::remove_file(self.sync_marker()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Finishes the work-tree sync of a baton commit that was killed (or refused by another
    /// git's `index.lock`) after it moved the branch: each file still as it was before that
    /// commit (or already as after it), in the work tree and the index, is brought to the
    /// commit's content; a file someone changed since is left for the dirty check to name.
    /// A marker of a commit the branch does not hold (the branch never moved) is dropped.
    fn finish_interrupted_sync(&self) -> Result<(), StateError> {
        let text = match fs_err::read_to_string(self.sync_marker()) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let parse = |t: &str| -> Option<ObjectId> { ObjectId::from_hex(t.as_bytes()).ok() };
        let mut lines = text.lines();
        let commit = lines.next().and_then(parse);
        let head = self.snapshot()?;
        let on_branch = match (commit, head.commit) {
            (Some(commit), Some(tip)) => self.descends_from(tip, commit)?,
            _ => false,
        };
        let Some(workdir) = self.repo.workdir().map(Path::to_owned) else { return Ok(()) };
        if on_branch {
            let index = self.open_index()?;
            let mut changes = Vec::new();
            for line in lines {
                let mut parts = line.splitn(3, ' ');
                let (Some(before), Some(after), Some(path)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                let (before, after) = (parse(before), parse(after));
                let on_disk = work_blob_id(&workdir.join(path), self.repo.object_hash())?;
                let staged = index
                    .as_ref()
                    .and_then(|i| i.entry_by_path(BStr::new(path.as_bytes())))
                    .map(|e| e.id);
                let untouched = |found: Option<ObjectId>| found == before || found == after;
                if untouched(on_disk) && untouched(staged) && (on_disk != after || staged != after)
                {
                    let content = after.map(|id| self.blob(id)).transpose()?;
                    changes.push(FileChange { path: path.to_owned(), content });
                }
            }
            if !changes.is_empty() {
                tracing::info!(
                    files = changes.len(),
                    "finishing the work-tree sync of an interrupted baton commit"
                );
                self.sync_workdir(head.tree, &changes)?;
            }
        }
        self.remove_sync_marker()
    }

    /// Writes the changed files into the work tree (temp file, fsync, rename) and the index.
    fn sync_workdir(&self, tree: ObjectId, changes: &[FileChange]) -> Result<(), StateError> {
        let workdir = self.repo.workdir().expect("holds because the caller checked").to_owned();
        for change in changes {
            let path = workdir.join(&change.path);
            match &change.content {
                Some(bytes) => {
                    fs_err::create_dir_all(baton_fs::parent_of(&path))?;
                    baton_fs::write_atomic(&path, bytes)?;
                }
                None => match fs_err::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                },
            }
        }
        let mut index = if let Some(index) = self.open_index()? {
            index
        } else {
            {
                let state = gix::index::State::from_tree(
                    &tree,
                    &self.repo.objects,
                    gix::validate::path::component::Options::default(),
                )
                .map_err(|e| self.git(e))?;
                let mut index = gix::index::File::from_state(state, self.repo.index_path());
                // Every entry came from the tree: record the stat of the file on disk, so that
                // `git status` need not re-hash them.
                let paths: Vec<String> = index
                    .entries()
                    .iter()
                    .map(|e| e.path(&index).to_str_lossy().into_owned())
                    .collect();
                for (entry, path) in index.entries_mut().iter_mut().zip(paths) {
                    if let Ok(stat) = stat_of(&workdir.join(path)) {
                        entry.stat = stat;
                    }
                }
                index
            }
        };
        for change in changes {
            let path = BStr::new(change.path.as_bytes());
            match &change.content {
                Some(bytes) => {
                    let id = gix::objs::compute_hash(
                        self.repo.object_hash(),
                        gix::objs::Kind::Blob,
                        bytes,
                    )
                    .map_err(|e| self.git(e))?;
                    let stat = stat_of(&workdir.join(&change.path))?;
                    if let Some(entry) = index
                        .entry_mut_by_path_and_stage(path, gix::index::entry::Stage::Unconflicted)
                    {
                        entry.id = id;
                        entry.stat = stat;
                        entry.mode = gix::index::entry::Mode::FILE;
                    } else {
                        index.dangerously_push_entry(
                            stat,
                            id,
                            gix::index::entry::Flags::empty(),
                            gix::index::entry::Mode::FILE,
                            path,
                        );
                        index.sort_entries();
                    }
                }
                None => index.remove_entries(|_, p, _| p == path),
            }
        }
        index.remove_tree();
        index.write(gix::index::write::Options::default()).map_err(|e| self.git(e))?;
        Ok(())
    }

    /// Serialises writers of this repository on this machine (`baton.lock` in the git dir);
    /// compare-and-swap on the branch still guards against every other writer.
    fn lock(&self) -> Result<baton_fs::LockFile, StateError> {
        Ok(baton_fs::LockFile::acquire(&self.repo.git_dir().join("baton.lock"))?)
    }

    fn git(&self, error: impl Into<GitError>) -> StateError {
        git(&self.root, error)
    }
}

/// A path a commit changes, with its blob before and after (`None`: no file).
type Pending = (String, Option<ObjectId>, Option<ObjectId>);

fn git(root: &Path, error: impl Into<GitError>) -> StateError {
    StateError::Git { repo: root.to_owned(), what: "git failed".into(), source: error.into() }
}

/// Says what actually happened when gix found no repository at or above `start`: a directory
/// that cannot be read, a `.git` that cannot be opened (corrupt, not trusted), or none at all.
fn why_not_found(start: &Path, source: GitError) -> StateError {
    let start_abs = std::path::absolute(start).unwrap_or_else(|_| start.to_owned());
    for dir in start_abs.ancestors() {
        if let Err(source) = fs_err::read_dir(dir) {
            return StateError::Unreadable { path: dir.to_owned(), source };
        }
        let dot_git = dir.join(".git");
        if fs_err::symlink_metadata(&dot_git).is_ok() {
            return StateError::Broken { git_dir: dot_git, work_tree: dir.to_owned(), source };
        }
    }
    StateError::NotFound { start: start.to_owned() }
}

fn stat_of(path: &Path) -> Result<gix::index::entry::Stat, StateError> {
    let metadata = gix::index::fs::Metadata::from_path_no_follow(path)?;
    gix::index::entry::Stat::from_fs(&metadata)
        .map_err(|e| StateError::Io(std::io::Error::other(e)))
}

/// The blob id of a work-tree file, `None` when it does not exist.
fn work_blob_id(path: &Path, kind: gix::hash::Kind) -> Result<Option<ObjectId>, StateError> {
    match fs_err::read(path) {
        Ok(bytes) => Ok(Some(
            gix::objs::compute_hash(kind, gix::objs::Kind::Blob, &bytes)
                .map_err(|e| StateError::Io(std::io::Error::other(e.to_string())))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn collect_work_files(workdir: &Path, dir: &str, out: &mut Vec<String>) -> Result<(), StateError> {
    let entries = match fs_err::read_dir(workdir.join(dir)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{dir}/{name}");
        if entry.file_type()?.is_dir() {
            collect_work_files(workdir, &path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

mod remote;
mod transport;
use remote::Lease;
pub use remote::{Synced, Upstream, without_credentials};
pub use transport::{GitAccess, GitToken};
#[cfg(test)]
mod tests;
