//! A second OpenID provider that no one here wrote: Django OAuth Toolkit, pinned in
//! `django-provider/requirements.txt` and configured by `django-provider/serve.py`
//! (its clients and users are described there). One process per test binary, started on
//! first use (its migrations take a few seconds), ended with the binary.

use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command};
use std::sync::OnceLock;

/// The secret of its client `example` (authorization code, refresh, RP-initiated logout).
pub const DJANGO_CLIENT_SECRET: &str = "test-secret-test-secret-test-secret";
/// The secret of its client `svc` (client credentials: an API's caller).
pub const DJANGO_SVC_SECRET: &str = "svc-secret-svc-secret-svc-secret-svc";

/// The test binary's Django OAuth Toolkit.
#[derive(Debug)]
pub struct DjangoProvider {
    /// Its issuer, `http://127.0.0.1:<port>` (its endpoints are at the root).
    pub issuer: String,
}

/// The process, held until the binary exits: it ends when its stdin closes.
struct Shared {
    provider: DjangoProvider,
    _child: Child,
    _stdin: ChildStdin,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../django-provider")
}

/// Makes `django-provider/.venv` with the pinned packages unless it is there (what
/// `./scripts/test` does first).
fn ensure_installed() {
    let dir = dir();
    if dir.join(".venv/bin/python").exists() {
        return;
    }
    let run = |program: &str, args: &[&str]| {
        let status = Command::new(program)
            .args(args)
            .current_dir(&dir)
            .status()
            .unwrap_or_else(|e| panic!("{program} (python3 with venv and pip): {e}"));
        assert!(status.success(), "{program} {args:?} failed");
    };
    run("python3", &["-m", "venv", ".venv"]);
    run(
        ".venv/bin/pip",
        &[
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            "requirements.txt",
        ],
    );
}

impl DjangoProvider {
    /// The binary's Django OAuth Toolkit, started on first use.
    ///
    /// # Panics
    /// When it cannot start (with its stderr).
    pub fn shared() -> &'static DjangoProvider {
        static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();
        let shared = SHARED.get_or_init(|| {
            ensure_installed();
            let mut command = Command::new(dir().join(".venv/bin/python"));
            command.arg("serve.py").current_dir(dir());
            let started = crate::start_ready(command, "python")?;
            Ok(Shared {
                provider: DjangoProvider {
                    issuer: started.base,
                },
                _child: started.child,
                _stdin: started.stdin,
            })
        });
        match shared {
            Ok(shared) => &shared.provider,
            Err(e) => panic!("Django OAuth Toolkit did not start: {e}"),
        }
    }

    /// Its test counters (`GET /test/stats`: tokens issued, refresh tokens revoked).
    pub fn stats_url(&self) -> String {
        format!("{}/test/stats", self.issuer)
    }
}
