//! Which finished rows may be deleted (by `purge` and by the retention prune) without losing what
//! keeps a visitor's order.
//!
//! `retry` refuses to send a failed row while a newer row of its visitor is delivered, because the
//! failed row's older value would then overwrite the newer one at Target. That refusal can only
//! see rows that are still in the table: so a delivered row is kept while an older row of its
//! visitor is failed. Once the failed row is retried and delivered, or cancelled, the delivered
//! row goes with the next prune or purge.

/// A condition on the `outbox` rows of a DELETE (or of the count a purge reports): true for a
/// delivered row that a failed, older row of its visitor still needs kept.
pub const KEPT_FOR_ORDER: &str = "(outbox.state = 'delivered' AND EXISTS (
        SELECT 1 FROM outbox f INDEXED BY outbox_failed_visitor
        WHERE f.visitor = outbox.visitor AND f.state = 'failed' AND f.id < outbox.id))";
