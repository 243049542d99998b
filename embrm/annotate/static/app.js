// The labelling page of `embrm annotate`. Answers are untrusted text: every piece of them is
// put into the page with textContent (never innerHTML), so markup in an answer is shown as text.
"use strict";

const params = new URLSearchParams(window.location.search);
const hash = new URLSearchParams(window.location.hash.slice(1));
const token = hash.get("token");
let annotator = params.get("annotator") || "";
let current = null;
let shownAt = 0;
let busy = false;

function el(id) { return document.getElementById(id); }

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (token) headers["Authorization"] = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await response.json().catch(() => ({ error: "HTTP " + response.status }));
  if (!response.ok) throw new Error(data.error || "HTTP " + response.status);
  return data;
}

// A small, safe markdown subset: ``` code blocks, `inline code`, **bold**, - and 1. lists.
function addInline(parent, text) {
  const parts = text.split(/(`[^`\n]+`|\*\*[^*\n]+\*\*)/);
  for (const part of parts) {
    if (!part) continue;
    let node;
    if (part.length > 2 && part.startsWith("`") && part.endsWith("`")) {
      node = document.createElement("code");
      node.textContent = part.slice(1, -1);
    } else if (part.length > 4 && part.startsWith("**") && part.endsWith("**")) {
      node = document.createElement("strong");
      node.textContent = part.slice(2, -2);
    } else {
      node = document.createTextNode(part);
    }
    parent.appendChild(node);
  }
}

function addBlock(parent, block) {
  const lines = block.split("\n");
  const bullet = /^\s*[-*] /;
  const numbered = /^\s*\d+\. /;
  for (const [pattern, tag] of [[bullet, "ul"], [numbered, "ol"]]) {
    if (lines.every((line) => pattern.test(line))) {
      const list = document.createElement(tag);
      for (const line of lines) {
        const item = document.createElement("li");
        addInline(item, line.replace(pattern, ""));
        list.appendChild(item);
      }
      parent.appendChild(list);
      return;
    }
  }
  const paragraph = document.createElement("p");
  addInline(paragraph, block);
  parent.appendChild(paragraph);
}

function renderText(container, text) {
  container.replaceChildren();
  const pieces = (text || "").split(/```[^\n`]*\n?([\s\S]*?)```/);
  pieces.forEach((piece, i) => {
    if (i % 2 === 1) {
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      code.textContent = piece;
      pre.appendChild(code);
      container.appendChild(pre);
      return;
    }
    for (const block of piece.split(/\n\s*\n/)) {
      if (block.trim()) addBlock(container, block.replace(/^\n+|\n+$/g, ""));
    }
  });
}

function show(state) {
  current = state.pair;
  el("annotator").textContent = "annotator: " + state.annotator;
  el("progress").textContent = state.labelled + " of " + state.total + " labelled";
  el("pace").textContent = state.seconds_per_label === null ? "" : state.seconds_per_label.toFixed(1) + " s per label";
  el("next-batch").hidden = !state.can_select;
  el("pair").hidden = current === null;
  el("done").hidden = current !== null;
  for (const button of document.querySelectorAll("[data-label]")) button.disabled = current === null;
  if (current !== null) {
    renderText(el("prompt"), current.prompt);
    el("prompt-b-box").hidden = !current.prompt_b || current.prompt_b === current.prompt;
    renderText(el("prompt-b"), current.prompt_b || "");
    renderText(el("answer-a"), current.response_a);
    renderText(el("answer-b"), current.response_b);
    el("pair").dataset.pairId = current.pair_id;
  }
  shownAt = performance.now();
  document.body.dataset.ready = "1";
}

async function run(action) {
  if (busy) return;
  busy = true;
  document.body.dataset.ready = "0";
  el("status").textContent = "";
  try {
    show(await action());
  } catch (error) {
    el("status").textContent = error.message;
    document.body.dataset.ready = "1";
  } finally {
    busy = false;
  }
}

function label(value) {
  if (current === null) return;
  const seconds = (performance.now() - shownAt) / 1000;
  const pairId = current.pair_id;
  run(() => api("POST", "/api/label", { annotator, pair_id: pairId, label: value, seconds }));
}

function undo() { run(() => api("POST", "/api/undo", { annotator })); }

function nextBatch() {
  run(async () => {
    const state = await api("POST", "/api/next-batch", { annotator });
    el("status").textContent = state.added + " pairs added";
    return state;
  });
}

function start() {
  el("name-form").hidden = true;
  run(() => api("GET", "/api/state?" + new URLSearchParams({ annotator })));
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.target.tagName === "INPUT") return;
  const keys = { a: "a", b: "b", t: "tie", s: "skip" };
  if (keys[event.key]) label(keys[event.key]);
  else if (event.key === "u") undo();
});

window.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-label]")) {
    button.addEventListener("click", () => label(button.dataset.label));
  }
  el("undo").addEventListener("click", undo);
  el("next-batch").addEventListener("click", nextBatch);
  el("name-go").addEventListener("click", () => {
    annotator = el("name-input").value.trim();
    start();
  });
  if (annotator) {
    start();
  } else {
    api("GET", "/api/default-annotator").then((data) => {
      if (data.annotator) { annotator = data.annotator; start(); }
      else { el("name-form").hidden = false; document.body.dataset.ready = "1"; }
    }).catch((error) => { el("status").textContent = error.message; });
  }
});
