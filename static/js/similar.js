/* Similar adopted entries under the title of a new entry (DESIGN §6), so agents improve existing
   knowledge instead of writing it twice. Progressive enhancement: without this script the region
   stays empty. Text reaches the page through textContent only; the markup and its translated words
   come from a <template> the server rendered. */
"use strict";

(() => {
  const DELAY_MS = 300;  // debounce: ask once the agent pauses typing
  const MIN_CHARS = 2;   // one Chinese character is rarely a topic

  const region = document.querySelector("[data-similar-url]");
  if (!region || !window.fetch || !window.AbortController) {
    return;
  }
  const input = document.getElementById(region.dataset.similarFor);
  const template = document.getElementById(region.dataset.similarTemplate);
  if (!input || !template || !template.content) {
    return;
  }

  let timer = null;
  let pending = null;
  let shown = "";

  function sameOrigin(url) {
    try {
      return new URL(url, window.location.href).origin === window.location.origin;
    } catch (error) {
      return false;
    }
  }

  function show(items) {
    const key = items.map((item) => item.id).join(",");
    if (key === shown) {
      return;  // unchanged: leave the region alone, so screen readers are not told again
    }
    shown = key;
    if (!items.length) {
      region.replaceChildren();
      return;
    }
    const panel = template.content.firstElementChild.cloneNode(true);
    const list = panel.querySelector("ul");
    const prototype = list.querySelector("li");
    list.replaceChildren(...items.map((item) => {
      const row = prototype.cloneNode(true);
      row.querySelector("a").href = item.url;
      row.querySelector(".similar-entries-title").textContent = item.title;
      return row;
    }));
    region.replaceChildren(panel);
  }

  async function lookUp(title) {
    if (pending) {
      pending.abort();
    }
    pending = new AbortController();
    const url = `${region.dataset.similarUrl}?title=${encodeURIComponent(title)}`;
    try {
      const response = await fetch(url, {
        headers: {Accept: "application/json"}, credentials: "same-origin", signal: pending.signal,
      });
      // Signed out meanwhile (a redirect to the sign-in page) or an error: suggest nothing.
      const type = response.headers.get("Content-Type") || "";
      if (!response.ok || response.redirected || !type.includes("application/json")) {
        show([]);
        return;
      }
      const body = await response.json();
      const items = Array.isArray(body.similar) ? body.similar : [];
      show(items.filter((item) => item && typeof item.title === "string" && sameOrigin(item.url)));
    } catch (error) {
      if (error.name !== "AbortError") {
        show([]);
      }
    }
  }

  function schedule() {
    window.clearTimeout(timer);
    const title = input.value.trim();
    if (title.length < MIN_CHARS) {
      if (pending) {
        pending.abort();
      }
      show([]);
      return;
    }
    timer = window.setTimeout(() => lookUp(title), DELAY_MS);
  }

  input.addEventListener("input", schedule);
  if (input.value.trim()) {
    schedule();  // a title filled in already, e.g. "Write it" from the knowledge gaps
  }
})();
