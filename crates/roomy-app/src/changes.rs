//! Turning committed room changes into the envelopes that announce them.

use roomy_bus::{Envelope, Event};
use roomy_core::UserId;
use roomy_store::RoomChange;

/// What kind of change a [`RoomChange`] records.
#[derive(Debug, Clone, Copy)]
pub enum ChangeKind {
    /// Members were added (or the room was created with them).
    Joined,
    /// This user left or was removed.
    Left(UserId),
    /// The room's profile or a member's role changed.
    Updated,
}

/// The structural event, then the notice message (if one was written), each
/// for everyone the change concerns, then the per-user events (in position order).
pub fn change_envelopes(change: &RoomChange, kind: ChangeKind) -> Vec<Envelope> {
    let event = match kind {
        ChangeKind::Joined => Event::MembersJoined {
            room: change.room.clone(),
            members: change.members.clone(),
        },
        ChangeKind::Left(user) => Event::MemberLeft {
            room: change.room.clone(),
            user,
        },
        ChangeKind::Updated => Event::RoomUpdated {
            room: change.room.clone(),
            members: change.members.clone(),
        },
    };
    let mut out = vec![Envelope {
        recipients: change.recipients.clone(),
        event,
        origin: None,
    }];
    if let Some(notice) = &change.notice {
        out.push(Envelope {
            recipients: change.recipients.clone(),
            event: Event::Message(notice.clone()),
            origin: None,
        });
    }
    for notice in &change.notices {
        out.push(Envelope {
            recipients: vec![notice.user],
            event: Event::Notice(notice.clone()),
            origin: None,
        });
    }
    out
}
