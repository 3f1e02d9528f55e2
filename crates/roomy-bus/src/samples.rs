//! Envelopes of every [`Event`] variant, with every optional part filled in
//! one sample or another, for the wire tests and the behaviour suite.

use crate::{Envelope, Event, Origin};
use roomy_core::chat_fields::{MemberRole, MessageKind, RoomKind};
use roomy_core::social_fields::RequestStatus;
use roomy_core::{FileId, MessageId, RoomId, SessionId, UserId};
use roomy_store::{
    FileRef, FriendRequest, Member, Message, Notice, NoticeEvent, NoticeKind, Room, UserBrief,
};
use time::OffsetDateTime;
use time::macros::datetime;

/// Every variant's name; [`name`] has one arm per variant, so a new variant
/// does not compile until it is named here and given a sample.
pub(crate) const VARIANTS: [&str; 11] = [
    "message",
    "members_joined",
    "member_left",
    "room_updated",
    "notice",
    "revoked",
    "sessions_ended",
    "presence",
    "presence_lease",
    "typing",
    "file_updated",
];

/// The variant's name.
pub(crate) fn name(event: &Event) -> &'static str {
    match event {
        Event::Message(_) => "message",
        Event::MembersJoined { .. } => "members_joined",
        Event::MemberLeft { .. } => "member_left",
        Event::RoomUpdated { .. } => "room_updated",
        Event::Notice(_) => "notice",
        Event::Revoked { .. } => "revoked",
        Event::SessionsEnded { .. } => "sessions_ended",
        Event::Presence { .. } => "presence",
        Event::PresenceLease { .. } => "presence_lease",
        Event::Typing { .. } => "typing",
        Event::FileUpdated(_) => "file_updated",
    }
}

/// A moment with nanoseconds, so precision lost on the wire shows.
const T: OffsetDateTime = datetime!(2026-03-04 05:06:07.123_456_789 UTC);

fn brief(id: i64) -> UserBrief {
    UserBrief {
        id: UserId(id),
        nickname: format!("Ünïcödé 用户 {id} \"quoted\"\n"),
        avatar: (id % 2 == 0).then(|| format!("https://example.com/a/{id}.png")),
    }
}

fn room(dissolved: bool) -> Room {
    Room {
        id: RoomId(12),
        kind: RoomKind::Group,
        name: Some("Group ✨".into()),
        avatar: None,
        created_by: UserId(1),
        created_at: T,
        updated_at: T + time::Duration::seconds(90),
        last_seq: 41,
        member_count: 3,
        dissolved_at: dissolved.then_some(T + time::Duration::days(2)),
    }
}

fn member(id: i64, role: MemberRole) -> Member {
    Member {
        room_id: RoomId(12),
        user: brief(id),
        role,
        joined_at: T,
        group_nickname: (id == 2).then(|| "nick".into()),
        group_avatar: None,
        read_seq: (id != 3).then_some(40),
    }
}

fn file() -> FileRef {
    FileRef {
        id: FileId(77),
        name: "holiday photo (1).jpg".into(),
        size: 3_456_789,
        mime: "image/jpeg".into(),
        thumbnail: true,
        cover: false,
    }
}

fn message(seq: i64) -> Message {
    Message {
        id: MessageId(1000 + seq),
        room_id: RoomId(12),
        seq,
        sender: brief(2),
        client_id: Some(format!("c-{seq}")),
        kind: MessageKind::Image,
        body: Some("look 👀 <b>not html</b>".into()),
        created_at: T,
        revoked: false,
        event: None,
        ref_id: None,
        file: Some(Box::new(file())),
    }
}

fn request(status: RequestStatus, answered: bool) -> FriendRequest {
    FriendRequest {
        id: 5,
        from: brief(1),
        to: brief(2),
        note: Some("hi, it's me".into()),
        status,
        created_at: T,
        answered_at: answered.then_some(T + time::Duration::minutes(3)),
    }
}

fn notice(id: i64, kind: NoticeKind) -> Envelope {
    env(
        &[2],
        Event::Notice(Notice {
            id: MessageId(id),
            user: UserId(2),
            kind,
            created_at: T,
        }),
        None,
    )
}

fn env(recipients: &[i64], event: Event, origin: Option<Origin>) -> Envelope {
    Envelope {
        recipients: recipients.iter().copied().map(UserId).collect(),
        event,
        origin,
    }
}

/// Envelopes of every variant (and of every kind of notice).
pub(crate) fn every_event() -> Vec<Envelope> {
    let origin = |request: Option<&str>| {
        Some(Origin {
            node: u64::MAX - 1,
            conn: 9,
            request: request.map(str::to_owned),
        })
    };
    let revoked = Message {
        body: None,
        revoked: true,
        file: None,
        kind: MessageKind::Text,
        ..message(7)
    };
    let notice_msg = Message {
        kind: MessageKind::System,
        body: None,
        client_id: None,
        event: Some(NoticeEvent::Revoked),
        ref_id: Some(MessageId(1007)),
        file: None,
        ..message(42)
    };
    vec![
        env(
            &[1, 2, 3],
            Event::Message(message(41)),
            origin(Some("\"a1\"")),
        ),
        env(
            &[1, 2],
            Event::Message(Message {
                kind: MessageKind::System,
                event: Some(NoticeEvent::Dissolved),
                client_id: None,
                body: None,
                file: None,
                ..message(43)
            }),
            None,
        ),
        env(
            &[1, 2, 3],
            Event::MembersJoined {
                room: room(false),
                members: vec![
                    member(1, MemberRole::Owner),
                    member(2, MemberRole::Admin),
                    member(3, MemberRole::Member),
                ],
            },
            origin(Some("7")),
        ),
        env(
            &[1, 3],
            Event::MemberLeft {
                room: room(true),
                user: UserId(3),
            },
            None,
        ),
        env(
            &[1, 2],
            Event::RoomUpdated {
                room: room(false),
                members: vec![],
            },
            origin(None),
        ),
        notice(
            2001,
            NoticeKind::FriendRequest(request(RequestStatus::Pending, false)),
        ),
        notice(
            2002,
            NoticeKind::FriendAccepted {
                request: request(RequestStatus::Agree, true),
                room: RoomId(13),
            },
        ),
        notice(
            2003,
            NoticeKind::Read {
                room: RoomId(12),
                reader: UserId(1),
                seq: 41,
            },
        ),
        notice(
            2004,
            NoticeKind::Hidden {
                messages: vec![MessageId(1), MessageId(i64::MAX)],
            },
        ),
        notice(
            2005,
            NoticeKind::Favorite {
                message: MessageId(1041),
                favorite: true,
            },
        ),
        notice(
            2006,
            NoticeKind::Left {
                room: RoomId(12),
                by: UserId(1),
            },
        ),
        env(
            &[2, 3],
            Event::Revoked {
                message: revoked,
                notice: notice_msg,
                by_admin: true,
            },
            origin(Some("\"r\"")),
        ),
        env(
            &[2],
            Event::SessionsEnded {
                user: UserId(2),
                except: Some(SessionId(8)),
                only: None,
                disabled: false,
            },
            None,
        ),
        env(
            &[2],
            Event::SessionsEnded {
                user: UserId(2),
                except: None,
                only: Some(SessionId(9)),
                disabled: true,
            },
            None,
        ),
        env(
            &[1, 3],
            Event::Presence {
                user: UserId(2),
                online: true,
                node: u64::MAX,
            },
            None,
        ),
        env(
            &[],
            Event::PresenceLease {
                node: 1 << 63,
                users: vec![UserId(2), UserId(5)],
            },
            None,
        ),
        env(
            &[1, 3],
            Event::Typing {
                room: RoomId(12),
                user: UserId(2),
            },
            None,
        ),
        env(&[2, 1], Event::FileUpdated(file()), None),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::network::{decode, encode};
    use std::collections::BTreeSet;

    #[test]
    fn the_samples_cover_every_variant() {
        let seen: BTreeSet<&str> = every_event().iter().map(|e| name(&e.event)).collect();
        assert_eq!(seen, VARIANTS.into_iter().collect());
    }

    #[test]
    fn every_event_round_trips_through_the_wire_format() {
        for envelope in every_event() {
            let bytes = encode(42, 9, &envelope).unwrap();
            let wire = decode(&bytes).unwrap();
            assert_eq!((wire.node, wire.seq, &wire.env), (42, 9, &envelope));
            // Plain JSON, readable in a capture.
            let text = std::str::from_utf8(&bytes).unwrap();
            assert!(
                text.starts_with(r#"{"v":1,"node":42,"seq":9,"env":{"#),
                "{text}"
            );
        }
    }

    #[test]
    fn the_wire_names_are_stable() {
        let e = &every_event()[0];
        let json: serde_json::Value = serde_json::from_slice(&encode(1, 1, e).unwrap()).unwrap();
        let message = &json["env"]["event"]["message"];
        assert_eq!(message["created_at"], "2026-03-04T05:06:07.123456789Z");
        assert_eq!(message["kind"], "image");
        assert_eq!(json["env"]["origin"]["request"], "\"a1\"");
    }
}
