// A fixed set, bundled: the picker works offline and loads nothing.
export const EMOJI = {
  smileys: "😀 😃 😄 😁 😆 😅 🤣 😂 🙂 🙃 😉 😊 😇 🥰 😍 🤩 😘 😗 😚 😙 😋 😛 😜 🤪 😝 🤑 🤗 🤭 🤫 🤔 🤐 🤨 😐 😑 😶 😏 😒 🙄 😬 😌 😔 😪 🤤 😴 😷 🤒 🤕 🤢 🤮 🥵 🥶 🥴 😵 🤯 🤠 🥳 😎 🤓 🧐 😕 😟 🙁 😮 😯 😲 😳 🥺 😦 😧 😨 😰 😥 😢 😭 😱 😖 😣 😞 😓 😩 😫 🥱 😤 😡 😠 🤬 😈 💀 💩 🤡 👻 👽 🤖",
  people: "👋 🤚 🖐️ ✋ 🖖 👌 🤏 ✌️ 🤞 🤟 🤘 🤙 👈 👉 👆 👇 ☝️ 👍 👎 ✊ 👊 🤛 🤜 👏 🙌 👐 🤲 🤝 🙏 💪 👀 👶 🧒 👦 👧 🧑 👨 👩 🧓 👴 👵 🙋 🙇 🤦 🤷 💁 🙆 🙅 🧑‍💻 🧑‍🎓 🧑‍🍳 🏃 💃 🕺",
  nature: "🐶 🐱 🐭 🐹 🐰 🦊 🐻 🐼 🐨 🐯 🦁 🐮 🐷 🐸 🐵 🐔 🐧 🐦 🐤 🦆 🦉 🐺 🐴 🦄 🐝 🦋 🐌 🐞 🐢 🐍 🐙 🐬 🐳 🐟 🌸 🌹 🌻 🌼 🌷 🌱 🌲 🌳 🌴 🍀 🍁 🍂 🌈 ☀️ 🌤️ ⛅ 🌧️ ⛈️ ❄️ ☃️ 🔥 💧 🌊 🌙 ⭐ 🌟",
  food: "🍎 🍊 🍋 🍌 🍉 🍇 🍓 🍒 🍑 🥭 🍍 🥥 🥝 🍅 🥑 🥦 🌽 🥕 🍞 🥐 🧀 🥚 🍳 🥓 🍔 🍟 🍕 🌭 🥪 🌮 🍜 🍝 🍣 🍱 🥟 🍚 🍙 🍘 🍥 🥮 🍡 🍦 🍰 🎂 🍫 🍬 🍭 🍩 🍪 ☕ 🍵 🧋 🥤 🍺 🍻 🥂 🍷",
  activity: "⚽ 🏀 🏈 ⚾ 🎾 🏐 🏓 🏸 🥅 ⛳ 🏊 🚴 🎿 ⛸️ 🏆 🥇 🎮 🎲 🧩 🎯 🎳 🎤 🎧 🎸 🎹 🎺 🎻 🥁 🎬 🎨 🎭 🎉 🎊 🎈 🎁 🧧 🏮 🎆 🎇",
  objects: "📱 💻 ⌨️ 🖥️ 🖨️ 📷 📹 🎥 📺 📻 ⏰ ⌛ 💡 🔦 📚 📖 📝 ✏️ 📌 📎 ✂️ 🔒 🔑 🔨 🧰 💊 🩹 🧸 🛒 💰 💳 ✉️ 📦 🏠 🚗 🚕 🚌 🚄 ✈️ 🚀 ⛵ 🗺️ 🧭",
  symbols: "❤️ 🧡 💛 💚 💙 💜 🖤 🤍 🤎 💔 ❣️ 💕 💞 💓 💗 💖 💘 💝 💯 ✅ ☑️ ✔️ ❌ ❎ ➕ ➖ ❓ ❗ ‼️ ⁉️ 💤 💢 💥 💫 💬 💭 🔔 🎵 🎶 ♻️ ⚠️ 🚫 ⭕ 🆗 🆒 🆕 🔝",
} as const;

export type EmojiGroup = keyof typeof EMOJI;
export const EMOJI_GROUPS = Object.keys(EMOJI) as EmojiGroup[];

export function emojiList(group: EmojiGroup): string[] {
  return EMOJI[group].split(" ");
}
