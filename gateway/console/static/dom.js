// Building the page's elements: text always goes in as text (never as HTML), so nothing an
// agent or a caller wrote can run as script.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === "") continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export const $ = (id) => document.getElementById(id);

export function fill(element, ...children) {
  element.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
}

export function when(ms) {
  return ms ? new Date(ms).toLocaleString() : "";
}

export function seconds(ns) {
  const s = ns / 1e9;
  if (s >= 1) return `${s.toFixed(2)} s`;
  if (s >= 0.001) return `${(s * 1e3).toFixed(1)} ms`;
  return `${Math.round(s * 1e6)} µs`;
}
