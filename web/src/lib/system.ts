import type { MessageKey } from "../i18n/en";

// The server writes system notices in English ("alice added bob"); they are
// recognised here and shown in the reader's language. Anything unknown is
// shown as the server wrote it.
const PATTERNS: [RegExp, MessageKey, string[]][] = [
  [/^You are friends now\. Start chatting!$/, "sys.friendsNow", []],
  [/^An administrator removed a message$/, "sys.adminRemoved", []],
  [/^(.+) revoked a message$/s, "sys.revoked", ["name"]],
  [/^(.+) joined via an invite link$/s, "sys.joinedByLink", ["name"]],
  [/^(.+?) created the group (.+)$/s, "sys.created", ["name", "group"]],
  [/^(.+?) renamed the group to (.+)$/s, "sys.renamed", ["name", "group"]],
  [/^(.+) changed the group avatar$/s, "sys.avatar", ["name"]],
  [/^(.+?) made (.+) the owner of the group$/s, "sys.owner", ["name", "who"]],
  [/^(.+) dissolved the group$/s, "sys.dissolved", ["name"]],
  [/^(.+) left the group$/s, "sys.left", ["name"]],
  [/^(.+?) added (.+)$/s, "sys.added", ["name", "who"]],
  [/^(.+?) removed (.+)$/s, "sys.removed", ["name", "who"]],
];

export function systemText(body: string, t: (key: MessageKey, vars?: Record<string, string>) => string): string {
  for (const [re, key, names] of PATTERNS) {
    const m = re.exec(body);
    if (!m) continue;
    const vars: Record<string, string> = {};
    names.forEach((n, i) => (vars[n] = m[i + 1]!));
    return t(key, vars);
  }
  return body;
}
