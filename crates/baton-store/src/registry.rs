//! The registry store (`HOST[:PORT]/PATH`): bundles in repositories `PATH/NAME` of any OCI
//! distribution registry, through oci-client. Its interface is synchronous, like the layout
//! store's; an internal tokio runtime drives the HTTP calls, and blobs stream both ways.

use std::{
    io::{self, Read},
    path::{Path, PathBuf},
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use baton_model::{BlobSource, BundleName, Digest, Selector, oci};
use futures_util::TryStreamExt;
use oci_client::errors::OciDistributionError;
use oci_client::{
    Client, Reference, RegistryOperation,
    client::{ClientConfig, ClientProtocol},
    secrets::RegistryAuth,
};
use tokio::runtime::Runtime;
use tokio_util::io::{ReaderStream, StreamReader, SyncIoBridge};

use crate::{
    Listed, StoreError, Stored,
    auth::{AuthConfig, Credential, find_credential},
};

/// What a transfer reports as it goes; for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressEvent {
    /// The bytes the whole transfer will account for, known once the manifest is read.
    Total(u64),
    /// This many more bytes are done (sent, or found already there).
    Bytes(u64),
}

/// Called as a transfer goes; for progress bars.
pub type Progress = Arc<dyn Fn(ProgressEvent) + Send + Sync>;

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Where credentials are looked up.
    pub auth: AuthConfig,
    /// Hosts reached over plain HTTP besides loopback ones (`--insecure-registry`).
    pub insecure: Vec<String>,
    /// How many times a transient failure is retried.
    pub retries: u32,
    /// Upload in PATCH chunks always, instead of one streamed PUT with a chunked fallback.
    pub chunked_uploads: bool,
    /// How long a request may take.
    pub timeouts: Timeouts,
    /// Where the certificates of registries with a private CA are: PEM files trusted for every
    /// registry (`--registry-ca`), and `certs.d` directories holding `HOST[:PORT]/*.crt` as
    /// docker and podman keep them.
    pub trust: Trust,
}

/// CA certificates trusted besides the system's, as the container tools find them.
#[derive(Clone, Debug, Default)]
pub struct Trust {
    /// PEM files trusted for every registry.
    pub ca_files: Vec<PathBuf>,
    /// `certs.d` directories: `DIR/HOST[:PORT]/*.crt` are trusted for that host.
    pub certs_dirs: Vec<PathBuf>,
}

/// The largest CA file read.
const CA_FILE_LIMIT: u64 = 4 << 20;

impl Trust {
    /// The PEM files that apply to `host`: every `--registry-ca`, then `HOST/*.crt` of each
    /// `certs.d` in name order.
    fn files_for(&self, host: &str) -> Vec<PathBuf> {
        let mut files = self.ca_files.clone();
        for dir in &self.certs_dirs {
            let Ok(entries) = fs_err::read_dir(dir.join(host)) else { continue };
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "crt"))
                .collect();
            found.sort();
            files.extend(found);
        }
        files
    }

    /// The certificates of [`Trust::files_for`]: each file's PEM text (for oci-client, which
    /// parses its own) and its certificates, parsed once (for baton's manifest client).
    fn certificates_for(&self, host: &str) -> Result<Vec<TrustedFile>, StoreError> {
        self.files_for(host)
            .into_iter()
            .map(|path| {
                let pem = baton_fs::read_limited(&path, CA_FILE_LIMIT)?;
                match reqwest::Certificate::from_pem_bundle(&pem) {
                    Ok(certificates) if !certificates.is_empty() => {
                        Ok(TrustedFile { pem, certificates })
                    }
                    _ => Err(StoreError::Io(io::Error::other(format!(
                        "`{}` holds no PEM certificate: give --registry-ca a CA certificate in PEM form",
                        path.display()
                    )))),
                }
            })
            .collect()
    }
}

/// One CA file that applies to a registry.
struct TrustedFile {
    pem: Vec<u8>,
    certificates: Vec<reqwest::Certificate>,
}

/// How long a registry request may take: to connect, between two reads, and in all (a blob's
/// body included). A registry that accepts and never answers fails after `read`; one that drips
/// fails after `total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// To open the connection.
    pub connect: Duration,
    /// Between two reads of an answer.
    pub read: Duration,
    /// For the whole request, its answer's body included.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(30),
            total: Duration::from_secs(600),
        }
    }
}

/// The largest manifest baton reads, counted while it streams in.
const MANIFEST_LIMIT: usize = 4 << 20;

/// The longest `Retry-After` honoured; a registry asking for more is retried after this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A registry store: `HOST[:PORT]/PATH`.
pub struct RegistryStore {
    host: String,
    path: String,
    client: Client,
    /// Uploads in PATCH chunks, for registries that refuse a single streamed PUT.
    chunked: Client,
    /// `client` and `chunked` for a registry that asked for no credentials, used without any:
    /// a client that was given credentials asks `/v2/` before every request that has no token
    /// cached, and an open registry never gives one.
    bare: Client,
    bare_chunked: Client,
    /// Every upload goes chunked (`--chunked-uploads`), not only after a refused PUT.
    always_chunked: bool,
    auth: RegistryAuth,
    auth_source: String,
    runtime: Arc<Runtime>,
    retries: u32,
    timeouts: Timeouts,
    /// Hosts reached over plain HTTP.
    plain: Vec<String>,
    /// baton's own requests (manifests), bounded while they stream.
    http: reqwest::Client,
    /// The delay a registry asked for with `Retry-After`, taken by the next retry.
    retry_after: Mutex<Option<Duration>>,
    /// The registry's `/v2/` asked for no credentials: oci-client then never authenticates to
    /// it, so baton stops asking (each ask is a request).
    open: std::sync::atomic::AtomicBool,
}

/// The content type of manifest `bytes`: an image index when its `mediaType` says so.
fn manifest_content_type(bytes: &[u8]) -> &'static str {
    let index = serde_json::from_slice::<oci::Index>(bytes)
        .is_ok_and(|i| i.media_type.as_deref() == Some(oci::INDEX_MEDIA_TYPE));
    if index { oci::INDEX_MEDIA_TYPE } else { oci::MANIFEST_MEDIA_TYPE }
}

/// True for hosts that are reached over plain HTTP without being asked: loopback only.
fn is_loopback(host: &str) -> bool {
    let name = if host.starts_with('[') {
        host.split(']').next().map_or(host, |h| h.trim_start_matches('['))
    } else {
        host.split(':').next().unwrap_or(host)
    };
    name == "localhost" || name == "::1" || name.starts_with("127.")
}

impl RegistryStore {
    /// Opens the store `host/path`, looking up its credential.
    pub fn connect(
        host: &str,
        path: &str,
        options: &RegistryOptions,
    ) -> Result<RegistryStore, StoreError> {
        // rustls needs one crypto provider per process; a second install is refused, harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let found = find_credential(&options.auth, host)?;
        let auth = match found.credential {
            Credential::Anonymous => RegistryAuth::Anonymous,
            Credential::Basic { username, password } => RegistryAuth::Basic(username, password),
            Credential::IdentityToken(token) => RegistryAuth::Bearer(token),
        };
        let certificates = options.trust.certificates_for(host)?;
        let mut plain: Vec<String> = options.insecure.clone();
        // A loopback registry speaks plain HTTP, unless a CA is given for it: then it is
        // reached over HTTPS like any other.
        if is_loopback(host) && certificates.is_empty() {
            plain.push(host.to_owned());
        }
        let extra_root_certificates: Vec<oci_client::client::Certificate> = certificates
            .iter()
            .map(|file| oci_client::client::Certificate {
                encoding: oci_client::client::CertificateEncoding::Pem,
                data: file.pem.clone(),
            })
            .collect();
        let roots: Vec<reqwest::Certificate> =
            certificates.into_iter().flat_map(|file| file.certificates).collect();
        let timeouts = options.timeouts;
        let config = |monolithic: bool| ClientConfig {
            protocol: ClientProtocol::HttpsExcept(plain.clone()),
            use_monolithic_push: monolithic,
            connect_timeout: Some(timeouts.connect),
            read_timeout: Some(timeouts.read),
            extra_root_certificates: extra_root_certificates.clone(),
            ..ClientConfig::default()
        };
        let http = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .read_timeout(timeouts.read)
            .tls_certs_merge(roots)
            .build()
            .map_err(|e| StoreError::Io(io::Error::other(e)))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(StoreError::Io)?;
        Ok(RegistryStore {
            host: host.to_owned(),
            path: path.to_owned(),
            client: Client::new(config(true)),
            chunked: Client::new(config(false)),
            bare: Client::new(config(true)),
            bare_chunked: Client::new(config(false)),
            always_chunked: options.chunked_uploads,
            auth,
            auth_source: found.source,
            runtime: Arc::new(runtime),
            retries: options.retries,
            timeouts,
            plain,
            http,
            retry_after: Mutex::new(None),
            open: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The store as text, `HOST[:PORT]/PATH`.
    pub fn location(&self) -> String {
        if self.path.is_empty() {
            self.host.clone()
        } else {
            format!("{}/{}", self.host, self.path)
        }
    }

    /// The registry host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The repository of bundle `name`.
    pub fn repository(&self, name: &BundleName) -> String {
        if self.path.is_empty() { name.to_string() } else { format!("{}/{name}", self.path) }
    }

    fn reference(&self, name: &BundleName, selector: &Selector) -> Reference {
        match selector {
            Selector::Tag(tag) => {
                Reference::with_tag(self.host.clone(), self.repository(name), tag.clone())
            }
            Selector::Digest(digest) => {
                Reference::with_digest(self.host.clone(), self.repository(name), digest.to_string())
            }
        }
    }

    fn error(
        &self,
        operation: &str,
        error: &oci_client::errors::OciDistributionError,
    ) -> StoreError {
        use oci_client::errors::OciDistributionError as E;
        // The whole chain: reqwest keeps the useful part ("connection refused") in its sources.
        let mut text = match error {
            E::GenericError(Some(message)) => message.clone(),
            _ => error.to_string(),
        };
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !text.contains(&cause_text) {
                text = format!("{text}: {cause_text}");
            }
            source = cause.source();
        }
        if let E::RequestError(e) = error
            && e.is_timeout()
        {
            text = format!(
                "{text} (no answer within {}s to connect or {}s between reads; --registry-connect-timeout and --registry-read-timeout set them)",
                self.timeouts.connect.as_secs(),
                self.timeouts.read.as_secs()
            );
        }
        if is_transient(error) && self.retries > 0 {
            text = format!("{text} (after {} attempts)", self.retries + 1);
        }
        let unauthorized = match error {
            E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => true,
            E::ServerError { code, .. } => *code == 401 || *code == 403,
            E::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
                matches!(
                    e.code,
                    oci_client::errors::OciErrorCode::Unauthorized
                        | oci_client::errors::OciErrorCode::Denied
                )
            }),
            _ => false,
        };
        StoreError::Registry {
            store: self.location(),
            operation: operation.to_owned(),
            message: if unauthorized {
                format!(
                    "{text} (credential: {}); log in with `docker login {}`, or point DOCKER_CONFIG or \
                     REGISTRY_AUTH_FILE at a config that holds a credential for it",
                    self.auth_source, self.host
                )
            } else {
                text
            },
        }
    }

    /// Runs a registry call on the store's runtime, each attempt within the total timeout,
    /// retrying transient failures (connection refused or reset, read timeouts, 429 and 5xx
    /// answers) after the registry's `Retry-After` or exponential backoff with jitter. An
    /// interrupt (the agent's SIGTERM) ends the call and any wait at once.
    fn run<T, F, Fut>(&self, call: F) -> Result<T, OciDistributionError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, OciDistributionError>>,
    {
        self.run_retrying(call, |_| false)
    }

    /// [`RegistryStore::run`], also retrying the answers `also` names.
    fn run_retrying<T, F, Fut>(
        &self,
        call: F,
        also: impl Fn(&OciDistributionError) -> bool,
    ) -> Result<T, OciDistributionError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, OciDistributionError>>,
    {
        let total = self.timeouts.total;
        let mut attempt = 0;
        loop {
            let result = self.runtime.block_on(async {
                tokio::select! {
                    biased;
                    () = crate::interrupt::interrupted() => Err(interrupted()),
                    result = tokio::time::timeout(total, call()) => {
                        result.unwrap_or_else(|_| Err(over_total(total)))
                    }
                }
            });
            match result {
                Err(error) if attempt < self.retries && (is_transient(&error) || also(&error)) => {
                    let asked = self.retry_after.lock().ok().and_then(|mut d| d.take());
                    let delay = asked.map_or_else(|| backoff(attempt), |d| d.min(MAX_RETRY_AFTER));
                    tracing::warn!(registry = %self.host, attempt = attempt + 1, ?delay, %error, "transient failure; retrying");
                    let interrupted_meanwhile = self.runtime.block_on(async {
                        tokio::select! {
                            () = crate::interrupt::interrupted() => true,
                            () = tokio::time::sleep(delay) => false,
                        }
                    });
                    if interrupted_meanwhile {
                        return Err(interrupted());
                    }
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// Sends `method` for a manifest with baton's own client, authenticated as oci-client would.
    /// Returns the response, or the registry's error (remembering a `Retry-After` it sends with a
    /// 429 or 503).
    async fn manifest_request(
        &self,
        method: reqwest::Method,
        reference: &Reference,
    ) -> Result<reqwest::Response, OciDistributionError> {
        self.manifest_call(method, reference, None).await
    }

    /// [`RegistryStore::manifest_request`], or with `upload` (the bytes and their media type) a
    /// PUT of them, authenticated to push.
    async fn manifest_call(
        &self,
        method: reqwest::Method,
        reference: &Reference,
        upload: Option<(&[u8], &http::HeaderValue)>,
    ) -> Result<reqwest::Response, OciDistributionError> {
        let operation =
            if upload.is_some() { RegistryOperation::Push } else { RegistryOperation::Pull };
        let token = self.token(&self.client, reference, operation).await?;
        let registry = reference.resolve_registry();
        let scheme = if self.plain.iter().any(|h| h == registry) { "http" } else { "https" };
        let selector = reference.digest().or(reference.tag()).unwrap_or("latest");
        let url =
            format!("{scheme}://{registry}/v2/{}/manifests/{selector}", reference.repository());
        let mut request = self.http.request(method, &url).header(
            http::header::ACCEPT,
            format!("{}, {}", oci::MANIFEST_MEDIA_TYPE, oci::INDEX_MEDIA_TYPE),
        );
        request = match (token, &self.auth) {
            (Some(token), _) => request.bearer_auth(token),
            (None, RegistryAuth::Basic(user, password)) => request.basic_auth(user, Some(password)),
            (None, _) => request,
        };
        if let Some((bytes, content_type)) = upload {
            request = request.header(http::header::CONTENT_TYPE, content_type).body(bytes.to_vec());
        }
        let mut response = request.send().await?;
        let status = response.status();
        if !status.is_success() {
            if status.as_u16() == 429 || status.as_u16() == 503 {
                let asked = response
                    .headers()
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(retry_after);
                if let (Some(asked), Ok(mut slot)) = (asked, self.retry_after.lock()) {
                    *slot = Some(asked);
                }
            }
            let mut message = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                message.extend_from_slice(&chunk);
                if message.len() > 4096 {
                    message.truncate(4096);
                    break;
                }
            }
            return Err(OciDistributionError::ServerError {
                code: status.as_u16(),
                url,
                message: String::from_utf8_lossy(&message).into_owned(),
            });
        }
        Ok(response)
    }

    /// The digest of a manifest, from a HEAD's `Docker-Content-Digest` (or, where a registry
    /// sends none, from the manifest itself).
    async fn head_manifest(&self, reference: &Reference) -> Result<String, OciDistributionError> {
        let header = match self.manifest_request(reqwest::Method::HEAD, reference).await {
            Ok(response) => response
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            Err(e) if is_not_found(&e) => return Err(e),
            // A HEAD's refusal has no body to say why; the GET below has.
            Err(_) => None,
        };
        match header {
            Some(digest) => Ok(digest),
            None => Ok(Digest::of(&self.get_manifest(reference).await?).to_string()),
        }
    }

    /// GETs a manifest with baton's own client, reading at most 4 MiB as it streams in.
    async fn get_manifest(&self, reference: &Reference) -> Result<Vec<u8>, OciDistributionError> {
        let mut response = self.manifest_request(reqwest::Method::GET, reference).await?;
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if bytes.len() + chunk.len() > MANIFEST_LIMIT {
                return Err(OciDistributionError::GenericError(Some(format!(
                    "the manifest is larger than {MANIFEST_LIMIT} bytes: refused"
                ))));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    /// Bounds a blob's body stream by the total timeout (counted from `started`) and the
    /// interrupt.
    fn guard(
        &self,
        stream: futures_util::stream::BoxStream<'static, io::Result<bytes::Bytes>>,
        started: tokio::time::Instant,
    ) -> Guarded {
        let _entered = self.runtime.enter();
        Guarded {
            inner: stream,
            deadline: Box::pin(tokio::time::sleep_until(started + self.timeouts.total)),
            interrupted: Box::pin(crate::interrupt::interrupted()),
            total: self.timeouts.total,
        }
    }

    /// Runs `upload` as one streamed PUT, and again in PATCH chunks when the registry refuses
    /// the PUT (or always in chunks with `--chunked-uploads`). The outer error is authentication's.
    fn upload_with_fallback<T>(
        &self,
        reference: &Reference,
        upload: impl Fn(&Client) -> Result<T, OciDistributionError>,
    ) -> Result<Result<T, OciDistributionError>, StoreError> {
        if !self.always_chunked {
            match upload(self.oci()) {
                Err(e) if refuses_single_put(&e) => {
                    tracing::warn!(registry = %self.host, error = %e, "the registry refused a single-PUT upload; uploading in chunks");
                }
                result => return Ok(result),
            }
        }
        self.authenticate_with(self.oci_chunked(), reference, RegistryOperation::Push)?;
        Ok(upload(self.oci_chunked()))
    }

    /// `UnknownDigest` when the registry answered "not found", else the registry's error.
    fn missing_or(
        &self,
        error: &OciDistributionError,
        name: &BundleName,
        digest: &Digest,
        operation: &str,
    ) -> StoreError {
        if is_not_found(error) {
            StoreError::UnknownDigest {
                store: self.location(),
                name: name.to_string(),
                digest: digest.clone(),
            }
        } else {
            self.error(operation, error)
        }
    }

    /// The token `client` holds or gets for `operation` on `reference`; none, without a request,
    /// once the registry has shown it asks for no credentials.
    async fn token(
        &self,
        client: &Client,
        reference: &Reference,
        operation: RegistryOperation,
    ) -> Result<Option<String>, OciDistributionError> {
        use std::sync::atomic::Ordering;
        if self.open.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let token = client.auth(reference, &self.auth, operation).await?;
        if token.is_none() {
            self.open.store(true, Ordering::Relaxed);
        }
        Ok(token)
    }

    /// The oci-client for requests that take no credentials of their own: the bare one once the
    /// registry has shown it wants none and baton has none to give.
    fn oci(&self) -> &Client {
        if self.anonymous_and_open() { &self.bare } else { &self.client }
    }

    /// [`RegistryStore::oci`] for chunked uploads.
    fn oci_chunked(&self) -> &Client {
        if self.anonymous_and_open() { &self.bare_chunked } else { &self.chunked }
    }

    fn anonymous_and_open(&self) -> bool {
        matches!(self.auth, RegistryAuth::Anonymous)
            && self.open.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn authenticate_with(
        &self,
        client: &Client,
        reference: &Reference,
        operation: RegistryOperation,
    ) -> Result<(), StoreError> {
        self.run(|| self.token(client, reference, operation))
            .map(|_| ())
            .map_err(|e| self.error("authenticate", &e))
    }

    fn authenticate(
        &self,
        reference: &Reference,
        operation: RegistryOperation,
    ) -> Result<(), StoreError> {
        self.authenticate_with(&self.client, reference, operation)
    }

    /// Resolves a tag or digest of bundle `name` to the manifest digest the registry holds.
    pub fn resolve(&self, name: &BundleName, selector: &Selector) -> Result<Digest, StoreError> {
        let reference = self.reference(name, selector);
        self.authenticate(&reference, RegistryOperation::Pull)?;
        let text = self.run(|| self.head_manifest(&reference)).map_err(|e| match selector {
            Selector::Tag(tag) if is_not_found(&e) => StoreError::UnknownTag {
                store: self.location(),
                name: name.to_string(),
                tag: tag.clone(),
            },
            Selector::Digest(digest) if is_not_found(&e) => StoreError::UnknownDigest {
                store: self.location(),
                name: name.to_string(),
                digest: digest.clone(),
            },
            _ => self.error(&format!("resolve {}", reference.whole()), &e),
        })?;
        text.parse().map_err(|_| StoreError::Registry {
            store: self.location(),
            operation: format!("resolve {}", reference.whole()),
            message: format!("the registry answered digest `{text}`, which baton does not accept"),
        })
    }

    /// Fetches manifest bytes exactly as stored and checks them against `digest`.
    pub fn read_manifest(&self, name: &BundleName, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let reference = self.reference(name, &Selector::Digest(digest.clone()));
        self.authenticate(&reference, RegistryOperation::Pull)?;
        let bytes = self.run(|| self.get_manifest(&reference)).map_err(|e| {
            self.missing_or(&e, name, digest, &format!("fetch manifest {}", reference.whole()))
        })?;
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(StoreError::Corrupt {
                store: self.location(),
                digest: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// True when the repository of `name` holds blob `digest`.
    pub fn has_blob(&self, name: &BundleName, digest: &Digest) -> Result<bool, StoreError> {
        let reference = self.reference(name, &Selector::Digest(digest.clone()));
        self.authenticate(&reference, RegistryOperation::Pull)?;
        {
            let digest_text = digest.to_string();
            self.run(|| self.oci().blob_exists(&reference, &digest_text))
        }
        .map_err(|e| self.error(&format!("check blob {digest}"), &e))
    }

    /// Opens blob `digest` of `name` as a stream; the caller re-hashes what it reads.
    pub fn open_blob(
        &self,
        name: &BundleName,
        digest: &Digest,
    ) -> Result<Box<dyn Read + Send>, StoreError> {
        let reference = self.reference(name, &Selector::Digest(digest.clone()));
        self.authenticate(&reference, RegistryOperation::Pull)?;
        let digest_text = digest.to_string();
        let started = self.runtime.block_on(async { tokio::time::Instant::now() });
        let stream = self
            .run(|| self.oci().pull_blob_stream(&reference, digest_text.as_str()))
            .map_err(|e| self.missing_or(&e, name, digest, &format!("fetch blob {digest}")))?;
        // oci-client checks the digest as the stream ends; its mismatch is bad data, not a failing
        // source, so callers report it as a finding (the kind is all they look at).
        let reader = StreamReader::new(self.guard(stream.stream, started).map_err(|e| {
            if e.to_string().starts_with("Invalid digest") {
                io::Error::new(io::ErrorKind::InvalidData, e.to_string())
            } else {
                e
            }
        }));
        Ok(Box::new(SyncIoBridge::new_with_handle(reader, self.runtime.handle().clone())))
    }

    /// Uploads a small blob held in memory (a signature's payload, an attestation).
    pub fn put_blob(&self, name: &BundleName, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of(bytes);
        if self.has_blob(name, &digest)? {
            return Ok(digest);
        }
        let reference = self.reference(name, &Selector::Digest(digest.clone()));
        self.authenticate(&reference, RegistryOperation::Push)?;
        let digest_text = digest.to_string();
        self.run(|| self.oci().push_blob(&reference, bytes.to_vec(), &digest_text))
            .map_err(|e| self.error(&format!("upload blob {digest}"), &e))?;
        Ok(digest)
    }

    /// Uploads the file at `path` as blob `digest` of `size` bytes, in one streamed PUT.
    pub fn push_blob_file(
        &self,
        name: &BundleName,
        digest: &Digest,
        size: u64,
        path: &Path,
        progress: &Progress,
    ) -> Result<(), StoreError> {
        let reference = self.reference(name, &Selector::Digest(digest.clone()));
        self.authenticate(&reference, RegistryOperation::Push)?;
        let path = path.to_owned();
        let digest_text = digest.to_string();
        let upload = |client: &Client| {
            self.run(|| async {
                let file =
                    tokio::fs::File::open(&path).await.map_err(OciDistributionError::IoError)?;
                let progress = Arc::clone(progress);
                let stream = ReaderStream::with_capacity(file, 256 * 1024)
                    .inspect_ok(move |chunk| progress(ProgressEvent::Bytes(chunk.len() as u64)))
                    .map_err(OciDistributionError::IoError);
                client.push_blob_stream(&reference, stream, &digest_text, Some(size)).await
            })
        };
        match self.upload_with_fallback(&reference, upload)? {
            Ok(_) => Ok(()),
            Err(e) => {
                // The registry checks the digest of what it receives; only when it refuses is the
                // source re-hashed, so that a corrupt blob in the layout is named as such.
                let actual = baton_fs::hash_file(&path)?;
                if &actual == digest {
                    Err(self.error(&format!("upload blob {digest}"), &e))
                } else {
                    Err(StoreError::Corrupt {
                        store: format!("oci:{}", path.display()),
                        digest: digest.clone(),
                        actual,
                    })
                }
            }
        }
    }

    /// Streams blob `digest` of `name` from another registry store into this one; both ends
    /// check the digest (oci-client while pulling, the registry when the upload completes).
    pub fn push_blob_from(
        &self,
        name: &BundleName,
        digest: &Digest,
        size: u64,
        from: &RegistryStore,
        progress: &Progress,
    ) -> Result<(), StoreError> {
        let source = from.reference(name, &Selector::Digest(digest.clone()));
        from.authenticate(&source, RegistryOperation::Pull)?;
        let reference = self.reference(name, &Selector::Digest(digest.clone()));
        self.authenticate(&reference, RegistryOperation::Push)?;
        let digest_text = digest.to_string();
        // Each attempt pulls afresh: a stream cannot be replayed.
        let upload = |client: &Client| {
            self.run(|| async {
                let started = tokio::time::Instant::now();
                let pulled = from.oci().pull_blob_stream(&source, digest_text.as_str()).await?;
                let progress = Arc::clone(progress);
                let stream = from
                    .guard(pulled.stream, started)
                    .inspect_ok(move |chunk| progress(ProgressEvent::Bytes(chunk.len() as u64)))
                    .map_err(OciDistributionError::IoError);
                client.push_blob_stream(&reference, stream, &digest_text, Some(size)).await
            })
        };
        let result = self.upload_with_fallback(&reference, upload)?;
        result
            .map(|_| ())
            .map_err(|e| self.error(&format!("copy blob {digest} from `{}`", from.location()), &e))
    }

    /// Mounts blob `digest` from repository `from` of the same registry into `name`'s repository.
    /// Returns false when the registry declines the mount (the caller then uploads).
    pub fn mount_blob(
        &self,
        name: &BundleName,
        from: &str,
        digest: &Digest,
    ) -> Result<bool, StoreError> {
        let reference = self.reference(name, &Selector::Digest(digest.clone()));
        let source = Reference::with_digest(self.host.clone(), from.to_owned(), digest.to_string());
        self.authenticate(&reference, RegistryOperation::Push)?;
        let digest_text = digest.to_string();
        match self.run(|| self.oci().mount_blob(&reference, &source, &digest_text)) {
            Ok(()) => Ok(true),
            Err(e) => {
                tracing::debug!(%digest, from, error = %e, "mount declined; uploading instead");
                Ok(false)
            }
        }
    }

    /// Pushes manifest `bytes` exactly as given by `tag` alone: one request, which stores the
    /// bytes under their digest too. Returns the digest.
    pub fn put_tagged(
        &self,
        name: &BundleName,
        bytes: &[u8],
        tag: &str,
    ) -> Result<Digest, StoreError> {
        let reference = self.reference(name, &Selector::Tag(tag.to_owned()));
        self.authenticate(&reference, RegistryOperation::Push)?;
        self.run(|| {
            self.oci().push_manifest_raw(
                &reference,
                bytes.to_vec(),
                http::HeaderValue::from_static(manifest_content_type(bytes)),
            )
        })
        .map_err(|e| self.error(&format!("push manifest {}", reference.whole()), &e))?;
        Ok(Digest::of(bytes))
    }

    /// Pushes manifest `bytes` exactly as given, by digest, then points `tag` at it.
    pub fn put_manifest(
        &self,
        name: &BundleName,
        bytes: &[u8],
        tag: Option<&str>,
    ) -> Result<Stored, StoreError> {
        let digest = Digest::of(bytes);
        let moved_from = match tag {
            Some(tag) => match self.resolve(name, &Selector::Tag(tag.to_owned())) {
                Ok(previous) if previous != digest => Some(previous),
                Ok(_) | Err(StoreError::UnknownTag { .. } | StoreError::UnknownBundle { .. }) => {
                    None
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        let content_type = http::HeaderValue::from_static(manifest_content_type(bytes));
        let mut references = vec![self.reference(name, &Selector::Digest(digest.clone()))];
        if let Some(tag) = tag {
            references.push(self.reference(name, &Selector::Tag(tag.to_owned())));
        }
        // baton's own PUT, not oci-client's: a registry that answers without a `Location` (as
        // ECR does) makes oci-client's push of a manifest by digest panic. What the registry
        // says it stored must be these bytes. The PUT asks for its push token itself.
        for reference in references {
            let what = format!("push manifest {}", reference.whole());
            // A blob another upload of it is still moving into place is unknown for a moment
            // (Docker's registry): the manifest that names it is sent again after a backoff.
            let response = self
                .run_retrying(
                    || {
                        let upload = Some((bytes, &content_type));
                        self.manifest_call(reqwest::Method::PUT, &reference, upload)
                    },
                    names_an_unknown_blob,
                )
                .map_err(|e| self.error(&what, &e))?;
            let stored = response.headers().get("docker-content-digest");
            if let Some(stored) = stored.and_then(|v| v.to_str().ok())
                && stored != digest.to_string()
            {
                return Err(self.error(
                    &what,
                    &OciDistributionError::GenericError(Some(format!(
                        "the registry says it stored {stored}, not the {digest} baton sent"
                    ))),
                ));
            }
        }
        Ok(Stored { digest, moved_from })
    }

    /// Every tag of bundle `name`, sorted; none when the registry does not know the repository.
    pub fn tags(&self, name: &BundleName) -> Result<Vec<String>, StoreError> {
        let reference = self.reference(name, &Selector::Tag("latest".to_owned()));
        self.authenticate(&reference, RegistryOperation::Pull)?;
        match self.run(|| self.client.list_tags(&reference, &self.auth, None, None)) {
            Ok(list) => {
                let mut tags = list.tags;
                tags.sort();
                Ok(tags)
            }
            Err(e) if is_not_found(&e) => Ok(Vec::new()),
            Err(e) => Err(self.error(&format!("list the tags of {}", self.repository(name)), &e)),
        }
    }

    /// Every tagged bundle under the store's path, by name then tag (from the registry's catalog).
    pub fn list(&self) -> Result<Vec<Listed>, StoreError> {
        let probe =
            Reference::with_tag(self.host.clone(), "catalog".to_owned(), "latest".to_owned());
        self.authenticate(&probe, RegistryOperation::Pull)?;
        let catalog = self
            .run(|| self.client.catalog(&probe, &self.auth, None, None))
            .map_err(|e| self.error("read the catalog", &e))?;
        let prefix = if self.path.is_empty() { String::new() } else { format!("{}/", self.path) };
        let mut names: Vec<BundleName> = catalog
            .repositories
            .iter()
            .filter_map(|repo| repo.strip_prefix(&prefix))
            .filter_map(|rest| rest.parse().ok())
            .collect();
        names.sort();
        let mut listed = Vec::new();
        for name in names {
            let tags = self.tags(&name)?;
            // Signatures and referrers indexes are not bundles: skipped by name, not fetched.
            for tag in tags.into_iter().filter(|t| !crate::attached::is_evidence_tag(t)) {
                // One request per tag: the manifest by tag, its digest from its bytes.
                let reference = self.reference(&name, &Selector::Tag(tag.clone()));
                let bytes = self.run(|| self.get_manifest(&reference)).map_err(|e| {
                    self.error(&format!("fetch manifest {}", reference.whole()), &e)
                })?;
                let digest = Digest::of(&bytes);
                let manifest: oci::Manifest =
                    serde_json::from_slice(&bytes).map_err(|e| StoreError::Registry {
                        store: self.location(),
                        operation: format!("read manifest {digest}"),
                        message: format!("not an OCI image manifest: {e}"),
                    })?;
                if manifest.subject.is_some() {
                    continue; // a referrer (a rendering of a bundle), not a bundle
                }
                let size = bytes.len() as u64
                    + manifest.config.size
                    + manifest.layers.iter().map(|l| l.size).sum::<u64>();
                listed.push(Listed {
                    name: name.to_string(),
                    tag: Some(tag),
                    digest,
                    manifest,
                    size,
                });
            }
        }
        Ok(listed)
    }

    /// The blobs of bundle `name`, as a [`BlobSource`].
    pub fn blobs<'a>(&'a self, name: &'a BundleName) -> RegistryBlobs<'a> {
        RegistryBlobs { store: self, name }
    }
}

/// Answers that mean "not this way": the registry does not take a blob in one PUT.
fn refuses_single_put(error: &OciDistributionError) -> bool {
    use oci_client::errors::OciErrorCode as C;
    match error {
        OciDistributionError::ServerError { code, .. } => {
            matches!(code, 400 | 405 | 411 | 413 | 416 | 501)
        }
        OciDistributionError::SpecViolationError(_) => true,
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| matches!(e.code, C::BlobUploadInvalid | C::Unsupported | C::SizeInvalid)),
        _ => false,
    }
}

/// Failures worth another try: the network or an overloaded registry, never a refusal.
fn is_transient(error: &OciDistributionError) -> bool {
    use oci_client::errors::OciErrorCode as C;
    match error {
        // oci-client turns some answers into reqwest's status errors (a blob's HEAD, say): a
        // 429 or a 5xx there is as transient as in a `ServerError`.
        OciDistributionError::RequestError(e) => {
            e.is_connect()
                || e.is_timeout()
                || e.is_request()
                || e.is_body()
                || e.status().is_some_and(|s| s.as_u16() == 429 || s.is_server_error())
        }
        OciDistributionError::IoError(e) => matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::TimedOut
                | std::io::ErrorKind::UnexpectedEof
        ),
        OciDistributionError::ServerError { code, .. } => *code == 429 || (500..600).contains(code),
        OciDistributionError::RegistryError { envelope, .. } => {
            envelope.errors.iter().any(|e| matches!(e.code, C::Toomanyrequests))
        }
        _ => false,
    }
}

/// A manifest refused because the registry does not know a blob it names.
fn names_an_unknown_blob(error: &OciDistributionError) -> bool {
    matches!(error, OciDistributionError::ServerError { code: 400, message, .. }
        if message.contains("MANIFEST_BLOB_UNKNOWN"))
}

/// The error of a call that was interrupted (the agent's SIGTERM).
fn interrupted() -> OciDistributionError {
    OciDistributionError::GenericError(Some("interrupted by a signal".to_owned()))
}

/// The error of a call that took longer than the total timeout.
fn over_total(total: Duration) -> OciDistributionError {
    OciDistributionError::GenericError(Some(format!(
        "no complete answer within {}s (--registry-timeout sets it)",
        total.as_secs()
    )))
}

/// A `Retry-After` value: seconds, or an HTTP date (as seconds from now).
fn retry_after(value: &str) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = jiff::fmt::rfc2822::parse(value.trim()).ok()?.timestamp();
    let wait = at.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// A blob's body, ended by the total timeout or an interrupt with an error saying which.
struct Guarded {
    inner: futures_util::stream::BoxStream<'static, io::Result<bytes::Bytes>>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    interrupted: Pin<Box<dyn Future<Output = ()> + Send>>,
    total: Duration,
}

impl futures_util::Stream for Guarded {
    type Item = io::Result<bytes::Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.interrupted.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(io::Error::other("interrupted by a signal"))));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            let total = self.total.as_secs();
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the transfer took longer than {total}s (--registry-timeout sets it)"),
            ))));
        }
        self.inner.as_mut().poll_next(cx)
    }
}

/// 200 ms doubled per attempt, capped at 5 s, with ±50 % jitter so that many agents do not retry in step.
fn backoff(attempt: u32) -> std::time::Duration {
    let base = 200u64.saturating_mul(1 << attempt.min(5)).min(5_000);
    let nanos = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos()),
    );
    let jitter = nanos % (base + 1);
    std::time::Duration::from_millis(base / 2 + jitter)
}

fn is_not_found(error: &oci_client::errors::OciDistributionError) -> bool {
    use oci_client::errors::{OciDistributionError as E, OciErrorCode as C};
    match error {
        E::ImageManifestNotFoundError(_) => true,
        E::ServerError { code, .. } => *code == 404,
        E::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(e.code, C::ManifestUnknown | C::NameUnknown | C::BlobUnknown | C::NotFound)
        }),
        _ => false,
    }
}

/// The blobs of one bundle in a registry store.
pub struct RegistryBlobs<'a> {
    store: &'a RegistryStore,
    name: &'a BundleName,
}

fn to_io(error: StoreError) -> io::Error {
    match error {
        e @ (StoreError::UnknownDigest { .. } | StoreError::UnknownTag { .. }) => {
            io::Error::new(io::ErrorKind::NotFound, e.to_string())
        }
        StoreError::Io(e) => e,
        e => io::Error::other(e.to_string()),
    }
}

impl BlobSource for RegistryBlobs<'_> {
    fn open_manifest(&self, digest: &Digest) -> io::Result<Box<dyn Read + '_>> {
        match self.store.read_manifest(self.name, digest) {
            Ok(bytes) => Ok(Box::new(io::Cursor::new(bytes))),
            // A manifest whose bytes do not hash to its digest is handed over as is: the reader re-hashes and reports.
            Err(e) => Err(to_io(e)),
        }
    }

    fn open_blob(&self, digest: &Digest, size: u64) -> io::Result<Box<dyn Read + '_>> {
        let reader = self.store.open_blob(self.name, digest).map_err(to_io)?;
        Ok(Box::new(baton_model::SizedReader::new(reader, digest, size)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_is_plain_http_by_default() {
        for host in ["localhost:5000", "127.0.0.1:5000", "127.1.2.3", "[::1]:5000", "localhost"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in
            ["registry.example.com", "10.0.0.1:5000", "localhost.example.com", "[fe80::1]:5000"]
        {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn refusals_are_permanent_and_overload_is_transient() {
        let server =
            |code| OciDistributionError::ServerError { code, url: "u".into(), message: "m".into() };
        assert!(
            is_transient(&server(503)) && is_transient(&server(429)) && is_transient(&server(500))
        );
        for code in [400, 401, 403, 404] {
            assert!(!is_transient(&server(code)), "{code}");
        }
        assert!(!is_transient(&OciDistributionError::UnauthorizedError { url: "u".into() }));
        let reset = OciDistributionError::IoError(io::Error::from(io::ErrorKind::ConnectionReset));
        assert!(is_transient(&reset));
        assert!(refuses_single_put(&server(405)) && refuses_single_put(&server(413)));
        assert!(!refuses_single_put(&server(401)) && !refuses_single_put(&server(503)));
    }

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        for attempt in 0..10 {
            let base = 200u64.saturating_mul(1 << attempt.min(5)).min(5_000);
            let delay = u64::try_from(backoff(attempt).as_millis()).unwrap();
            assert!((base / 2..=base / 2 + base).contains(&delay), "attempt {attempt}: {delay} ms");
        }
    }
}
