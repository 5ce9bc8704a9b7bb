//! The two kinds kronjob serves, for tests that run once per kind: a
//! `batch/v1` CronJob and a `kronjob.dev/v1alpha1` KronJob made from the
//! same [`super::cronjob`] builder. A KronJob's spec and status are
//! supersets of a CronJob's, so a test writes and reads both as the
//! k8s-openapi `CronJob` type: the object goes out with its apiVersion and
//! kind switched, through `Api<DynamicObject>`, and comes back the same way
//! (the KronJob-only status fields are dropped; [`Objects::get_json`] keeps
//! them).

use std::time::Duration;

use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::common;

/// The kind of a test's scheduled object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// `batch/v1` CronJob (drop-in mode).
    CronJob,
    /// `kronjob.dev/v1alpha1` KronJob (resource mode).
    KronJob,
}

impl Flavor {
    pub const ALL: [Flavor; 2] = [Flavor::CronJob, Flavor::KronJob];

    pub fn api_version(self) -> &'static str {
        match self {
            Flavor::CronJob => "batch/v1",
            Flavor::KronJob => "kronjob.dev/v1alpha1",
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Flavor::CronJob => "CronJob",
            Flavor::KronJob => "KronJob",
        }
    }

    /// The resource name, as `kronjob run --serve` takes it.
    pub fn plural(self) -> &'static str {
        match self {
            Flavor::CronJob => "cronjobs",
            Flavor::KronJob => "kronjobs",
        }
    }

    /// A short tag for namespace and object names (`cj`, `kj`).
    pub fn tag(self) -> &'static str {
        match self {
            Flavor::CronJob => "cj",
            Flavor::KronJob => "kj",
        }
    }

    pub fn resource(self) -> ApiResource {
        let (group, version) = self.api_version().rsplit_once('/').unwrap();
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(group, version, self.kind()),
            self.plural(),
        )
    }

    /// The object of this kind with `cj`'s metadata, spec and status.
    pub fn object(self, cj: &CronJob) -> DynamicObject {
        let mut v = serde_json::to_value(cj).expect("a CronJob is JSON");
        v["apiVersion"] = json!(self.api_version());
        v["kind"] = json!(self.kind());
        serde_json::from_value(v).expect("a DynamicObject")
    }

    /// An object of this kind read as a CronJob.
    pub fn as_cronjob(self, obj: &DynamicObject) -> CronJob {
        let mut v = serde_json::to_value(obj).expect("an object is JSON");
        v["apiVersion"] = json!("batch/v1");
        v["kind"] = json!("CronJob");
        serde_json::from_value(v)
            .unwrap_or_else(|e| panic!("{} {} as a CronJob: {e}", self.kind(), obj.name_any()))
    }
}

/// The objects of one kind in one namespace, read and written as CronJobs.
#[derive(Clone)]
pub struct Objects {
    pub flavor: Flavor,
    pub api: Api<DynamicObject>,
}

impl Objects {
    pub fn new(client: &Client, namespace: &str, flavor: Flavor) -> Objects {
        Objects {
            flavor,
            api: Api::namespaced_with(client.clone(), namespace, &flavor.resource()),
        }
    }

    pub async fn create(&self, cj: &CronJob) -> CronJob {
        let created = self
            .api
            .create(&PostParams::default(), &self.flavor.object(cj))
            .await
            .unwrap_or_else(|e| panic!("create {} {}: {e}", self.flavor.kind(), cj.name_any()));
        self.flavor.as_cronjob(&created)
    }

    pub async fn get(&self, name: &str) -> CronJob {
        self.flavor.as_cronjob(&self.get_dynamic(name).await)
    }

    /// The object as the API server has it, with every field of its kind.
    pub async fn get_json(&self, name: &str) -> Value {
        serde_json::to_value(self.get_dynamic(name).await).unwrap()
    }

    async fn get_dynamic(&self, name: &str) -> DynamicObject {
        self.api
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("get {} {name}: {e}", self.flavor.kind()))
    }

    /// A JSON merge patch of the object.
    pub async fn merge(&self, name: &str, patch: Value) -> CronJob {
        let patched = self
            .api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("patch {} {name}: {e}", self.flavor.kind()));
        self.flavor.as_cronjob(&patched)
    }

    pub async fn patch_spec(&self, name: &str, spec: Value) -> CronJob {
        self.merge(name, json!({ "spec": spec })).await
    }

    /// A JSON merge patch of the status subresource.
    pub async fn patch_status(&self, name: &str, patch: Value) {
        self.api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("patch the status of {} {name}: {e}", self.flavor.kind()));
    }

    pub async fn delete(&self, name: &str) {
        self.api
            .delete(name, &DeleteParams::background())
            .await
            .unwrap_or_else(|e| panic!("delete {} {name}: {e}", self.flavor.kind()));
    }
}

/// The KronJob CRD the chart ships.
pub fn kronjob_crd_path() -> std::path::PathBuf {
    common::repo_root().join("charts/kronjob/crds/kronjobs.yaml")
}

/// Install the KronJob CRD of `charts/kronjob/crds/kronjobs.yaml` (a
/// server-side apply, so an older version is updated) and wait until it is
/// Established; once per test binary.
pub async fn install_kronjob_crd(client: &Client) {
    static INSTALLED: OnceCell<()> = OnceCell::const_new();
    INSTALLED
        .get_or_init(|| async {
            let path = kronjob_crd_path();
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            let crd: CustomResourceDefinition =
                serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = crd.name_any();
            let api: Api<CustomResourceDefinition> = Api::all(client.clone());
            api.patch(
                &name,
                &PatchParams::apply("kronjob-tests").force(),
                &Patch::Apply(&crd),
            )
            .await
            .unwrap_or_else(|e| panic!("apply the CRD {name}: {e}"));
            common::wait_for(
                &format!("the CRD {name} to be Established"),
                Duration::from_secs(30),
                || async {
                    let crd = api.get(&name).await.map_err(|e| e.to_string())?;
                    let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
                    if conditions
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                    {
                        Ok(())
                    } else {
                        Err(format!("{conditions:?}"))
                    }
                },
            )
            .await;
        })
        .await;
}
