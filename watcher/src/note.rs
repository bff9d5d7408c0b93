//! Where the watcher keeps its memory across cold starts: a TXT record next to the
//! coordinator record (`_presto-ha-watcher.<record>`), in the stack's own zone, which
//! the watcher's role may already change. The note is advisory, so it is written with
//! UPSERT; the coordinator record itself only ever changes by compare-and-swap.

use std::future::Future;

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use presto_ha_coordinators::error_chain;
use presto_ha_coordinators::record::RecordAddress;

/// Reading and writing the watcher's note.
pub trait WatchNote {
    /// The note's text, `None` when there is none.
    fn read(
        &self,
        at: &RecordAddress,
    ) -> impl Future<Output = Result<Option<String>, String>> + Send;
    /// Replaces the note.
    fn write(
        &self,
        at: &RecordAddress,
        note: &str,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// [`WatchNote`] in Route 53.
#[derive(Debug, Clone)]
pub struct Route53Note {
    client: aws_sdk_route53::Client,
}

impl Route53Note {
    /// Wraps a client.
    pub fn new(client: aws_sdk_route53::Client) -> Self {
        Self { client }
    }
}

fn note_name(at: &RecordAddress) -> String {
    format!("_presto-ha-watcher.{}.", at.name)
}

impl WatchNote for Route53Note {
    async fn read(&self, at: &RecordAddress) -> Result<Option<String>, String> {
        let name = note_name(at);
        let listed = self
            .client
            .list_resource_record_sets()
            .hosted_zone_id(at.zone.to_string())
            .start_record_name(&name)
            .start_record_type(RrType::Txt)
            .max_items(1)
            .send()
            .await
            .map_err(|e| format!("ListResourceRecordSets failed: {}", error_chain(&e)))?;
        Ok(listed
            .resource_record_sets()
            .first()
            .filter(|set| set.r#type() == &RrType::Txt && set.name().eq_ignore_ascii_case(&name))
            .and_then(|set| set.resource_records().first())
            .map(|record| record.value().trim_matches('"').to_owned()))
    }

    async fn write(&self, at: &RecordAddress, note: &str) -> Result<(), String> {
        let failed = |e: &dyn std::error::Error| {
            format!("ChangeResourceRecordSets (note) failed: {}", error_chain(e))
        };
        // One TXT string holds at most 255 characters; a longer note keeps its start.
        let text: String = note.chars().take(255).collect();
        let record = ResourceRecord::builder()
            .value(format!("\"{text}\""))
            .build()
            .map_err(|e| failed(&e))?;
        let set = ResourceRecordSet::builder()
            .name(note_name(at))
            .r#type(RrType::Txt)
            .ttl(60)
            .resource_records(record)
            .build()
            .map_err(|e| failed(&e))?;
        let change = Change::builder()
            .action(ChangeAction::Upsert)
            .resource_record_set(set)
            .build()
            .map_err(|e| failed(&e))?;
        let batch = ChangeBatch::builder()
            .changes(change)
            .build()
            .map_err(|e| failed(&e))?;
        self.client
            .change_resource_record_sets()
            .hosted_zone_id(at.zone.to_string())
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| failed(&e))?;
        Ok(())
    }
}
