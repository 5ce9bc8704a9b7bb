//! Finding the object a command names: a KronJob or a batch/v1 CronJob of
//! that name in one namespace, read through the same lenient adapters as
//! the controller reads it. Shared by `explain`, `run-now` and `migrate`.

use anyhow::{Context as _, bail};
use kube::api::{ApiResource, DynamicObject};
use kube::{Api, Client};

use crate::controller::api_errors::is_not_found;
use crate::controller::compact::{CompactCronJob, CompactKronJob};
use crate::model::{Kind, Scheduled};

/// `--kind`: `cronjob` or `kronjob` (also the plural, the short name, and
/// the kind as Kubernetes spells it).
pub fn parse_kind(s: &str) -> Result<Kind, String> {
    match s.to_ascii_lowercase().as_str() {
        "cronjob" | "cronjobs" | "cj" => Ok(Kind::CronJob),
        "kronjob" | "kronjobs" | "kj" => Ok(Kind::KronJob),
        _ => Err(format!("{s:?} is not a kind: cronjob or kronjob")),
    }
}

/// The API resource of a kind, for untyped (`DynamicObject`) access.
pub fn api_resource(kind: Kind) -> ApiResource {
    ApiResource {
        group: kind.group().into(),
        version: kind.version().into(),
        api_version: kind.api_version().into(),
        kind: kind.kind().into(),
        plural: kind.plural().into(),
    }
}

/// The untyped API of a kind in a namespace.
pub fn dynamic_api(client: &Client, ns: &str, kind: Kind) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &api_resource(kind))
}

/// The object of `kind` named `name`, decoded, or None if there is none (a
/// cluster without the KronJob CRD has no KronJobs).
pub async fn get(
    client: &Client,
    ns: &str,
    name: &str,
    kind: Kind,
) -> anyhow::Result<Option<Scheduled>> {
    let what = || format!("reading {} {ns}/{name}", kind.kind());
    // A 404 without a Status body is a resource the server does not serve
    // (no KronJob CRD): no object either.
    fn absent_if_404<T>(r: Result<Option<T>, kube::Error>) -> Result<Option<T>, kube::Error> {
        match r {
            Err(e) if is_not_found(&e) => Ok(None),
            r => r,
        }
    }
    let decoded = match kind {
        Kind::CronJob => absent_if_404(
            Api::<CompactCronJob>::namespaced(client.clone(), ns)
                .get_opt(name)
                .await,
        )
        .with_context(what)?
        .map(|c| c.scheduled().cloned().map_err(|e| e.reason.clone())),
        Kind::KronJob => absent_if_404(
            Api::<CompactKronJob>::namespaced(client.clone(), ns)
                .get_opt(name)
                .await,
        )
        .with_context(what)?
        .map(|c| c.scheduled().cloned().map_err(|e| e.reason.clone())),
    };
    match decoded {
        None => Ok(None),
        Some(Ok(s)) => Ok(Some(s)),
        Some(Err(reason)) => bail!("{} {ns}/{name} cannot be read: {reason}", kind.kind()),
    }
}

/// The object a command names. With `kind`, that kind; without, the
/// KronJob of that name, else the CronJob; both existing is an error that
/// asks for `--kind`, as either could be meant.
pub async fn find(
    client: &Client,
    ns: &str,
    name: &str,
    kind: Option<Kind>,
) -> anyhow::Result<Scheduled> {
    if let Some(kind) = kind {
        return get(client, ns, name, kind)
            .await?
            .with_context(|| format!("{} {ns}/{name} not found", kind.kind()));
    }
    let kronjob = get(client, ns, name, Kind::KronJob).await?;
    let cronjob = get(client, ns, name, Kind::CronJob).await?;
    match (kronjob, cronjob) {
        (Some(_), Some(_)) => bail!(
            "both a KronJob and a CronJob named {ns}/{name} exist: choose one with --kind kronjob or --kind cronjob"
        ),
        (Some(k), None) => Ok(k),
        (None, Some(c)) => Ok(c),
        (None, None) => bail!("no KronJob or CronJob named {ns}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_any_usual_name() {
        for s in ["cronjob", "CronJob", "cronjobs", "cj"] {
            assert_eq!(parse_kind(s), Ok(Kind::CronJob));
        }
        for s in ["kronjob", "KronJob", "kronjobs", "kj"] {
            assert_eq!(parse_kind(s), Ok(Kind::KronJob));
        }
        assert!(
            parse_kind("job")
                .unwrap_err()
                .contains("cronjob or kronjob")
        );
    }

    #[test]
    fn api_resources() {
        let r = api_resource(Kind::KronJob);
        assert_eq!(
            (r.group.as_str(), r.version.as_str(), r.plural.as_str()),
            ("kronjob.dev", "v1alpha1", "kronjobs")
        );
        assert_eq!(api_resource(Kind::CronJob).api_version, "batch/v1");
    }
}
