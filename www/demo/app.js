// "Your account": a tiny single-page app. Views change with history.pushState and the title
// follows; the engage runtime notices the navigation by itself (no engage("page") call needed).

const VIEWS = {
  overview: { title: "Overview", render: overview },
  orders: { title: "Orders", render: orders },
  returns: { title: "Returns", render: returns },
  settings: { title: "Settings", render: settings },
};

const ORDERS = [
  { ref: "AC-482913", date: "12 Nov 2026", items: "Trail Pack 30L (Forest)", total: "£89.00", status: "In transit" },
  { ref: "AC-471102", date: "28 Oct 2026", items: "Stormline Jacket, Summit Flask", total: "£183.00", status: "Delivered" },
  { ref: "AC-455870", date: "2 Sep 2026", items: "Ridge 2 Tent", total: "£249.00", status: "Delivered" },
];

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

function overview() {
  return [
    el("h1", {}, "Welcome back, Robin"),
    el("p", { class: "lead" }, "Explorer member since 2024. Your next repair and your orders are below."),
    el("div", { class: "stat-row" },
      el("div", { class: "panel stat" }, el("b", {}, "3"), el("span", {}, "orders this year")),
      el("div", { class: "panel stat" }, el("b", {}, "£52"), el("span", {}, "saved as a member")),
      el("div", { class: "panel stat" }, el("b", {}, "1"), el("span", {}, "repair in the workshop"))),
    el("div", { class: "panel" },
      el("h2", {}, "Latest order"),
      el("p", {}, `${ORDERS[0].ref} · ${ORDERS[0].items} · `, el("span", { class: "status transit" }, ORDERS[0].status)),
      el("p", { class: "note" }, "Demo: open another view (Orders, Returns…). The navigation is a pushState, which engage counts as a page view; from the second view on, the logged-in messaging tab appears on the right.")),
  ];
}

function orders() {
  const rows = ORDERS.map((o) =>
    el("tr", {},
      el("td", {}, o.ref), el("td", {}, o.date), el("td", {}, o.items), el("td", {}, o.total),
      el("td", {}, el("span", { class: o.status === "In transit" ? "status transit" : "status" }, o.status))));
  return [
    el("h1", {}, "Orders"),
    el("div", { class: "panel", style: "padding:8px 16px" },
      el("table", { class: "orders" },
        el("thead", {}, el("tr", {}, ...["Order", "Date", "Items", "Total", "Status"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, ...rows))),
  ];
}

function returns() {
  return [
    el("h1", {}, "Returns"),
    el("div", { class: "panel" },
      el("p", {}, "You have 100 days to return anything, worn or not."),
      el("p", { class: "note" }, "No open returns. Start one from an order, or ask the orders team with the message tab.")),
  ];
}

function settings() {
  const field = (id, label, value, type = "text") =>
    el("div", { class: "field" }, el("label", { for: id }, label), el("input", { id, type, value }));
  const status = el("p", { class: "note full", role: "status" });
  const form = el("form", { class: "panel form-grid" },
    field("s-name", "Name", "Robin Hill"),
    field("s-email", "Email", "robin@example.com", "email"),
    el("div", { class: "full actions" }, el("button", { class: "btn", type: "submit" }, "Save changes")),
    status);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    status.textContent = "Saved (demo: nothing is stored).";
  });
  return [el("h1", {}, "Settings"), form];
}

function currentView() {
  const v = new URLSearchParams(location.search).get("view");
  return v && Object.hasOwn(VIEWS, v) ? v : "overview";
}

function render(focus) {
  const key = currentView();
  const view = VIEWS[key];
  document.title = `Account · ${view.title} — Acme Outdoor`;
  const root = document.getElementById("view");
  root.replaceChildren(...view.render());
  for (const a of document.querySelectorAll("[data-view-link]")) {
    if (a.dataset.viewLink === key) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (focus) root.focus({ preventScroll: true });
}

document.addEventListener("click", (ev) => {
  const a = ev.target.closest?.("a[data-view-link]");
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  ev.preventDefault();
  if (a.href === location.href) return;
  // Title first, then the URL: whoever looks at the history entry sees the new page's title.
  const next = new URL(a.href);
  const key = next.searchParams.get("view") || "overview";
  document.title = `Account · ${VIEWS[key]?.title ?? "Overview"} — Acme Outdoor`;
  history.pushState({ view: key }, "", next.pathname + next.search);
  render(true);
});

window.addEventListener("popstate", () => render(true));

// The account area is the logged-in part of the shop: engagements marked "authenticated"
// show here only.
if (typeof window.engage === "function") {
  window.engage("attributes", { authenticated: true, member: { tier: "explorer", since: 2024 } });
}

render(false);
