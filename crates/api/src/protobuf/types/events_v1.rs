//! The messages of events.k8s.io/v1.

use super::super::schema::*;
use super::core_v1;
use super::meta_v1;

const PKG: &str = "events.k8s.io/v1";

msg! { Event [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "eventTime", Keep(M(&meta_v1::MicroTime))),
    (3, "series", Keep(M(&EventSeries))),
    (4, "reportingController", Omit(Str)),
    (5, "reportingInstance", Omit(Str)),
    (6, "action", Omit(Str)),
    (7, "reason", Omit(Str)),
    (8, "regarding", Keep(M(&core_v1::ObjectReference))),
    (9, "related", Keep(M(&core_v1::ObjectReference))),
    (10, "note", Omit(Str)),
    (11, "type", Omit(Str)),
    (12, "deprecatedSource", Keep(M(&core_v1::EventSource))),
    (13, "deprecatedFirstTimestamp", Keep(M(&meta_v1::Time))),
    (14, "deprecatedLastTimestamp", Keep(M(&meta_v1::Time))),
    (15, "deprecatedCount", Omit(I32)),
] }
msg! { EventList [(1, "metadata", Keep(M(&meta_v1::ListMeta))), (2, "items", Rep(M(&Event)))] }
msg! { EventSeries [
    (1, "count", Keep(I32)),
    (2, "lastObservedTime", Keep(M(&meta_v1::MicroTime))),
] }

/// The kinds an object of this group version may have.
pub static KINDS: &[&Msg] = &[&Event, &EventList];
