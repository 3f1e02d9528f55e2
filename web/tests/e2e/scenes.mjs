// Set-up data for the screens the language, phone and accessibility tests
// look at (made through the API: these tests are about what is shown, the
// main story covers doing it through the UI).

/**
 * Two friends with a direct conversation in both languages, a group with a
 * third friend, and a pending friend request: enough for every main screen
 * to show real content.
 */
export async function seedConversation(server, usernameA, usernameB) {
  const a = await server.user(usernameA, "林晓 Lin", "lin-pass-123");
  const b = await server.user(usernameB, "Sam Carter", "sam-pass-123");
  const c = await server.user(`${usernameA.slice(0, 20)}_c`, "Mei 美", "mei-pass-123");
  const d = await server.user(`${usernameA.slice(0, 20)}_d`, "Dana", "dana-pass-12");
  await server.befriend(a, b);
  await server.befriend(a, c);
  await server.befriend(b, c);
  const room = await server.direct(a, b);
  const script = [
    [b, "Hi Lin! Are you free this weekend?"],
    [a, "周末一起去爬山吗？"],
    [b, "Sounds great. The trail map: https://example.com/trails/north-ridge"],
    [a, "好的！我带水和零食 🍎🥤"],
    [b, "Perfect. Meet at the station at 8:00?"],
    [a, "没问题，明天见 👋"],
  ];
  for (const [u, text] of script) await server.sendText(u, room.id, text);
  const group = await server.api("POST", "/rooms", { name: "Hiking club 登山队", member_ids: [b.id, c.id] }, a.token);
  await server.sendText(c, group.id, "I'll bring the camera 📷");
  await server.sendText(b, group.id, "See you all there!");
  // A request waiting for Lin, so the friends page shows one.
  await server.api("POST", "/friend-requests", { user_id: a.id, note: "We met at the climbing gym", remark: null }, d.token);
  return { a, b, c, d, room, group };
}
