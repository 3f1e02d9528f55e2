//! The TypeScript types of the wire contract, for the web client: the HTTP
//! bodies, the error body and its codes, and the WebSocket frames, all in one
//! file (`web/src/api/wire.ts`). They are derived from the serde types
//! themselves, so a change to a body changes its type in the same commit;
//! docs/wire-types.md says how serde's attributes map to TypeScript.

use crate::{codes::ErrorCode, dto, error, pagination, protocol};
use roomy_core::{
    FileId, MessageId, Role, RoomId, SessionId, UserId,
    chat_fields::{MemberRole, MessageKind, RoomKind},
    social_fields::RequestStatus,
};
use std::collections::BTreeSet;
use ts_rs::{Config, TS};

/// The file the web client imports, relative to the workspace root.
pub const PATH: &str = "web/src/api/wire.ts";

/// The command that regenerates [`PATH`] (the drift test writes it when asked).
pub const REGENERATE: &str =
    "ROOMY_WRITE_WIRE_TYPES=1 cargo test -p roomy-api --test router wire_types";

/// Why the file cannot be generated: its list of types is incomplete or ambiguous.
#[derive(Debug, thiserror::Error)]
pub enum WireTsError {
    /// A declared type refers to one the list leaves out.
    #[error("`{by}` refers to `{name}`, which wire_ts does not declare: add it to its list")]
    Undeclared {
        /// The missing type, as TypeScript names it.
        name: String,
        /// The declared type that refers to it.
        by: String,
    },
    /// Two listed types have one TypeScript name.
    #[error("two types are named `{0}` in TypeScript: rename one with #[ts(rename)]")]
    Duplicate(String),
}

/// One `export type` of the file.
struct Decl {
    name: String,
    text: String,
    /// The names it refers to.
    deps: Vec<String>,
}

/// The declaration of `T`, with its doc comment as JSDoc.
fn decl<T: TS + ?Sized + 'static>(cfg: &Config) -> Decl {
    Decl {
        name: T::ident(cfg),
        text: format!("{}export {}", T::docs().unwrap_or_default(), T::decl(cfg)),
        deps: T::dependencies(cfg)
            .into_iter()
            .map(|d| d.ts_name)
            .collect(),
    }
}

/// Every declared type, in sections. A type another one refers to must be
/// listed too; [`typescript`] refuses to leave one out.
fn sections(cfg: &Config) -> Vec<(&'static str, Vec<Decl>)> {
    vec![
        (
            "Ids: plain numbers on the wire, named for what they identify.",
            vec![
                decl::<UserId>(cfg),
                decl::<RoomId>(cfg),
                decl::<MessageId>(cfg),
                decl::<SessionId>(cfg),
                decl::<FileId>(cfg),
            ],
        ),
        (
            "Roles and kinds.",
            vec![
                decl::<Role>(cfg),
                decl::<RoomKind>(cfg),
                decl::<MemberRole>(cfg),
                decl::<MessageKind>(cfg),
                decl::<RequestStatus>(cfg),
                decl::<dto::InviteStateView>(cfg),
            ],
        ),
        (
            "Errors: every failure's body, over HTTP; `error` frames carry the same codes.",
            vec![
                decl::<ErrorCode>(cfg),
                decl::<error::ErrorBody>(cfg),
                decl::<error::ErrorDetail>(cfg),
            ],
        ),
        (
            "HTTP request bodies.",
            vec![
                decl::<dto::RegisterRequest>(cfg),
                decl::<dto::LoginRequest>(cfg),
                decl::<dto::GuestRequest>(cfg),
                decl::<dto::ProfilePatch>(cfg),
                decl::<dto::PasswordChange>(cfg),
                decl::<dto::AdminUserPatch>(cfg),
                decl::<dto::DirectRequest>(cfg),
                decl::<dto::GroupRequest>(cfg),
                decl::<dto::RoomPatch>(cfg),
                decl::<dto::AddMembersRequest>(cfg),
                decl::<dto::MemberPatch>(cfg),
                decl::<dto::SendRequest>(cfg),
                decl::<dto::ReadRequest>(cfg),
                decl::<dto::DeleteRequest>(cfg),
                decl::<dto::FriendRequestBody>(cfg),
                decl::<dto::DecisionBody>(cfg),
                decl::<dto::AnswerBody>(cfg),
                decl::<dto::RemarkPatch>(cfg),
                decl::<dto::InviteRequest>(cfg),
            ],
        ),
        (
            "HTTP query strings (numbers and booleans are sent as their text).",
            vec![
                decl::<pagination::PageParams>(cfg),
                decl::<dto::UserSearch>(cfg),
                decl::<dto::HistoryQuery>(cfg),
                decl::<dto::SyncQuery>(cfg),
                decl::<dto::MessageListQuery>(cfg),
                decl::<dto::AdminMessageQuery>(cfg),
                decl::<dto::RemovalQuery>(cfg),
                decl::<dto::RequestListQuery>(cfg),
            ],
        ),
        (
            "HTTP response bodies.",
            vec![
                decl::<pagination::Page<()>>(cfg),
                decl::<dto::Status>(cfg),
                decl::<dto::Me>(cfg),
                decl::<dto::PublicUser>(cfg),
                decl::<dto::AdminUser>(cfg),
                decl::<dto::Registered>(cfg),
                decl::<dto::LoggedIn>(cfg),
                decl::<dto::MediaToken>(cfg),
                decl::<dto::SessionView>(cfg),
                decl::<dto::UserBriefView>(cfg),
                decl::<dto::MessageView>(cfg),
                decl::<dto::AttachmentView>(cfg),
                decl::<dto::FileView>(cfg),
                decl::<dto::RoomView>(cfg),
                decl::<dto::MemberView>(cfg),
                decl::<dto::BanView>(cfg),
                decl::<dto::SyncRoomView>(cfg),
                decl::<dto::SyncView>(cfg),
                decl::<dto::ReadView>(cfg),
                decl::<dto::DeletedView>(cfg),
                decl::<dto::FavoriteView>(cfg),
                decl::<dto::AuditView>(cfg),
                decl::<serde_json::Value>(cfg),
                decl::<dto::TargetView>(cfg),
                decl::<dto::FollowedUser>(cfg),
                decl::<dto::BlockedUser>(cfg),
                decl::<dto::RelationshipView>(cfg),
                decl::<dto::UserProfile>(cfg),
                decl::<dto::FriendRequestView>(cfg),
                decl::<dto::FriendView>(cfg),
                decl::<dto::InviteView>(cfg),
                decl::<dto::InviteRoomView>(cfg),
                decl::<dto::InvitePreview>(cfg),
            ],
        ),
        (
            "Per-user events: in sync's `notices`, and live as frames of the same shape.",
            vec![decl::<dto::NoticeView>(cfg)],
        ),
        (
            "WebSocket frames.",
            vec![
                decl::<protocol::ClientFrame>(cfg),
                decl::<protocol::ErrorDetail>(cfg),
                decl::<protocol::ServerFrame>(cfg),
            ],
        ),
    ]
}

/// The whole text of [`PATH`].
pub fn typescript() -> Result<String, WireTsError> {
    // serde writes every integer as a JSON number, and JSON.parse reads it as
    // one: ids stay far below 2^53, so `bigint` would only mislead.
    let cfg = Config::new().with_large_int("number");
    let sections = sections(&cfg);
    // Names, not Rust types, are what must resolve in TypeScript (a shadow
    // type such as serde_json::Value's refers to itself under its own name).
    let mut declared = BTreeSet::new();
    for (_, decls) in &sections {
        for d in decls {
            if !declared.insert(d.name.as_str()) {
                return Err(WireTsError::Duplicate(d.name.clone()));
            }
        }
    }
    let mut out = format!(
        "// The types of Roomy's wire contract, generated from the server's Rust types.\n\
         // Do not edit: after changing a body or a frame, regenerate it with\n\
         // `{REGENERATE}`.\n"
    );
    for (title, decls) in &sections {
        out.push_str(&format!("\n// {title}\n"));
        for d in decls {
            if let Some(dep) = d.deps.iter().find(|dep| !declared.contains(dep.as_str())) {
                return Err(WireTsError::Undeclared {
                    name: dep.clone(),
                    by: d.name.clone(),
                });
            }
            out.push('\n');
            out.push_str(&d.text);
            out.push('\n');
        }
    }
    Ok(out)
}
