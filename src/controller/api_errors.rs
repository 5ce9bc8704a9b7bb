//! Classifying API server errors the way upstream's controller does.

use kube::core::Status;

fn status(err: &kube::Error) -> Option<&Status> {
    match err {
        kube::Error::Api(s) => Some(s),
        _ => None,
    }
}

pub fn is_not_found(err: &kube::Error) -> bool {
    status(err).is_some_and(|s| s.code == 404)
}

/// 409 with reason AlreadyExists (a create hit an existing name).
pub fn is_already_exists(err: &kube::Error) -> bool {
    status(err).is_some_and(|s| s.code == 409 && s.reason == "AlreadyExists")
}

/// 409 Conflict: our resourceVersion precondition failed.
pub fn is_conflict(err: &kube::Error) -> bool {
    status(err).is_some_and(|s| s.code == 409 && s.reason != "AlreadyExists")
}

/// The namespace is being deleted: every create will fail until it is gone.
pub fn is_namespace_terminating(err: &kube::Error) -> bool {
    status(err)
        .and_then(|s| s.details.as_ref())
        .is_some_and(|d| d.causes.iter().any(|c| c.reason == "NamespaceTerminating"))
}

/// The request itself is wrong (e.g. a jobTemplate the server rejects):
/// retrying it unchanged cannot succeed, so it is not retried in a loop.
pub fn is_permanent(err: &kube::Error) -> bool {
    status(err).is_some_and(|s| s.code == 400 || s.code == 422)
}

/// The text Go's `%v` prints for an API error: the server's message.
pub fn message(err: &kube::Error) -> String {
    match status(err) {
        Some(s) if !s.message.is_empty() => s.message.clone(),
        _ => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, reason: &str) -> kube::Error {
        kube::Error::Api(Box::new(Status {
            code,
            reason: reason.into(),
            message: "msg".into(),
            ..Status::failure("msg", reason)
        }))
    }

    #[test]
    fn classifies_like_upstream() {
        assert!(is_already_exists(&api(409, "AlreadyExists")));
        assert!(!is_conflict(&api(409, "AlreadyExists")));
        assert!(is_conflict(&api(409, "Conflict")));
        assert!(is_not_found(&api(404, "NotFound")));
        assert!(is_permanent(&api(422, "Invalid")));
        assert!(
            !is_permanent(&api(403, "Forbidden")),
            "quota refusals are transient"
        );
        // The body the API server sends when creating in a terminating namespace.
        let s: Status = serde_json::from_value(serde_json::json!({
            "status": "Failure", "code": 403, "reason": "Forbidden",
            "message": "jobs.batch \"x\" is forbidden: unable to create new content in namespace t because it is being terminated",
            "details": {"name": "x", "group": "batch", "kind": "jobs",
                        "causes": [{"reason": "NamespaceTerminating", "message": "namespace t is being terminated", "field": "metadata.namespace"}]}
        }))
        .unwrap();
        assert!(is_namespace_terminating(&kube::Error::Api(Box::new(s))));
        assert!(!is_namespace_terminating(&api(403, "Forbidden")));
        assert_eq!(message(&api(422, "Invalid")), "msg");
    }
}
