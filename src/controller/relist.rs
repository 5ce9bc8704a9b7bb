//! Relists that lose nothing.
//!
//! After a 410 Gone or an API-server restart a watcher lists everything
//! again: `Init`, one `InitApply` per object, `InitDone`. The caches build
//! the new contents aside and swap them in at `InitDone`, so a sync
//! triggered by an `InitApply` would still read the old contents: a
//! CronJob created during the gap is not in the cache yet (its sync is
//! dropped), a Job that finished still looks running, and nothing wakes the
//! CronJob again once the swap is done. A CronJob deleted during the gap
//! simply vanishes at the swap, without a delete event to drop its metric
//! series and bookkeeping.
//!
//! [`settle_relists`] holds the triggers of a relist back until its
//! `InitDone` has been applied, then triggers exactly the objects the
//! relist changed (new, or a different resourceVersion), and reports the
//! ones it dropped as deletions.

use std::sync::Arc;

use futures::{Stream, StreamExt, stream};
use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use parking_lot::Mutex;

/// What [`settle_relists`] needs to know of the cache a stream feeds.
pub trait RelistedCache<K> {
    /// The resourceVersion the cache holds for `obj` now: during a relist,
    /// the version from before it.
    fn version_before(&self, obj: &K) -> Option<String>;
    /// The object the cache holds under this key now, if it keeps it.
    fn current(&self, namespace: Option<&str>, name: &str) -> Option<K>;
    /// A relist starts (`Init` has been applied).
    fn relist_started(&self) {}
    /// The objects the relist that just completed dropped: in the cache
    /// before, absent (or replaced by another object) after.
    fn vanished(&self) -> Vec<K>;
}

/// See the module documentation. The stream must already have been applied
/// to the cache (`reflect` or `inspect_ok(apply)` before this).
///
/// Only the keys of the changed objects are held until `InitDone`, and the
/// objects are read back from the cache one at a time as they are passed
/// on: the first list changes every object, and a copy of each (1.3 KB a
/// Job) would double the memory the caches need at start-up and at every
/// relist.
pub fn settle_relists<K, S, C>(
    events: S,
    cache: C,
) -> impl Stream<Item = Result<Event<K>, watcher::Error>> + Send
where
    K: Resource + Clone + Send + 'static,
    S: Stream<Item = Result<Event<K>, watcher::Error>> + Send,
    C: RelistedCache<K> + Send + Sync + 'static,
{
    type Out<K> = Box<dyn Iterator<Item = Result<Event<K>, watcher::Error>> + Send>;
    let cache = Arc::new(cache);
    let mut changed: Vec<(Option<String>, String)> = Vec::new();
    events.flat_map(move |item| {
        let out: Out<K> = match item {
            Ok(Event::Init) => {
                changed = Vec::new();
                cache.relist_started();
                Box::new(std::iter::once(Ok(Event::Init)))
            }
            Ok(Event::InitApply(obj)) => {
                if cache.version_before(&obj) != obj.meta().resource_version {
                    let meta = obj.meta();
                    changed.push((
                        meta.namespace.clone(),
                        meta.name.clone().unwrap_or_default(),
                    ));
                }
                Box::new(std::iter::empty())
            }
            Ok(Event::InitDone) => {
                let vanished = cache.vanished();
                let current = cache.clone();
                let applied = std::mem::take(&mut changed)
                    .into_iter()
                    .filter_map(move |(ns, name)| current.current(ns.as_deref(), &name))
                    .map(|o| Ok(Event::Apply(o)));
                Box::new(
                    std::iter::once(Ok(Event::InitDone))
                        .chain(applied)
                        .chain(vanished.into_iter().map(|o| Ok(Event::Delete(o)))),
                )
            }
            other => Box::new(std::iter::once(other)),
        };
        stream::iter(out)
    })
}

/// [`RelistedCache`] over a kube-runtime reflector store.
pub struct StoreRelist<K: Resource<DynamicType = ()> + 'static> {
    store: Store<K>,
    /// The store's contents when the relist started.
    before: Mutex<Vec<Arc<K>>>,
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> StoreRelist<K> {
    pub fn new(store: Store<K>) -> Self {
        StoreRelist {
            store,
            before: Mutex::default(),
        }
    }
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> RelistedCache<K> for StoreRelist<K> {
    fn version_before(&self, obj: &K) -> Option<String> {
        self.store
            .get(&ObjectRef::from_obj(obj))
            .and_then(|o| o.meta().resource_version.clone())
    }

    fn current(&self, namespace: Option<&str>, name: &str) -> Option<K> {
        let key = ObjectRef::new(name);
        let key = match namespace {
            Some(ns) => key.within(ns),
            None => key,
        };
        self.store.get(&key).map(|o| (*o).clone())
    }

    fn relist_started(&self) {
        *self.before.lock() = self.store.state();
    }

    fn vanished(&self) -> Vec<K> {
        std::mem::take(&mut *self.before.lock())
            .into_iter()
            .filter(|old| {
                self.store
                    .get(&ObjectRef::from_obj(&**old))
                    .is_none_or(|new| new.meta().uid != old.meta().uid)
            })
            .map(|old| (*old).clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::reflector;

    fn cm(name: &str, uid: &str, rv: &str) -> ConfigMap {
        let mut c = ConfigMap::default();
        c.metadata.name = Some(name.into());
        c.metadata.namespace = Some("ns".into());
        c.metadata.uid = Some(uid.into());
        c.metadata.resource_version = Some(rv.into());
        c
    }

    fn names(events: &[Event<ConfigMap>]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                Event::Apply(o) => format!("apply {}", o.metadata.name.as_deref().unwrap()),
                Event::Delete(o) => format!("delete {}", o.metadata.name.as_deref().unwrap()),
                Event::Init => "init".into(),
                Event::InitApply(o) => {
                    format!("init-apply {}", o.metadata.name.as_deref().unwrap())
                }
                Event::InitDone => "init-done".into(),
            })
            .collect()
    }

    #[tokio::test]
    async fn a_relist_triggers_what_changed_after_the_swap_and_reports_what_vanished() {
        let (reader, mut writer) = reflector::store::<ConfigMap>();
        let first = vec![
            Event::Init,
            Event::InitApply(cm("same", "u1", "1")),
            Event::InitApply(cm("edited", "u2", "1")),
            Event::InitApply(cm("deleted", "u3", "1")),
            Event::InitApply(cm("recreated", "u4", "1")),
            Event::InitDone,
            Event::Apply(cm("watched", "u5", "2")),
        ];
        let relist = vec![
            Event::Init,
            Event::InitApply(cm("same", "u1", "1")),
            Event::InitApply(cm("edited", "u2", "7")),
            Event::InitApply(cm("recreated", "u9", "7")),
            Event::InitApply(cm("watched", "u5", "2")),
            Event::InitApply(cm("created", "u6", "7")),
            Event::InitDone,
        ];
        let reader2 = reader.clone();
        let events: Vec<_> = first.into_iter().chain(relist).map(Ok).collect();
        let out: Vec<Event<ConfigMap>> = settle_relists(
            stream::iter(events).map(move |e: Result<Event<ConfigMap>, watcher::Error>| {
                if let Ok(ev) = &e {
                    writer.apply_watcher_event(ev);
                }
                e
            }),
            StoreRelist::new(reader2),
        )
        .filter_map(|e| async move { e.ok() })
        .collect()
        .await;
        let mut seen = names(&out);
        // Vanished objects come in the store's (hash) order.
        let n = seen.len();
        seen[n - 2..].sort();
        assert_eq!(
            seen,
            [
                // The first list: everything is new, triggered once listed.
                "init",
                "init-done",
                "apply same",
                "apply edited",
                "apply deleted",
                "apply recreated",
                "apply watched",
                // The relist: only what changed, after the swap.
                "init",
                "init-done",
                "apply edited",
                "apply recreated",
                "apply created",
                "delete deleted",
                "delete recreated",
            ]
        );
        // The vanished "recreated" is the old object (its old UID).
        let old = out
            .iter()
            .find_map(|e| match e {
                Event::Delete(o) if o.metadata.name.as_deref() == Some("recreated") => Some(o),
                _ => None,
            })
            .unwrap();
        assert_eq!(old.metadata.uid.as_deref(), Some("u4"));
        assert_eq!(reader.state().len(), 5);
    }
}
