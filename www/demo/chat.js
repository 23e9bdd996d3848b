// A stand-in conversation window for the demo: the runtime opens it (settings.conversation_url)
// when a visitor accepts an engagement. A real site would open its chat or messaging product here.

const params = new URLSearchParams(location.search);
const skill = params.get("skill") || "";
const engagement = params.get("engagement") || "";
const TEAMS = { sales: "Acme sales", support: "Acme support" };
const team = TEAMS[skill] || "Acme Outdoor";

const log = document.getElementById("chat-log");
document.getElementById("chat-title").textContent = team;
document.getElementById("chat-sub").textContent = engagement
  ? `Demo conversation · from “${engagement}”`
  : "Demo conversation";

function bubble(text, me = false) {
  const b = document.createElement("div");
  b.className = me ? "bubble me" : "bubble";
  b.textContent = text;
  log.append(b);
  log.scrollTop = log.scrollHeight;
}

bubble(`Hi! You're through to ${team}. How can we help?`);

const REPLIES = [
  "Good question: let me check that for you.",
  "The Trail Pack fits back lengths from 44 to 52 cm.",
  "Delivery is free over £50, and returns are free for 100 days.",
  "This is a demo conversation: a real agent would answer here.",
];
let n = 0;

document.getElementById("chat-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = document.getElementById("chat-input");
  const text = input.value.trim();
  if (!text) return;
  bubble(text, true);
  input.value = "";
  setTimeout(() => bubble(REPLIES[n++ % REPLIES.length]), 700);
});

document.getElementById("chat-input").focus();
