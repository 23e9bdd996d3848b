// JSON paths as the server writes them: `campaigns[0].engagements[1].refresh_seconds`,
// `library.creatives.support-chat`. Used to bind form inputs to the campaign being edited and
// to put the server's validation messages next to the right input.

/** "a.b[2].c" → ["a", "b", 2, "c"]. */
export function parsePath(path) {
  const out = [];
  const re = /([^.[\]]+)|\[(\d+)\]/g;
  let m;
  while ((m = re.exec(path)) !== null) {
    if (m[1] !== undefined) out.push(m[1]);
    else out.push(Number(m[2]));
  }
  return out;
}

export function joinPath(parts) {
  let s = "";
  for (const p of parts) {
    if (typeof p === "number") s += `[${p}]`;
    else s += s ? `.${p}` : p;
  }
  return s;
}

export function getIn(obj, path) {
  let cur = obj;
  for (const k of typeof path === "string" ? parsePath(path) : path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = cur[k];
  }
  return cur;
}

/** Sets a value, creating objects/arrays on the way. */
export function setIn(obj, path, value) {
  const parts = typeof path === "string" ? parsePath(path) : path;
  let cur = obj;
  for (let i = 0; i < parts.length - 1; i++) {
    const k = parts[i];
    if (cur[k] === null || typeof cur[k] !== "object") cur[k] = typeof parts[i + 1] === "number" ? [] : {};
    cur = cur[k];
  }
  cur[parts[parts.length - 1]] = value;
}

/** Deletes a key, then removes the objects left empty on the way up (never arrays). */
export function deleteIn(obj, path) {
  const parts = typeof path === "string" ? parsePath(path) : path;
  const chain = [obj];
  let cur = obj;
  for (let i = 0; i < parts.length - 1; i++) {
    cur = cur?.[parts[i]];
    if (cur === null || typeof cur !== "object") return;
    chain.push(cur);
  }
  const last = parts[parts.length - 1];
  if (Array.isArray(cur) && typeof last === "number") cur.splice(last, 1);
  else delete cur[last];
  for (let i = chain.length - 1; i > 0; i--) {
    const o = chain[i];
    if (!Array.isArray(o) && Object.keys(o).length === 0) delete chain[i - 1][parts[i - 1]];
    else break;
  }
}

/** Is `prefix` the path itself or one of its ancestors (`a.b` of `a.b.c` and `a.b[0]`, not `a.bc`)? */
export function isPrefix(prefix, path) {
  if (!prefix) return true;
  if (path === prefix) return true;
  return path.startsWith(prefix) && (path[prefix.length] === "." || path[prefix.length] === "[");
}

export const clone = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));
