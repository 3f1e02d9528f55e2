// The types of Roomy's wire contract, generated from the server's Rust types.
// Do not edit: after changing a body or a frame, regenerate it with
// `ROOMY_WRITE_WIRE_TYPES=1 cargo test -p roomy-api --test router wire_types`.

// Ids: plain numbers on the wire, named for what they identify.

/**
 * A user account's id.
 */
export type UserId = number;

/**
 * A room's id.
 */
export type RoomId = number;

/**
 * A message's id: also its position in the server-wide message stream,
 * assigned in commit order (see ARCHITECTURE.md, "Sync positions").
 */
export type MessageId = number;

/**
 * A login session's id; carried inside access tokens.
 */
export type SessionId = number;

/**
 * A stored file's id; a resumable upload has the id its file will have.
 */
export type FileId = number;

// Roles and kinds.

/**
 * What an account may do. Guests (no password, made by `POST /auth/guest`) chat only where invited; admins moderate.
 */
export type Role = "user" | "guest" | "admin";

/**
 * Whether a room is a two-person conversation or a group.
 */
export type RoomKind = "direct" | "group";

/**
 * A member's role in a room.
 */
export type MemberRole = "member" | "admin" | "owner";

/**
 * What a message carries. Media kinds reference an uploaded file.
 */
export type MessageKind = "text" | "image" | "file" | "video" | "system";

/**
 * Where a friend request stands (pending, then accepted, refused or ignored by its target).
 */
export type RequestStatus = "pending" | "agree" | "refuse" | "ignore";

/**
 * Whether an invite link still works.
 */
export type InviteStateView = "active" | "expired" | "exhausted" | "revoked";

// Errors: every failure's body, over HTTP; `error` frames carry the same codes.

/**
 * One error code, `snake_case` on the wire.
 */
export type ErrorCode = "account_disabled" | "admin_only" | "already_answered" | "already_authenticated" | "already_friends" | "ban_not_found" | "banned" | "blocked" | "body_timeout" | "cannot_disable_self" | "cannot_message_self" | "cannot_remove_member" | "cannot_revoke_notice" | "checksum_algorithm_unsupported" | "checksum_mismatch" | "chunk_incomplete" | "conflict" | "ffmpeg_unavailable" | "file_not_found" | "forbidden" | "frame_too_large" | "frames_busy" | "friend_not_found" | "group_full" | "guest_forbidden" | "incoming_request_pending" | "internal" | "invalid_body" | "invalid_checksum" | "invalid_credentials" | "invalid_frame" | "invalid_metadata" | "invalid_multipart" | "invalid_path" | "invalid_query" | "invalid_token" | "invite_exhausted" | "invite_expired" | "invite_not_found" | "invite_revoked" | "length_required" | "malformed_json" | "member_not_found" | "message_not_found" | "message_rejected" | "method_not_allowed" | "no_cover" | "no_frame" | "no_password" | "no_thumbnail" | "not_a_group" | "not_a_video" | "not_found" | "not_friends" | "not_request_target" | "not_room_admin" | "not_room_owner" | "not_your_message" | "not_yourself" | "offset_mismatch" | "offset_required" | "owner_cannot_leave" | "payload_too_large" | "quota_exceeded" | "range_not_satisfiable" | "rate_limited" | "request_not_found" | "request_pending" | "revoke_window_passed" | "room_dissolved" | "room_not_found" | "route_not_found" | "session_ended" | "session_not_found" | "token_expired" | "too_large" | "too_many_connections" | "too_many_uploads" | "tus_version_unsupported" | "unauthenticated" | "unavailable" | "unknown_type" | "unreadable_body" | "unreadable_video" | "unsupported_media_type" | "upload_conflict" | "upload_expired" | "upload_not_found" | "upload_overflow" | "user_disabled" | "user_not_found" | "username_taken" | "validation_failed" | "websocket_required" | "wrong_password" | "you_blocked_user";

/**
 * The wire shape of an error body.
 */
export type ErrorBody = { error: ErrorDetail, };

/**
 * The inside of an error body.
 */
export type ErrorDetail = { 
/**
 * Stable snake_case code, for programs.
 */
code: ErrorCode, 
/**
 * Human-readable explanation, for people.
 */
message: string, 
/**
 * Field name → why it was refused (validation errors only).
 */
fields?: { [key in string]: string }, };

// HTTP request bodies.

/**
 * `POST /auth/register`.
 */
export type RegisterRequest = { 
/**
 * 6-30 characters of `[a-zA-Z0-9#$%_-]`.
 */
username: string, 
/**
 * 8-128 characters.
 */
password: string, 
/**
 * Up to 30 characters; defaults to the username.
 */
nickname?: string | null, };

/**
 * `POST /auth/login`.
 */
export type LoginRequest = { username: string, password: string, };

/**
 * `POST /auth/guest`.
 */
export type GuestRequest = { nickname: string, };

/**
 * `PATCH /me`. Absent fields stay; `avatar: null` removes the avatar.
 */
export type ProfilePatch = { nickname?: string | null, avatar?: string | null, 
/**
 * 1: friend requests need my approval; 0: accepted at once.
 */
invite_confirm?: number | null, 
/**
 * false: others do not see how far I have read (no read receipts,
 * no `read_seq` in member lists).
 */
read_receipts?: boolean | null, };

/**
 * `PUT /me/password`.
 */
export type PasswordChange = { old_password: string, new_password: string, };

/**
 * `PATCH /admin/users/{id}`.
 */
export type AdminUserPatch = { disabled?: boolean | null, 
/**
 * Why, for the audit log (at most 500 characters).
 */
reason?: string | null, };

/**
 * `POST /rooms/direct`.
 */
export type DirectRequest = { user_id: UserId, };

/**
 * `POST /rooms`.
 */
export type GroupRequest = { 
/**
 * 1-50 characters.
 */
name: string, 
/**
 * Initial members besides the creator, who becomes the owner.
 */
member_ids?: Array<UserId>, };

/**
 * `PATCH /rooms/{id}`. `avatar: null` removes the avatar.
 */
export type RoomPatch = { name?: string | null, avatar?: string | null, };

/**
 * `POST /rooms/{id}/members`.
 */
export type AddMembersRequest = { user_ids: Array<UserId>, };

/**
 * `PATCH /rooms/{id}/members/{user_id}`.
 */
export type MemberPatch = { 
/**
 * `admin` or `member` (owner only); `owner` hands the group over (the
 * owner becomes an admin).
 */
role?: MemberRole | null, 
/**
 * My nickname in this group (yourself only); null or "" clears it.
 */
nickname?: string | null, 
/**
 * My avatar in this group (yourself only); null or "" clears it.
 */
avatar?: string | null, };

/**
 * `POST /rooms/{id}/messages` (and the body of the WebSocket `send` frame).
 */
export type SendRequest = { 
/**
 * The sender's id for this message: a retry with the same id stores nothing new.
 */
client_id: string, 
/**
 * `text` (or `emoji`), or `image`, `file`, `video` with the `file_id` of
 * a file you uploaded (then `body` is an optional caption).
 */
kind: string, body?: string | null, file_id?: number | null, };

/**
 * `POST /rooms/{id}/read`.
 */
export type ReadRequest = { 
/**
 * Read up to and including this seq (clamped to the room's last seq).
 */
seq: number, };

/**
 * `POST /messages/delete`.
 */
export type DeleteRequest = { 
/**
 * 1 to 500 message ids, each visible to me.
 */
ids: Array<number>, };

/**
 * `POST /friend-requests`.
 */
export type FriendRequestBody = { user_id: UserId, 
/**
 * Up to 50 characters.
 */
note?: string | null, 
/**
 * The name you give them in your friend list if they agree (up to 32 characters).
 */
remark?: string | null, };

/**
 * What the target decides.
 */
export type DecisionBody = "agree" | "refuse" | "ignore";

/**
 * `POST /friend-requests/{id}/answer`.
 */
export type AnswerBody = { decision: DecisionBody, 
/**
 * The name you give the sender in your friend list (agree only; up to 32 characters).
 */
remark?: string | null, };

/**
 * `PATCH /friends/{user_id}`.
 */
export type RemarkPatch = { 
/**
 * Up to 32 characters; null or empty clears it.
 */
remark?: string | null, };

/**
 * `POST /rooms/{id}/invites`.
 */
export type InviteRequest = { 
/**
 * Seconds the link works, 60 to 2592000 (30 days); default 604800 (7 days).
 */
expires_in?: number | null, 
/**
 * Joins the link allows, 1 to 10000; absent: any number.
 */
max_uses?: number | null, };

// HTTP query strings (numbers and booleans are sent as their text).

/**
 * The paging parameters of a list request.
 */
export type PageParams = { 
/**
 * Page size, 1 to 200 (default 50).
 */
limit?: number, 
/**
 * Opaque cursor from a previous page's `next_cursor`.
 */
cursor?: string, };

/**
 * `GET /users?q=`.
 */
export type UserSearch = { 
/**
 * Part of a username or nickname, 1 to 64 characters.
 */
q?: string, limit?: number, cursor?: string, };

/**
 * `GET /rooms/{id}/messages`.
 */
export type HistoryQuery = { 
/**
 * Messages before this seq (newest first page when nothing is given).
 */
before_seq?: number, 
/**
 * Messages after this seq, oldest first.
 */
after_seq?: number, limit?: number, 
/**
 * `next_cursor` of a previous page: continues in the same direction.
 */
cursor?: string, };

/**
 * `GET /sync`.
 */
export type SyncQuery = { 
/**
 * The `next` of the previous sync (or `since` of `ready`); 0 or absent: from the start.
 */
since?: number, 
/**
 * Messages per room, 1 to 200 (default 50).
 */
limit?: number, };

/**
 * `GET /messages/sent` and `/messages/received`.
 */
export type MessageListQuery = { room_id?: number, 
/**
 * `text`, `image`, `file` or `video`.
 */
kind?: string, 
/**
 * Received: after my read position (true) or not (false). Sent: not
 * yet read by every other member (true) or read by all (false).
 */
unread?: boolean, limit?: number, cursor?: string, };

/**
 * `GET /admin/messages`.
 */
export type AdminMessageQuery = { room_id?: number, sender_id?: number, 
/**
 * Text the body contains (case-insensitive), 1 to 200 characters.
 */
q?: string, 
/**
 * Sent at or after (RFC 3339).
 */
from?: string, 
/**
 * Sent at or before (RFC 3339).
 */
to?: string, kind?: string, limit?: number, cursor?: string, };

/**
 * `DELETE /admin/messages/{id}`.
 */
export type RemovalQuery = { 
/**
 * Why, for the audit log (at most 500 characters).
 */
reason?: string, };

/**
 * `GET /friend-requests` filters.
 */
export type RequestListQuery = { 
/**
 * `incoming` (default: sent to you) or `outgoing` (sent by you).
 */
direction?: string, 
/**
 * `pending`, `agree`, `refuse` or `ignore`; absent: all.
 */
status?: string, 
/**
 * Page size, 1 to 200 (default 50).
 */
limit?: number, 
/**
 * Opaque cursor from a previous page's `next_cursor`.
 */
cursor?: string, };

// HTTP response bodies.

/**
 * One page of a list.
 */
export type Page<T> = { items: Array<T>, 
/**
 * Pass as `?cursor=` for the next page; null on the last page.
 */
next_cursor: string | null, };

/**
 * Liveness and readiness answers.
 */
export type Status = { status: string, };

/**
 * The caller's own account (`GET /me`).
 */
export type Me = { id: UserId, username: string, nickname: string, avatar: string | null, 
/**
 * 1: friend requests need approval; 0: accepted at once.
 */
invite_confirm: number, 
/**
 * Whether others see how far I have read.
 */
read_receipts: boolean, role: Role, created_at: string, };

/**
 * Another user, as anyone may see them.
 */
export type PublicUser = { id: UserId, username: string, nickname: string, avatar: string | null, role: Role, created_at: string, };

/**
 * A user as administrators see them.
 */
export type AdminUser = { disabled: boolean, id: UserId, username: string, nickname: string, avatar: string | null, 
/**
 * 1: friend requests need approval; 0: accepted at once.
 */
invite_confirm: number, 
/**
 * Whether others see how far I have read.
 */
read_receipts: boolean, role: Role, created_at: string, };

/**
 * `201` answer to registration.
 */
export type Registered = { user: Me, };

/**
 * Answer to login and guest login; the token is also in the `Authorization` header.
 */
export type LoggedIn = { token: string, expires_at: string, session_id: SessionId, user: Me, };

/**
 * A media token: it reads files (`?mt=` on the file GET routes) and nothing else.
 */
export type MediaToken = { token: string, expires_at: string, };

/**
 * One of my login sessions.
 */
export type SessionView = { id: SessionId, created_at: string, last_used_at: string, expires_at: string, user_agent: string | null, ip: string | null, 
/**
 * True for the session of the token that asked.
 */
current: boolean, };

/**
 * A user as shown next to messages and members.
 */
export type UserBriefView = { id: UserId, nickname: string, avatar: string | null, };

/**
 * A message.
 */
export type MessageView = { 
/**
 * Also the message's position in the server-wide stream (see sync).
 */
id: MessageId, room_id: RoomId, 
/**
 * 1, 2, 3... per room, without gaps.
 */
seq: number, sender: UserBriefView, client_id: string | null, kind: MessageKind, body: string | null, created_at: string, 
/**
 * Revoked by its sender or removed by an admin: the body is gone.
 */
revoked: boolean, 
/**
 * System notices that record a change: `revoked`, `removed` or `dissolved`.
 */
event?: string, 
/**
 * `revoked`/`removed` notices: the message they are about.
 */
ref_id?: MessageId, 
/**
 * Image, file and video messages: the attached file (gone once revoked).
 */
file?: AttachmentView, };

/**
 * A message's attached file.
 */
export type AttachmentView = { id: FileId, name: string, size: number, mime: string, 
/**
 * Download (HTTP Range supported).
 */
url: string, 
/**
 * Images, once the thumbnail is made (a `file_updated` event says when).
 */
thumbnail_url: string | null, 
/**
 * Videos, once the cover frame is made (a `file_updated` event says when).
 */
cover_url: string | null, };

/**
 * A stored file.
 */
export type FileView = { id: FileId, 
/**
 * Sanitised name given at upload.
 */
name: string, size: number, 
/**
 * Content type sniffed from the bytes.
 */
mime: string, 
/**
 * SHA-256 of the bytes, hex.
 */
sha256: string, 
/**
 * Download (HTTP Range supported).
 */
url: string, 
/**
 * Images, once the thumbnail is made.
 */
thumbnail_url: string | null, 
/**
 * Videos, once the cover frame is made.
 */
cover_url: string | null, created_at: string, };

/**
 * A room, as its members see it.
 */
export type RoomView = { id: RoomId, kind: RoomKind, name: string | null, avatar: string | null, created_by: UserId, created_at: string, member_count: number, 
/**
 * Seq of the newest message (0: none yet).
 */
last_seq: number, my_role?: MemberRole, last_message?: MessageView, 
/**
 * Direct rooms: the other member.
 */
peer?: UserBriefView, 
/**
 * Groups: dissolved by the owner (read-only) since then.
 */
dissolved_at: string | null, 
/**
 * My read position (a seq).
 */
read_seq?: number, 
/**
 * Messages others sent after my read position (at most 10,000 are counted).
 */
unread?: number, 
/**
 * Direct rooms: how far the other member has read, unless they hide it.
 */
peer_read_seq?: number, };

/**
 * A member of a room.
 */
export type MemberView = { user: UserBriefView, role: MemberRole, joined_at: string, 
/**
 * The member's nickname and avatar in this group, if they set one.
 */
group_nickname: string | null, group_avatar: string | null, 
/**
 * How far the member has read; null when they hide read positions.
 */
read_seq: number | null, 
/**
 * Has a live connection now (member lists only; events say false).
 */
online: boolean, };

/**
 * A user an admin removed from a group: no invite link lets them back in
 * until an owner or admin lifts the ban or adds them again.
 */
export type BanView = { user: UserBriefView, 
/**
 * The owner or admin who removed them.
 */
banned_by: UserId, banned_at: string, };

/**
 * Messages of one room in a sync.
 */
export type SyncRoomView = { 
/**
 * In seq order.
 */
events: Array<MessageView>, 
/**
 * More was missed than returned: fetch history before the first event.
 */
limited: boolean, };

/**
 * `GET /sync`.
 */
export type SyncView = { 
/**
 * Pass as `since` next time.
 */
next: MessageId, 
/**
 * Room id → what was missed there.
 */
rooms: { [key in string]: SyncRoomView }, 
/**
 * Friend requests and acceptances missed, oldest first (the newest 500).
 */
notices: Array<NoticeView>, 
/**
 * More notices were missed than returned: list them with `GET /friend-requests`.
 */
notices_limited: boolean, };

/**
 * My read position in a room after a `read`.
 */
export type ReadView = { room_id: RoomId, 
/**
 * Only moves forward: a smaller seq leaves it where it was.
 */
read_seq: number, 
/**
 * Messages others sent after it (at most 10,000 are counted).
 */
unread: number, };

/**
 * The messages deleted for me.
 */
export type DeletedView = { deleted: Array<MessageId>, };

/**
 * A favorite message, as it is now: revoked ones show `revoked` and no body.
 */
export type FavoriteView = { message: MessageView, favorited_at: string, };

/**
 * An entry of the moderation audit log.
 */
export type AuditView = { id: number, 
/**
 * The admin who acted.
 */
actor_id: UserId, 
/**
 * `remove_message`, `disable_user` or `enable_user`.
 */
action: string, 
/**
 * `message` or `user`.
 */
target_type: string, target_id: number, reason: string | null, 
/**
 * What the target was.
 */
detail: JsonValue, created_at: string, };

export type JsonValue = number | string | boolean | Array<JsonValue> | { [key in string]: JsonValue } | null;

/**
 * The answer to follow, unfollow, block and unblock: how the two users stand now.
 */
export type TargetView = { target: UserId, };

/**
 * A user in a following, followers or mutual list.
 */
export type FollowedUser = { 
/**
 * When the follow was made (for mutual: when the list's owner followed them).
 */
followed_at: string, id: UserId, username: string, nickname: string, avatar: string | null, role: Role, created_at: string, };

/**
 * A user in the caller's block list.
 */
export type BlockedUser = { blocked_at: string, id: UserId, username: string, nickname: string, avatar: string | null, role: Role, created_at: string, };

/**
 * How the caller stands with a user: who follows whom, and blocks.
 */
export type RelationshipView = { 
/**
 * The caller follows them.
 */
following: boolean, 
/**
 * They follow the caller.
 */
followed_by: boolean, friend: boolean, 
/**
 * The caller blocked them.
 */
blocked: boolean, };

/**
 * `GET /users/{id}`: the public profile with follow counts and the relationship.
 */
export type UserProfile = { following_count: number, followers_count: number, relationship: RelationshipView, id: UserId, username: string, nickname: string, avatar: string | null, role: Role, created_at: string, };

/**
 * A friend request.
 */
export type FriendRequestView = { id: number, from: UserBriefView, to: UserBriefView, note: string | null, status: RequestStatus, created_at: string, answered_at: string | null, };

/**
 * A friend in the caller's list.
 */
export type FriendView = { user: PublicUser, 
/**
 * The caller's name for them.
 */
remark: string | null, since: string, };

/**
 * An invite link to a group.
 */
export type InviteView = { id: number, 
/**
 * Only in the answer to its creation: the server keeps no copy of it.
 */
token?: string, 
/**
 * `<public_url>/invite/<token>`, with the token (so only at creation too).
 */
url?: string, expires_at: string, 
/**
 * Null: any number of joins.
 */
max_uses: number | null, 
/**
 * Joins made with it so far.
 */
uses: number, created_by: UserId, created_at: string, 
/**
 * At the time of the answer.
 */
state: InviteStateView, };

/**
 * The group an invite leads to, as anyone holding the link may see it.
 */
export type InviteRoomView = { id: RoomId, name: string | null, avatar: string | null, member_count: number, };

/**
 * `GET /invites/{token}`: what joining would lead to.
 */
export type InvitePreview = { room: InviteRoomView, expires_at: string, 
/**
 * Null: any number of joins.
 */
max_uses: number | null, uses: number, 
/**
 * The caller is in the group already: joining would change nothing.
 */
already_member: boolean, };

// Per-user events: in sync's `notices`, and live as frames of the same shape.

/**
 * A per-user event, as sync returns it and as its live frame carries it
 * (`type` is the frame type). `position` is its place in the stream:
 * sync's `since`/`next` count these too.
 */
export type NoticeView = { "type": "friend_request", position: MessageId, request: FriendRequestView, } | { "type": "friend_accepted", position: MessageId, request: FriendRequestView, room_id: RoomId, } | { "type": "read", position: MessageId, room_id: RoomId, user_id: UserId, seq: number, } | { "type": "messages_deleted", position: MessageId, message_ids: Array<MessageId>, } | { "type": "room_left", position: MessageId, room_id: RoomId, by: UserId, };

// WebSocket frames.

/**
 * A frame from the client.
 */
export type ClientFrame = { "type": "auth", id?: string | number | null, 
/**
 * Never printed: `Debug` shows it redacted.
 */
token: string, } | { "type": "send", id?: string | number | null, room_id: number, client_id: string, kind: string, body?: string | null, file_id?: number | null, } | { "type": "sync", id?: string | number | null, since?: number | null, limit?: number | null, } | { "type": "ping", id?: string | number | null, } | { "type": "typing", id?: string | number | null, room_id: number, } | { "type": "read", id?: string | number | null, room_id: number, seq: number, };

/**
 * The `error` of an `error` frame.
 */
export type FrameErrorDetail = { code: ErrorCode, message: string, };

/**
 * A frame from the server. Each variant is one `type` on the wire, its
 * fields those of docs/protocol.md; the connection and the hub build these
 * and serialise each once ([`ServerFrame::encode`]).
 */
export type ServerFrame = { "type": "ready", user: Me, since: number, protocol: number, token: string | null, } | { "type": "ack", id: string | number | null, message: MessageView, } | { "type": "message", message: MessageView, } | { "type": "sync", id: string | number | null, 
/**
 * Pass as `since` next time.
 */
next: MessageId, 
/**
 * Room id → what was missed there.
 */
rooms: { [key in string]: SyncRoomView }, 
/**
 * Friend requests and acceptances missed, oldest first (the newest 500).
 */
notices: Array<NoticeView>, 
/**
 * More notices were missed than returned: list them with `GET /friend-requests`.
 */
notices_limited: boolean, } | { "type": "read", id: string | number | null, room_id: RoomId, user_id: UserId, seq: number, } | { "type": "revoked", room_id: RoomId, message_id: MessageId, message: MessageView, notice: MessageView, by_admin: boolean, } | { "type": "pong", id: string | number | null, } | { "type": "resync" } | { "type": "room_updated", room: RoomView, members: Array<MemberView>, } | { "type": "member_joined", room_id: RoomId, room: RoomView, members: Array<MemberView>, } | { "type": "member_left", room_id: RoomId, room: RoomView, user_id: UserId, } | { "type": "presence", user_id: UserId, online: boolean, } | { "type": "file_updated", file: AttachmentView, } | { "type": "typing", room_id: RoomId, user_id: UserId, } | { "type": "error", id: string | number | null, error: FrameErrorDetail, } | NoticeView | { "type": "notice_reply", id: string | number | null, } & ({ "type": "friend_request", position: MessageId, request: FriendRequestView, } | { "type": "friend_accepted", position: MessageId, request: FriendRequestView, room_id: RoomId, } | { "type": "read", position: MessageId, room_id: RoomId, user_id: UserId, seq: number, } | { "type": "messages_deleted", position: MessageId, message_ids: Array<MessageId>, } | { "type": "room_left", position: MessageId, room_id: RoomId, by: UserId, });
