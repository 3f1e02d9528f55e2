//! How a refused room operation reaches the wire.

use crate::error::{ApiError, ErrorCode, refusal, refused_members};
use roomy_app::{GuestLimit, RoomError};

impl From<RoomError> for ApiError {
    fn from(e: RoomError) -> Self {
        match e {
            RoomError::NotFound => {
                ApiError::not_found(ErrorCode::RoomNotFound, "no such room among yours")
            }
            RoomError::NotAGroup => ApiError::Unprocessable {
                code: ErrorCode::NotAGroup,
                message: "direct rooms have exactly their two members and no profile".into(),
            },
            RoomError::NotManager => ApiError::forbidden(
                ErrorCode::NotRoomAdmin,
                "only the group's owner and admins may do this",
            ),
            RoomError::NotOwner => ApiError::forbidden(
                ErrorCode::NotRoomOwner,
                "only the group's owner may do this",
            ),
            RoomError::Dissolved => ApiError::forbidden(
                ErrorCode::RoomDissolved,
                "this group was dissolved: it can be read, not changed",
            ),
            RoomError::GroupFull { max } => ApiError::conflict(
                ErrorCode::GroupFull,
                format!("a group has at most {max} members"),
            ),
            RoomError::MemberNotFound => {
                ApiError::not_found(ErrorCode::MemberNotFound, "no such member of this room")
            }
            RoomError::OwnerCannotLeave => ApiError::conflict(
                ErrorCode::OwnerCannotLeave,
                "the owner must hand the group to someone else before leaving",
            ),
            RoomError::CannotRemoveMember => ApiError::forbidden(
                ErrorCode::CannotRemoveMember,
                "only the owner removes admins; admins remove members; nobody removes the owner",
            ),
            RoomError::NotYourself => ApiError::forbidden(
                ErrorCode::NotYourself,
                "members set only their own group nickname and avatar",
            ),
            RoomError::GuestForbidden(GuestLimit::DirectRooms) => ApiError::forbidden(
                ErrorCode::GuestForbidden,
                "guests chat only in groups they were invited to",
            ),
            RoomError::GuestForbidden(GuestLimit::CreateGroups) => {
                ApiError::forbidden(ErrorCode::GuestForbidden, "guests cannot create groups")
            }
            RoomError::CannotMessageSelf => ApiError::Unprocessable {
                code: ErrorCode::CannotMessageSelf,
                message: "a direct room needs another user".into(),
            },
            RoomError::UserNotFound => ApiError::not_found(ErrorCode::UserNotFound, "no such user"),
            RoomError::NoSuchUsers { field, ids } => {
                let ids: Vec<String> = ids.iter().map(|id| id.0.to_string()).collect();
                ApiError::field(field, format!("no such users: {}", ids.join(", ")))
            }
            RoomError::Refused { field, refused } => refused_members(&refused, field),
            RoomError::Denied(why) => refusal(why),
            RoomError::BanNotFound => ApiError::not_found(
                ErrorCode::BanNotFound,
                "this user is not banned from this group",
            ),
            RoomError::Invalid(fields) => ApiError::Validation(fields),
            RoomError::Store(e) => e.into(),
            RoomError::Write(e) => e.into(),
        }
    }
}
