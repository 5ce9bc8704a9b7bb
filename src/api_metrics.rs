//! Every request of kronjob's own client counted and timed by verb,
//! resource and response code, as client-go's `rest_client_requests_total`
//! does: when the API server is slow or refuses (403, 429, 5xx), this is
//! where an operator sees which calls suffer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Method, Request, Response};
use prometheus::{HistogramVec, IntCounterVec};

/// The series a client records into (registered in `crate::metrics`).
#[derive(Clone)]
pub struct ApiMetrics {
    pub requests: IntCounterVec,
    pub duration: HistogramVec,
}

/// The Kubernetes verb and resource of a request, from its method, path
/// and query: `("create", "jobs")`, `("patch", "cronjobs/status")`,
/// `("watch", "jobs")`; paths that name no resource give `"-"`.
pub fn classify(method: &Method, path: &str, query: Option<&str>) -> (&'static str, String) {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // /api/v1/... or /apis/<group>/<version>/...
    let rest = match segments.as_slice() {
        ["api", _version, rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => &[][..],
    };
    let rest = match rest {
        ["namespaces", _ns, resource, more @ ..] => {
            let mut r = vec![*resource];
            r.extend_from_slice(more);
            r
        }
        other => other.to_vec(),
    };
    let (resource, named) = match rest.as_slice() {
        [] => ("-".to_owned(), false),
        [resource] => ((*resource).to_owned(), false),
        [resource, _name] => ((*resource).to_owned(), true),
        [resource, _name, sub, ..] => (format!("{resource}/{sub}"), true),
    };
    let watching =
        query.is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let verb = match *method {
        Method::GET if watching => "watch",
        Method::GET if named => "get",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => "other",
    };
    (verb, resource)
}

/// A client service that records each request into [`ApiMetrics`]. The
/// duration is until the response headers (for a watch: until it starts).
#[derive(Clone)]
pub struct Observed<S> {
    inner: S,
    metrics: Option<ApiMetrics>,
}

impl<S> Observed<S> {
    pub fn new(inner: S, metrics: Option<ApiMetrics>) -> Self {
        Observed { inner, metrics }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for Observed<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let Some(metrics) = self.metrics.clone() else {
            return Box::pin(self.inner.call(req));
        };
        let (verb, resource) = classify(req.method(), req.uri().path(), req.uri().query());
        let started = Instant::now();
        let response = self.inner.call(req);
        Box::pin(async move {
            let result = response.await;
            let code = match &result {
                Ok(r) => r.status().as_u16().to_string(),
                Err(_) => "error".to_owned(),
            };
            metrics
                .requests
                .with_label_values(&[verb, resource.as_str(), code.as_str()])
                .inc();
            metrics
                .duration
                .with_label_values(&[verb, resource.as_str()])
                .observe(started.elapsed().as_secs_f64());
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_named_by_kubernetes_verb_and_resource() {
        let cases: &[(Method, &str, Option<&str>, &str, &str)] = &[
            (
                Method::POST,
                "/apis/batch/v1/namespaces/ns/jobs",
                None,
                "create",
                "jobs",
            ),
            (
                Method::GET,
                "/apis/batch/v1/namespaces/ns/jobs/j",
                None,
                "get",
                "jobs",
            ),
            (
                Method::GET,
                "/apis/batch/v1/jobs",
                Some("limit=500"),
                "list",
                "jobs",
            ),
            (
                Method::GET,
                "/apis/batch/v1/jobs",
                Some("resourceVersion=1&watch=true&timeoutSeconds=290"),
                "watch",
                "jobs",
            ),
            (
                Method::PATCH,
                "/apis/batch/v1/namespaces/ns/cronjobs/c/status",
                None,
                "patch",
                "cronjobs/status",
            ),
            (
                Method::PATCH,
                "/apis/kronjob.dev/v1alpha1/namespaces/ns/kronjobs/k/status",
                None,
                "patch",
                "kronjobs/status",
            ),
            (
                Method::DELETE,
                "/apis/batch/v1/namespaces/ns/jobs/j",
                None,
                "delete",
                "jobs",
            ),
            (
                Method::DELETE,
                "/apis/batch/v1/namespaces/ns/jobs",
                None,
                "deletecollection",
                "jobs",
            ),
            (
                Method::PUT,
                "/apis/coordination.k8s.io/v1/namespaces/ns/leases/kronjob",
                None,
                "update",
                "leases",
            ),
            (
                Method::POST,
                "/apis/events.k8s.io/v1/namespaces/ns/events",
                None,
                "create",
                "events",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/ns",
                None,
                "get",
                "namespaces",
            ),
            (
                Method::GET,
                "/api/v1/namespaces",
                None,
                "list",
                "namespaces",
            ),
            (Method::GET, "/version", None, "list", "-"),
            (Method::GET, "/", None, "list", "-"),
        ];
        for (method, path, query, verb, resource) in cases {
            assert_eq!(
                classify(method, path, *query),
                (*verb, (*resource).to_owned()),
                "{method} {path}"
            );
        }
    }

    #[tokio::test]
    async fn each_request_is_counted_with_its_code() {
        let metrics = crate::metrics::Metrics::new();
        let api = metrics.api_metrics();
        let inner = tower::service_fn(|req: Request<()>| async move {
            let code = if req.method() == Method::POST {
                201
            } else {
                403
            };
            Ok::<_, std::convert::Infallible>(Response::builder().status(code).body(()).unwrap())
        });
        let mut svc = Observed::new(inner, Some(api.clone()));
        use tower::{Service, ServiceExt};
        for (method, path) in [
            (Method::POST, "/apis/batch/v1/namespaces/ns/jobs"),
            (Method::POST, "/apis/batch/v1/namespaces/ns/jobs"),
            (Method::GET, "/apis/batch/v1/namespaces/ns/jobs/x"),
        ] {
            let req = Request::builder()
                .method(method)
                .uri(path)
                .body(())
                .unwrap();
            svc.ready().await.unwrap().call(req).await.unwrap();
        }
        let count = |labels: &[&str]| api.requests.with_label_values(labels).get();
        assert_eq!(count(&["create", "jobs", "201"]), 2);
        assert_eq!(count(&["get", "jobs", "403"]), 1);
        assert_eq!(
            api.duration
                .with_label_values(&["create", "jobs"])
                .get_sample_count(),
            2
        );
    }
}
