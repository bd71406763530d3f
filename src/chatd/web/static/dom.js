// The few things every view does to the page. Text from users only ever goes in with
// textContent (the `text` attribute of el()): it is shown, never parsed as markup.

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== false && value !== null && value !== undefined) {
      node.setAttribute(name, value === true ? "" : value);
    }
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

export function show(node, visible) {
  node.hidden = !visible;
}

// Only a change is written: an alert set again to the same words would be read out again.
export function say(node, text) {
  if (node.textContent !== (text || "")) node.textContent = text || "";
  show(node, Boolean(text));
}

// A green dot: the user is online (state.online), or nothing.
export function dot(state, id) {
  return state.online.get(id) ? el("span", { class: "dot", role: "img", "aria-label": "online" }) : null;
}

export function when(iso) {
  const date = new Date(iso);
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay
    ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : date.toLocaleDateString([], { month: "short", day: "numeric" });
}

// Lists are rebuilt on every change: put the keyboard focus (and an editor's caret) back on
// the same control of the same item afterwards.
export function focusWithin(container, itemSelector) {
  const active = document.activeElement;
  if (!active || !container.contains(active) || active === container) return () => {};
  const item = active.closest(itemSelector);
  if (!item) return () => {};
  const key = ["data-message", "data-pending", "data-chat"].find((a) => item.hasAttribute(a));
  const value = item.getAttribute(key);
  // A control is known by its data-action if it has one (a Delete that asks changes its
  // label), else by its label.
  const name = (c) => c.dataset.action || c.getAttribute("aria-label") || c.textContent;
  const label = name(active);
  const caret = [active.selectionStart, active.selectionEnd];
  return () => {
    const again = container.querySelector(`[${key}="${CSS.escape(value)}"]`);
    if (!again) return;
    const controls = [...again.querySelectorAll("button, textarea, input")];
    const target = active === item
      ? again
      : controls.find((c) => c.tagName === active.tagName && name(c) === label);
    if (!target) return;
    target.focus({ preventScroll: true }); // the list keeps where the person scrolled it
    if (caret[0] !== null && caret[0] !== undefined && target.setSelectionRange) {
      target.setSelectionRange(caret[0], caret[1]);
    }
  };
}

// A destructive button asks for a second click instead of a dialog: dialogs steal focus and
// cannot be styled or tested like the page.
export function confirmed(button) {
  if (button.dataset.armed === "true") {
    delete button.dataset.armed;
    button.textContent = button.dataset.label;
    return true;
  }
  button.dataset.label = button.textContent;
  button.dataset.armed = "true";
  button.textContent = "Click again to confirm";
  setTimeout(() => {
    if (button.dataset.armed === "true") {
      delete button.dataset.armed;
      button.textContent = button.dataset.label;
    }
  }, 4000);
  return false;
}

export function newKey() {
  // crypto.randomUUID() needs a secure context; a server on a LAN address over http is not one.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
