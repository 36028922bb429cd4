//! Counters and a histogram, recorded through the [`metrics`] facade: the app installs
//! the exporter it wants (Prometheus, StatsD...), and without one recording costs a
//! load of the no-op recorder. No label names a user or a session.
//!
//! | metric | labels |
//! |---|---|
//! | `auth_sign_ins_total` | `provider`, `outcome` (`success`, the refusal's page code, or `silent_interaction_required` for a silent sign-in that needs the user) |
//! | `auth_sign_outs_total` | `provider`, `kind` (`rp`, `backchannel`, `frontchannel`, `admin`, `revoked`) |
//! | `auth_refreshes_total` | `provider`, `outcome` (`success`, `refused`, `unavailable`) |
//! | `auth_bearer_total` | `outcome` (`accepted`, or the RFC 6750 error code) |
//! | `auth_provider_request_duration_seconds` (histogram) | `provider`, `endpoint` (`discovery`, `jwks`, `token`, `userinfo`, `par`, `revocation`) |
//!
//! `provider` is the provider's id (`default` for the one provider of a
//! single-provider app).

use std::time::Duration;

const SIGN_INS: &str = "auth_sign_ins_total";
const SIGN_OUTS: &str = "auth_sign_outs_total";
const REFRESHES: &str = "auth_refreshes_total";
const BEARER: &str = "auth_bearer_total";
const PROVIDER_REQUESTS: &str = "auth_provider_request_duration_seconds";

/// The provider label of a provider id.
fn provider_label(provider: Option<&str>) -> String {
    provider.unwrap_or("default").to_owned()
}

/// Describes the metrics to the recorder installed now (once per process).
pub(crate) fn describe() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        metrics::describe_counter!(SIGN_INS, "Sign-ins completed or refused at the callback");
        metrics::describe_counter!(SIGN_OUTS, "Sessions ended by a sign-out, by kind");
        metrics::describe_counter!(REFRESHES, "Refreshes of a session's tokens at the provider");
        metrics::describe_counter!(BEARER, "Bearer and DPoP tokens judged");
        metrics::describe_histogram!(
            PROVIDER_REQUESTS,
            metrics::Unit::Seconds,
            "Requests to the provider, by endpoint"
        );
    });
}

/// A callback's outcome: `signed_in`, or the code its error page shows.
pub(crate) fn sign_in(provider: Option<&str>, outcome: &'static str) {
    let outcome = if outcome == "signed_in" {
        "success"
    } else {
        outcome
    };
    metrics::counter!(SIGN_INS, "provider" => provider_label(provider), "outcome" => outcome)
        .increment(1);
}

/// A refresh at the provider.
pub(crate) fn refresh(provider: Option<&str>, outcome: &'static str) {
    metrics::counter!(REFRESHES, "provider" => provider_label(provider), "outcome" => outcome)
        .increment(1);
}

/// A bearer (or DPoP) token judged: `accepted` or the RFC 6750 error code. On every
/// API request: each outcome is a literal, so that its key is static (a label value
/// the macro cannot see allocates the key on every call).
pub(crate) fn bearer(outcome: &'static str) {
    macro_rules! count {
        ($($known:literal),*) => {
            match outcome {
                $($known => metrics::counter!(BEARER, "outcome" => $known).increment(1),)*
                other => metrics::counter!(BEARER, "outcome" => other).increment(1),
            }
        };
    }
    count!(
        "accepted",
        "invalid_token",
        "invalid_request",
        "insufficient_scope",
        "invalid_dpop_proof",
        "temporarily_unavailable",
        "server_error"
    );
}

/// One request to a provider's endpoint, whatever its outcome.
pub(crate) fn provider_request(provider: &str, endpoint: &'static str, took: Duration) {
    metrics::histogram!(
        PROVIDER_REQUESTS,
        "provider" => provider.to_owned(),
        "endpoint" => endpoint
    )
    .record(took.as_secs_f64());
}

/// A session ended by a sign-out of `kind` (`rp`, `backchannel`, `frontchannel`,
/// `admin`, `revoked`).
pub(crate) fn sign_out(provider: Option<&str>, kind: &'static str) {
    metrics::counter!(SIGN_OUTS, "provider" => provider_label(provider), "kind" => kind)
        .increment(1);
}

#[cfg(test)]
pub(crate) mod testing {
    //! A recorder of one test's own (its thread): what was recorded since the last look.

    use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

    /// Runs `f` on a current-thread runtime (its tasks on this thread) with a recorder
    /// of its own, which `f` reads through the [`Recorded`] it is given.
    pub(crate) fn recorded<F, Fut>(f: F) -> Fut::Output
    where
        F: FnOnce(Recorded) -> Fut,
        Fut: std::future::Future,
    {
        let recorder = DebuggingRecorder::new();
        let recorded = Recorded(recorder.snapshotter());
        metrics::with_local_recorder(&recorder, || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(f(recorded))
        })
    }

    pub(crate) struct Recorded(Snapshotter);

    /// A metric's name, its labels (sorted), and what was recorded.
    type Sample = (String, Vec<(String, String)>, DebugValue);

    /// The metrics recorded between two looks.
    pub(crate) struct Delta(Vec<Sample>);

    impl Recorded {
        /// What was recorded since the last look (counters' increments, histograms'
        /// values).
        pub(crate) fn take(&self) -> Delta {
            Delta(
                self.0
                    .snapshot()
                    .into_vec()
                    .into_iter()
                    .map(|(key, _, _, value)| {
                        let key = key.key();
                        let mut labels: Vec<_> = key
                            .labels()
                            .map(|l| (l.key().to_owned(), l.value().to_owned()))
                            .collect();
                        labels.sort_unstable();
                        (key.name().to_owned(), labels, value)
                    })
                    .collect(),
            )
        }
    }

    impl Delta {
        fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<&DebugValue> {
            let mut want: Vec<_> = labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            want.sort_unstable();
            self.0
                .iter()
                .find(|(n, l, _)| n == name && *l == want)
                .map(|(_, _, v)| v)
        }

        /// The increments of counter `name` with exactly `labels`.
        pub(crate) fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
            match self.find(name, labels) {
                Some(DebugValue::Counter(n)) => *n,
                _ => 0,
            }
        }

        /// The values histogram `name` with exactly `labels` recorded.
        pub(crate) fn samples(&self, name: &str, labels: &[(&str, &str)]) -> usize {
            match self.find(name, labels) {
                Some(DebugValue::Histogram(v)) => v.len(),
                _ => 0,
            }
        }

        /// Every counter increment: `name{k=v,..}` and its value, for a failed
        /// assertion's message.
        pub(crate) fn counters(&self) -> Vec<(String, u64)> {
            self.0
                .iter()
                .filter_map(|(n, l, v)| match v {
                    DebugValue::Counter(c) if *c > 0 => {
                        let labels: Vec<_> = l.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        Some((format!("{n}{{{}}}", labels.join(",")), *c))
                    }
                    _ => None,
                })
                .collect()
        }
    }
}
