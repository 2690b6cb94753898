//! Credential files read by their name and content: the files people
//! really commit (`~/.aws/credentials`, `.docker/config.json`, `.netrc`,
//! `.pgpass`, `.git-credentials`, `.htpasswd`, `wp-config.php`,
//! `config/master.key`, `database.yml`, FileZilla and IDE deployment
//! configs, `password = …` in any INI/properties/YAML/JSON/XML file).
//!
//! Provider rules look for a credential's *format*; in these files the
//! *place* says it is a credential, whatever its shape: `password hunter2`
//! in a `.netrc` is a password although no regex for a token would take it.
//! So each reader knows its file's syntax, reports the line and byte range
//! of the value, and the analyzer masks it like any other secret.
//!
//! Readers are line-based and linear in the input: each line is read once
//! by each reader that applies to the file, and the scan stops when the
//! file's deadline passes.

mod config;
mod hashes;
mod sealed;
mod sql;
mod stores;
mod tools;

use super::super::{Confidence, Deadline, Severity};
use super::placeholder::DropReason;
pub use sealed::{MAX_SEALED_BYTES, SealedError};

/// Whether `path` is a binary credential store a reader decrypts (DBeaver's
/// `credentials-config.json`): the engine keeps its bytes for
/// [`open_sealed`] rather than skip it as binary.
pub fn is_sealed_store(path: &str) -> bool {
    sealed::is_dbeaver_store(path)
}

/// The reader of a sealed store and the non-empty passwords it holds.
pub(super) fn open_sealed(bytes: &[u8]) -> Result<(&'static Reader, Vec<String>), SealedError> {
    let plain = sealed::decrypt(bytes)?;
    Ok((&DBEAVER, sealed::passwords(&plain)?))
}

/// One kind of credential a reader reports: what a finding says.
#[derive(Debug)]
pub struct Reader {
    /// Rule id of its findings.
    pub id: &'static str,
    /// Whose credential it is (`Generic` for none in particular).
    pub provider: &'static str,
    /// What the credential is.
    pub title: &'static str,
    /// Severity of a finding.
    pub severity: Severity,
    /// Where to revoke it, when there is one place.
    pub rotation: Option<&'static str>,
    /// What to do about the file, beyond rotating the value.
    pub help: &'static str,
}

macro_rules! reader {
    ($name:ident, $id:literal, $provider:literal, $title:literal, $severity:ident, $rotation:expr, $help:literal) => {
        pub(super) static $name: Reader = Reader {
            id: $id,
            provider: $provider,
            title: $title,
            severity: Severity::$severity,
            rotation: $rotation,
            help: $help,
        };
    };
}

reader!(
    AWS_CREDENTIALS,
    "secrets.file.aws-credentials",
    "AWS",
    "AWS secret in a shared credentials file",
    Critical,
    Some("https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html"),
    "Deactivate the access key in IAM and create a new one; keep `~/.aws/credentials` out of the repository (use roles, SSO or `aws configure` on each machine)."
);
reader!(
    DOCKER_AUTH,
    "secrets.file.docker-auth",
    "Docker",
    "Docker registry credentials (base64 user:password) in a Docker config",
    High,
    Some("https://docs.docker.com/reference/cli/docker/login/"),
    "Change the registry password or revoke the access token, then `docker logout`; keep `~/.docker/config.json` out of the repository (CI logs in from a secret)."
);
reader!(
    NETRC,
    "secrets.file.netrc-password",
    "Generic",
    "Password in a .netrc file",
    High,
    None,
    "Change the password at the host the `machine` line names; keep `.netrc` out of the repository."
);
reader!(
    PGPASS,
    "secrets.file.pgpass-password",
    "PostgreSQL",
    "PostgreSQL password in a .pgpass file",
    High,
    Some("https://www.postgresql.org/docs/current/sql-alterrole.html"),
    "Change the role's password (`ALTER ROLE … PASSWORD`); keep `.pgpass` out of the repository."
);
reader!(
    GIT_CREDENTIALS,
    "secrets.file.git-credentials",
    "Generic",
    "Token or password in a git credential store (.git-credentials)",
    High,
    None,
    "Revoke the token or change the password at the git host; keep `.git-credentials` out of the repository (use a credential helper)."
);
reader!(
    PASSWORD_HASH,
    "secrets.file.password-hash",
    "Generic",
    "Password hash in an htpasswd or shadow-style file (crackable offline)",
    Medium,
    None,
    "Change the passwords of the listed accounts: a published hash is cracked offline. Keep password files and user dumps out of the repository."
);
reader!(
    WORDPRESS,
    "secrets.file.wordpress-secret",
    "WordPress",
    "WordPress database password or authentication key/salt in a PHP config",
    High,
    Some("https://developer.wordpress.org/advanced-administration/wordpress/wp-config/"),
    "Change the database password and generate new keys and salts (https://api.wordpress.org/secret-key/1.1/salt/); commit `wp-config-sample.php` only."
);
reader!(
    RAILS_MASTER_KEY,
    "secrets.file.rails-master-key",
    "Ruby on Rails",
    "Rails master key (decrypts config/credentials.yml.enc)",
    Critical,
    Some("https://guides.rubyonrails.org/security.html#custom-credentials"),
    "Rotate the master key (`bin/rails credentials:edit` with a new key) and every credential it encrypted; `config/master.key` belongs in `.gitignore`."
);
reader!(
    CONFIG_PASSWORD,
    "secrets.file.config-password",
    "Generic",
    "Password or secret in a configuration file",
    Medium,
    None,
    "Change the password or secret, and load it from the environment or a secret store instead of the configuration file."
);

reader!(
    NPMRC,
    "secrets.file.npmrc-auth",
    "npm",
    "npm registry credential (_authToken, _auth or _password) in an .npmrc",
    High,
    Some("https://docs.npmjs.com/revoking-access-tokens"),
    "Revoke the token (`npm token revoke`) or change the registry password; keep credentials in the user's ~/.npmrc or `${NPM_TOKEN}`, not in the repository's .npmrc."
);
reader!(
    KUBECONFIG,
    "secrets.file.kubeconfig-credential",
    "Kubernetes",
    "Kubernetes user credential (token, client key or password) in a kubeconfig",
    Critical,
    Some("https://kubernetes.io/docs/reference/access-authn-authz/authentication/"),
    "Revoke the token or certificate (delete the service account's token secret, rotate the client certificate) and keep kubeconfig files out of the repository."
);
reader!(
    PYPIRC,
    "secrets.file.pypirc-password",
    "PyPI",
    "Package index password or upload token in a .pypirc",
    High,
    Some("https://pypi.org/help/#apitoken"),
    "Revoke the token on the package index and create a scoped one; keep .pypirc out of the repository (CI uses trusted publishing or a secret)."
);
reader!(
    S3CFG,
    "secrets.file.s3cfg-secret",
    "AWS",
    "S3 secret key or passphrase in an s3cmd configuration (.s3cfg)",
    Critical,
    Some("https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html"),
    "Deactivate the access key and create a new one; keep .s3cfg out of the repository."
);
reader!(
    TFVARS,
    "secrets.file.tfvars-secret",
    "Generic",
    "Secret assigned in a Terraform variables file (.tfvars)",
    High,
    None,
    "Change the secret, mark the variable `sensitive = true`, and pass it as `TF_VAR_…` from a secret store instead of a committed .tfvars file."
);
reader!(
    DBEAVER,
    "secrets.file.dbeaver-credentials",
    "DBeaver",
    "Database password saved in a DBeaver connection configuration",
    High,
    None,
    "Change the database password; keep .dbeaver/data-sources.json and credentials-config.json out of the repository (DBeaver's credential store is encrypted with a key every copy of DBeaver knows)."
);
reader!(
    SQL_PASSWORD_HASH,
    "secrets.file.sql-password-hash",
    "Generic",
    "Database password hash (MySQL or PostgreSQL) in an SQL dump",
    Medium,
    None,
    "Change the passwords of the dumped accounts: a published hash is cracked offline, and a MySQL native hash logs in as is. Keep dumps with `mysql.user`/`pg_authid` data out of the repository."
);
reader!(
    SQL_PASSWORD,
    "secrets.file.sql-password",
    "Generic",
    "Database password set in clear by CREATE/ALTER USER in an SQL script",
    High,
    None,
    "Change the account's password and set it from the deployment (a variable such as psql's `:'password'`) rather than in the committed script."
);

/// Every reader, for catalogues.
pub static READERS: [&Reader; 17] = [
    &AWS_CREDENTIALS,
    &DOCKER_AUTH,
    &NETRC,
    &PGPASS,
    &GIT_CREDENTIALS,
    &PASSWORD_HASH,
    &WORDPRESS,
    &RAILS_MASTER_KEY,
    &CONFIG_PASSWORD,
    &NPMRC,
    &KUBECONFIG,
    &PYPIRC,
    &S3CFG,
    &TFVARS,
    &DBEAVER,
    &SQL_PASSWORD_HASH,
    &SQL_PASSWORD,
];

impl From<&Reader> for crate::report::RuleDoc {
    /// A reader is listed, suppressed and disabled like any rule: this is
    /// its entry in `hunkscan rules list` and the SARIF rule catalogue.
    fn from(reader: &Reader) -> Self {
        crate::report::RuleDoc {
            id: reader.id.to_owned(),
            summary: format!("{} committed in the change", reader.title),
            help: Some(format!(
                "{} Removing the line does not remove it from git history.",
                reader.help
            )),
            severity: reader.severity,
            // A finding's own confidence follows how random its value is.
            confidence: Confidence::Medium,
            cwe: Some("CWE-798".into()),
            references: reader
                .rotation
                .iter()
                .map(|url| (*url).to_owned())
                .collect(),
        }
    }
}

/// A value a reader found.
#[derive(Debug)]
pub(super) struct FileHit {
    pub reader: &'static Reader,
    /// 1-based line.
    pub line: u32,
    /// Byte range of the value in its line.
    pub start: usize,
    pub end: usize,
    pub confidence: Confidence,
}

/// A value a reader found and turned down, with the reason.
#[derive(Debug)]
pub(super) struct FileDropped {
    pub reader: &'static Reader,
    pub line: u32,
    pub start: usize,
    pub end: usize,
    pub reason: DropReason,
}

/// What the readers found in one file.
#[derive(Debug, Default)]
pub(super) struct FileFindings {
    pub hits: Vec<FileHit>,
    pub dropped: Vec<FileDropped>,
}

impl FileFindings {
    fn hit(
        &mut self,
        reader: &'static Reader,
        line: u32,
        range: std::ops::Range<usize>,
        confidence: Confidence,
    ) {
        self.hits.push(FileHit {
            reader,
            line,
            start: range.start,
            end: range.end,
            confidence,
        });
    }

    fn drop(
        &mut self,
        reader: &'static Reader,
        line: u32,
        range: std::ops::Range<usize>,
        reason: DropReason,
    ) {
        if self.dropped.len() < super::scan::MAX_DROPPED_PER_FILE {
            self.dropped.push(FileDropped {
                reader,
                line,
                start: range.start,
                end: range.end,
                reason,
            });
        }
    }
}

/// How a file's lines are read, decided by its name, extension and content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    AwsCredentials,
    DockerConfig,
    Netrc,
    Pgpass,
    GitCredentials,
    PasswordHashes,
    PhpDefines,
    RailsMasterKey,
    Npmrc,
    Kubeconfig,
    Pypirc,
    S3cfg,
    Tfvars(config::Syntax),
    Dbeaver,
    Sql,
    Config(config::Syntax),
}

/// The formats `path` (and its first lines) are read as; none for ordinary
/// source files, which only the provider rules read.
fn formats(path: &str, lines: &[&str]) -> Vec<Format> {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    let extension = name.rsplit_once('.').map_or("", |(_, ext)| ext);
    let head = || lines.iter().take(50);
    let mut found = Vec::new();
    match name {
        ".netrc" | "_netrc" | "netrc" => found.push(Format::Netrc),
        ".pgpass" | "pgpass.conf" | "pgpass" => found.push(Format::Pgpass),
        ".git-credentials" | "git-credentials" => found.push(Format::GitCredentials),
        ".htpasswd" | "htpasswd" | "shadow" | "shadow-" | "gshadow" | "master.passwd" => {
            found.push(Format::PasswordHashes)
        }
        ".dockercfg" => found.push(Format::DockerConfig),
        "master.key" => found.push(Format::RailsMasterKey),
        ".npmrc" | "npmrc" => found.push(Format::Npmrc),
        ".pypirc" | "pypirc" => found.push(Format::Pypirc),
        ".s3cfg" | "s3cfg" => found.push(Format::S3cfg),
        _ => {}
    }
    let kube_name = name == "kubeconfig"
        || name.ends_with(".kubeconfig")
        || (name == "config" && lower.contains(".kube/"));
    let kube_candidate = matches!(extension, "" | "yml" | "yaml" | "conf" | "config");
    if kube_name || (kube_candidate && tools::looks_like_kubeconfig(head())) {
        found.push(Format::Kubeconfig);
    }
    if extension == "tfvars" {
        found.push(Format::Tfvars(config::Syntax::KeyValue));
    } else if name.ends_with(".tfvars.json") {
        found.push(Format::Tfvars(config::Syntax::Json));
    }
    if extension == "json" && name.starts_with("data-sources") && lower.contains(".dbeaver/") {
        found.push(Format::Dbeaver);
    }

    if extension == "key" && lower.contains("config/credentials/") {
        found.push(Format::RailsMasterKey);
    }
    let aws_content = || {
        head().any(|l| {
            let l = l.trim_start().to_ascii_lowercase();
            l.starts_with("aws_access_key_id") || l.starts_with("aws_secret_access_key")
        })
    };
    let aws_file = name == "credentials" || lower.contains(".aws/");
    if aws_file
        || (matches!(extension, "ini" | "cfg" | "conf" | "" | "credentials") && aws_content())
    {
        found.push(Format::AwsCredentials);
    }
    if extension == "json"
        && (lower.contains(".docker/") || head().any(|l| l.contains("\"auths\"")))
    {
        found.push(Format::DockerConfig);
    }
    if extension == "php" || name.starts_with("wp-config") {
        found.push(Format::PhpDefines);
    }
    if found.is_empty() {
        // A dump or export with `user:$6$…` lines is read as one whatever its name.
        if matches!(
            extension,
            "txt" | "" | "sql" | "csv" | "bak" | "dump" | "passwd"
        ) && head().any(|l| hashes::is_hash_line(l))
        {
            found.push(Format::PasswordHashes);
        }
    }
    if matches!(extension, "sql" | "dump" | "psql" | "mysql") {
        found.push(Format::Sql);
    }
    if let Some(syntax) = config::syntax_of(name, extension) {
        found.push(Format::Config(syntax));
    }
    found
}

/// The rule ids of the formats `path` is read as (for tests and `--explain`).
pub fn readers_for(path: &str, text: &str) -> Vec<&'static str> {
    let lines: Vec<&str> = text.lines().collect();
    formats(path, &lines)
        .into_iter()
        .map(|format| reader_of(format).id)
        .collect()
}

fn reader_of(format: Format) -> &'static Reader {
    match format {
        Format::AwsCredentials => &AWS_CREDENTIALS,
        Format::DockerConfig => &DOCKER_AUTH,
        Format::Netrc => &NETRC,
        Format::Pgpass => &PGPASS,
        Format::GitCredentials => &GIT_CREDENTIALS,
        Format::PasswordHashes => &PASSWORD_HASH,
        Format::PhpDefines => &WORDPRESS,
        Format::RailsMasterKey => &RAILS_MASTER_KEY,
        Format::Npmrc => &NPMRC,
        Format::Kubeconfig => &KUBECONFIG,
        Format::Pypirc => &PYPIRC,
        Format::S3cfg => &S3CFG,
        Format::Tfvars(_) => &TFVARS,
        Format::Dbeaver => &DBEAVER,
        Format::Sql => &SQL_PASSWORD_HASH,
        Format::Config(_) => &CONFIG_PASSWORD,
    }
}

/// Reads the given 1-based lines of `lines` with every reader that applies
/// to `path`. Returns `false` when `deadline` passed first.
pub(super) fn read(
    path: &str,
    lines: &[&str],
    wanted: &[u32],
    deadline: &Deadline,
    out: &mut FileFindings,
) -> bool {
    let formats = formats(path, lines);
    if formats.is_empty() {
        return true;
    }
    for &number in wanted {
        if deadline.expired() {
            return false;
        }
        let Some(line) = lines.get((number as usize).wrapping_sub(1)) else {
            continue;
        };
        for &format in &formats {
            match format {
                Format::AwsCredentials => stores::aws_credentials(line, number, out),
                Format::DockerConfig => stores::docker_auth(line, number, out),
                Format::Netrc => stores::netrc(line, number, out),
                Format::Pgpass => stores::pgpass(line, number, out),
                Format::GitCredentials => stores::git_credentials(line, number, out),
                Format::PasswordHashes => hashes::hash_line(line, number, out),
                Format::PhpDefines => config::php_define(line, number, out),
                Format::RailsMasterKey => config::rails_master_key(line, number, out),
                Format::Npmrc => tools::npmrc(line, number, out),
                Format::Kubeconfig => tools::kubeconfig(line, number, out),
                Format::Pypirc => tools::pypirc(line, number, out),
                Format::S3cfg => tools::s3cfg(line, number, out),
                Format::Tfvars(syntax) => config::fields(&TFVARS, syntax, line, number, out),
                Format::Dbeaver => tools::dbeaver(line, number, out),
                Format::Sql => sql::sql_line(lines, number, out),
                Format::Config(syntax) => {
                    config::fields(&CONFIG_PASSWORD, syntax, line, number, out)
                }
            }
        }
    }
    true
}

/// The confidence a free-form value earns: long and random is a credential
/// for sure, short or plain may be a local default.
fn confidence_of(value: &str) -> Confidence {
    let length = value.chars().count();
    if length >= 12 && super::entropy::shannon_entropy(value) >= 3.0 {
        Confidence::High
    } else if length >= 8 {
        Confidence::Medium
    } else {
        Confidence::Low
    }
}
