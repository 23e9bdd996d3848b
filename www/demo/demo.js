// Acme Outdoor demo shop: basket, visitor attributes and goals pushed to engage, and a log of
// the engage events on the page. Plain ES module, no dependencies. Never required by the tag:
// the shop works the same without engage, and engage works without this file.

const CART_KEY = "acme-demo:cart"; // the shop's own storage; engage keeps to the "engage:" prefix

/** Calls the engage command queue when the snippet defined it. */
function engage(...args) {
  if (typeof window.engage === "function") {
    try {
      window.engage(...args);
    } catch (_) {
      /* the demo must not break either */
    }
  }
}

function readCart() {
  try {
    const items = JSON.parse(localStorage.getItem(CART_KEY) || "[]");
    return Array.isArray(items)
      ? items.filter((i) => i && typeof i.name === "string" && Number.isFinite(i.price) && i.qty > 0)
      : [];
  } catch (_) {
    return [];
  }
}

function writeCart(items) {
  try {
    localStorage.setItem(CART_KEY, JSON.stringify(items));
  } catch (_) {
    /* private mode: the basket lives for this page only */
  }
  renderCart(items);
  pushCart(items);
}

const totalOf = (items) => items.reduce((sum, i) => sum + i.price * i.qty, 0);
const countOf = (items) => items.reduce((sum, i) => sum + i.qty, 0);
const money = (n) => "£" + (Number.isInteger(n) ? String(n) : n.toFixed(2));

/** The basket as visitor attributes: audiences can test `cart.total`, `cart.items`. */
function pushCart(items) {
  engage("attributes", { cart: { total: totalOf(items), items: countOf(items) } });
}

function renderCart(items) {
  for (const el of document.querySelectorAll("[data-cart-count]")) {
    el.textContent = String(countOf(items));
  }
  const lines = document.querySelector("[data-cart-lines]");
  if (!lines) return;
  lines.replaceChildren(
    ...items.map((i) => {
      const li = document.createElement("li");
      const name = document.createElement("span");
      name.textContent = i.qty > 1 ? `${i.name} × ${i.qty}` : i.name;
      const price = document.createElement("span");
      price.textContent = money(i.price * i.qty);
      li.append(name, price);
      return li;
    }),
  );
  const empty = document.querySelector("[data-cart-empty]");
  if (empty) empty.hidden = items.length > 0;
  const total = document.querySelector("[data-cart-total]");
  if (total) total.textContent = money(totalOf(items));
  const place = document.querySelector("[data-place-order]");
  if (place) place.disabled = items.length === 0;
}

function toast(text) {
  const t = document.createElement("div");
  t.className = "toast";
  t.setAttribute("role", "status");
  t.textContent = text;
  document.body.append(t);
  setTimeout(() => t.remove(), 2600);
}

function addToCart(button) {
  const qtyInput = button.dataset.qtyFrom ? document.getElementById(button.dataset.qtyFrom) : null;
  const qty = Math.max(1, Math.min(9, Number.parseInt(qtyInput?.value || "1", 10) || 1));
  const price = Number(button.dataset.price) || 0;
  const id = button.dataset.id || button.dataset.name;
  const colour = document.querySelector('input[name="colour"]:checked');
  const name = button.dataset.name + (colour && id === "trail-pack" ? ` (${colour.value})` : "");
  const items = readCart();
  const line = items.find((i) => i.name === name);
  if (line) line.qty = Math.min(9, line.qty + qty);
  else items.push({ id, name, price, qty });
  writeCart(items);
  toast(`Added ${name} to your basket`);
}

/** Product gallery: thumbnails and colour swatches switch the big picture. */
function gallery() {
  const show = (key) => {
    for (const m of document.querySelectorAll("[data-main]")) m.hidden = m.dataset.main !== key;
    for (const t of document.querySelectorAll("[data-thumb]")) {
      t.setAttribute("aria-pressed", String(t.dataset.thumb === key));
    }
    const radio = document.querySelector(`[data-colour="${key}"]`);
    if (radio) radio.checked = true;
  };
  for (const t of document.querySelectorAll("[data-thumb]")) {
    t.addEventListener("click", () => show(t.dataset.thumb));
  }
  for (const r of document.querySelectorAll("[data-colour]")) {
    r.addEventListener("change", () => show(r.dataset.colour));
  }
}

function checkout() {
  const form = document.getElementById("checkout-form");
  if (!form) return;
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const items = readCart();
    if (!items.length) return;
    const delivery = Number(form.elements.delivery.value) || 0;
    const value = totalOf(items) + delivery;
    engage("goal", { name: "purchase", value });
    const done = document.querySelector("[data-order-done]");
    if (done) {
      const ref = "AC-" + Math.floor(100000 + Math.random() * 900000);
      done.textContent = `Thank you! Order ${ref} is confirmed: ${money(value)}. ` +
        "A purchase goal was sent to engage, so reports can attribute it.";
      done.hidden = false;
      done.focus();
    }
    form.hidden = true;
    writeCart([]);
  });
  document.querySelector("[data-clear-cart]")?.addEventListener("click", () => writeCart([]));
}

/** Messages for visitors sent here by an offsite link outside office hours, or an old link. */
function notices() {
  const el = document.querySelector("[data-notice]");
  if (!el) return;
  const params = new URLSearchParams(location.search);
  let text = "";
  if (params.get("survey") === "newsletter") {
    text = "Thanks for clicking through from our newsletter! Our experts are away right now: " +
      "tell us what you were looking for and we'll email you back.";
  } else if (params.get("engagement") === "inactive") {
    text = "That offer has ended, but everything else is still here.";
  }
  if (text) {
    el.textContent = text;
    el.hidden = false;
  }
}

/** A readable log of the engage events: what a developer testing the page wants to see. */
function eventLog() {
  const log = document.getElementById("engage-log");
  const types = ["engage:shown", "engage:accepted", "engage:declined", "engage:state", "engage:control"];
  for (const type of types) {
    window.addEventListener(type, (ev) => {
      const d = ev.detail || {};
      const parts = [
        new Date().toLocaleTimeString(),
        type.padEnd(15),
        d.engagement ?? "",
        d.zone ? `zone=${d.zone}` : "",
        d.state ? `state=${d.state}` : "",
        d.skill ? `skill=${d.skill}` : "",
      ].filter(Boolean);
      if (log) {
        log.append(parts.join("  ") + "\n");
        log.scrollTop = log.scrollHeight;
      }
    });
  }
}

/** A visitor held out of a campaign (its control group) is told so, once per campaign: the
 * demo would otherwise just look broken for one visitor in ten. */
function controlNotice() {
  const seen = new Set();
  window.addEventListener("engage:control", (ev) => {
    const campaign = ev.detail && ev.detail.campaign;
    const main = document.querySelector("main .wrap") || document.querySelector("main");
    if (!campaign || seen.has(campaign) || !main) return;
    seen.add(campaign);
    const p = document.createElement("p");
    p.className = "notice control-notice";
    p.setAttribute("role", "status");
    p.setAttribute("data-control-notice", campaign);
    const name = document.createElement("code");
    name.textContent = campaign;
    const again = document.createElement("button");
    again.type = "button";
    again.className = "btn small ghost";
    again.textContent = "Start over as a new visitor";
    again.addEventListener("click", forgetVisit);
    p.append(
      "You are in the control group of campaign ",
      name,
      ": its invitations stay hidden for you, so its report can show what they add for everyone else. ",
      again,
    );
    main.prepend(p);
  });
}

/** "Start a new visit": forget engage's visitor and visit memory (declines, displays, the
 * control-group bucket) for this site, and reload. */
function forgetVisit() {
  try {
    for (const key of Object.keys(localStorage)) {
      if (key.startsWith("engage:")) localStorage.removeItem(key);
    }
  } catch (_) {
    /* nothing to forget */
  }
  location.reload();
}

function resetVisit() {
  for (const b of document.querySelectorAll("[data-reset-visit]")) {
    b.addEventListener("click", forgetVisit);
  }
}

function debugLink() {
  for (const a of document.querySelectorAll("[data-debug-link]")) {
    const url = new URL(location.href);
    url.searchParams.set("engage_debug", "1");
    a.href = url.href;
  }
}

/** The formats gallery's preview size: desktop or phone frames. */
function formatsView() {
  const grid = document.querySelector("[data-formats-view]");
  const buttons = document.querySelectorAll("[data-view]");
  for (const b of buttons) {
    b.addEventListener("click", () => {
      grid.setAttribute("data-formats-view", b.dataset.view);
      for (const o of buttons) {
        o.setAttribute("aria-pressed", String(o === b));
        o.classList.toggle("ghost", o !== b);
      }
    });
  }
}

function start() {
  formatsView();
  eventLog();
  controlNotice();
  const items = readCart();
  renderCart(items);
  pushCart(items);
  for (const b of document.querySelectorAll("[data-add-to-cart]")) {
    b.addEventListener("click", () => addToCart(b));
  }
  gallery();
  checkout();
  notices();
  resetVisit();
  debugLink();
}

start();
