//! Catching a node up from the database: the envelopes a range of stream
//! positions held, as the bus would have carried them, for a hub that
//! missed some (the bus is lossy; the database is the authority).

use crate::App;
use roomy_bus::{Envelope, Event};
use roomy_core::MessageId;
use roomy_store::{NoticeEvent, StoreError};

/// Most positions one replay reads; a hub further behind resyncs its clients.
pub const REPLAY_MAX: i64 = 5_000;

impl App {
    /// The live events committed at positions in `(after, upto]`, each with
    /// its position, in order. A message goes to its room's members now (not
    /// at the time it was sent: the difference is a membership change in
    /// between, whose own notices say so); a revocation notice comes back
    /// as the revocation it announced. No origin: nobody's request is
    /// answered by a replayed event (a sender whose ack was lost resends
    /// with the same client id and gets the stored message).
    pub async fn replay(
        &self,
        after: MessageId,
        upto: MessageId,
    ) -> Result<Vec<(i64, Envelope)>, StoreError> {
        let read = self.store.replay(after, upto).await?;
        let mut out = Vec::with_capacity(read.messages.len() + read.notices.len());
        for (message, recipients) in read.messages {
            let revoked = match (message.event, message.ref_id) {
                (Some(e @ (NoticeEvent::Revoked | NoticeEvent::Removed)), Some(target)) => self
                    .store
                    .message(target)
                    .await?
                    .map(|m| (m, e == NoticeEvent::Removed)),
                _ => None,
            };
            let position = message.id.0;
            let event = match revoked {
                Some((target, by_admin)) => Event::Revoked {
                    message: target,
                    notice: message,
                    by_admin,
                },
                None => Event::Message(message),
            };
            out.push((
                position,
                Envelope {
                    recipients,
                    event,
                    origin: None,
                },
            ));
        }
        for notice in read.notices {
            out.push((
                notice.id.0,
                Envelope {
                    recipients: vec![notice.user],
                    event: Event::Notice(notice),
                    origin: None,
                },
            ));
        }
        out.sort_by_key(|(position, _)| *position);
        Ok(out)
    }
}
