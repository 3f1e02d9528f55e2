//! The rights and rules of a change to a group, judged inside the
//! transaction that writes it, on rows that transaction has locked.
//!
//! Several nodes share one database, so a rule judged on one read and
//! written in another transaction can be broken by a change committing in
//! between. Every membership and profile change therefore locks the room
//! row first (each writer of membership takes that lock too), reads these
//! facts and asks the guard before it writes. The guards are pure, so the
//! rulebook is tested without a database; the service layer maps each
//! [`RoomDenial`] to its own error.

use crate::Room;
use roomy_core::chat_fields::{MemberRole, RoomKind};

/// Why a change to a room was refused, judged under the room's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RoomDenial {
    /// The room does not exist, or the actor is not in it.
    #[error("no such room")]
    RoomNotFound,
    /// The change needs a group, and this is a direct room.
    #[error("not a group")]
    NotAGroup,
    /// Only the owner and admins may do this.
    #[error("only the owner and admins may do this")]
    NotManager,
    /// Only the owner may do this.
    #[error("only the owner may do this")]
    NotOwner,
    /// The group is dissolved: read-only.
    #[error("the group is dissolved")]
    Dissolved,
    /// The group has no room for that many more members.
    #[error("the group is full (at most {max} members)")]
    GroupFull {
        /// The most members a group may have.
        max: i64,
    },
    /// The member the change is about is not in the group.
    #[error("not a member of this group")]
    MemberNotFound,
    /// The owner of a live group leaves only after handing it over.
    #[error("the owner cannot leave before handing the group over")]
    OwnerCannotLeave,
    /// The actor may remove only members below their own role.
    #[error("you may not remove this member")]
    CannotRemoveMember,
    /// The owner's own role changes only by handing the group over.
    #[error("the owner's role changes by handing the group to another member")]
    OwnRole,
    /// A group gets a new owner only by a hand-over, which demotes the old one.
    #[error("a group changes owner by a hand-over")]
    HandOverOnly,
}

/// A room and the actor's role in it, as read under the room's lock.
#[derive(Debug, Clone, Copy)]
pub struct RoomFacts {
    /// Direct or group.
    pub kind: RoomKind,
    /// A dissolved group is read-only.
    pub dissolved: bool,
    /// Members now.
    pub member_count: i64,
    /// The actor's role; `None` when not a member.
    pub actor: Option<MemberRole>,
}

impl RoomFacts {
    /// The facts of `room` for an actor with `actor` role.
    pub fn of(room: &Room, actor: Option<MemberRole>) -> RoomFacts {
        RoomFacts {
            kind: room.kind,
            dissolved: room.dissolved_at.is_some(),
            member_count: room.member_count,
            actor,
        }
    }

    /// The actor's role in a group they belong to.
    fn member_of_group(&self) -> Result<MemberRole, RoomDenial> {
        let role = self.actor.ok_or(RoomDenial::RoomNotFound)?;
        if self.kind != RoomKind::Group {
            return Err(RoomDenial::NotAGroup);
        }
        Ok(role)
    }

    fn writable(&self) -> Result<(), RoomDenial> {
        if self.dissolved {
            Err(RoomDenial::Dissolved)
        } else {
            Ok(())
        }
    }

    fn manager(&self) -> Result<MemberRole, RoomDenial> {
        let role = self.member_of_group()?;
        if role.manages() {
            Ok(role)
        } else {
            Err(RoomDenial::NotManager)
        }
    }

    fn owner(&self) -> Result<(), RoomDenial> {
        if self.member_of_group()? == MemberRole::Owner {
            Ok(())
        } else {
            Err(RoomDenial::NotOwner)
        }
    }

    /// Adding `joining` newcomers: a manager, a live group, and room for
    /// them within `max` members.
    pub fn may_add(&self, joining: usize, max: i64) -> Result<(), RoomDenial> {
        self.manager()?;
        self.writable()?;
        let joining = i64::try_from(joining).unwrap_or(i64::MAX);
        if self.member_count.saturating_add(joining) > max {
            return Err(RoomDenial::GroupFull { max });
        }
        Ok(())
    }

    /// Removing a member whose role is `target` (`None`: not a member), or
    /// leaving when `leaving`. Anyone may leave a dissolved group, its
    /// owner included; a live group's owner hands it over first. A removal
    /// needs a live group and a manager above the removed member.
    pub fn may_remove(&self, target: Option<MemberRole>, leaving: bool) -> Result<(), RoomDenial> {
        let mine = self.member_of_group()?;
        let theirs = target.ok_or(RoomDenial::MemberNotFound)?;
        if leaving {
            if mine == MemberRole::Owner && !self.dissolved {
                return Err(RoomDenial::OwnerCannotLeave);
            }
            return Ok(());
        }
        self.writable()?;
        if !mine.manages() || theirs >= mine {
            return Err(RoomDenial::CannotRemoveMember);
        }
        Ok(())
    }

    /// Setting the role of a member whose role is `target` (`None`: not a
    /// member); `own` when the member is the actor. The owner only, in a
    /// live group.
    pub fn may_set_role(&self, target: Option<MemberRole>, own: bool) -> Result<(), RoomDenial> {
        self.owner()?;
        self.writable()?;
        if own {
            return Err(RoomDenial::OwnRole);
        }
        target.ok_or(RoomDenial::MemberNotFound)?;
        Ok(())
    }

    /// Changing the group's name or avatar, or creating an invite link: a
    /// manager, a live group.
    pub fn may_edit_group(&self) -> Result<(), RoomDenial> {
        self.manager()?;
        self.writable()
    }

    /// Changing one's own group nickname or avatar: a member of a live group.
    pub fn may_edit_own_profile(&self) -> Result<(), RoomDenial> {
        self.member_of_group()?;
        self.writable()
    }

    /// Dissolving the group: the owner, once.
    pub fn may_dissolve(&self) -> Result<(), RoomDenial> {
        self.owner()?;
        self.writable()
    }

    /// Listing or lifting bans, revoking invite links: a manager, dissolved or not.
    pub fn may_manage(&self) -> Result<(), RoomDenial> {
        self.manager().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MemberRole::{Admin, Member, Owner};
    use RoomDenial::*;

    fn group(actor: Option<MemberRole>, members: i64, dissolved: bool) -> RoomFacts {
        RoomFacts {
            kind: RoomKind::Group,
            dissolved,
            member_count: members,
            actor,
        }
    }

    #[test]
    fn adding_needs_a_manager_a_live_group_and_room() {
        let cases = [
            (group(Some(Owner), 3, false), 1, Ok(())),
            (group(Some(Admin), 3, false), 2, Ok(())),
            (group(Some(Admin), 3, false), 3, Err(GroupFull { max: 5 })),
            (group(Some(Member), 3, false), 1, Err(NotManager)),
            (group(None, 3, false), 1, Err(RoomNotFound)),
            (group(Some(Owner), 3, true), 1, Err(Dissolved)),
            (group(Some(Owner), 5, false), 0, Ok(())),
        ];
        for (facts, joining, want) in cases {
            assert_eq!(facts.may_add(joining, 5), want, "{facts:?} + {joining}");
        }
        let direct = RoomFacts {
            kind: RoomKind::Direct,
            ..group(Some(Member), 2, false)
        };
        assert_eq!(direct.may_add(1, 5), Err(NotAGroup));
    }

    #[test]
    fn removal_goes_down_the_roles_and_leaving_needs_no_right() {
        let cases = [
            (Some(Owner), Some(Admin), false, false, Ok(())),
            (Some(Admin), Some(Member), false, false, Ok(())),
            (
                Some(Admin),
                Some(Admin),
                false,
                false,
                Err(CannotRemoveMember),
            ),
            (
                Some(Admin),
                Some(Owner),
                false,
                false,
                Err(CannotRemoveMember),
            ),
            (
                Some(Member),
                Some(Member),
                false,
                false,
                Err(CannotRemoveMember),
            ),
            (Some(Owner), None, false, false, Err(MemberNotFound)),
            (Some(Owner), Some(Member), false, true, Err(Dissolved)),
            (Some(Member), Some(Member), true, false, Ok(())),
            (Some(Owner), Some(Owner), true, false, Err(OwnerCannotLeave)),
            (Some(Owner), Some(Owner), true, true, Ok(())),
            (None, Some(Member), false, false, Err(RoomNotFound)),
        ];
        for (mine, theirs, leaving, dissolved, want) in cases {
            let facts = group(mine, 3, dissolved);
            assert_eq!(
                facts.may_remove(theirs, leaving),
                want,
                "{mine:?} removing {theirs:?}, leaving {leaving}, dissolved {dissolved}"
            );
        }
    }

    #[test]
    fn roles_and_dissolving_are_the_owners() {
        assert_eq!(
            group(Some(Owner), 3, false).may_set_role(Some(Member), false),
            Ok(())
        );
        assert_eq!(
            group(Some(Admin), 3, false).may_set_role(Some(Member), false),
            Err(NotOwner)
        );
        assert_eq!(
            group(Some(Owner), 3, false).may_set_role(None, false),
            Err(MemberNotFound)
        );
        assert_eq!(
            group(Some(Owner), 3, false).may_set_role(Some(Owner), true),
            Err(OwnRole)
        );
        assert_eq!(
            group(Some(Owner), 3, true).may_set_role(Some(Member), false),
            Err(Dissolved)
        );
        assert_eq!(group(Some(Owner), 3, false).may_dissolve(), Ok(()));
        assert_eq!(group(Some(Owner), 3, true).may_dissolve(), Err(Dissolved));
        assert_eq!(group(Some(Admin), 3, false).may_dissolve(), Err(NotOwner));
    }

    #[test]
    fn profiles_and_bans() {
        assert_eq!(group(Some(Admin), 3, false).may_edit_group(), Ok(()));
        assert_eq!(
            group(Some(Member), 3, false).may_edit_group(),
            Err(NotManager)
        );
        assert_eq!(group(Some(Admin), 3, true).may_edit_group(), Err(Dissolved));
        assert_eq!(group(Some(Member), 3, false).may_edit_own_profile(), Ok(()));
        assert_eq!(
            group(Some(Member), 3, true).may_edit_own_profile(),
            Err(Dissolved)
        );
        assert_eq!(
            group(None, 3, false).may_edit_own_profile(),
            Err(RoomNotFound)
        );
        assert_eq!(group(Some(Admin), 3, true).may_manage(), Ok(()));
        assert_eq!(group(Some(Member), 3, false).may_manage(), Err(NotManager));
    }
}
